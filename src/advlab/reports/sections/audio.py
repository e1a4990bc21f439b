"""Speech runs (`advlab audio train`) and the audio attacks on them (`advlab attack audio-cw | audio-pgd RUN`).

* A recogniser's run: how well it transcribes the held-out utterances (summary.json's ``test_wer``,
  ``test_sentence_accuracy``, ``train_wer``, ``held_out_utterances``, ``kind``, ``vocabulary``). The word error rate
  is the corpus rate: word edits (Levenshtein: substitutions, deletions, insertions) over reference words; sentence
  accuracy is the share of utterances transcribed exactly. The run's transcription pictures (samples/) are the
  samples section's.
* Each audio attack under RUN/attacks/NAME/results.json with ``"kind": "audio"`` (advlab.audio.results'
  AudioAttackResult as the attack command writes it): the summary (success rate, the starting dB bound, mean and
  max dB of the successful perturbations, iterations, seconds per utterance), success against the dB bound and
  against the iterations, the waveform and spectrogram pictures, and the first examples with their
  transcriptions before and after, the target, the perturbation's loudness dB_x(delta) = dB(delta) - dB(x) with
  dB(x) = max_i 20 log10 |x_i| (Carlini & Wagner 2018, eq. 1), and three players (HTML <audio controls>; Markdown
  links) of the clean and adversarial audio and the perturbation, amplified by results.json's
  ``perturbation_gain`` so it can be heard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from advlab.reports.attack_report import RESULTS_FILE, is_audio_attack, natural_order
from advlab.reports.markup import (
    esc,
    html_figures,
    html_heading,
    html_table,
    link,
    md_cell,
    md_heading,
    md_images,
    md_table,
)
from advlab.reports.reading import Run, format_value, is_audio_config, read_json_object
from advlab.reports.sections.base import RESULTS, Section, register

AUDIO_KIND = "audio"
MAX_EXAMPLES = 8
PLAYERS = (("clean", "clean"), ("adversarial", "adversarial"), ("perturbation", "perturbation"))
PICTURES = (("waveforms", "waveforms.png", "waveforms: clean and adversarial overlaid, the perturbation below"),
            ("spectrograms", "spectrograms.png", "spectrograms: clean, adversarial and perturbation on one dB scale"))
# summary() keys in the order the table shows them, with their column heads
SUMMARY_COLUMNS = (("n", "utterances"), ("success_rate", "success"), ("bound_db", "starting bound (dB)"),
                   ("mean_db", "mean dB (successes)"), ("max_db", "max dB (successes)"),
                   ("iterations", "iterations"), ("seconds_per_utterance", "s per utterance"),
                   ("seconds", "seconds"), ("success_rate_16bit", "16-bit WAV files that still succeed"),
                   ("playback_success", "success through fresh rooms"))
MODEL_NAMES = {"ctc": "CTC recogniser of word sequences", "keyword": "keyword classifier (one word per utterance)"}


# ---------------------------------------------------------------------- what a run is


def is_audio_run(run: Run) -> bool:
    return run.kind == AUDIO_KIND or is_audio_config(run.config)


def audio_attacks(root: Path) -> list[Path]:
    """The folders under ROOT/attacks holding an audio attack's results, in name order."""
    folder = Path(root) / "attacks"
    if not folder.is_dir():
        return []
    return sorted((path for path in folder.iterdir() if path.is_dir() and is_audio_attack(path)), key=natural_order)


# ---------------------------------------------------------------------- cells


def finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def percent(value) -> str:
    return f"{100 * value:.1f}%" if finite(value) else "—"


def decibels(value) -> str:
    return f"{value:.1f}" if finite(value) else "—"


def number(value, digits: int = 3) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}g}" if finite(value) else "—"


def transcript(value) -> str:
    """A transcription as text: a list of words joined, a string as it is, none as "—" and nothing as "(nothing)"."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else " ".join(str(word) for word in value)
    return text if text.strip() else "(nothing)"


def summary_cell(key: str, value) -> str:
    if key in ("success_rate", "playback_success", "playback_success_rate", "success_rate_16bit"):
        return percent(value)
    if key.endswith("_db"):
        return decibels(value)
    if key in ("seconds", "seconds_per_utterance"):
        return f"{value:.2f}" if finite(value) else "—"
    return number(value) if isinstance(value, int | float) else format_value(value)


def summary_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """(head, one row) of AudioAttackResult.summary(): the known figures first, then any other ones."""
    known = [(key, head) for key, head in SUMMARY_COLUMNS if key in summary]
    extra = [(key, key.replace("_", " ")) for key, value in summary.items()
             if key not in dict(SUMMARY_COLUMNS) and key != "attack" and not isinstance(value, dict | list)]
    columns = known + extra
    return [head for _, head in columns], [[summary_cell(key, summary[key]) for key, _ in columns]]


def curve_table(entries, key: str, head: str, shown) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of success_by_bound / success_by_iterations: one row per entry."""
    rows = [[shown(entry.get(key)), percent(entry.get("success_rate"))]
            for entry in entries or [] if isinstance(entry, dict)]
    return [head, "success"], rows


# ---------------------------------------------------------------------- one attack


@dataclass
class Example:
    """One attacked utterance: its text cells and its three WAV files (None where missing)."""

    cells: list[str]
    wavs: list[tuple[str, Path | None]]


@dataclass
class AudioAttackView:
    """One audio attack as the report shows it."""

    name: str
    root: Path
    description: str
    summary: tuple[list[str], list[list[str]]]
    by_bound: tuple[list[str], list[list[str]]]
    by_iterations: tuple[list[str], list[list[str]]]
    pictures: list[tuple[str, Path]]
    example_head: list[str]
    examples: list[Example] = field(default_factory=list)
    note: str = ""


def describe(results: dict, name: str) -> str:
    """One sentence: the attack, its goal, the model, the utterances and the options."""
    target = results.get("target")
    goal = f'targeted at "{transcript(target)}"' if target else "untargeted"
    if not target and (results.get("examples") or [{}])[0].get("target"):
        goal = "targeted (a target per utterance)"
    model = MODEL_NAMES.get(results.get("model"), results.get("model") or "speech model")
    n = (results.get("summary") or {}).get("n", len(results.get("examples") or []))
    options = ", ".join(f"{key}={format_value(value)}" for key, value in (results.get("options") or {}).items())
    run = f" of {results['run']}" if results.get("run") else ""
    rate = f" at {results['sample_rate']} Hz" if results.get("sample_rate") else ""
    return (f"{results.get('attack', name)} ({goal}) on the {model}{run}: {n} utterances{rate}"
            + (f"; options: {options}" if options else "") + ".")


def example_head(examples: list[dict], gain) -> list[str]:
    playback = any(finite(e.get("playback_success")) for e in examples)
    targeted = any(e.get("target") is not None for e in examples)
    amplified = f"perturbation ×{gain:.3g}" if finite(gain) and gain != 1 else "perturbation"
    return ["utterance", "said", *(["target"] if targeted else []), "heard before", "heard after", "success",
            "dB", "bound (dB)", *(["playback success"] if playback else []), "clean", "adversarial", amplified]


def example_row(example: dict, directory: Path, head: list[str]) -> Example:
    wav = str(example.get("wav") or f"{example.get('name', 'example')}.wav")
    cells = [str(example.get("name") or Path(wav).stem), transcript(example.get("truth"))]
    if "target" in head:
        cells.append(transcript(example.get("target")))
    cells += [transcript(example.get("before")), transcript(example.get("after")),
              "yes" if example.get("success") else "no", decibels(example.get("db")),
              decibels(example.get("bound_db"))]
    if "playback success" in head:
        cells.append(percent(example.get("playback_success")))
    wavs = []
    for label, folder in PLAYERS:
        path = directory / folder / wav
        wavs.append((label, path if path.is_file() else None))
    return Example(cells, wavs)


def read_audio_attack(directory: Path) -> AudioAttackView:
    """The audio attack in `directory` (its results.json, pictures and WAV files)."""
    results = read_json_object(directory / RESULTS_FILE) or {}
    summary = results.get("summary") if isinstance(results.get("summary"), dict) else {}
    examples = [e for e in results.get("examples") or [] if isinstance(e, dict)]
    names = results.get("pictures") if isinstance(results.get("pictures"), dict) else {}
    pictures = [(caption, directory / str(names.get(key, default))) for key, default, caption in PICTURES
                if (directory / str(names.get(key, default))).is_file()]
    gain = results.get("perturbation_gain")
    head = example_head(examples, gain)
    shown = [example_row(example, directory, head) for example in examples[:MAX_EXAMPLES]]
    note = ""
    if len(examples) > MAX_EXAMPLES:
        note = f"The first {MAX_EXAMPLES} of {len(examples)} utterances; every WAV file is in {directory.name}/."
    if finite(gain) and gain != 1:
        note += (" " if note else "") + (f"The perturbation is played {gain:.3g} times louder "
                                         f"(+{20 * math.log10(gain):.0f} dB) so it can be heard.")
    return AudioAttackView(
        directory.name, directory, describe(results, directory.name), summary_table(summary),
        curve_table(results.get("by_bound"), "bound_db", "bound (dB)", decibels),
        curve_table(results.get("by_iterations"), "iterations", "iterations", number),
        pictures, head, shown, note)


# ---------------------------------------------------------------------- rendering the examples


def html_player(label: str, path: Path | None, base: Path) -> str:
    if path is None:
        return "—"
    src = esc(link(path, base))
    return (f'<audio controls preload="none" src="{src}" title="{esc(label)}" style="width:11em;height:2.2em">'
            f'<a href="{src}">{esc(label)}</a></audio>')


def html_examples(view: AudioAttackView, base: Path) -> str:
    """The examples as an HTML table: escaped text cells, then the three players."""
    if not view.examples:
        return "<p><em>(no examples)</em></p>"
    lines = ["<tr>" + "".join(f"<th>{esc(x)}</th>" for x in view.example_head) + "</tr>"]
    for example in view.examples:
        cells = [esc(x) for x in example.cells] + [html_player(label, path, base) for label, path in example.wavs]
        lines.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return '<div class="wide"><table>' + "".join(lines) + "</table></div>"


def md_examples(view: AudioAttackView, base: Path) -> str:
    rows = [[*example.cells, *(f"[{label}]({link(path, base)})" if path is not None else "—"
                               for label, path in example.wavs)] for example in view.examples]
    return md_table(view.example_head, rows) if rows else "_(no examples)_"


# ---------------------------------------------------------------------- the sections


@register
class SpeechRecognition(Section):
    """How well a speech model of `advlab audio train` transcribes its held-out utterances."""

    title, order = "Speech recognition on held-out utterances", RESULTS

    def applies(self, run: Run) -> bool:
        return is_audio_run(run) and any(key in run.summary for key in ("test_wer", "test_sentence_accuracy"))

    def collect(self, run: Run) -> tuple[str, list[tuple[str, str]]]:
        summary = run.summary
        kind = summary.get("kind") or run.config.get("model")
        vocabulary = summary.get("vocabulary") or []
        vocabulary = vocabulary.split() if isinstance(vocabulary, str) else vocabulary  # summary.json: "zero one ..."
        held = summary.get("held_out_utterances")
        rows = [("held-out utterances", number(held)),
                ("word error rate, held-out", percent(summary.get("test_wer"))),
                ("sentence accuracy, held-out", percent(summary.get("test_sentence_accuracy")))]
        if "train_wer" in summary:
            rows.append(("word error rate, training utterances", percent(summary.get("train_wer"))))
        rows += [("model", MODEL_NAMES.get(kind, str(kind))),
                 ("vocabulary", f"{' '.join(map(str, vocabulary))} ({len(vocabulary)} words)" if vocabulary else "—")]
        if run.config.get("data"):
            rows.append(("data", str(run.config["data"])))
        decoding = "the arg-max word" if kind == "keyword" else "greedy CTC decoding (best path)"
        note = (f"Transcribed by {decoding}. Word error rate: word edits (substitutions, deletions, insertions) "
                "over reference words, all utterances pooled; sentence accuracy: the share transcribed exactly.")
        return note, rows

    def html(self, view, base: Path, level: int) -> str:
        note, rows = view
        return "\n".join([html_heading(level, self.title), f"<p>{esc(note)}</p>", html_table(("", "value"), rows)])

    def markdown(self, view, base: Path, level: int) -> str:
        note, rows = view
        return "\n\n".join([md_heading(level, self.title), md_cell(note), md_table(("figure", "value"), rows)])


@register
class AudioAttacks(Section):
    """The audio attacks run on a speech model (RUN/attacks/*/results.json with "kind": "audio")."""

    title, order = "Audio attacks", RESULTS + 1

    def applies(self, run: Run) -> bool:
        return bool(audio_attacks(run.root))

    def collect(self, run: Run) -> list[AudioAttackView]:
        return [read_audio_attack(directory) for directory in audio_attacks(run.root)]

    def html(self, view: list[AudioAttackView], base: Path, level: int) -> str:
        parts = [html_heading(level, self.title)]
        for attack in view:
            parts += [html_heading(level + 1, attack.name), f'<p class="options">{esc(attack.description)}</p>',
                      html_table(*attack.summary), html_figures(attack.pictures, base, "plots"),
                      html_heading(level + 2, "Success against the dB bound"), html_table(*attack.by_bound),
                      html_heading(level + 2, "Success against iterations"), html_table(*attack.by_iterations),
                      html_heading(level + 2, "Examples"),
                      *([f"<p>{esc(attack.note)}</p>"] if attack.note else []), html_examples(attack, base)]
        return "\n".join(parts)

    def markdown(self, view: list[AudioAttackView], base: Path, level: int) -> str:
        parts = [md_heading(level, self.title)]
        for attack in view:
            parts += [md_heading(level + 1, attack.name), md_cell(attack.description), md_table(*attack.summary)]
            if attack.pictures:
                parts.append(md_images(attack.pictures, base))
            parts += [md_heading(level + 2, "Success against the dB bound"), md_table(*attack.by_bound),
                      md_heading(level + 2, "Success against iterations"), md_table(*attack.by_iterations),
                      md_heading(level + 2, "Examples"), *([md_cell(attack.note)] if attack.note else []),
                      md_examples(attack, base)]
        return "\n\n".join(parts)

    def headline(self, view: list[AudioAttackView]) -> tuple[str, Path] | None:
        return next(((f"{attack.name}: {caption.split(':')[0]}", path) for attack in view
                     for caption, path in attack.pictures[::-1]), None)


__all__ = ["AudioAttackView", "AudioAttacks", "SpeechRecognition", "audio_attacks", "is_audio_attack",
           "is_audio_config", "read_audio_attack"]
