"""STRIP: a triggered input keeps its (target) prediction however it is blended with other images.

Gao, Xu, Wang, Chen, Ranasinghe & Nepal 2019, "STRIP: a defence against trojan attacks on deep neural
networks" (ACSAC), sec. IV: superimpose an incoming input x on N clean held-out images x_1 .. x_N, classify the
N blends, and compute the Shannon entropy of each prediction, H_n = -sum_i p_i log2 p_i; the input's
normalised entropy is H = (1/N) sum_n H_n (their H_sum over N). A clean input blended with other digits loses
its identity (high entropy); a trojaned input's trigger survives the blend and keeps the prediction on the
target (low entropy). The detection boundary is set on clean inputs only: the FRR-quantile of their entropies
(FRR, the false rejection rate, 1% by default as in the paper), and inputs below it are flagged.

The blend, ``blend="sum"`` (default), is theirs: the pixel-wise sum of the two images, saturated, i.e.
clamp(x + x_n, 0, 1) (their code's OpenCV ``addWeighted(x, 1, x_n, 1, 0)`` on 8-bit images); ``"average"``
takes (x + x_n) / 2 instead. The boundary is the empirical quantile of the clean entropies (each clean image
blended with N others from the pool, never with itself), not the normal fit the paper also mentions.

Measured on the tests' 16 px digits victim (BadNets at 5%; 270 clean images as the pool, 247 clean and 247
triggered test inputs, one thread): 100 overlays flag 92% of the triggered inputs and 2.4% of the clean ones in
about 10 s; 50 overlays >= 85%; 20 overlays 81% / 1.6% in under 2 s. The "average" blend is much weaker there
(32% at 20 overlays): halving the trigger's contrast lets the digits underneath compete with it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.core.batching import images_per_pass
from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.poisoning.base import check_training_set
from advlab.poisoning.detection.result import Detection, check_share

OVERLAYS = 100
FRR = 0.01
BLENDS = ("sum", "average")


def superimpose(images: Tensor, overlays: Tensor, blend: str) -> Tensor:
    """Blend `images` (n, C, H, W) with `overlays` (n, N, C, H, W) -> (n, N, C, H, W) in [0, 1]."""
    if blend == "sum":
        return (images[:, None] + overlays).clamp(0, 1)
    return (images[:, None] + overlays) / 2


def prediction_entropy(logits: Tensor) -> Tensor:
    """Shannon entropy in bits of softmax(`logits`) (M, K) -> (M,), with 0 log 0 = 0."""
    log_p = logits.log_softmax(1)
    return -(log_p.exp() * log_p).sum(1) / torch.log(torch.tensor(2.0, device=logits.device))


def draw_overlays(count: int, pool: int, overlays: int, generator: torch.Generator,
                  exclude_self: bool) -> Tensor:
    """(count, overlays) indices into a pool of `pool` images, distinct within a row; with `exclude_self`,
    row i never draws index i (the clean images calibrating the boundary are the pool itself)."""
    rows = []
    for index in range(count):
        order = torch.randperm(pool, generator=generator)
        if exclude_self:
            order = order[order != index]
        rows.append(order[:overlays])
    return torch.stack(rows)


def normalised_entropies(model: nn.Module, images: Tensor, pool: Tensor, indices: Tensor, blend: str,
                         batch: int) -> Tensor:
    """(n,) mean entropy of `model`'s predictions on each of `images` (n, C, H, W) blended with
    pool[indices[i]] (N of them)."""
    overlays = indices.shape[1]
    per_chunk = max(1, batch // overlays)
    results = []
    with evaluating(model), torch.no_grad():
        for first in range(0, len(images), per_chunk):
            chunk = images[first:first + per_chunk]
            blends = superimpose(chunk, pool[indices[first:first + per_chunk].to(pool.device)], blend)
            logits = model(blends.flatten(0, 1))
            results.append(prediction_entropy(logits.float()).view(len(chunk), overlays).mean(1))
    return torch.cat(results)


def strip(model: nn.Module, images: Tensor, labels: Tensor | None = None, clean_images: Tensor | None = None,
          overlays: int = OVERLAYS, frr: float = FRR, blend: str = "sum", batch: int | None = None,
          seed: int = 0) -> Detection:
    """Flag the `images` whose predictions stay confident under superimposition (likely triggered).

    Args:
        model: the classifier to guard; never modified.
        images: the inputs to inspect (N, C, H, W) in [0, 1], on the model's device.
        labels: their labels (N,), optional and unused (STRIP needs none); checked when given.
        clean_images: clean held-out images (M, C, H, W) in [0, 1], M > overlays: the blend pool and the
            inputs the boundary is set on (required).
        overlays: N, the clean images each input is blended with (default 100).
        frr: the false rejection rate the boundary allows on clean inputs, in (0, 1) (default 0.01).
        blend: "sum" (default: clamp(x + x_n, 0, 1), the paper's) or "average" ((x + x_n) / 2).
        batch: blended images per forward pass (default: advlab.core.batching.images_per_pass, cache-sized on a
            CPU).
        seed: seeds the choice of overlays (default 0).

    Returns:
        Detection of kind "rows": the flagged inputs (entropy below the threshold), scores (N,) = their normalised
        entropies in bits (lower is more suspicious), threshold = the boundary; extras ``clean_entropies`` (M,),
        ``frr``, ``overlays``, ``blend``.
    """
    if not isinstance(model, nn.Module):
        raise AdvlabError(f"model must be a torch nn.Module classifier, got {type(model).__name__}")
    check_training_set(images, torch.zeros(len(images), dtype=torch.int64) if labels is None else labels)
    if clean_images is None:
        raise AdvlabError("STRIP needs clean held-out images (clean_images) to blend with and to set its threshold")
    check_training_set(clean_images, torch.zeros(len(clean_images), dtype=torch.int64))
    if clean_images.shape[1:] != images.shape[1:]:
        raise AdvlabError(f"clean images {tuple(clean_images.shape[1:])} and inputs {tuple(images.shape[1:])} "
                          "must have the same shape")
    check_int("overlays", overlays, 1)
    if len(clean_images) <= overlays:
        raise AdvlabError(f"STRIP blends each input with {overlays} clean images, so it needs more than {overlays} "
                          f"clean images; got {len(clean_images)} (lower overlays)")
    frr = check_share("frr", frr)
    if frr >= 1:
        raise AdvlabError(f"frr must be a share in (0, 1), got {frr!r}")
    if blend not in BLENDS:
        raise AdvlabError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    if batch is not None:
        check_int("batch", batch, 1)
    batch = batch or images_per_pass(images)
    generator = make_generator(seed, torch.device("cpu"))
    clean_indices = draw_overlays(len(clean_images), len(clean_images), overlays, generator, exclude_self=True)
    input_indices = draw_overlays(len(images), len(clean_images), overlays, generator, exclude_self=False)
    clean = normalised_entropies(model, clean_images, clean_images, clean_indices, blend, batch).cpu()
    entropies = normalised_entropies(model, images, clean_images, input_indices, blend, batch).cpu()
    threshold = float(torch.quantile(clean.double(), frr))
    flagged = (entropies < threshold).nonzero().flatten()
    return Detection("strip", "rows", flagged, len(images), entropies, threshold,
                     {"clean_entropies": clean, "frr": frr, "overlays": overlays, "blend": blend})


__all__ = ["strip"]
