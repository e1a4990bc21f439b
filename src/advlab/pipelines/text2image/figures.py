"""The figures of a text-to-image run, measured on samples drawn for held-out captions (advlab.metrics.text_image):

* attribute accuracy -- how often the attribute classifier (trained on the real training images) reads back from a
  sample what its caption asked, per attribute; beside *chance* (a generator that draws realistic images but
  ignores the text: sum_c p_c^2 over the training frequencies) and the *real* held-out images the captions
  describe (the ceiling: the classifier's own accuracy);
* R-precision (Xu et al. 2018) with advlab's joint embedding: the share of samples whose own caption ranks first
  among R = 100 candidates (R - 1 captions of images with other attributes; chance 1/R), beside the real images';
* FID in the attribute classifier's feature space between the samples and the real held-out images they were
  asked to match, beside the FID between those real images and as many real training images (the floor).

The user's own captioned images carry no attributes: their runs report R-precision only. Caption i of the
measurement is a random caption (seeded) of held-out image i mod H, so every held-out image is asked for before
any is asked for twice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from advlab.data.captioned_sets import CaptionedImages
from advlab.metrics.text_image import (
    CANDIDATES,
    attribute_accuracy,
    attribute_classifier,
    chance_accuracy,
    classifier_fid,
    r_precision,
)
from advlab.text2image.embedding import JointEmbedding

Draw = Callable[[Tensor, torch.Generator], Tensor]  # (tokens (N, L) on the device, noise) -> images (N, C, H, W)
BATCH = 250


def requests(data: CaptionedImages, n: int, seed: int) -> tuple[CaptionedImages, Tensor, Tensor]:
    """(the judged split, rows (n,), tokens (n, L)): held-out image i mod H with a random one of its captions."""
    source = data.held_out or data
    rows = torch.arange(n) % len(source)
    which = torch.randint(source.captions_per_image, (n,), generator=torch.Generator().manual_seed(seed))
    return source, rows, source.tokens.cpu()[rows, which]


def draw_all(draw: Draw, tokens: Tensor, seed: int, device: torch.device) -> Tensor:
    """Samples for every row of `tokens`, BATCH at a time, from noise seeded with `seed`; (N, C, H, W) on the CPU."""
    noise = torch.Generator(device=device).manual_seed(seed)
    return torch.cat([draw(part.to(device), noise).cpu() for part in tokens.split(BATCH)])


def mean(values: dict[str, float]) -> float:
    return float(sum(values.values()) / len(values))


def measure(draw: Draw, data: CaptionedImages, embedding: JointEmbedding, n: int = 500, seed: int = 0,
            device: torch.device | str = "cpu") -> tuple[dict, Tensor, Tensor, Tensor]:
    """Draw `n` samples for held-out captions and measure them (module docstring).

    Returns:
        (record, samples (n, C, H, W), real images asked for (n, C, H, W), tokens (n, L)); the record is
        ``{"data", "samples", "seed", "held_out_images", "r_precision": {"samples", "real", "candidates"},
        and for sets with attributes "attributes": {attribute: {"samples", "real", "chance"}},
        "attribute_accuracy": {"samples", "real", "chance"} (means over attributes), "fid": {"samples", "real"},
        "classifier_held_out_accuracy": {attribute: accuracy}}``.
    """
    device = torch.device(device)
    source, rows, tokens = requests(data, n, seed)
    samples = draw_all(draw, tokens, seed, device)
    real = source.images.cpu()[rows]
    classes = source.classes.cpu()[rows]
    candidates = min(CANDIDATES, n)
    record: dict = {"data": data.name, "samples": n, "seed": seed, "held_out_images": len(source)}
    if n >= 2 and int(classes.max()) != int(classes.min()):
        ranked = {name: r_precision(embedding, images, tokens, candidates, torch.Generator().manual_seed(seed),
                                    classes) for name, images in (("samples", samples), ("real", real))}
        record["r_precision"] = {**ranked, "candidates": candidates}
    if data.attributes:
        classifier = attribute_classifier(data.to("cpu"), seed=0)
        asked = {name: values.cpu()[rows] for name, values in source.attributes.items()}
        found = {"samples": attribute_accuracy(classifier, samples, asked),
                 "real": attribute_accuracy(classifier, real, asked), "chance": chance_accuracy(data)}
        record["attributes"] = {name: {kind: found[kind][name] for kind in found}
                                for name in found["samples"] if name in found["chance"]}
        record["attribute_accuracy"] = {kind: mean({k: v[kind] for k, v in record["attributes"].items()})
                                        for kind in found}
        if n >= 2:
            training = data.images.cpu()[torch.arange(n) % len(data)]
            record["fid"] = {"samples": classifier_fid(classifier, real, samples),
                             "real": classifier_fid(classifier, real, training)}
        record["classifier_held_out_accuracy"] = dict(classifier.held_out_accuracy)
    return record, samples, real, tokens


def flat_figures(record: dict) -> dict[str, float | int | None]:
    """The summary.json form of `measure`'s record: one number per key."""
    figures: dict = {"eval_samples": record["samples"]}
    if "attribute_accuracy" in record:
        overall = record["attribute_accuracy"]
        figures.update(attribute_accuracy=overall["samples"], chance_accuracy=overall["chance"],
                       real_attribute_accuracy=overall["real"])
        for name, values in record["attributes"].items():
            figures[f"accuracy_{name}"] = values["samples"]
            figures[f"chance_{name}"] = values["chance"]
            figures[f"real_{name}"] = values["real"]
    if "r_precision" in record:
        figures.update(r_precision=record["r_precision"]["samples"], real_r_precision=record["r_precision"]["real"],
                       r_precision_candidates=record["r_precision"]["candidates"])
    if "fid" in record:
        figures.update(fid=record["fid"]["samples"], real_fid=record["fid"]["real"])
    return figures


def summary_figures(game, data: CaptionedImages, embedding: JointEmbedding, n: int, seed: int) -> dict:
    """The figures a training run's summary.json holds (`flat_figures` of `measure` with the game's sampler)."""
    device = next(game.generator.parameters()).device
    record = measure(lambda tokens, noise: game.sample(tokens, generator=noise), data, embedding, n, seed, device)[0]
    return flat_figures(record)


__all__ = ["flat_figures", "measure", "requests", "summary_figures"]
