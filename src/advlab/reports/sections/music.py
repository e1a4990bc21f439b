"""The melody evaluation of a MidiNet run (RUN/eval/music.json from `advlab music evaluate`): the statistics of
generated, training, held-out and random melodies side by side, their distances to the held-out and training
phrases, the copy check, and the pictures (generated piano rolls, pitch-class and note-length histograms, the
statistics)."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import esc, html_figures, html_heading, html_table, md_heading, md_images, md_table
from advlab.reports.reading import Run, format_value, read_json_object
from advlab.reports.sections.base import RESULTS, Section, register

SOURCES = ("generated", "training", "held_out", "random")
PICTURES = (("generated melodies (held-out chords)", "music_melodies.png"),
            ("pitch classes", "music_pitch_classes.png"),
            ("note lengths", "music_note_lengths.png"),
            ("statistics", "music_statistics.png"))
COPY_FIGURES = ("generated", "mean_distance", "exact_copies", "near_copies", "distinctive", "distinctive_copies")
PHRASE_FIGURES = ("generated", "mean_distance", "min_distance", "exact_copies")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def label(source: str) -> str:
    return source.replace("_", "-")


def by_source(table: dict, first: str, keys: tuple[str, ...] | None = None) -> tuple[tuple, list[tuple]]:
    """(head, rows) of a {source: {figure: number}} mapping: one row per figure, one column per source."""
    sources = [s for s in SOURCES if isinstance(table.get(s), dict)]
    names: list[str] = list(keys or [])
    if keys is None:
        for source in sources:
            names += [k for k, v in table[source].items() if is_number(v) and k not in names]
    rows = [(name, *(format_value(table[s].get(name)) for s in sources)) for name in names]
    return (first, *(label(s) for s in sources)), rows


@register
class Melodies(Section):
    title, order = "Melodies against the corpus", RESULTS

    def applies(self, run: Run) -> bool:
        return (run.root / "eval" / "music.json").is_file()

    def collect(self, run: Run) -> dict:
        content = read_json_object(run.root / "eval" / "music.json") or {}
        pictures = [(caption, run.root / "eval" / name) for caption, name in PICTURES
                    if (run.root / "eval" / name).is_file()]
        note = (f"{content.get('n', '?')} melodies of {content.get('bars', '?')} bars generated (seed "
                f"{content.get('seed', '?')}) on the chords of held-out phrases, beside the training and held-out "
                "phrases and as many random melodies. Distances: Jensen-Shannon distance of the histograms and the "
                "mean symmetric difference of the statistics (0 = the same).")
        tables = [("Statistics", by_source(content.get("sources") or {}, "statistic"))]
        for key, title in (("versus_held_out", "Distance to the held-out phrases"),
                           ("versus_training", "Distance to the training phrases")):
            if content.get(key):
                tables.append((title, by_source(content[key], "figure")))
        tables.append(("Copy check: nearest training bar in any key (Hamming distance over 16 steps)",
                       by_source(content.get("copies") or {}, "figure", COPY_FIGURES)))
        if content.get("phrase_copies"):
            tables.append(("Copy check of whole phrases (nearest training phrase in any key)",
                           by_source(content["phrase_copies"], "figure", PHRASE_FIGURES)))
        return {"tables": tables, "pictures": pictures, "note": note}

    def html(self, view, base: Path, level: int) -> str:
        parts = [html_heading(level, self.title), f"<p>{esc(view['note'])}</p>",
                 html_figures(view["pictures"][:1], base, "lead")]
        for title, (head, rows) in view["tables"]:
            parts += [html_heading(level + 1, title), html_table(head, rows)]
        parts.append(html_figures(view["pictures"][1:], base, "plots"))
        return "\n".join(parts)

    def markdown(self, view, base: Path, level: int) -> str:
        parts = [md_heading(level, self.title), view["note"]]
        if view["pictures"]:
            parts.append(md_images(view["pictures"][:1], base))
        for title, (head, rows) in view["tables"]:
            parts += [md_heading(level + 1, title), md_table(head, rows)]
        if len(view["pictures"]) > 1:
            parts.append(md_images(view["pictures"][1:], base))
        return "\n\n".join(parts)

    def headline(self, view) -> tuple[str, Path] | None:
        return ("generated melodies", view["pictures"][0][1]) if view["pictures"] else None
