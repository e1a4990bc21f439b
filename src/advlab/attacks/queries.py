"""Counting what a black-box attacker asks the model.

A black-box attack's cost is its number of queries: model evaluations, one per image per call.
``QueryCounter`` wraps any model and counts calls and images, so that any attack's cost (advlab's
or a peer's) can be measured from outside; with ``budget`` it refuses to answer past a total.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.core.errors import AdvlabError


class QueryCounter(nn.Module):
    """``counter = QueryCounter(model)``; use ``counter`` as the model; read ``counter.queries``.

    Attributes:
        calls: forward calls so far.
        queries: images evaluated so far (the sum of the batch sizes of all calls).
        budget: the most queries allowed in all (None: no limit); a call that would exceed it
            raises AdvlabError before the model sees the batch.
    """

    def __init__(self, model: nn.Module, budget: int | None = None):
        super().__init__()
        self.model = model
        self.budget = budget
        self.calls = 0
        self.queries = 0

    def forward(self, images: Tensor) -> Tensor:
        n = int(images.shape[0])
        if self.budget is not None and self.queries + n > self.budget:
            raise AdvlabError(f"query budget exceeded: {self.queries} + {n} > {self.budget}")
        self.calls += 1
        self.queries += n
        return self.model(images)

    def reset(self) -> None:
        self.calls = 0
        self.queries = 0
