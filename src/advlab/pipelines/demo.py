"""The demo: a ring8 GAN (non-saturating loss, MLPs) and a 16x16 digits DCGAN, one report."""

from __future__ import annotations

from pathlib import Path

from advlab.core.config import from_mapping
from advlab.pipelines.gan_config import GANTrainConfig
from advlab.pipelines.train_gan import train_gan
from advlab.reports.render import write_combined_report

DEMO_RUNS = {
    "ring8": {"data": "ring8", "loss": "nonsaturating", "steps": 3000},
    "digits": {"data": "digits", "image_size": 16, "loss": "nonsaturating", "steps": 1500,
               "sample_every": 250},
}


def run_demo(out: Path, quick: bool = False, device: str = "auto") -> Path:
    """Train every demo run into `out/NAME` and write `out/report.html`."""
    runs = []
    for name, options in DEMO_RUNS.items():
        values = {**options, "out": str(out / name), "device": device}
        if quick:
            values.update(steps=20, sample_every=10, checkpoint_every=10, log_every=5)
        config = from_mapping(GANTrainConfig, values, source=f"demo {name}")
        runs.append(train_gan(config, overwrite=True, report=True).root)
    html, _ = write_combined_report(out, runs, title="advlab demo: the minimax game of Goodfellow et al.")
    return html
