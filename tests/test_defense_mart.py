"""MART (Wang et al. 2020, eq. 8): the loss against a hand-computed value and the authors' formula, the objective
at its PGD examples, its options and config, and `advlab defend mart` end to end on a tiny run."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line, run_cli
from torch import nn

from advlab.attacks.pgd import PGD
from advlab.core.config import from_mapping
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.defenses.mart import MART, boosted_cross_entropy, mart_loss
from advlab.defenses.robust_training import make_objective
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import load_classifier, train_classifier

EPS = 0.2
CPU = torch.device("cpu")


class OnePixelTable(nn.Module):
    """Logits b at the pixel value 0 and w + b at 1 (linear in the single pixel of a 1x1 image)."""

    def __init__(self, clean, adversarial):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(clean))
        self.weight = nn.Parameter(torch.tensor(adversarial) - torch.tensor(clean))

    def forward(self, images):
        return images.flatten(1) * self.weight + self.bias


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_mart_loss_is_the_hand_computed_eq_8():
    clean, adversarial = [1.0, 0.0, -1.0], [0.5, 1.5, 0.0]
    model = OnePixelTable(clean, adversarial)
    p, q = softmax(clean), softmax(adversarial)
    # label 0: BCE = -log q_0 - log(1 - q_1) (class 1 is the runner-up at x'); KL(p || q) weighted by 1 - p_0
    bce = -math.log(q[0]) - math.log(1 - q[1])
    kl = sum(pk * math.log(pk / qk) for pk, qk in zip(p, q))
    expected = bce + 6.0 * kl * (1 - p[0])
    objective = MART(eps=1.0, beta=6.0)
    step = objective.loss_on(model, torch.zeros(1, 1, 1, 1), torch.tensor([0]), torch.ones(1, 1, 1, 1))
    assert step.loss.item() == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(step.logits, torch.tensor([adversarial]))  # the accuracy is read at x'
    # beta 0: the boosted cross-entropy alone
    alone = MART(eps=1.0, beta=0.0).loss_on(model, torch.zeros(1, 1, 1, 1), torch.tensor([0]), torch.ones(1, 1, 1, 1))
    assert alone.loss.item() == pytest.approx(bce, rel=1e-6)


def authors_mart_loss(logits, logits_adv, y, beta):
    """The loss of the authors' code (YisenWang/MART, mart_loss), with its 1e-4 and 1e-12 guards."""
    adv_probs = F.softmax(logits_adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, (y.unsqueeze(1)).long()).squeeze()
    kl = nn.KLDivLoss(reduction="none")(torch.log(adv_probs + 1e-12), nat_probs).sum(1)
    return loss_adv + beta * (kl * (1.0000001 - true_probs)).sum() / len(y)


def test_mart_loss_and_its_gradients_agree_with_the_authors_formula():
    generator = torch.Generator().manual_seed(0)
    clean = (torch.randn(64, 10, generator=generator) * 2).requires_grad_(True)
    adversarial = (torch.randn(64, 10, generator=generator) * 2).requires_grad_(True)
    labels = torch.randint(0, 10, (64,), generator=generator)
    ours, theirs = mart_loss(clean, adversarial, labels, 6.0), authors_mart_loss(clean, adversarial, labels, 6.0)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-3)
    ours_grads = torch.autograd.grad(ours, [clean, adversarial])
    theirs_grads = torch.autograd.grad(theirs, [clean, adversarial])
    for mine, reference in zip(ours_grads, theirs_grads):  # through p(x), p(x') and the weight 1 - p_y(x)
        assert torch.allclose(mine, reference, atol=2e-4)
    assert ours_grads[0].abs().sum() > 0


def test_the_boosted_cross_entropy_stays_finite_on_confident_logits():
    logits = torch.tensor([[60.0, 0.0, -60.0], [0.0, 80.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0])  # the first right beyond float precision, the second utterly wrong
    loss = boosted_cross_entropy(logits, labels)
    assert torch.isfinite(loss).all() and loss[1] > 150  # -log p_0 ~ 80 and -log(1 - p_1) ~ 80
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()


@pytest.fixture(scope="module")
def batch():
    digits = load_digits_images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(30):
        loss = F.cross_entropy(model(digits.data[:256]), digits.labels[:256])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.train()
    return model, digits.data[300:332], digits.labels[300:332]


def test_mart_trains_at_pgd_examples_on_the_cross_entropy(batch):
    model, images, labels = batch
    objective = MART(eps=EPS, steps=5)
    step = objective.loss(model, images, labels, make_generator(3, CPU))
    assert all(parameter.grad is None for parameter in model.parameters()) and model.training
    same = PGD(model, eps=EPS, steps=5, seed=3)(images, labels)  # eq. (3): x' = PGD on CE, the run's generator
    assert torch.equal(step.inputs, same)
    assert float((step.inputs - images).abs().max()) <= EPS + 1e-6
    expected = mart_loss(model(images), model(step.inputs), labels, 6.0)
    assert torch.allclose(step.loss, expected)
    assert objective.options() == {"eps": EPS, "steps": 5, "alpha": pytest.approx(0.1), "beta": 6.0}
    assert isinstance(make_objective("mart", eps=EPS, steps=2, beta=5.0), MART)
    assert make_objective("mart", eps=EPS, beta=5.0).beta == 5.0


@pytest.mark.parametrize("call,words", [
    (lambda: MART(eps=0.1, beta=-1.0), ["mart", "beta", ">= 0", "-1"]),
    (lambda: MART(eps=0.0), ["mart", "eps", "(0, 1]"]),
    (lambda: MART(eps=0.1, steps=0), ["mart", "steps", ">= 1"]),
    (lambda: make_objective("mart"), ["'mart'", "needs eps"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mart"}), ["'mart'", "needs option 'eps'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mart", "eps": 0.2, "sigma": 0.5}),
     ["'sigma' applies only to defense 'noise'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "mart", "eps": 0.2, "beta": -2.0}), ["'beta'", ">= 0"]),
])
def test_mart_refuses_bad_options_in_one_line(call, words):
    raises_one_line(call, *words)


def test_mart_warms_its_eps_up_like_the_other_adversarial_defenses():
    config = from_mapping(ClassifierTrainConfig, {"defense": "mart", "eps": 0.3, "epochs": 10})
    assert config.warmup_epochs == 2


def test_defend_mart_trains_a_mart_run_with_beta_as_lambda(tmp_path, capsys):
    base = tmp_path / "clf"
    train_classifier(from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 16, "epochs": 1,
                                                          "device": "cpu", "threads": 1, "robust_eval_images": 30,
                                                          "out": str(base)}), progress=False, report=False)
    status, stdout, _ = run_cli(["defend", "--help"], capsys)
    assert status == 0 and "mart" in stdout and "Wang et al. 2020" in stdout
    out = tmp_path / "mart"
    status, stdout, err = run_cli(["defend", "mart", str(base), "--eps", "0.2", "--beta", "5", "--attack-steps", "2",
                                   "--epochs", "1", "--out", str(out), "--no-progress"], capsys)
    assert status == 0, err
    assert "robust held-out accuracy:" in stdout and "PGD-10 (Linf, eps 0.2)" in stdout
    config = load_classifier(out, "cpu")[1]
    assert (config.defense, config.eps, config.beta, config.attack_steps, config.model) == ("mart", 0.2, 5.0, 2, "mlp")
    assert json.loads((out / "summary.json").read_text())["defense_options"]["beta"] == 5.0
