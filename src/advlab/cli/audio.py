"""`advlab audio data` (spoken digit strings synthesised with espeak-ng), `audio train` (a CTC recogniser or a
keyword classifier on a folder of WAV files), `audio evaluate` (word error rate on the held-out utterances or
another folder) and `audio transcribe` (what a trained model hears in your WAV files). The attacks on a trained
model are `advlab attack audio-cw` and `advlab attack audio-pgd`."""

from __future__ import annotations

import argparse
import json

from advlab.cli.common import (
    LOOP_OPTION_DOCS,
    ExamplesFormatter,
    add_training_flags,
    command_config,
)
from advlab.data.spoken import make_spoken_digits
from advlab.pipelines.audio.configs import AudioTrainConfig
from advlab.pipelines.audio.evaluate_audio import evaluate_audio, transcribe_files
from advlab.pipelines.audio.train_audio import audio_config, train_audio

EXAMPLES = """examples:
  advlab audio data --out data/spoken                        # 2,000 spoken digit strings (espeak-ng)
  advlab audio train --data data/spoken --out runs/asr       # a CTC recogniser of digit sequences
  advlab audio train --data ./my_wavs --out runs/kws         # your WAVs: LABEL_*.wav names, class folders or
                                                             # a transcripts.tsv (NAME<TAB>words)
  advlab audio evaluate runs/asr
  advlab audio transcribe runs/asr clip.wav
  advlab attack audio-cw runs/asr --target "one two three" --db -30
  advlab attack audio-pgd runs/kws --eps-db -35"""

OPTION_DOCS = {
    "data": "a folder of WAV files: a transcripts.tsv (NAME<TAB>words), class folders DIR/WORD/*.wav or "
            "WORD_*.wav names (advlab audio data makes one)",
    "model": "ctc (a recogniser of word sequences), keyword (one word per utterance) or auto (ctc when any "
             "transcript has several words)",
    "sample_rate": "Hz the audio is resampled to (the front-end's rate)",
    "held_out_fraction": "share of utterances held out (seeded): the word error rate and the attacks use them",
    "max_seconds": "refuse utterances longer than this",
    "n_mels": "mel bands of the log-mel front-end", "width": "channels of the convolutions",
    "hidden": "units of each GRU direction (the keyword classifier: of its last layer)",
    "layers": "stacked bidirectional GRU layers (the CTC recogniser)",
    "lr": "Adam learning rate", "clip": "largest global gradient norm (0: no clipping)",
    "steps": "iterations", "batch_size": "utterances per minibatch",
    **LOOP_OPTION_DOCS,
    "sample_every": "save spectrograms of held-out utterances with what the model heard every N steps",
}


def add_parser(subparsers) -> None:
    audio = subparsers.add_parser("audio", help="speech: synthesise spoken digits, train a recogniser, evaluate",
                                  description=__doc__, epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    verbs = audio.add_subparsers(dest="verb", required=True, metavar="{data,train,evaluate,transcribe}")
    data = verbs.add_parser("data", help="synthesise spoken digit strings with espeak-ng (many voices, speeds, "
                            "pitches, noise)")
    data.add_argument("--out", required=True, help="folder to write (WAV files, transcripts.tsv, dataset.json)")
    data.add_argument("--n", type=int, default=2000, help="utterances (default 2000)")
    data.add_argument("--min-words", type=int, default=1, help="fewest digits per utterance (default 1)")
    data.add_argument("--max-words", type=int, default=4, help="most digits per utterance (default 4)")
    data.add_argument("--seed", type=int, default=0, help="random seed (voices, speeds, pitches, digits, noise)")
    data.add_argument("--sample-rate", type=int, default=16000, help="Hz of the WAV files (default 16000)")
    data.add_argument("--overwrite", action="store_true", help="replace the files in a non-empty --out")
    data.add_argument("--no-progress", action="store_true", help="no progress bar")
    data.set_defaults(handler=run_data)
    train = verbs.add_parser("train", help="train a CTC recogniser or a keyword classifier on a folder of WAVs")
    add_training_flags(train, AudioTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)
    evaluate = verbs.add_parser("evaluate", help="word error rate of a trained run")
    evaluate.add_argument("run", help="an audio run directory")
    evaluate.add_argument("--data", default=None, help="another folder of WAVs to judge (default: the run's "
                          "held-out utterances)")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    evaluate.set_defaults(handler=run_evaluate)
    transcribe = verbs.add_parser("transcribe", help="what a trained run hears in WAV files")
    transcribe.add_argument("run", help="an audio run directory")
    transcribe.add_argument("files", nargs="+", help="WAV files (any sample rate of at least 8000 Hz)")
    transcribe.add_argument("--device", default="auto", help="auto, cpu or cuda")
    transcribe.set_defaults(handler=run_transcribe)


def run_data(args: argparse.Namespace) -> int:
    out = make_spoken_digits(args.out, n=args.n, min_words=args.min_words, max_words=args.max_words, seed=args.seed,
                             rate=args.sample_rate, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {args.n} utterances to {out} (transcripts.tsv, dataset.json)\n"
          f"next: advlab audio train --data {out} --out runs/asr")
    return 0


def run_train(args: argparse.Namespace) -> int:
    config = command_config(args, AudioTrainConfig, audio_config)
    run = train_audio(config, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.no_progress)
    summary = json.loads(run.summary.read_text()) if run.summary.is_file() else {}
    if "test_wer" in summary:
        print(f"held-out word error rate {summary['test_wer']:.3f}, exact transcripts "
              f"{summary['test_sentence_accuracy']:.1%} ({summary['held_out_utterances']} utterances)")
    print(f"run: {run.root}\nreport: {run.root / 'report.html'}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    figures = evaluate_audio(args.run, data=args.data, device=args.device)
    print(f"{figures['utterances']} utterances of {figures['source']}: word error rate {figures['wer']:.3f}, "
          f"exact transcripts {figures['sentence_accuracy']:.1%}")
    return 0


def run_transcribe(args: argparse.Namespace) -> int:
    for path, words in transcribe_files(args.run, args.files, device=args.device):
        print(f"{path}\t{' '.join(words)}")
    return 0


__all__ = ["add_parser"]
