"""`advlab music train` (MidiNet on a built-in corpus or your MIDI files), `music sample` (melodies as MIDI, piano
rolls and WAV), `music evaluate` (their statistics against the training melodies) and `music datasets` (the
built-in corpora)."""

from __future__ import annotations

import argparse
from pathlib import Path

from advlab.cli.common import (
    LOOP_OPTION_DOCS,
    add_training_flags,
    command_config,
)
from advlab.data.melodies import CORPORA
from advlab.music.chords import parse_chords
from advlab.pipelines.music.configs import MusicTrainConfig
from advlab.pipelines.music.evaluate_music import evaluate_music
from advlab.pipelines.music.sample_music import sample_music
from advlab.pipelines.music.train_music import music_config, train_music

OPTION_DOCS = {
    "corpus": "a built-in corpus of music21 (advlab music datasets), e.g. bach",
    "data": "a folder of your MIDI files (.mid/.midi, searched recursively)",
    "bars": "bars per phrase, and per generated melody (MidiNet's figure: 8)",
    "transpose": "transposition augmentation of the training phrases (the paper shifts them to all 12 keys)",
    "held_out_fraction": "share of pieces (whole songs) held out of training, for the summary and evaluate",
    "limit": "read only until this many pieces gave bars (quick runs)",
    "noise_dim": "length of z (100)", "width": "gf_dim = df_dim of the authors' code (64)",
    "hidden": "units of the fully connected layers (1024)",
    "conditioner_width": "filters of the previous-bar conditioner CNN (16)",
    "previous_layers": "generator layers that see the previous bar, counted from the output (4 = all; fewer "
                       "leave more to the noise: the paper's creativity knob)",
    "lr": "Adam learning rate", "beta1": "Adam beta1", "beta2": "Adam beta2",
    "real_label": "D's target for real bars (0.9: one-sided label smoothing)",
    "feature_weight": "weight of feature matching on D's first-layer features (0.1)",
    "data_weight": "weight of matching the mean bar of the minibatch (0.01)",
    "generator_steps": "generator steps per discriminator step (2, as the authors' code)",
    "threshold": "a step sounds (at G's largest output) where G's outputs at that step sum above this (0: a note "
                 "on every step, as the authors' demo)",
    "steps": "iterations", "batch_size": "bars per minibatch (72 in the authors' code)",
    **LOOP_OPTION_DOCS,
    "sample_every": "save piano rolls of generated melodies every N steps",
}


HEADLINE_STATISTICS = ("chord_tone_rate", "notes_per_bar", "pitch_classes_per_bar", "scale_consistency",
                       "mean_interval", "rest_rate")


def add_parser(subparsers) -> None:
    music = subparsers.add_parser("music", help="melody generation with MidiNet: train, sample, evaluate")
    verbs = music.add_subparsers(dest="verb", required=True, metavar="{train,sample,evaluate,datasets}")
    train = verbs.add_parser("train", help="train MidiNet (Yang et al. 2017) on a corpus or your MIDI files")
    add_training_flags(train, MusicTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    sample = verbs.add_parser("sample", help="generate melodies with a trained run: .mid, piano-roll .png, .wav")
    sample.add_argument("run", help="a music run directory")
    sample.add_argument("--n", type=int, default=16, help="melodies (default 16)")
    sample.add_argument("--chords", default=None, help="chord progression, e.g. C,G,Am,F (repeated to --bars; "
                        "default: each melody follows a training phrase's chords)")
    sample.add_argument("--bars", type=int, default=None, help="bars per melody (default: the run's)")
    sample.add_argument("--out", default=None, help="output folder (default RUN/melodies/CHORDS-seedN, CHORDS the "
                        "progression or 'drawn')")
    sample.add_argument("--seed", type=int, default=0, help="seeds the noise and the drawn progressions (default 0)")
    sample.add_argument("--threshold", type=float, default=None, help="binarisation threshold (default: the run's)")
    sample.add_argument("--tempo", type=float, default=120.0, help="beats per minute of the MIDI and WAV files")
    sample.add_argument("--no-wav", action="store_true", help="write no WAV renderings")
    sample.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sample.set_defaults(handler=run_sample)
    evaluate = verbs.add_parser("evaluate", help="statistics of generated melodies against the training, held-out "
                                "and random melodies; copy check")
    evaluate.add_argument("run", help="a music run directory")
    evaluate.add_argument("--n", type=int, default=64, help="melodies to generate (default 64)")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the generated and random melodies")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar while reading the corpus")
    evaluate.set_defaults(handler=run_evaluate)
    datasets = verbs.add_parser("datasets", help="list the built-in corpora")
    datasets.set_defaults(handler=run_datasets)


def run_train(args: argparse.Namespace) -> int:
    config = command_config(args, MusicTrainConfig, music_config)
    run = train_music(config, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    chords = parse_chords(args.chords) if args.chords is not None else None
    out = args.out or str(Path(args.run) / "melodies" / f"{'-'.join(chords) if chords else 'drawn'}-seed{args.seed}")
    sampled = sample_music(args.run, n=args.n, chords=chords, bars=args.bars, seed=args.seed, out=out,
                           device=args.device, threshold=args.threshold, tempo_bpm=args.tempo, wav=not args.no_wav)
    n, bars = sampled.melodies.shape[:2]
    print(f"wrote {n} melodies of {bars} bars under {out}: .mid, .png{'' if args.no_wav else ', .wav'}, "
          f"grid.png, melodies.json")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    path, content = evaluate_music(args.run, n=args.n, seed=args.seed, device=args.device,
                                   progress=not args.no_progress)
    reference = content["reference"]
    distances = content[f"versus_{reference}"] or {}
    print(f"{'':40}" + "".join(f"{name:>11}" for name in content["sources"]))
    for key in HEADLINE_STATISTICS:
        values = [content["sources"][name].get(key) for name in content["sources"]]
        print(f"{key:40}" + "".join(f"{v:>11.3f}" if isinstance(v, float) else f"{'-':>11}" for v in values))
    for key in ("pitch_class_distance", "mean_symmetric_difference"):
        values = [distances.get(name, {}).get(key) for name in content["sources"]]
        print(f"{key + ' to ' + reference.replace('_', '-'):40}"
              + "".join(f"{v:>11.3f}" if isinstance(v, float) else f"{'-':>11}" for v in values))
    copies = [content["copies"].get(name, {}).get("exact_copies") for name in content["sources"]]
    print(f"{'exact copies of a bar':40}" + "".join(f"{v:>11.3f}" if isinstance(v, float) else f"{'-':>11}"
                                                    for v in copies))
    print(f"wrote {path} (and its plots; report: {Path(args.run) / 'report.html'})")
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    width = max(len(name) for name in CORPORA)
    print("built-in corpora (music21's, nothing downloaded):")
    for name, description in CORPORA.items():
        print(f"  {name:<{width}}  {description}")
    print("your own: advlab music train --data DIR (a folder of .mid/.midi files)")
    return 0


__all__ = ["add_parser"]
