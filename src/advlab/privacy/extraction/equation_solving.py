"""Equation-solving extraction of logistic and softmax regression from their probabilities.

Tramer, Zhang, Juels, Reiter & Ristenpart 2016, "Stealing Machine Learning Models via Prediction APIs",
sec. 4.1 ("Equation-Solving Attacks"). A binary logistic regression answers p = sigma(w . x + b), so the
logit of each returned probability is linear in the query:

    log(p / (1 - p)) = w . x + b,

and d + 1 queries in general position give d + 1 linear equations in the d + 1 unknowns (w, b): the model
exactly. Softmax regression over K classes answers p_k = exp(w_k . x + b_k) / sum_j exp(w_j . x + b_j);
its parameters are identifiable only up to a shift common to every class (adding (v, c) to every (w_k, b_k)
changes no answer), and the log-ratios to class 0 are again linear:

    log(p_k / p_0) = (w_k - w_0) . x + (b_k - b_0),     k = 1, ..., K - 1,

so the same d + 1 queries recover W - w_0 and b - b_0 (class 0's row is zero) -- a model that gives every
input exactly the victim's probabilities. For K = 2 this is the binary case: row 1 is (w, b) itself.

The queries are drawn uniformly from the input box [0, 1]^d (float32 values, so the victim sees exactly
the points the equations use); the system [X 1] theta = log-ratios is solved by least squares in float64
(exactly determined with d + 1 queries, overdetermined with more). The condition number of [X 1] says how
much the victim's own rounding can move the answer. Fewer than d + 1 queries leave the system
under-determined (an AdvlabError says so), and a victim that returns only labels gives no equations: the
paper's label-only attacks (sec. 6: Lowd-Meek line search, retraining) are other methods, and
advlab's learning-based extraction (jacobian, knockoff) works from labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.models import MLPClassifier
from advlab.privacy.victim import Victim

NAME = "equation solving"


@dataclass(frozen=True)
class LinearExtraction:
    """What equation solving recovered: ``weights`` (K, d) and ``bias`` (K,), float64, class 0's row zero (the
    softmax shift fixed so; for K = 2 row 1 is the binary model's (w, b)), the ``queries`` asked, the condition
    number of the design [X 1], and ``residual``: the largest misfit of the log-ratio equations (0 up to rounding
    for an exactly determined system or a truly linear victim)."""

    weights: Tensor
    bias: Tensor
    queries: int
    condition_number: float
    residual: float

    def logits(self, images: Tensor) -> Tensor:
        """The copy's logits (N, K), float64: softmax of them is the victim's probabilities."""
        return images.flatten(1).double() @ self.weights.T + self.bias

    def as_module(self) -> MLPClassifier:
        """The copy as softmax regression in float32: advlab.models.MLPClassifier of depth 0, the model of
        `advlab classifier train --model logreg`."""
        model = MLPClassifier(self.weights.shape[1], self.weights.shape[0], depth=0)
        linear = model.net[-1]
        with torch.no_grad():
            linear.weight.copy_(self.weights)
            linear.bias.copy_(self.bias)
        return model.eval()


def shift_to_class_zero(weights: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """(W - w_0, b - b_0): a softmax regression's parameters with the shift chosen so that class 0's row is zero,
    the form equation solving recovers (compare a victim's weights through this)."""
    return weights - weights[:1], bias - bias[:1]


class EquationSolving:
    """Tramer et al. 2016, sec. 4.1: ``EquationSolving(queries=65).extract(victim, (1, 8, 8))``.

    Args:
        queries: random queries to ask (default d + 1, the fewest that determine the model; more: least squares).
        seed: seeds the random queries.
    """

    def __init__(self, queries: int | None = None, seed: int = 0):
        self.queries = None if queries is None else check_int(f"{NAME}: queries", queries, 1)
        self.seed = seed

    def extract(self, victim: Victim, sample_shape: tuple[int, ...]) -> LinearExtraction:
        """The linear model behind `victim`, whose inputs have `sample_shape` (C, H, W) in [0, 1]."""
        dimension = int(torch.tensor(sample_shape).prod())
        count = dimension + 1 if self.queries is None else self.queries
        check_budget(count, dimension)
        if victim.label_only:
            raise AdvlabError(f"{NAME} needs the victim's probabilities, but it returns only labels; the label-only "
                              "attacks of Tramer et al. (sec. 6) are other methods: use --method jacobian or "
                              "knockoff, which learn from labels")
        queries = random_queries(count, sample_shape, self.seed)
        ratios = log_ratios(victim.log_probabilities(queries, NAME))
        design = torch.cat([queries.flatten(1).double(), torch.ones(count, 1, dtype=torch.float64)], dim=1)
        solution = torch.linalg.lstsq(design, ratios, driver="gelsd").solution  # (d + 1, K - 1)
        residual = float((design @ solution - ratios).abs().max())
        weights = torch.cat([torch.zeros(1, dimension, dtype=torch.float64), solution[:-1].T])
        bias = torch.cat([torch.zeros(1, dtype=torch.float64), solution[-1]])
        return LinearExtraction(weights, bias, count, float(torch.linalg.cond(design)), residual)


def check_budget(queries: int, dimension: int) -> None:
    """Refuse fewer queries than the d + 1 unknowns of each class's equations."""
    if queries < dimension + 1:
        raise AdvlabError(f"{NAME} needs d + 1 = {dimension + 1} queries for inputs of d = {dimension} values "
                          f"(one equation per query for d weights and a bias), got {queries}")


def random_queries(count: int, sample_shape: tuple[int, ...], seed: int) -> Tensor:
    """`count` points uniform in the input box [0, 1]^d, shaped (count, *sample_shape), float32."""
    generator = make_generator(seed, torch.device("cpu"))
    return torch.rand((count, *sample_shape), generator=generator)


def log_ratios(log_probabilities: Tensor) -> Tensor:
    """log(p_k / p_0) for k = 1..K-1 (N, K - 1); a zero probability (a rounding or top-k output defense)
    leaves an equation without a value and is an AdvlabError."""
    if log_probabilities.shape[1] < 2:
        raise AdvlabError(f"{NAME} needs a probability per class (at least 2), got {log_probabilities.shape[1]}")
    ratios = log_probabilities[:, 1:] - log_probabilities[:, :1]
    if not torch.isfinite(ratios).all():
        raise AdvlabError(f"{NAME} needs every class's probability > 0, but the victim answered 0 for some (an output "
                          "defense such as rounding or top-k?): the log-ratio equations have no value there")
    return ratios


__all__ = ["EquationSolving", "LinearExtraction", "shift_to_class_zero"]
