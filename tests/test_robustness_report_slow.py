"""advlab robustness at report-sized budgets: the worst case next to torchattacks' ensemble of the same attacks,
and the L2 threat model on the standard digits CNN."""

from __future__ import annotations

import pytest
import torch

from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness
from advlab.pipelines.security.robustness_checks import tolerance

torchattacks = pytest.importorskip("torchattacks")
N, EPS, STEPS, QUERIES, TARGETS = 100, 0.1, 50, 1000, 3


@pytest.mark.slow
def test_worst_case_is_at_least_as_strong_as_torchattacks_ensemble(digits_cnn, digits_mlp):
    """torchattacks' APGD-CE -> APGD-T -> Square (AutoAttack's members, same budgets) against advlab's worst case."""
    images, labels = digits_cnn.images[:N], digits_cnn.labels[:N]
    config = RobustnessConfig(eps=(EPS,), n=N, steps=STEPS, queries=QUERIES, targets=TARGETS, check_images=50,
                              progress=False)
    ours = evaluate_robustness(digits_cnn.model, images, labels, config, digits_mlp.model)
    targeted = torchattacks.APGDT(digits_cnn.model, eps=EPS, steps=STEPS, n_classes=10, seed=0)
    targeted.n_target_classes = TARGETS
    ensemble = torchattacks.MultiAttack([
        torchattacks.APGD(digits_cnn.model, eps=EPS, steps=STEPS, loss="ce", seed=0), targeted,
        torchattacks.Square(digits_cnn.model, eps=EPS, n_queries=QUERIES - 2, p_init=0.8, seed=0)])
    with torch.no_grad():
        theirs = float((digits_cnn.model(ensemble(images, labels)).argmax(1) == labels).float().mean())
    tol = tolerance(N)
    assert 0.2 < theirs < 0.9  # a budget where the comparison means something
    assert ours["robust_accuracy"]["0.1"] <= theirs + tol
    assert abs(ours["ensemble"]["accuracy"]["0.1"] - theirs) <= 2 * tol  # the same attacks in the same order
    assert all(check["passed"] for check in ours["checks"]), [c for c in ours["checks"] if not c["passed"]]


@pytest.mark.slow
def test_l2_threat_model_on_the_standard_cnn(digits_cnn, digits_mlp):
    config = RobustnessConfig(eps=(0.5, 1.0, 2.0), norm="l2", n=100, steps=20, queries=300, targets=2,
                              check_images=50, progress=False)
    record = evaluate_robustness(digits_cnn.model, digits_cnn.images[:100], digits_cnn.labels[:100], config,
                                 digits_mlp.model)
    values = list(record["robust_accuracy"].values())
    assert all(later <= earlier for earlier, later in zip(values, values[1:]))
    assert values[-1] <= 0.1 < values[0] <= record["clean_accuracy"]
    assert record["probes"]["large_eps"]["eps"] == pytest.approx(4.0)  # 0.5 sqrt(64)
    assert all(check["passed"] for check in record["checks"]), [c for c in record["checks"] if not c["passed"]]
