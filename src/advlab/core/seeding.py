"""Seeding: every entry point takes a seed; CPU runs are bit-reproducible (DESIGN.md)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global generators.

    On the CPU that makes runs bit-reproducible; CUDA kernels may still differ run to run.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A dedicated generator on `device` for noise and minibatch sampling."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
