"""Interval bound propagation (Gowal et al. 2019): bounds hand-computed on a 2-layer net, their soundness on random
and PGD points of the box, eps 0 and monotonicity, eq. (9)-(10)'s loss and the schedule, bad input, ART's interval
bounds, and the headline of issue 23: an IBP-trained digits model's certified accuracy is a true lower bound --
no attack of the robustness chain (nor PGD-40 with restarts) goes below it on the same images."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line, run_cli
from torch import nn

from advlab.attacks import APGD, PGD
from advlab.core.config import from_mapping
from advlab.defenses.ibp import (
    IBPTraining,
    certified,
    certified_accuracy,
    ibp_loss,
    interval_bounds,
    margin_bounds,
    worst_case_logits,
)
from advlab.defenses.robust_training import make_objective
from advlab.models import Normalize
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.robustness import CERTIFIED_CHECK, RobustnessConfig, evaluate_robustness
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

EPS = 0.1
TOL = 1e-5


def two_layer_net() -> nn.Sequential:
    """z = W2 relu(W1 x + b1): W1 = [[1, -1], [2, 1]], b1 = [0, -0.5], W2 = [[1, 1], [-1, 2]], no b2."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -0.5]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, 2.0]]))
    return net


def test_bounds_are_the_hand_computed_intervals_of_eq_6_and_8():
    net, x = two_layer_net(), torch.tensor([[0.5, 0.5]])
    # box [0.4, 0.6]^2; layer 1: centre (0, 1), radius |W1| 0.1 = (0.2, 0.3) -> relu: [0, 0.2] x [0.7, 1.3]
    # logits: centre W2 (0.1, 1.0) = (1.1, 1.9), radius |W2| (0.1, 0.3) = (0.4, 0.7)
    lower, upper = interval_bounds(net, x, EPS)
    assert torch.allclose(lower, torch.tensor([[0.7, 1.2]]), atol=TOL)
    assert torch.allclose(upper, torch.tensor([[1.5, 2.6]]), atol=TOL)
    # label 1, last layer folded in: (W2_1 - W2_0) = (-2, 1): centre -0.2 + 1.0 = 0.8, radius 0.2 + 0.3 = 0.5
    margins = margin_bounds(net, x, torch.tensor([1]), EPS)
    assert torch.allclose(margins, torch.tensor([[0.3, 0.0]]), atol=TOL)
    naive = float((lower[0, 1] - upper[0, 0]).detach())
    assert naive == pytest.approx(-0.3, abs=TOL)  # the logit bounds alone: not certified
    assert certified(net, x, torch.tensor([1]), EPS).tolist() == [True]
    assert certified(net, x, torch.tensor([0]), EPS).tolist() == [False]
    assert torch.allclose(worst_case_logits(net, x, torch.tensor([1]), EPS), torch.tensor([[-0.3, 0.0]]), atol=TOL)
    # eq. (10) at kappa 0.5: half the clean CE, half CE(z_hat) = log(1 + e^-0.3)
    loss, logits = ibp_loss(net, x, torch.tensor([1]), EPS, 0.5)
    clean = F.cross_entropy(net(x), torch.tensor([1])).item()
    assert loss.item() == pytest.approx(0.5 * clean + 0.5 * math.log(1 + math.exp(-0.3)), rel=1e-5)
    assert torch.equal(logits, net(x))


def zoo_model() -> nn.Sequential:
    """Every layer kind IBP knows, in eval mode: Normalize, Conv2d, BatchNorm, the monotonic activations, max and
    average pooling, Dropout, Flatten, Linear."""
    torch.manual_seed(1)
    model = nn.Sequential(Normalize(0.5, 0.3), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.1),
                          nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Dropout(0.3),
                          nn.Flatten(), nn.Linear(24, 16), nn.Sigmoid(), nn.Linear(16, 10))
    with torch.no_grad():
        model[2].running_mean.uniform_(-0.5, 0.5)
        model[2].running_var.uniform_(0.5, 2.0)
        model[2].weight.uniform_(-1.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("which", ["cnn", "zoo"])
def test_no_point_of_the_box_leaves_the_bounds(which, digits_cnn):
    model = digits_cnn.model if which == "cnn" else zoo_model()
    images, labels = digits_cnn.images[:16], digits_cnn.labels[:16]
    lower, upper = interval_bounds(model, images, EPS)
    margins = margin_bounds(model, images, labels, EPS)
    generator = torch.Generator().manual_seed(0)
    points = [images + EPS * (2 * torch.rand(images.shape, generator=generator) - 1) for _ in range(40)]
    points += [images + EPS * torch.randint(0, 2, images.shape, generator=generator) * 2 - EPS for _ in range(20)]
    points += [PGD(model, eps=EPS, steps=20, seed=seed)(images, labels) for seed in range(3)]  # the worst points
    points += [APGD(model, eps=EPS, steps=20, loss="dlr", seed=0)(images, labels)]
    rows = torch.arange(len(labels))
    for point in points:
        point = point.clamp(0, 1)
        with torch.no_grad():
            logits = model(point)
        assert (logits >= lower - TOL).all() and (logits <= upper + TOL).all()
        assert (logits[rows, labels][:, None] - logits >= margins - TOL).all()  # z_y - z_y' >= m_y'


def test_eps_zero_gives_the_logits_and_the_bounds_widen_with_eps(digits_cnn):
    model, images = digits_cnn.model, digits_cnn.images[:32]
    lower, upper = interval_bounds(model, images, 0.0)
    with torch.no_grad():
        logits = model(images)
    assert torch.allclose(lower, logits, atol=TOL) and torch.allclose(upper, logits, atol=TOL)
    widths = []
    for eps in (0.0, 0.005, 0.02, 0.05, 0.1, 0.3):
        now_lower, now_upper = interval_bounds(model, images, eps)
        assert (now_lower <= lower + TOL).all() and (now_upper >= upper - TOL).all()
        lower, upper = now_lower, now_upper
        widths.append(float((upper - lower).mean()))
    assert widths == sorted(widths) and widths[-1] > 10 * widths[1] > 0
    # eps 0 certifies exactly the correctly classified images; a plain model certifies almost nothing at 0.1
    labels = digits_cnn.labels[:32]
    assert torch.equal(certified(model, images, labels, 0.0), logits.argmax(1) == labels)
    assert certified_accuracy(model, images, labels, EPS) <= 0.1


def test_the_loss_at_kappa_1_or_eps_0_is_the_cross_entropy_and_gradients_reach_the_weights(digits_cnn):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    images, labels = digits_cnn.images[:20], digits_cnn.labels[:20]
    clean = F.cross_entropy(model(images), labels)
    assert torch.allclose(ibp_loss(model, images, labels, 0.3, 1.0)[0], clean)
    assert torch.allclose(ibp_loss(model, images, labels, 0.0, 0.5)[0], clean, atol=1e-6)  # z_hat(0) = z - z_y
    loss = ibp_loss(model, images, labels, 0.1, 0.0)[0]
    assert loss > clean + 0.01  # the worst case costs more
    loss.backward()
    assert all(parameter.grad.abs().sum() > 0 for parameter in model.parameters())


def test_the_schedule_warms_up_then_ramps_eps_and_kappa_linearly():
    objective = IBPTraining(eps=0.1, kappa=0.5, train_eps_factor=1.1, warmup_batches=2, ramp_batches=4)
    eps, kappa = zip(*(objective.schedule(batch) for batch in range(8)))
    assert eps[:2] == (0.0, 0.0) and kappa[:2] == (1.0, 1.0)
    assert list(eps[2:]) == pytest.approx([0.11 * k / 4 for k in (1, 2, 3, 4, 4, 4)])
    assert list(kappa[2:]) == pytest.approx([1 - 0.5 * k / 4 for k in (1, 2, 3, 4, 4, 4)])
    assert IBPTraining(eps=0.95).train_eps == 1.0
    assert make_objective("ibp", eps=0.2).schedule(0) == pytest.approx((0.22, 0.5))  # no ramp: the final values
    assert IBPTraining(eps=0.1).options() == {"eps": 0.1, "kappa": 0.5, "train_eps": pytest.approx(0.11),
                                              "warmup_batches": 0, "ramp_batches": 0}


class Squash(nn.Module):
    def forward(self, x):
        return x


@pytest.mark.parametrize("call,words", [
    (lambda m, x, y: interval_bounds(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.GELU()), x, EPS),
     ["IBP", "layer GELU is not supported"]),
    (lambda m, x, y: certified(nn.Sequential(Squash(), m), x, y, EPS), ["IBP", "layer Squash is not supported"]),
    (lambda m, x, y: interval_bounds(m, x, -0.1), ["IBP", "eps", ">= 0", "-0.1"]),
    (lambda m, x, y: interval_bounds(m, x * 2, EPS), ["IBP", "[0, 1]"]),
    (lambda m, x, y: certified(m, x, y + 10, EPS), ["IBP", "class indices in [0, 10)"]),
    (lambda m, x, y: certified(m, x, y[:3], EPS), ["IBP", "labels", "shape"]),
    (lambda m, x, y: interval_bounds(nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(64, 10)), x, EPS),
     ["IBP", "BatchNorm2d", "eval mode"]),  # a fresh module is in training mode
    (lambda m, x, y: interval_bounds(nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10)), x, EPS),
     ["IBP", "Dropout", "training mode"]),
    (lambda m, x, y: IBPTraining(eps=0.0), ["ibp", "eps", "(0, 1]"]),
    (lambda m, x, y: IBPTraining(eps=0.1, kappa=1.5), ["ibp", "kappa", "[0, 1]"]),
    (lambda m, x, y: IBPTraining(eps=0.1, ramp_batches=-1), ["ibp", "ramp_batches", ">= 0"]),
    (lambda m, x, y: make_objective("ibp"), ["'ibp'", "needs eps"]),
    (lambda m, x, y: from_mapping(ClassifierTrainConfig, {"defense": "ibp"}), ["'ibp'", "needs option 'eps'"]),
])
def test_bad_input_is_one_line(call, words, digits_mlp):
    raises_one_line(lambda: call(digits_mlp.model, digits_mlp.images[:8], digits_mlp.labels[:8]), *words)


def test_the_bounds_equal_arts_interval_bounds():
    pytest.importorskip("art")
    from art.estimators.certification.interval import PyTorchIBPClassifier

    class Peer(nn.Module):  # ART converts a model's children in order and infers the flatten before the dense layer
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.fc = nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Linear(3 * 6 * 6, 10)

        def forward(self, x):
            return self.fc(self.relu(self.conv(x)).flatten(1))

    torch.manual_seed(0)
    peer = Peer()
    ours = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 10))
    ours.load_state_dict({"0.weight": peer.conv.weight, "0.bias": peer.conv.bias, "3.weight": peer.fc.weight,
                          "3.bias": peer.fc.bias})
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    art = PyTorchIBPClassifier(model=peer, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                               clip_values=(0.0, 1.0), device_type="cpu")
    theirs = torch.from_numpy(art.predict_intervals(images.numpy(), bounds=0.05, limits=[0.0, 1.0]))
    lower, upper = interval_bounds(ours, images, 0.05)
    assert torch.allclose(lower, theirs[:, 0], atol=1e-4) and torch.allclose(upper, theirs[:, 1], atol=1e-4)


# ---------------------------------------------------------------------- an IBP-trained digits model


def digits_run(out, defense: str, epochs: int = 12, seed: int = 0) -> str:
    values = {"data": "digits", "model": "mlp", "width": 64, "epochs": epochs, "device": "cpu", "threads": 1,
              "seed": seed, "robust_eval_images": 0, "out": str(out)}
    if defense != "none":
        values.update(defense=defense, eps=EPS, eps_warmup=5)
    return str(train_classifier(from_mapping(ClassifierTrainConfig, values), progress=False, report=False).root)


@pytest.fixture(scope="module")
def ibp_run(tmp_path_factory):
    return digits_run(tmp_path_factory.mktemp("ibp") / "ibp", "ibp")


def test_ibp_certified_accuracy_is_a_true_lower_bound_and_far_above_plain_training(ibp_run, tmp_path):
    model = load_classifier(ibp_run, "cpu")[0]
    images, labels = held_out_split(ibp_run)
    images, labels = images[:150], labels[:150]
    sure = certified(model, images, labels, EPS)
    assert sure.float().mean() > 0.3  # IBP training certifies a large share at eps 0.1 (38-56% over seeds 0-2)
    plain = load_classifier(digits_run(tmp_path / "plain", "none"), "cpu")[0]
    assert certified_accuracy(plain, images, labels, EPS) < 0.05  # plain training, the same epochs: ~0
    # the robustness chain (APGD-CE, APGD-T, Square, ...) and PGD-40 with restarts, APGD-DLR: none breaks a certified
    record = evaluate_robustness(model, images, labels, RobustnessConfig(eps=(0.05, EPS), n=150, check_images=20,
                                                                         progress=False))
    assert record["certified"]["supported"] and record["certified"]["accuracy"]["0.1"] == pytest.approx(
        float(sure.float().mean()))
    check = next(check for check in record["checks"] if check["name"] == CERTIFIED_CHECK)
    assert check["passed"], check["evidence"]
    for eps in ("0.05", "0.1"):
        assert record["certified"]["accuracy"][eps] <= record["robust_accuracy"][eps]
        assert set(record["certified"]["rows"][eps]) <= set(record["unbroken"][eps])
    for attack in (PGD(model, eps=EPS, steps=40, restarts=3, seed=1), APGD(model, eps=EPS, loss="ce", seed=2),
                   APGD(model, eps=EPS, loss="dlr", seed=3)):
        adversarial = attack(images, labels)
        with torch.no_grad():
            survived = model(adversarial).argmax(1) == labels
        assert survived[sure].all()  # every certified image survives every attack
        assert float(sure.float().mean()) <= float(survived.float().mean())


def test_defend_ibp_end_to_end_records_the_certified_accuracy(tmp_path, capsys):
    base = tmp_path / "clf"
    train_classifier(from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 16, "epochs": 1,
                                                          "device": "cpu", "threads": 1, "out": str(base)}),
                     progress=False, report=False)
    status, stdout, _ = run_cli(["defend", "--help"], capsys)
    assert status == 0 and "ibp" in stdout and "(Gowal et al. 2019)" in " ".join(stdout.split())
    out = tmp_path / "ibp"
    status, stdout, err = run_cli(["defend", "ibp", str(base), "--eps", "0.1", "--epochs", "3", "--eps-warmup", "1",
                                   "--robust-eval-images", "40", "--out", str(out), "--no-progress"], capsys)
    assert status == 0, err
    assert "certified held-out accuracy:" in stdout and "IBP (Gowal et al. 2019), Linf eps 0.1" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["defense"] == "ibp" and summary["robust_eval_images"] == 40
    assert 0 <= summary["test_certified_accuracy"] <= summary["test_robust_accuracy"] <= 1
    assert summary["defense_options"] == {"eps": 0.1, "kappa": 0.5, "train_eps": pytest.approx(0.11),
                                          "warmup_batches": 4, "ramp_batches": 23}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("test_certified_accuracy" in record for record in records)
    status, _, err = run_cli(["defend", "ibp", str(base), "--out", str(tmp_path / "no-eps")], capsys)
    assert status == 2 and "needs option 'eps'" in err


def test_a_broken_certificate_is_not_called_gradient_masking():
    from advlab.pipelines.security.robustness_checks import masking_warning

    broken = {"name": CERTIFIED_CHECK, "passed": False}
    alone = masking_warning([broken, {"name": "logits", "passed": True}])
    assert "not sound" in alone and "mask its gradients" not in alone
    both = masking_warning([broken, {"name": "falls_with_eps", "passed": False}])
    assert "mask its gradients: 1 check(s) failed (falls_with_eps)" in both and "not sound" in both
    assert masking_warning([{"name": CERTIFIED_CHECK, "passed": True}]) is None
