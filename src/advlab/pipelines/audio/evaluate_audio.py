"""`advlab audio evaluate` and `advlab audio transcribe`: a trained speech model's word error rate and what it hears.

evaluate judges the run's held-out utterances (or another folder of WAVs labelled the same ways as training data)
and writes RUN/eval/audio.json: the corpus word error rate (word edits over reference words), the share of exact
transcripts, and each utterance's transcript and what the model heard. transcribe reads the user's WAV files (any
sample rate of at least 8,000 Hz, resampled to the model's) and returns what the model hears in each.
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.data.audio_io import load_audio
from advlab.data.audio_sets import AudioSet, load_audio_folder
from advlab.metrics.speech import sentence_accuracy, word_error_rate
from advlab.pipelines.audio.train_audio import held_out_audio, load_audio_run, transcribe


def evaluate_audio(run_dir: str | Path, data: str | None = None, device: str = "auto") -> dict:
    """The run's figures on its held-out utterances (or on folder `data`); also written to RUN/eval/audio.json."""
    torch_device = resolve_device(device)
    model, config = load_audio_run(run_dir, torch_device)
    audio: AudioSet = (held_out_audio(run_dir) if data is None else
                       load_audio_folder(data, rate=model.sample_rate, max_seconds=config.max_seconds))
    heard = transcribe(model, audio.waves, torch_device)
    figures = {"source": "held-out utterances" if data is None else str(data), "utterances": len(audio),
               "wer": word_error_rate(audio.transcripts, heard),
               "sentence_accuracy": sentence_accuracy(audio.transcripts, heard),
               "examples": [{"name": name, "said": " ".join(said), "heard": " ".join(got)}
                            for name, said, got in zip(audio.names, audio.transcripts, heard)]}
    (Path(run_dir) / "eval").mkdir(exist_ok=True)
    atomic_write_bytes(Path(run_dir) / "eval" / "audio.json", json.dumps(figures, indent=2).encode())
    return figures


def transcribe_files(run_dir: str | Path, files: list[str], device: str = "auto") -> list[tuple[str, tuple[str, ...]]]:
    """(file, what the model hears) for each WAV file."""
    torch_device = resolve_device(device)
    model, _ = load_audio_run(run_dir, torch_device)
    heard = transcribe(model, [load_audio(path, model.sample_rate) for path in files], torch_device)
    return list(zip(files, heard))


__all__ = ["evaluate_audio", "transcribe_files"]
