"""`advlab text2image evaluate RUN`: how well a trained run draws what held-out captions ask for.

`n` samples, one per held-out caption (advlab.pipelines.text2image.figures: attribute accuracy against chance and
the real images, R-precision, FID in the attribute classifier's feature space), from the run's latest checkpoint:

    RUN/eval/text2image.json             figures.measure's record, plus "step" (the checkpoint's)
    RUN/eval/text2image_attributes.png   per attribute: chance | samples | real held-out images
    RUN/eval/text2image_samples.png      a few held-out captions: the real image, then samples

and the run's report is rewritten to show them (advlab.reports.sections.text2image).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.pipelines.text2image.figures import measure
from advlab.pipelines.text2image.sample_text2image import load_text2image_run
from advlab.pipelines.text2image.train_text2image import load_text2image_data
from advlab.reports.caption_grid import save_caption_grid
from advlab.reports.render import write_report
from advlab.reports.text2image_plots import plot_attribute_accuracy
from advlab.text2image.gan_int_cls import synthesise

GRID_ROWS, GRID_SAMPLES = 8, 8


def evaluate_text2image(run_dir: str | Path, n: int = 1000, seed: int = 0, device: str = "auto",
                        report: bool = True) -> tuple[Path, dict]:
    """Measure the run in `run_dir` on `n` held-out captions (seeded) and write RUN/eval/ (module docstring);
    returns (the JSON path, its content)."""
    check_int("--n", n, 1)
    target = resolve_device(device)
    trained = load_text2image_run(run_dir, target)
    data = load_text2image_data(trained.config)

    def draw(tokens, noise):
        return synthesise(trained.generator, trained.text(tokens), noise=noise)

    with torch.no_grad():
        record, samples, real, tokens = measure(draw, data, trained.embedding, n, seed, target)
    record["step"] = trained.step
    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    if "attributes" in record:
        plot_attribute_accuracy(record["attributes"], out / "text2image_attributes.png")
    write_sample_grid(trained, tokens, real, seed, target, out / "text2image_samples.png")
    path = out / "text2image.json"
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    if report:
        write_report(Path(run_dir))
    return path, record


def write_sample_grid(trained, tokens: torch.Tensor, real: torch.Tensor, seed: int, device: torch.device,
                      path: Path) -> Path:
    """The first GRID_ROWS held-out captions of the measurement: real image, then GRID_SAMPLES samples each."""
    rows = []
    noise = torch.Generator(device=device).manual_seed(seed)
    for i in range(min(GRID_ROWS, len(tokens))):
        repeated = tokens[i:i + 1].repeat(GRID_SAMPLES, 1).to(device)
        with torch.no_grad():
            samples = synthesise(trained.generator, trained.text(repeated), noise=noise).cpu()
        caption = trained.vocabulary.decode(tokens[i])
        rows.append((f"{caption}  (real | samples)", torch.cat([real[i:i + 1], samples])))
    return save_caption_grid(rows, path)


__all__ = ["evaluate_text2image"]
