"""Checks shared by every metric: feature matrices, sample counts, neighbourhood sizes.

A metric accepts NumPy arrays and torch tensors alike; :func:`as_features` turns either into a
float64 CPU tensor of shape (n, d) and refuses, in one line naming the argument, anything else:
a wrong rank, an empty matrix, a non-numeric dtype, NaN or inf. Metrics compute in float64
(FID's matrix square root and k-NN radii are sensitive to rounding), whatever the input's dtype.
"""

from __future__ import annotations

import numpy as np
import torch

from advlab.core.errors import AdvlabError

Matrix = torch.Tensor | np.ndarray


def as_real_tensor(values: Matrix, name: str) -> torch.Tensor:
    """`values` (NumPy array or tensor of real numbers) as a detached tensor, same dtype and device."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iuf":
            raise AdvlabError(f"{name}: expected a numeric array, found dtype {values.dtype}")
        values = torch.from_numpy(np.ascontiguousarray(values))
    if not isinstance(values, torch.Tensor):
        raise AdvlabError(f"{name}: expected a NumPy array or torch tensor, found {type(values).__name__}")
    if values.is_complex() or values.dtype == torch.bool:
        raise AdvlabError(f"{name}: expected real numbers, found dtype {values.dtype}")
    return values.detach()


def as_features(values: Matrix, name: str = "features") -> torch.Tensor:
    """`values` as a float64 CPU tensor of shape (n, d), n >= 1, d >= 1, all finite.

    Args:
        values: (n, d) NumPy array or torch tensor of any real dtype.
        name: the argument's name, used in the error message.
    """
    values = as_real_tensor(values, name)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise AdvlabError(f"{name}: expected a matrix of shape (n, d) with n, d >= 1, found {tuple(values.shape)}")
    values = values.detach().to("cpu", torch.float64)
    if not torch.isfinite(values).all():
        bad = int((~torch.isfinite(values)).any(1).sum())
        raise AdvlabError(f"{name}: {bad} of {len(values)} rows hold NaN or inf")
    return values


def as_feature_pair(real: Matrix, fake: Matrix) -> tuple[torch.Tensor, torch.Tensor]:
    """Both matrices checked by :func:`as_features`, with the same width d."""
    real, fake = as_features(real, "real features"), as_features(fake, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise AdvlabError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]} "
                          "(were they made by the same feature network?)")
    return real, fake


def check_neighbours(k: int, samples: int, name: str) -> int:
    """`k` as an int >= 1 that leaves a k-th neighbour other than the point itself among `samples`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise AdvlabError(f"k must be an integer >= 1, got {k!r}")
    if samples < k + 1:
        raise AdvlabError(f"{name}: {samples} samples are too few for k={k}; at least k + 1 = {k + 1} are needed")
    return int(k)
