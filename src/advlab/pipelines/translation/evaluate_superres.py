"""`advlab superres evaluate RUN --data PHOTOS`: bicubic vs SRResNet vs SRGAN on whole held-out photographs.

The protocol of Ledig et al. 2017 (sec. 3.1, after Set5/Set14 practice): PSNR (dB) and SSIM on the Y channel of
YCbCr with a border of `scale` pixels removed (advlab.metrics.image_quality), plus the distance between the
features of advlab's photo network (advlab.models.photo_features) -- the paper's point is that SRGAN trades PSNR
for outputs closer to real images in feature space. An SRGAN run is compared with the SRResNet it started from
(`--init`), an SRResNet run with bicubic alone.

    RUN/eval/superres.json   {method: {psnr, ssim, feature_distance,
                              per_image: [{image (its index), psnr, ssim, feature_distance}]}}
    RUN/eval/superres.png    the seed's figure: bicubic | SRResNet | SRGAN | original, PSNR/SSIM in the captions
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.devices import resolve_device
from advlab.data.superres_sets import load_superres_test
from advlab.metrics.image_quality import psnr, ssim
from advlab.models.photo_features import feature_distance, photo_features
from advlab.models.srresnet import bicubic_upscale
from advlab.pipelines.translation.configs import SuperresTrainConfig
from advlab.pipelines.translation.train_superres import load_generator, with_channels
from advlab.reports.render import write_report
from advlab.reports.superres_figure import plot_superres_figure


def methods_of(run_dir: str | Path, device: torch.device) -> tuple[dict[str, Callable[[Tensor], Tensor]],
                                                                   SuperresTrainConfig]:
    """{method name: low -> high} for the run (and the SRResNet an SRGAN run started from), and its config."""
    generator, config = load_generator(run_dir, device)
    methods = {"bicubic": lambda low: bicubic_upscale(low, config.scale)}
    if config.model == "srgan" and config.init:
        methods["srresnet"], _ = load_generator(config.init, device)
    methods[config.model] = generator
    return methods, config


def evaluate_superres(run_dir: str | Path, data: str | None = None, device: str = "auto") -> tuple[Path, dict]:
    """Score every method on the whole images of `data` (default: the held-out images of the run's own data set,
    never its training photographs) and write RUN/eval/superres.json and superres.png; returns (json path, content)."""
    target = resolve_device(device)
    methods, config = methods_of(run_dir, target)
    scale = config.scale
    channels = next(m for m in methods.values() if isinstance(m, torch.nn.Module)).channels
    pairs = with_channels(load_superres_test(data or config.data, scale, held_out_only=data is None), channels)
    features = photo_features(target)
    content, outputs = {}, {}
    for name, upscale in methods.items():
        rows = []
        outputs[name] = []
        for index, (low, high) in enumerate(pairs):
            with torch.no_grad():
                output = upscale(low.to(target)).clamp(0, 1).cpu()
            outputs[name].append(output)
            rows.append({"image": index, "psnr": float(psnr(output, high, crop=scale)),
                         "ssim": float(ssim(output, high, crop=scale)),
                         "feature_distance": float(feature_distance(output, high, features).mean())})
        content[name] = {key: sum(row[key] for row in rows) / len(rows)
                         for key in ("psnr", "ssim", "feature_distance")} | {"per_image": rows}
    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    plot_superres_figure([(name, outputs[name][0], content[name]["per_image"][0]) for name in methods],
                         pairs[0][1], out / "superres.png")
    path = out / "superres.json"
    atomic_write_bytes(path, json.dumps(content, indent=1).encode())
    write_report(Path(run_dir))
    return path, content
