"""Pairwise squared Euclidean distances in row chunks, shared by the k-NN metrics and the birthday test.

Neither precision/recall (Kynkäänniemi et al. 2019) nor the closest-pair search of the birthday test needs
the whole n x m distance matrix at once; both walk it a chunk of rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

CHUNK_ELEMENTS = 2**21  # distances held at once (16 MiB of float64): small enough to stay in cache


def pairwise_chunks(a: torch.Tensor, b: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
    """(rows, squared distances from a[rows] to every row of b), consecutive chunks of rows covering a.

    Squared distances are ``|a|^2 + |b|^2 - 2 a.b`` clamped at 0 (rounding can make them slightly
    negative), on a's device. The chunks reuse one buffer of at most CHUNK_ELEMENTS values (a chunk has
    at least one row): a chunk is overwritten by the next, so use it before asking for the next one.
    """
    a_norms2, b_norms2 = squared_norms(a), squared_norms(b)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // len(b))
    buffer = torch.empty(min(rows_per_chunk, len(a)), len(b), dtype=a.dtype, device=a.device)
    for start in range(0, len(a), rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, len(a)))
        distances2 = buffer[: rows.stop - start]
        torch.addmm(a_norms2[rows, None], a[rows], b.T, alpha=-2.0, out=distances2)
        yield rows, distances2.add_(b_norms2).clamp_(min=0.0)


def squared_norms(points: torch.Tensor) -> torch.Tensor:
    """(n,) squared Euclidean norm of each row."""
    return torch.einsum("ij,ij->i", points, points)
