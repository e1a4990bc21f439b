"""`advlab defend pixel-defend RUN --out DIR`: a classifier run behind PixelDefend purification, seen through.

PixelDefend (Song et al. 2018, ``advlab.defenses.pixel_defend``) needs a PixelCNN of the classifier's data.
Unless one is given (``pixelcnn``: a file or a directory holding pixelcnn.safetensors), this trains advlab's
gated PixelCNN (``advlab.models.pixelcnn``) on RUN's training rows -- never its held-out ones -- and writes it
into the defended run::

    DIR/config.yaml, checkpoints/, metrics.jsonl   copied from RUN, as every defended run (preprocess_defense.py)
    DIR/pixelcnn/pixelcnn.safetensors              the trained PixelCNN (its description and bits/dim in the header)
    DIR/defense.json                               transform "pixel-defend", options {pixelcnn, eps_defend}
    DIR/summary.json                               clean accuracy defended and not, the first warning (naive PGD
                                                   against BPDA at eps), and "pixelcnn": its bits/dim on the
                                                   training and the held-out images, epochs, seconds per
                                                   purified image
    DIR/report.html, report.md

``advlab attack bpda DIR`` and ``advlab robustness DIR`` then attack the purified classifier. PixelDefend's
output has a zero gradient, so naive PGD reports it robust; BPDA (Athalye et al. 2018, sec. 5.4.1) does not.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from advlab.core.checks import check_int, check_number
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.seeding import seed_everything
from advlab.defenses.pixel_defend import PixelDefend, check_eps_defend
from advlab.defenses.preprocessed import DEFENSE_FILE, read_defense, write_defense
from advlab.models.pixelcnn import (
    PixelCNN,
    batched_bits_per_dim,
    load_pixelcnn,
    pixelcnn_file,
    save_pixelcnn,
    train_pixelcnn,
)
from advlab.pipelines.security.preprocess_defense import (
    check_output,
    checked_measure,
    copy_classifier_run,
    measure,
    prepare_output,
    refuse_defended,
    write_summary,
)
from advlab.pipelines.train_classifier import (
    classifier_config,
    classifier_record,
    held_out_split,
    image_shape,
    run_split,
)

TRANSFORM = "pixel-defend"
PIXELCNN_FOLDER = "pixelcnn"
TIMED_IMAGES = 100  # held-out images purified once to time the defense


@dataclasses.dataclass
class PixelCNNTraining:
    """How ``make_pixel_defended_run`` trains a PixelCNN when none is given (advlab.models.pixelcnn.PixelCNN)."""

    epochs: int = 20
    width: int = 32
    layers: int = 5
    levels: int = 256
    batch_size: int = 64
    lr: float = 1e-3

    def check(self) -> PixelCNNTraining:
        for name in ("epochs", "width", "layers", "batch_size"):
            check_int(f"--{name.replace('_', '-')}", getattr(self, name), 1)
        check_int("--levels", self.levels, 2)
        check_number("--lr", self.lr, strict=True)
        return self


def make_pixel_defended_run(run: str | Path, out: str | Path, pixelcnn: str | Path | None = None,
                            eps_defend: float = 16 / 255, training: PixelCNNTraining | None = None,
                            overwrite: bool = False, eps: float = 0.1, n: int = 300, attack_steps: int = 10,
                            eot_samples: int = 4, seed: int = 0, device: str = "auto", progress: bool = True,
                            report: bool = True) -> dict:
    """Copy classifier run `run` to `out` behind PixelDefend (training the PixelCNN into OUT/pixelcnn unless
    `pixelcnn` names one), measure it; returns its summary (also in OUT/summary.json)."""
    run, out = Path(run), Path(out)
    config = classifier_config(run)  # a classifier run, else one clear error
    sample_shape = image_shape(classifier_record(run)[1])
    refuse_defended(run)
    eps_defend = check_eps_defend(eps_defend)
    training = (training or PixelCNNTraining()).check()
    eps, n, attack_steps, eot_samples = checked_measure(eps, n, attack_steps, eot_samples)
    check_output(out, run, overwrite, DEFENSE_FILE)  # before the training, which takes a while
    seed_everything(seed)
    torch_device = resolve_device(device)
    model, history = given_or_trained(pixelcnn, run, sample_shape, training, seed, torch_device, progress)
    prepare_output(out, run, overwrite, DEFENSE_FILE)
    copy_classifier_run(run, out, config)
    held_out = held_out_split(run)[0]
    record = pixelcnn_record(model, history, held_out, training, eps_defend)
    if pixelcnn is None:
        path = save_pixelcnn(model, out / PIXELCNN_FOLDER, epochs=training.epochs,
                             bits_per_dim_train=f"{history[-1]:.6f}", seed=seed)
    else:
        path = pixelcnn_file(pixelcnn).resolve()
    write_defense(out, TRANSFORM, {"pixelcnn": str(path.resolve()), "eps_defend": eps_defend}, run)
    summary = measure(run, out, TRANSFORM, read_defense(out)["options"], eps, n, attack_steps, eot_samples, seed,
                      device, progress)
    summary["pixelcnn"] = {"path": str(path.resolve()), **record}
    return write_summary(out, summary, report)


def given_or_trained(pixelcnn: str | Path | None, run: Path, sample_shape: tuple[int, ...],
                     training: PixelCNNTraining, seed: int, device: torch.device,
                     progress: bool) -> tuple[PixelCNN, list[float]]:
    """(the PixelCNN at `pixelcnn`, []) after checking it models the run's images, or (one trained on the run's
    training rows, its bits/dim per epoch)."""
    if pixelcnn is not None:
        model, _ = load_pixelcnn(pixelcnn, device)
        if model.sample_shape != sample_shape:
            raise AdvlabError(f"pixel-defend: the PixelCNN {pixelcnn} models images of shape {model.sample_shape}, "
                              f"the classifier takes {sample_shape}; train one on the classifier's data")
        return model, []
    data, (train_rows, _) = run_split(run)
    torch.manual_seed(seed)
    model = PixelCNN(training.levels, sample_shape[0], tuple(sample_shape[1:]), training.width,
                     training.layers).to(device)
    history = train_pixelcnn(model, data.data[train_rows], training.epochs, training.batch_size, training.lr,
                             seed=seed, progress=progress)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, history


def pixelcnn_record(model: PixelCNN, history: list[float], held_out: torch.Tensor, training: PixelCNNTraining,
                    eps_defend: float) -> dict:
    """The PixelCNN's figures for summary.json: bits/dim (training: the last epoch's; held-out), epochs, and the
    seconds PixelDefend takes per image (one purification of up to TIMED_IMAGES held-out images)."""
    timed = held_out[:TIMED_IMAGES].to(model.head[-1].weight.device)
    defense = PixelDefend(model, eps_defend)
    start = time.perf_counter()
    defense.purify(timed)
    seconds = (time.perf_counter() - start) / max(len(timed), 1)
    return {"trained_here": bool(history), "epochs": len(history) or None,
            "bits_per_dim_train": history[-1] if history else None,
            "bits_per_dim_held_out": float(batched_bits_per_dim(model, held_out).mean()),
            "levels": model.levels, "window_levels": defense.window, "seconds_per_image": seconds,
            "training": dataclasses.asdict(training) if history else None}


def pixelcnn_lines(summary: dict) -> list[str]:
    """What `advlab defend pixel-defend` prints about the PixelCNN, before the first warning."""
    record = summary["pixelcnn"]
    trained = (f"trained {record['epochs']} epochs, {record['bits_per_dim_train']:.3f} bits/dim on the training "
               "images, " if record["trained_here"] else "given, ")
    return [f"PixelCNN ({record['path']}): {trained}{record['bits_per_dim_held_out']:.3f} bits/dim held out",
            f"PixelDefend: a window of +-{record['window_levels']} of {record['levels'] - 1} levels, "
            f"{record['seconds_per_image'] * 1000:.1f} ms per purified image"]


__all__ = ["PixelCNNTraining", "make_pixel_defended_run", "pixelcnn_lines"]
