"""`advlab music train`: config -> melody bars + MidiNet's players + game -> a run directory.

The melodies come from a built-in corpus of music21 (`--corpus bach`, ...) or the user's MIDI files (`--data DIR`),
as bars of 16 steps x 128 pitches with a chord each and the bar before (advlab.data.melodies, held-out phrases
apart). MidiNet (advlab.music.midinet) trains through the one game loop (advlab.pipelines.game_loop: logging,
pictures, checkpoints, exact resume, torchrun). The picture followed during training is a grid of piano rolls of
a few melodies of `bars` bars generated one bar after another on held-out phrases' chords (samples/step-N.png); at
the end summary.json holds cheap figures of 64 such melodies and of as many random ones, each against the held-out
phrases (`summary_figures`; `advlab music evaluate` gives the whole picture). Every checkpoint records the chord
progressions of (up to 1,000) training phrases, from which `advlab music sample` draws when no chords are given.
Under torchrun rank 0 reads (and caches) the corpus before the other ranks.

A run on the whole bach corpus with the defaults (3,000 iterations of 72, seed 0; 174 s at load ~3 on 2 cores, one
thread, plus 44 s to parse the corpus the first time): chord-tone rate 0.535 (held-out 0.561, random 0.262),
pitch-class JS distance to the held-out phrases 0.231 (random 0.289), note-length 0.276 (random 0.947), mean
symmetric difference of the statistics 0.215 (random 0.566), rest rate 0.087 (held-out 0.077).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from advlab.core.checkpoints import load_latest, restore_module
from advlab.core.distributed import Distributed
from advlab.core.precision import Precision
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator
from advlab.data.melodies import MelodyBars, load_melodies
from advlab.metrics.music import compare_melodies, melody_statistics, random_melodies
from advlab.models.midinet import MidiNetDiscriminator, MidiNetGenerator
from advlab.music.chords import chord_name, chord_vectors
from advlab.music.midinet import MidiNet, draw_progressions, generate
from advlab.pipelines.game_loop import Session, train_run
from advlab.pipelines.music.configs import MusicTrainConfig
from advlab.pipelines.training import stored_config, warn
from advlab.reports.music_plots import plot_melody_grid
from advlab.reports.reading import is_music_config

PICTURE_MELODIES = 4
SUMMARY_MELODIES = 64
STORED_PROGRESSIONS = 1000


# ---------------------------------------------------------------------------------------------- chord progressions

def progressions_of(melodies: MelodyBars, limit: int = STORED_PROGRESSIONS, seed: int = 0) -> list[list[str]]:
    """The distinct chord progressions (names, "N" for no chord) of `melodies`' phrases in their own keys, at most
    `limit` of them (an even draw fixed by `seed` when there are more)."""
    seen: dict[tuple[str, ...], None] = {}
    for _, chords in melodies.phrases():
        seen.setdefault(tuple(chord_name(row) for row in chords.cpu()), None)
    found = [list(p) for p in seen]
    if len(found) > limit:
        keep = torch.randperm(len(found), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        found = [found[i] for i in keep.tolist()]
    return found


class TrainingMelodies:
    """The data a music session trains on: `melodies`' sampling, name and held-out phrases, plus the chord
    progressions a checkpoint records (so that sampling needs no corpus)."""

    def __init__(self, melodies: MelodyBars, seed: int = 0):
        self.melodies = melodies
        self.progressions = progressions_of(melodies, seed=seed)

    @property
    def name(self) -> str:
        return self.melodies.name

    @property
    def held_out(self) -> MelodyBars | None:
        return self.melodies.held_out

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return self.melodies.sample(n, generator)

    def checkpoint_meta(self) -> dict:
        return {**self.melodies.checkpoint_meta(), "progressions": self.progressions}


# ------------------------------------------------------------------------------------------------ building a run

def load_music_data(config: MusicTrainConfig, progress: bool = False) -> MelodyBars:
    """The run's melody bars (training phrases transposed when `transpose`; held-out phrases never)."""
    return load_melodies(corpus=config.corpus, folder=config.data, bars=config.bars, transpose=config.transpose,
                         held_out_fraction=config.held_out_fraction, seed=config.seed, limit=config.limit,
                         progress=progress)


def build_generator(config: MusicTrainConfig) -> MidiNetGenerator:
    """G of the run's architecture (also used to load a run back)."""
    return MidiNetGenerator(noise_dim=config.noise_dim, width=config.width, hidden=config.hidden,
                            conditioner_width=config.conditioner_width, previous_layers=config.previous_layers)


def build_game(config: MusicTrainConfig, device: torch.device, dist: Distributed, precision: Precision) -> MidiNet:
    torch.manual_seed(config.seed)
    generator = build_generator(config).to(device)
    discriminator = MidiNetDiscriminator(width=config.width, hidden=config.hidden).to(device)
    return MidiNet(generator, discriminator, lr=config.lr, betas=(config.beta1, config.beta2),
                   real_label=config.real_label, feature_weight=config.feature_weight,
                   data_weight=config.data_weight, generator_steps=config.generator_steps, seed=config.seed,
                   dist=dist, precision=precision)


def judged_phrases(data: TrainingMelodies) -> list[Tensor]:
    """The chord progressions melodies are generated on to be judged: the held-out phrases' (the training
    phrases' when nothing is held out)."""
    return [chords for _, chords in judged_source(data).phrases()]


def melody_picture(config: MusicTrainConfig, data: TrainingMelodies):
    """The session's picture: piano rolls of PICTURE_MELODIES melodies of `bars` bars on held-out chords (the same
    noise and chords at every snapshot, so that the pictures show training, not luck)."""
    phrases = judged_phrases(data)

    def picture(game: MidiNet, path: Path) -> Path:
        melodies, chords = generated_set(game.generator, PICTURE_MELODIES, config.bars, config.seed, phrases,
                                         config.threshold)
        return plot_melody_grid(melodies, path, chords=[[chord_name(c) for c in row] for row in chords])
    return picture


SUMMARY_STATISTICS = ("chord_tone_rate", "scale_consistency", "pitch_classes_per_bar", "notes_per_bar", "rest_rate")


def judged_source(data: TrainingMelodies) -> MelodyBars:
    """The phrases generated melodies are judged against: the held-out ones (the training ones when none)."""
    return data.held_out if data.held_out is not None and len(data.held_out) else data.melodies


def phrase_table(melodies: MelodyBars) -> tuple[Tensor, Tensor]:
    """A set's phrases as (rolls (P, B, 16, 128), chords (P, B, 13)) on the CPU."""
    phrases = melodies.phrases()
    return torch.stack([bars.cpu() for bars, _ in phrases]), torch.stack([chords.cpu() for _, chords in phrases])


def generated_set(generator: torch.nn.Module, n: int, bars: int, seed: int, phrases: list[Tensor],
                  threshold: float) -> tuple[Tensor, Tensor]:
    """n melodies generated on progressions drawn from `phrases`, and those progressions: ((n, bars, 16, 128),
    (n, bars, 13))."""
    melodies = generate(generator, n, bars, seed=seed, progressions=phrases, threshold=threshold)
    return melodies, draw_progressions(phrases, n, bars, torch.Generator().manual_seed(seed))


def summary_figures(config: MusicTrainConfig):
    """The summary's cheap held-out figures (advlab.metrics.music): SUMMARY_MELODIES melodies of `bars` bars
    generated on held-out phrases' chords and as many random melodies on the same chords, each compared with the
    held-out phrases -- the Jensen-Shannon distances of their pitch-class and note-length histograms and the mean
    symmetric difference of the scalar statistics (0 = the same) -- and a few statistics of the generated and
    held-out melodies (chord_tone_rate: the share of notes on the bar's triad)."""
    def evaluate(game: MidiNet, data: TrainingMelodies) -> dict:
        generated, chords = generated_set(game.generator, SUMMARY_MELODIES, config.bars, config.seed + 1,
                                          judged_phrases(data), config.threshold)
        reference, reference_chords = phrase_table(judged_source(data))
        noise = random_melodies(generated.shape[0] * generated.shape[1], reference,
                                torch.Generator().manual_seed(config.seed + 1)).reshape(generated.shape)
        figures: dict = {}
        for name, melodies in (("generated", generated), ("random", noise)):
            comparison = compare_melodies(melodies, reference, chords.reshape(-1, chords.shape[-1]),
                                          reference_chords.reshape(-1, chords.shape[-1]))
            for key in ("pitch_class_distance", "note_length_distance", "mean_symmetric_difference"):
                figures[f"{name}_{key}"] = comparison[key]
            if name == "random":
                figures["random_chord_tone_rate"] = comparison["generated"].get("chord_tone_rate")
        for name, melodies, bar_chords in (("generated", generated, chords), ("held_out", reference,
                                                                               reference_chords)):
            values = melody_statistics(melodies, bar_chords.reshape(-1, bar_chords.shape[-1]))
            figures.update({f"{name}_{key}": values[key] for key in SUMMARY_STATISTICS if key in values})
        figures["training_bars"], figures["held_out_bars"] = len(data.melodies), reference.shape[0] * reference.shape[1]
        return figures
    return evaluate


def train_music(config: MusicTrainConfig, resume: bool = False, overwrite: bool = False, progress: bool = True,
                report: bool = True) -> RunDir:
    """Train (or continue) the MidiNet run `config` describes; returns its run directory."""
    config = config.validate()

    def build(dist: Distributed, device: torch.device, precision: Precision, run: RunDir) -> Session:
        loaded: dict[str, MelodyBars] = {}
        # rank 0 parses (and caches) a corpus before the other ranks read it; its refusal stops every rank
        dist.on_main(lambda: loaded.setdefault("melodies", load_music_data(config, progress)))
        melodies = loaded.get("melodies") or load_music_data(config)
        data = TrainingMelodies(melodies.to(device), seed=config.seed)
        game = build_game(config, device, dist, precision)
        return Session(game, data, make_generator(config.seed, device), run, melody_picture(config, data),
                       summary_figures(config), "music train")

    return train_run(config, build, resume, overwrite, progress, report)


# --------------------------------------------------------------------------------------------- loading a run back

def music_config(run_dir: str | Path, steps: int | None = None) -> MusicTrainConfig:
    """The stored config of a music run (for --resume, sample and evaluate), with `steps` raised if given."""
    return stored_config(run_dir, MusicTrainConfig, is_music_config, "music", "music",
                         "its config names no corpus or data of melodies", steps)


def load_music_run(run_dir: str | Path, device: torch.device) -> tuple[MidiNetGenerator, MusicTrainConfig,
                                                                      list[Tensor]]:
    """(the trained generator in eval mode, the run's config, the training phrases' chord progressions as (B, 13)
    tensors) from the run's latest checkpoint."""
    config = music_config(run_dir)
    checkpoint = load_latest(RunDir(Path(run_dir)).checkpoints, warn=warn)
    generator = build_generator(config).to(device)
    restore_module(generator, "generator", {k: v.to(device) for k, v in checkpoint.tensors.items()})
    progressions = [chord_vectors(names) for names in checkpoint.meta.get("progressions", [])]
    return generator.eval(), config, progressions


__all__ = ["TrainingMelodies", "generated_set", "load_music_data",
           "load_music_run", "music_config", "phrase_table", "progressions_of", "train_music"]
