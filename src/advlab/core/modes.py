"""Train/eval mode toggles that always put a module back the way it was."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def evaluating(module: torch.nn.Module):
    """`module` in eval mode for the block; afterwards every submodule gets its own previous
    mode back (a model whose batch norms a user froze stays that way)."""
    modes = [(child, child.training) for child in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for child, training in modes:
            child.training = training
