"""Training precision: ``--precision fp32|bf16|fp16`` (Micikevicius et al. 2018, "Mixed precision training").

fp32 changes nothing. bf16 runs the forward passes under ``torch.autocast`` in bfloat16 (CPU or CUDA); its
exponent range is fp32's, so no loss scaling is needed. fp16 runs them in float16 on CUDA and scales each
loss before its backward pass (``torch.amp.GradScaler``, one per optimiser, as the AMP docs advise for
several optimisers), skipping a step whose gradients overflowed. Weights, optimiser states and gradients stay
fp32 in every mode, so checkpoints do not depend on the precision.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from advlab.core.errors import AdvlabError

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(name: str, device: torch.device) -> None:
    """Refuse a precision this device cannot train in, with what to use instead."""
    if name not in PRECISIONS:
        raise AdvlabError(f"unknown precision {name!r}; valid precisions are: {', '.join(PRECISIONS)}")
    if name == "fp16" and device.type != "cuda":
        raise AdvlabError("--precision fp16 needs a CUDA device (float16 autocast with a gradient scaler); "
                          "on the CPU use --precision bf16 or fp32")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise AdvlabError("this GPU has no bfloat16 support; use --precision fp16 or fp32")


@dataclass
class Precision:
    """The autocast context and the loss scaling of one training run on `device`."""

    name: str = "fp32"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    scalers: dict[int, torch.amp.GradScaler] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        check_precision(self.name, self.device)

    @property
    def mixed(self) -> bool:
        return self.name != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the forward passes run in (nothing for fp32)."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.name])

    def scaler(self, optimizer: torch.optim.Optimizer) -> torch.amp.GradScaler | None:
        """`optimizer`'s gradient scaler (fp16 only)."""
        if self.name != "fp16":
            return None
        return self.scalers.setdefault(id(optimizer), torch.amp.GradScaler(self.device.type))

    def backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """`loss.backward()`, the loss scaled first under fp16."""
        scaler = self.scaler(optimizer)
        (loss if scaler is None else scaler.scale(loss)).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """`optimizer.step()`; under fp16 the gradients are unscaled first and a step that overflowed is skipped."""
        scaler = self.scaler(optimizer)
        if scaler is None:
            optimizer.step()
            return
        scaler.step(optimizer)
        scaler.update()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring `optimizer`'s gradients to their true scale before reading them (norms, clipping); fp16 only."""
        scaler = self.scaler(optimizer)
        if scaler is not None:
            scaler.unscale_(optimizer)
