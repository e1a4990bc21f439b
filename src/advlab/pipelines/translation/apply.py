"""`advlab translate apply` and `advlab superres apply`: a trained run's generator on any image file or folder.

The generator is rebuilt from the run's config and the input/output shapes its checkpoint records, and loaded from
the run's latest checkpoint (safetensors). Every image is read at its own size (the generators are fully
convolutional; `image_size` resizes first), converted to the channels the run was trained on, translated in
batches of same-sized images, and written under `out` with its relative path (as PNG). The images per second are
reported (generation only, reading and writing excluded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.checkpoints import load_latest, restore_module
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.runs import RunDir
from advlab.data.image_folder import image_files, read_image, write_image
from advlab.data.resize import resize_images
from advlab.pipelines.training import warn
from advlab.pipelines.translation.train_superres import load_generator
from advlab.pipelines.translation.train_translation import build_generators, translation_config
from advlab.translation.pix2pix import paper_inference

DIRECTIONS = ("AtoB", "BtoA")


@dataclass
class Applied:
    """What an apply call wrote: the files, and the seconds spent generating."""

    files: list[Path]
    seconds: float

    @property
    def images_per_second(self) -> float:
        return len(self.files) / max(self.seconds, 1e-9)


def translation_generator(run_dir: str | Path, direction: str, device: torch.device) -> tuple[Callable, int]:
    """(the mapping of a translation run in `direction`, the channels it takes)."""
    if direction not in DIRECTIONS:
        raise AdvlabError(f"--direction must be AtoB or BtoA, got {direction!r}")
    config = translation_config(run_dir)
    checkpoint = load_latest(RunDir(Path(run_dir)).checkpoints, warn=warn)
    a_shape, b_shape = checkpoint.meta.get("a_shape"), checkpoint.meta.get("b_shape")
    if a_shape is None or b_shape is None:
        raise AdvlabError(f"{checkpoint.path} does not record the image shapes; is it a translation run?")
    generators = build_generators(config, tuple(a_shape), tuple(b_shape))
    for name, module in generators.items():
        restore_module(module, {"generator": "generator", "ab": "generators.ab", "ba": "generators.ba"}[name],
                       checkpoint.tensors)
        module.to(device).eval()
    if config.game == "pix2pix":
        if direction != "AtoB":
            raise AdvlabError("a pix2pix run maps one way; train another run with --direction BtoA")
        return as_in_the_paper(generators["generator"]), a_shape[0]
    forward = direction == "AtoB"
    return generators["ab" if forward else "ba"], (a_shape if forward else b_shape)[0]


def as_in_the_paper(generator: torch.nn.Module) -> Callable[[Tensor], Tensor]:
    """pix2pix's generator as Isola et al. run it at test time (sec. 3.1: dropout on, each image's own batch
    statistics; advlab.translation.pix2pix.paper_inference)."""

    def generate(images: Tensor) -> Tensor:
        with paper_inference(generator):
            return torch.cat([generator(image) for image in images.split(1)])

    return generate


def superres_generator(run_dir: str | Path, device: torch.device) -> tuple[Callable, int]:
    generator, _ = load_generator(run_dir, device)
    return generator, generator.channels


def output_path(source: Path, root: Path, out: Path, single: bool) -> Path:
    """Where the result of `source` goes: `out` itself for one file named like an image, else under `out`."""
    if single and out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return out
    relative = source.name if single else source.relative_to(root)
    return (out / relative).with_suffix(".png")


def apply_generator(generate: Callable[[Tensor], Tensor], channels: int, source: str | Path, out: str | Path,
                    device: torch.device, image_size: int | None = None, progress: bool = True) -> Applied:
    """`generate` on every image of `source` (a file or a folder), written under `out`."""
    source, out = Path(source), Path(out)
    files = image_files(source)
    single = source.is_file()
    written, seconds = [], 0.0
    for file in tqdm(files, disable=not progress or len(files) < 2, unit="img", desc="apply"):
        image = read_image(file, channels).unsqueeze(0)
        if image_size is not None:
            image = resize_images(image, image_size)
        start = time.perf_counter()
        with torch.no_grad():
            result = generate(image.to(device)).clamp(0, 1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - start
        written.append(write_image(result[0], output_path(file, source, out, single)))
    return Applied(written, seconds)


def translate_apply(run_dir: str | Path, source: str | Path, out: str | Path, direction: str = "AtoB",
                    device: str = "auto", image_size: int | None = None, progress: bool = True) -> Applied:
    target = resolve_device(device)
    generate, channels = translation_generator(run_dir, direction, target)
    return apply_generator(generate, channels, source, out, target, image_size, progress)


def superres_apply(run_dir: str | Path, source: str | Path, out: str | Path, device: str = "auto",
                   progress: bool = True) -> Applied:
    target = resolve_device(device)
    generate, channels = superres_generator(run_dir, target)
    return apply_generator(generate, channels, source, out, target, None, progress)
