"""Training curves, written to RUN/plots/: a GAN's losses (and, when its run was evaluated during training,
losses against sample quality), discriminator outputs, gradient norms and evaluation figures; a classifier's
loss and accuracy per epoch."""

from __future__ import annotations

from pathlib import Path

from advlab.reports.attack_report import plot_classifier_curves
from advlab.reports.eval_plots import plot_convergence_vs_quality
from advlab.reports.markup import html_figures, html_heading, md_heading, md_image
from advlab.reports.plots import (
    plot_discriminator_outputs,
    plot_eval,
    plot_grad_norms,
    plot_losses,
    plot_train_series,
)
from advlab.reports.reading import GAME_LOOP_KINDS, Run
from advlab.reports.sections.base import DETAILS, Section, register


def write_gan_plots(run_dir: Path, records: list[dict]) -> list[tuple[str, Path]]:
    out = run_dir / "plots"
    plots = [
        ("Losses", plot_losses(records, out / "losses.png")),
        ("Discriminator outputs", plot_discriminator_outputs(records, out / "d_outputs.png")),
        ("Gradient norms", plot_grad_norms(records, out / "grad_norms.png")),
    ]
    # optional plots: (caption, plotter, file, position) -- losses against quality right after the losses
    optional = [("Losses against sample quality", plot_convergence_vs_quality, "convergence_vs_quality.png", 1),
                ("Evaluation", plot_eval, "eval.png", None)]
    for caption, plot, name, position in optional:
        drawn = plot(records, out / name)
        if drawn is None:
            (out / name).unlink(missing_ok=True)
        else:
            plots.insert(len(plots) if position is None else position, (caption, drawn))
    return plots


@register
class TrainingCurves(Section):
    """Every run has a metrics.jsonl, so every run has curves (empty axes before its first record)."""

    title, order = "Training curves", DETAILS + 10

    def applies(self, run: Run) -> bool:
        return True

    def collect(self, run: Run) -> tuple[str, list[tuple[str, Path]]]:
        if run.kind == "classifier":
            return run.kind, plot_classifier_curves(run.records, run.root / "plots")
        if run.kind in GAME_LOOP_KINDS:
            return run.kind, [("Losses", plot_train_series(run.records, run.root / "plots" / "losses.png"))]
        return run.kind, write_gan_plots(run.root, run.records)

    def html(self, view, base: Path, level: int) -> str:
        return html_heading(level, self.title) + "\n" + html_figures(view[1], base, "plots")

    def markdown(self, view, base: Path, level: int) -> str:
        return "\n\n".join([md_heading(level, self.title), *(md_image(c, p, base) for c, p in view[1])])

    def headline(self, view) -> tuple[str, Path] | None:
        kind, plots = view
        wanted = "Accuracy" if kind == "classifier" else "Losses"
        return next(((caption.lower(), path) for caption, path in plots if caption == wanted), None)
