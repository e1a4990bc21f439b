"""The pictures of a GAN run: its final samples first (for 2-D toy data, the real and generated points over
the discriminator's output), and up to eight evenly spaced snapshots of training (always the last)."""

from __future__ import annotations

import re
from pathlib import Path

from advlab.reports.markup import html_figures, html_heading, md_heading, md_images
from advlab.reports.reading import GAME_LOOP_KINDS, Run
from advlab.reports.sections.base import DETAILS, LEAD, Section, register

SAMPLE_NAME = re.compile(r"^step-(\d+)\.png$")
MAX_SAMPLES = 8


def final_samples(run: Run) -> Path | None:
    path = run.root / "samples" / "final.png"
    return path if run.kind in ("gan", *GAME_LOOP_KINDS) and path.is_file() else None


def spread(n: int, k: int) -> list[int]:
    """At most k indices into range(n), evenly spaced, always the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def snapshots(root: Path) -> list[tuple[str, Path]]:
    """(caption, path) of at most MAX_SAMPLES ``samples/step-NNNNNN.png``, evenly spaced, ending with the last."""
    found = sorted(
        (int(match.group(1)), path)
        for path in (root / "samples").glob("step-*.png")
        if (match := SAMPLE_NAME.match(path.name))
    )
    return [(f"step {found[i][0]}", found[i][1]) for i in spread(len(found), MAX_SAMPLES)]


@register
class FinalSamples(Section):
    """samples/final.png, large: what the generator makes at the end of training."""

    title, order = "Final samples", LEAD

    def applies(self, run: Run) -> bool:
        return final_samples(run) is not None

    def collect(self, run: Run) -> Path:
        return final_samples(run)

    def html(self, view: Path, base: Path, level: int) -> str:
        return html_heading(level, self.title) + "\n" + html_figures([("final", view)], base, "lead")

    def markdown(self, view: Path, base: Path, level: int) -> str:
        return f"{md_heading(level, self.title)}\n\n{md_images([('final', view)], base)}"

    def headline(self, view: Path) -> tuple[str, Path]:
        return "final samples", view


@register
class SamplesOverTime(Section):
    """Snapshots of a GAN's samples (an image-to-image run's comparison grids) during training ("(none yet)"
    before the first)."""

    title, order = "Samples over time", DETAILS

    def applies(self, run: Run) -> bool:
        return run.kind in ("gan", *GAME_LOOP_KINDS)

    def collect(self, run: Run) -> list[tuple[str, Path]]:
        return snapshots(run.root)

    def html(self, view, base: Path, level: int) -> str:
        return html_heading(level, self.title) + "\n" + html_figures(view, base, "samples")

    def markdown(self, view, base: Path, level: int) -> str:
        return f"{md_heading(level, self.title)}\n\n{md_images(view, base)}"

    def headline(self, view) -> tuple[str, Path] | None:
        return (f"samples at {view[-1][0]}", view[-1][1]) if view else None
