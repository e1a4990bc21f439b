"""Reports: image grids, training plots, and HTML/Markdown run reports.

``write_report(run_dir)`` turns a run directory (config.yaml, metrics.jsonl, samples/) into
``report.html`` and ``report.md``; ``write_combined_report`` puts several runs on one page.
A report leads with its answer (pictures and headline figures) and ends with the configuration, folded.
Each kind of result is a section module in ``reports.sections`` that says whether it applies to a run and
renders itself; ``render`` only assembles them; ``markup`` holds the Markdown/HTML helpers.
Classifier runs show their accuracy curves and the attacks run on them (``attack_report``).
"""

from advlab.reports.attack_report import (
    attack_table,
    markdown_attack_table,
    plot_classifier_curves,
    read_attacks,
    save_attack_grid,
)
from advlab.reports.grids import make_grid, save_image_grid
from advlab.reports.plots import (
    plot_discriminator_outputs,
    plot_eval,
    plot_grad_norms,
    plot_losses,
    plot_points_over_heatmap,
    smooth,
)
from advlab.reports.render import read_metrics, write_combined_report, write_report

__all__ = [
    "attack_table",
    "make_grid",
    "markdown_attack_table",
    "plot_classifier_curves",
    "plot_discriminator_outputs",
    "plot_eval",
    "plot_grad_norms",
    "plot_losses",
    "plot_points_over_heatmap",
    "read_attacks",
    "read_metrics",
    "save_attack_grid",
    "save_image_grid",
    "smooth",
    "write_combined_report",
    "write_report",
]
