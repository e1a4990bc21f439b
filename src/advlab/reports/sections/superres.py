"""The super-resolution evaluation of a run (RUN/eval/superres.json from `advlab superres evaluate`): bicubic vs
SRResNet vs SRGAN on held-out photographs -- PSNR and SSIM on Y with a border crop, and feature distance -- with the
seed's figure (bicubic | SRResNet | SRGAN | original)."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import html_figures, html_heading, html_table, md_heading, md_images, md_table
from advlab.reports.reading import Run, read_json_object
from advlab.reports.sections.base import RESULTS, Section, register

HEAD = ("method", "PSNR (dB)", "SSIM", "feature distance")


@register
class SuperResolution(Section):
    title, order = "Super-resolution on held-out photographs", RESULTS

    def applies(self, run: Run) -> bool:
        return (run.root / "eval" / "superres.json").is_file()

    def collect(self, run: Run) -> tuple[list[tuple[str, ...]], Path | None]:
        content = read_json_object(run.root / "eval" / "superres.json") or {}
        rows = [(name, f"{f['psnr']:.2f}", f"{f['ssim']:.4f}", f"{f['feature_distance']:.4g}")
                for name, f in content.items() if isinstance(f, dict) and {"psnr", "ssim"} <= set(f)
                and "feature_distance" in f]
        figure = run.root / "eval" / "superres.png"
        return rows, figure if figure.is_file() else None

    def html(self, view, base: Path, level: int) -> str:
        rows, figure = view
        figures = html_figures([("bicubic | SRResNet | SRGAN | original", figure)], base, "lead") if figure else ""
        return "\n".join([html_heading(level, self.title), html_table(HEAD, rows), figures])

    def markdown(self, view, base: Path, level: int) -> str:
        rows, figure = view
        parts = [md_heading(level, self.title), md_table(HEAD, rows)]
        if figure:
            parts.append(md_images([("bicubic | SRResNet | SRGAN | original", figure)], base))
        return "\n\n".join(parts)

    def headline(self, view) -> tuple[str, Path] | None:
        return ("super-resolution", view[1]) if view[1] else None
