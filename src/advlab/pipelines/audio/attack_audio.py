"""`advlab attack audio-cw|audio-pgd RUN`: adversarial audio against a speech model run (advlab audio train).

audio-cw is Carlini & Wagner's targeted attack (2018; advlab.audio.cw): the first ``n`` held-out utterances whose
transcript is not already the target are each pushed, below a bound in dB relative to their own peak, to be heard as
the target phrase; the bound shrinks after each success and the quietest success is kept. audio-pgd is the
untargeted L-inf PGD baseline in the same dB terms (advlab.audio.pgd), on the first ``n`` held-out utterances the
model transcribes correctly; a list of bounds (``--eps-db -25,-35,-45``)
gives one result per bound. ``--eot K`` makes either attack robust to playback through a simulated room
(advlab.audio.room: gain, reverberation, noise; K rooms drawn per step, success judged over fresh rooms).

The attack's directory (RUN/attacks/NAME, or NAME-2, ... when that exists; an explicit ``out`` is refused when it
holds files unless ``overwrite``) holds, at the model's sample rate::

    clean/NAME.wav, adversarial/NAME.wav    what was attacked and what the attack made
    perturbation/NAME.wav                   adversarial - clean, times `perturbation_gain` (one gain for all files,
                                            the loudest perturbation at half of full scale) so it can be heard
    waveforms.png, spectrograms.png         the first utterances, titled with what the model heard before/after
    table.md                                success rate, dB, seconds per utterance; success by bound and iterations
    results.json                            all of it, and each utterance's transcription before/after and dB, and
                                            whether the adversarial WAV file, rounded to 16 bits, still succeeds

With a list of PGD bounds the WAV files and pictures are those of the first bound; results.json's "sweep" holds
every bound's summary. The run's report gains the attack (advlab.reports.sections.audio).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from advlab.audio.cw import AudioCW
from advlab.audio.decibels import check_db_bound
from advlab.audio.pgd import AudioPGD
from advlab.audio.results import AudioAttackResult
from advlab.audio.room import RoomSimulation
from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import seed_everything
from advlab.data.audio_io import read_wav, write_wav
from advlab.data.audio_sets import AudioSet, pad_waves
from advlab.pipelines.audio.train_audio import held_out_audio, load_audio_run, transcribe
from advlab.pipelines.security.attack_run import jsonable, make_output_dir, output_dir
from advlab.reports.audio_plots import spectrogram_figure, waveform_figure

AUDIO_ATTACKS = {"audio-cw": AudioCW, "audio-pgd": AudioPGD}
HANDLED = ("model", "room", "eot_samples", "progress", "seed")  # set by the run, not by a flag of the attack's
PICTURED = 4  # utterances in the pictures
PERTURBATION_PEAK = 0.5  # the loudest perturbation's peak in perturbation/*.wav
ITERATION_MARKS = (10, 25, 50, 100, 250, 500, 1000, 2000, 5000)


@dataclass
class AudioAttackRunConfig:
    """One audio attack on a speech model run.

    Args:
        attack: "audio-cw" or "audio-pgd".
        run: the speech model's run directory.
        options: the attack's own arguments (db, iterations, lr, c ... / eps_db, steps, alpha ...).
        n: attack the first n held-out utterances (audio-cw: of those not already saying the target).
        target: the phrase audio-cw makes the model hear (words of its vocabulary).
        eot: rooms drawn per step for playback robustness (0: none).
    """

    attack: str
    run: str
    options: dict[str, Any] = field(default_factory=dict)
    n: int | None = 10
    target: str | None = None
    eot: int = 0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    out: str | None = None
    overwrite: bool = False
    progress: bool = True
    report: bool = True

    def validate(self) -> AudioAttackRunConfig:
        if self.attack not in AUDIO_ATTACKS:
            raise AdvlabError(f"unknown audio attack {self.attack!r}; choose one of {', '.join(AUDIO_ATTACKS)}")
        if self.n is not None and self.n < 1:
            raise AdvlabError(f"--n must be at least 1, got {self.n}")
        if self.eot < 0:
            raise AdvlabError(f"--eot must be 0 (no playback simulation) or a number of rooms per step, got {self.eot}")
        if self.attack == "audio-cw" and not (self.target or "").strip():
            raise AdvlabError('audio-cw is targeted: pass --target "PHRASE" (words the model knows)')
        if self.attack == "audio-pgd" and self.target is not None:
            raise AdvlabError("audio-pgd is untargeted; drop --target (audio-cw makes the model hear a phrase)")
        for name in ("db", "eps_db"):
            for value in bounds_of(self.options.get(name)):
                check_db_bound(value, "--" + name.replace("_", "-"))
        return self


def bounds_of(value) -> list[float]:
    if value is None:
        return []
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def attacked_utterances(held: AudioSet, n: int | None, target: tuple[str, ...] | None,
                        heard: list[tuple[str, ...]]) -> AudioSet:
    """The first n held-out utterances worth attacking: for a target, those whose transcript is another phrase; for
    the untargeted attack, those the model transcribes correctly (an utterance it already gets wrong would count as
    a success for nothing)."""
    if target is not None:
        rows = [i for i, words in enumerate(held.transcripts) if tuple(words) != target]
        why = "every held-out utterance already says the target; choose another --target"
    else:
        rows = [i for i, (words, got) in enumerate(zip(held.transcripts, heard)) if tuple(words) == tuple(got)]
        why = "the model transcribes none of the held-out utterances correctly; train it longer before attacking it"
    if not rows:
        raise AdvlabError(why)
    return held.subset(torch.tensor(rows[:n] if n is not None else rows))


def make_attacks(config: AudioAttackRunConfig, model) -> list:
    """The attack objects: one, or one per bound of an audio-pgd sweep."""
    cls = AUDIO_ATTACKS[config.attack]
    room = {"room": RoomSimulation(sample_rate=model.sample_rate), "eot_samples": config.eot} if config.eot else {}
    common = {**config.options, **room, "seed": config.seed, "progress": config.progress}
    if config.attack == "audio-pgd" and isinstance(config.options.get("eps_db"), (list, tuple)):
        return [cls(model, **{**common, "eps_db": float(bound)}) for bound in config.options["eps_db"]]
    return [cls(model, **common)]


def audio_attack_run(config: AudioAttackRunConfig) -> Path:
    """Run the audio attack `config` describes; returns the directory it wrote."""
    config.validate()
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    model, _ = load_audio_run(config.run, device)
    target = tuple(config.target.lower().split()) if config.target else None
    if target is not None:
        model.encode(target)  # a word outside the vocabulary: the model's AdvlabError names it
    held = held_out_audio(config.run)
    heard = transcribe(model, held.waves, device) if target is None else []
    utterances = attacked_utterances(held, config.n, target, heard)
    out = output_dir(config)  # checked before the attack runs, created after
    waves, lengths = pad_waves(utterances.waves)
    waves, lengths = waves.to(device), lengths.to(device)
    attacks, results = make_attacks(config, model), []
    for attack in attacks:  # each result times itself
        if target is None:
            results.append(attack.run(waves, lengths, utterances.transcripts))
        else:
            results.append(attack.run(waves, lengths, [target] * len(utterances), truths=utterances.transcripts))
    make_output_dir(out, config)
    gain = write_wavs(out, utterances, results[0])
    goals = [target] * len(utterances) if target is not None else None
    from_files = success_in_files(model, out, utterances, goals, device)
    write_outputs(out, config, utterances, results, attack_options(config, attacks[0]), model.kind, gain, from_files)
    if config.report and Path(config.run).resolve() / "attacks" in out.resolve().parents:
        from advlab.reports.render import write_report

        write_report(config.run)
    return out


# ---------------------------------------------------------------------- what the attack's directory holds


def stem(name: str) -> str:
    """A held-out file's name as a flat file stem: yes/a1.wav -> yes_a1."""
    return Path(name).with_suffix("").as_posix().replace("/", "_")


def perturbation_gain(delta: Tensor) -> float:
    """The factor that puts the loudest sample of the perturbations at PERTURBATION_PEAK (1 for none), one for all
    files, so that a perturbation can be heard and the files keep their relative loudness."""
    loudest = float(delta.abs().max())
    return PERTURBATION_PEAK / loudest if loudest > 0 else 1.0


def write_wavs(out: Path, utterances: AudioSet, result: AudioAttackResult) -> float:
    """clean/, adversarial/ and perturbation/ WAVs; returns the perturbation's gain."""
    delta = (result.adversarial - result.clean).detach().cpu()
    gain = perturbation_gain(delta)
    rate = utterances.sample_rate
    for row, name in enumerate(utterances.names):
        length = int(result.lengths[row])
        file = stem(name) + ".wav"
        write_wav(out / "clean" / file, result.clean[row, :length].cpu(), rate)
        write_wav(out / "adversarial" / file, result.adversarial[row, :length].detach().cpu(), rate)
        write_wav(out / "perturbation" / file, delta[row, :length] * gain, rate)
    return gain


def spoken(words) -> str:
    return " ".join(words) if words else "(nothing)"


def write_pictures(out: Path, result: AudioAttackResult, names: list[str], rate: int) -> dict[str, str]:
    """The waveforms and spectrograms of the first PICTURED utterances, titled with their names and what the model
    heard before and after."""
    rows = slice(0, PICTURED)
    clean, adversarial = result.clean[rows].cpu(), result.adversarial[rows].detach().cpu()
    lengths = result.lengths[rows].cpu()
    titles = [(stem(name), spoken(before), spoken(after))
              for name, before, after in zip(names[rows], result.before[rows], result.after[rows])]
    waveform_figure(clean, adversarial, lengths, rate, titles, out / "waveforms.png",
                    bound_db=result.bound_db[rows].cpu())
    spectrogram_figure(clean, adversarial, lengths, rate, titles, out / "spectrograms.png")
    return {"waveforms": "waveforms.png", "spectrograms": "spectrograms.png"}


def bound_marks(result: AudioAttackResult, attack: str) -> list[float]:
    """The bounds of the success-by-bound table: the starting bound and every 5 dB below it to 20 dB below."""
    start = float(result.summary()["bound_db"])
    return [start - 5.0 * k for k in range(5)] if attack == "audio-cw" else [start]


def iteration_marks(iterations: int) -> list[int]:
    return [k for k in ITERATION_MARKS if k < iterations] + [iterations]


def attack_options(config: AudioAttackRunConfig, attack) -> dict:
    """The attack's arguments as it ran (defaults included)."""
    parameters = inspect.signature(type(attack).__init__).parameters
    values = {name: getattr(attack, name) for name in parameters if name not in HANDLED and hasattr(attack, name)}
    return {name: jsonable(value) for name, value in {**values, **config.options, "eot": config.eot,
                                                        "seed": config.seed}.items()}


def success_in_files(model, out: Path, utterances: AudioSet, targets: list[tuple[str, ...]] | None,
                     device: torch.device) -> list[bool]:
    """Whether each adversarial WAV file, as written (16-bit samples), still reaches the goal: says the target, or
    (untargeted) no longer says the transcript. Carlini & Wagner's audio is 16-bit; rounding to it can undo a
    perturbation that only just worked."""
    heard = transcribe(model, [read_wav(out / "adversarial" / (stem(name) + ".wav"))[0] for name in utterances.names],
                       device)
    if targets is not None:
        return [tuple(got) == tuple(goal) for got, goal in zip(heard, targets)]
    return [tuple(got) != tuple(truth) for got, truth in zip(heard, utterances.transcripts)]


def write_outputs(out: Path, config: AudioAttackRunConfig, utterances: AudioSet, results: list[AudioAttackResult],
                  options: dict, kind: str, gain: float, from_files: list[bool]) -> None:
    """results.json and table.md (the WAV files are written before, `from_files` read back from them)."""
    first = results[0]
    pictures = write_pictures(out, first, utterances.names, utterances.sample_rate)
    by_bound = (first.success_by_bound(bound_marks(first, config.attack)) if len(results) == 1 else
                [{"bound_db": float(r.summary()["bound_db"]), "success_rate": r.summary()["success_rate"]}
                 for r in results])
    examples = [{"name": stem(name), "wav": stem(name) + ".wav", **example, "success_16bit": kept}
                for name, example, kept in zip(utterances.names, first.examples(), from_files)]
    summary = {**first.summary(), "success_rate_16bit": sum(from_files) / len(from_files)}
    record = {"attack": config.attack, "kind": "audio", "run": str(config.run), "model": kind,
              "sample_rate": utterances.sample_rate, "target": config.target,
              "options": options,
              "summary": summary, "perturbation_gain": gain, "by_bound": by_bound,
              "by_iterations": first.success_by_iterations(iteration_marks(first.iterations)),
              "sweep": [r.summary() for r in results] if len(results) > 1 else None,
              "examples": examples, "pictures": pictures}
    atomic_write_bytes(out / "results.json", json.dumps(record, indent=2).encode())
    atomic_write_bytes(out / "table.md", markdown_table(record).encode())


def format_db(value) -> str:
    return "-" if value is None or value != value else f"{value:.1f}"


def markdown_table(record: dict) -> str:
    """The attack's tables as Markdown (table.md; the CLI prints it)."""
    rows = record["sweep"] or [record["summary"]]
    lines = ["| bound (dB) | utterances | success rate | mean dB of successes | max dB | iterations | s / utterance |",
             "|---|---|---|---|---|---|---|"]
    for s in rows:
        lines.append(f"| {format_db(s['bound_db'])} | {s['n']} | {s['success_rate']:.0%} | {format_db(s['mean_db'])} "
                     f"| {format_db(s['max_db'])} | {s['iterations']} | {s['seconds_per_utterance']:.2f} |")
    written = record["summary"]
    lines += ["", f"Adversarial WAV files (16-bit, bound {format_db(written['bound_db'])} dB) that still succeed: "
                  f"{written['success_rate_16bit']:.0%}."]
    if written.get("playback_success") is not None:
        lines += [f"Success through fresh simulated rooms (playback): {written['playback_success']:.0%}."]
    lines += ["", "| bound (dB) | success rate |", "|---|---|"]
    lines += [f"| {format_db(b['bound_db'])} | {b['success_rate']:.0%} |" for b in record["by_bound"]]
    lines += ["", "| iterations | success rate |", "|---|---|"]
    lines += [f"| {b['iterations']} | {b['success_rate']:.0%} |" for b in record["by_iterations"]]
    lines += ["", "| utterance | said | heard before | heard after | dB | success |", "|---|---|---|---|---|---|"]
    lines += [f"| {e['name']} | {e['truth']} | {e['before'] or '(nothing)'} | {e['after'] or '(nothing)'} | "
              f"{format_db(e['db'])} | "
              f"{'yes' if e['success'] else 'no'} |" for e in record["examples"]]
    return "\n".join(lines) + "\n"


__all__ = ["AUDIO_ATTACKS", "AudioAttackRunConfig", "audio_attack_run", "markdown_table"]
