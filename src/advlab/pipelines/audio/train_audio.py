"""`advlab audio train`: a folder of WAV files -> a speech model (CTC recogniser or keyword classifier) in a run.

The folder (advlab.data.audio_sets.load_audio_folder: transcripts, class folders or LABEL_*.wav names; any sample
rate, resampled to the run's) is split once, seeded, into training and held-out utterances (the held-out names are
recorded in every checkpoint and in summary.json). The model (advlab.models.speech) is trained by the house's game
loop (advlab.pipelines.game_loop, through advlab.audio.training.SpeechTraining): minibatches drawn with
replacement, Adam, the gradient norm clipped, checkpoints, exact resume, NaN checks, torchrun. Its picture every
``sample_every`` steps is the spectrograms of a few held-out utterances titled with what was said and what the model
heard. The summary holds the word error rate (WER: word edits over reference words, corpus-wide) and the share of
exact transcripts on the held-out utterances, and the WER on (up to 256 of) the training utterances.

`load_audio_run(run)` gives the trained model back with its config, and `held_out_audio(run)` the held-out
utterances, which the audio attacks (advlab.pipelines.audio.attack_audio) take.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from advlab.audio.training import SpeechTraining
from advlab.core.checkpoints import load_latest
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.precision import Precision
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator
from advlab.data.audio_sets import AudioBatches, AudioSet, load_audio_folder, pad_waves, split_held_out
from advlab.metrics.speech import sentence_accuracy, word_error_rate
from advlab.models.speech import SpeechModel, build_speech_model, load_speech_model
from advlab.pipelines.audio.configs import AudioTrainConfig
from advlab.pipelines.game_loop import Session, train_run
from advlab.pipelines.training import stored_config, warn
from advlab.reports.audio_plots import transcription_figure
from advlab.reports.reading import is_audio_config

PICTURE_UTTERANCES = 4
TRAIN_WER_UTTERANCES = 256
TRANSCRIBE_BATCH = 64  # utterances per forward pass when transcribing


class DeviceBatches:
    """The loop's data object (name, sample, checkpoint_meta): `batches`' minibatches on `device`, and the model's
    settings and the held-out names in every checkpoint."""

    def __init__(self, batches: AudioBatches, device: torch.device, meta: dict):
        self.batches, self.device, self.meta = batches, device, meta

    @property
    def name(self) -> str:
        return self.batches.name

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return tuple(part.to(self.device) for part in self.batches.sample(n, generator))

    def checkpoint_meta(self) -> dict:
        return {**self.batches.checkpoint_meta(), **self.meta}


def model_kind(config: AudioTrainConfig, audio: AudioSet) -> str:
    """"ctc" or "keyword": ``auto`` is the recogniser when any transcript has more than one word."""
    if config.model != "auto":
        return config.model
    return "ctc" if any(len(words) > 1 for words in audio.transcripts) else "keyword"


def check_keyword_data(audio: AudioSet) -> None:
    longer = next((name for name, words in zip(audio.names, audio.transcripts) if len(words) != 1), None)
    if longer is not None:
        raise AdvlabError(f"--model keyword needs one word per utterance, but {longer} says "
                          f"{' '.join(audio.transcripts[audio.names.index(longer)])!r}; use --model ctc")


def model_settings(config: AudioTrainConfig, kind: str, vocabulary: tuple[str, ...]) -> dict:
    """What build_speech_model takes for the run's model."""
    settings = {"kind": kind, "vocabulary": list(vocabulary), "sample_rate": config.sample_rate,
                "n_mels": config.n_mels, "width": config.width, "hidden": config.hidden}
    return {**settings, "layers": config.layers} if kind == "ctc" else settings


def load_run_audio(config: AudioTrainConfig, progress: bool = False) -> tuple[AudioSet, Tensor, Tensor]:
    """The run's utterances and their (training rows, held-out rows)."""
    audio = load_audio_folder(config.data, rate=config.sample_rate, max_seconds=config.max_seconds, progress=progress)
    if len(audio) < 2:
        raise AdvlabError(f"{config.data} holds {len(audio)} utterance; training and a held-out check need at least 2")
    train_rows, held_rows = split_held_out(len(audio), config.held_out_fraction, config.seed)
    return audio, train_rows, held_rows


def transcribe(model: SpeechModel, waves: Sequence[Tensor], device: torch.device) -> list[tuple[str, ...]]:
    """What `model` (on `device`) hears in each utterance (T_i,) of `waves`: batches of TRANSCRIBE_BATCH, in eval
    mode (the model's modes are restored afterwards), without gradients."""
    heard: list[tuple[str, ...]] = []
    with evaluating(model), torch.no_grad():
        for start in range(0, len(waves), TRANSCRIBE_BATCH):
            batch, lengths = pad_waves(waves[start:start + TRANSCRIBE_BATCH])
            heard += [tuple(words) for words in model.transcribe(batch.to(device), lengths.to(device))]
    return heard


def recognition_figures(model: SpeechModel, audio: AudioSet, device: torch.device, prefix: str) -> dict:
    heard = transcribe(model, audio.waves, device)
    return {f"{prefix}_wer": word_error_rate(audio.transcripts, heard),
            f"{prefix}_sentence_accuracy": sentence_accuracy(audio.transcripts, heard)}


def summary_figures(audio: AudioSet, train_rows: Tensor, held_rows: Tensor, kind: str, device: torch.device):
    """The summary: held-out WER and exact-transcript share, and the WER on up to TRAIN_WER_UTTERANCES training
    utterances (the gap between the two shows over-fitting)."""
    def evaluate(game: SpeechTraining, data: DeviceBatches) -> dict:
        model = game.model
        figures = recognition_figures(model, audio.subset(held_rows), device, "test")
        figures.update(recognition_figures(model, audio.subset(train_rows[:TRAIN_WER_UTTERANCES]), device, "train"))
        return {**figures, "kind": kind, "vocabulary": " ".join(model.vocabulary),
                "train_utterances": len(train_rows), "held_out_utterances": len(held_rows)}
    return evaluate


def transcription_picture(audio: AudioSet, device: torch.device):
    """The session's picture: spectrograms of the first held-out utterances, titled with what was said and heard."""
    shown = audio.subset(torch.arange(min(PICTURE_UTTERANCES, len(audio))))

    def picture(game: SpeechTraining, path: Path) -> Path:
        waves, lengths = pad_waves(shown.waves)
        heard = transcribe(game.model, shown.waves, device)
        return transcription_figure(waves, lengths, shown.sample_rate, shown.transcripts, heard, path)
    return picture


def train_audio(config: AudioTrainConfig, resume: bool = False, overwrite: bool = False, progress: bool = True,
                report: bool = True) -> RunDir:
    """Train (or continue) the speech model run `config` describes; returns its run directory."""
    config = config.validate()

    def build(dist: Distributed, device: torch.device, precision: Precision, run: RunDir) -> Session:
        audio, train_rows, held_rows = load_run_audio(config, progress and dist.is_main)
        kind = model_kind(config, audio)
        if kind == "keyword":
            check_keyword_data(audio)
        settings = model_settings(config, kind, audio.vocabulary)
        torch.manual_seed(config.seed)
        model = build_speech_model(settings).to(device)
        game = SpeechTraining(model, lr=config.lr, clip=config.clip, dist=dist, precision=precision)
        held = audio.subset(held_rows)
        meta = {"model": settings, "held_out": held.names}
        data = DeviceBatches(AudioBatches(audio.subset(train_rows), audio.vocabulary), device, meta)
        sampler = make_generator(config.seed, torch.device("cpu"))  # AudioBatches draws rows on the CPU
        return Session(game, data, sampler, run, transcription_picture(held, device),
                       summary_figures(audio, train_rows, held_rows, kind, device), "audio train")

    return train_run(config, build, resume, overwrite, progress, report)


# --------------------------------------------------------------------------------------------- loading a run back

def audio_config(run_dir: str | Path, steps: int | None = None) -> AudioTrainConfig:
    """The stored config of an audio run (for --resume and the attacks), with `steps` raised if given."""
    return stored_config(run_dir, AudioTrainConfig, is_audio_config, "audio", "speech model",
                         "its config names no folder of WAV files", steps)


def load_audio_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[SpeechModel, AudioTrainConfig]:
    """(the trained model in eval mode on `device`, the run's config)."""
    config = audio_config(run_dir)
    model, _ = load_speech_model(run_dir, device)
    return model, config


def held_out_audio(run_dir: str | Path, progress: bool = False) -> AudioSet:
    """The run's held-out utterances, read again from its data folder; an AdvlabError when the folder changed
    since training (other names held out than the checkpoint records)."""
    config = audio_config(run_dir)
    audio, _, held_rows = load_run_audio(config, progress)
    held = audio.subset(held_rows)
    recorded = load_latest(RunDir(Path(run_dir)).checkpoints, warn=warn).meta.get("held_out")
    if recorded is not None and list(recorded) != list(held.names):
        raise AdvlabError(f"the data folder {config.data} changed since {run_dir} was trained: its held-out "
                          "utterances are no longer the ones the run held out")
    return held


__all__ = ["AudioTrainConfig", "DeviceBatches", "audio_config", "held_out_audio", "load_audio_run",
           "train_audio", "transcribe"]
