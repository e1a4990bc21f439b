"""AWP (Wu, Xia & Wang 2020, eq. 9-10): the layer-wise perturbation's norm and direction, the same v as ART's
AdversarialTrainerAWPPyTorch, exact restoration of w around the optimiser step, the config and the CLI."""

import json

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn
from tqdm import tqdm

from advlab.core.config import from_mapping
from advlab.core.seeding import make_generator
from advlab.data import TensorData, load_digits_images
from advlab.defenses.awp import AdversarialWeightPerturbation, perturbed_weights
from advlab.defenses.eps_warmup import EpsWarmup
from advlab.defenses.mart import MART
from advlab.defenses.pgd_at import PGDAdversarialTraining
from advlab.defenses.robust_training import make_objective
from advlab.defenses.trades import TRADES
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import load_classifier, train_classifier, train_epoch, training_objective

EPS, GAMMA = 0.2, 5e-3
CPU = torch.device("cpu")


def small_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))


@pytest.fixture(scope="module")
def digits():
    data = load_digits_images()
    return data.data[:64], data.labels[:64]


def state(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("inner", [PGDAdversarialTraining(eps=EPS, steps=3), TRADES(eps=EPS, steps=3),
                                   MART(eps=EPS, steps=3)], ids=["pgd-at", "trades", "mart"])
def test_the_perturbation_has_norm_gamma_w_per_layer_along_the_gradient_of_the_base_loss(digits, inner):
    images, labels = digits
    model = small_model().train()
    awp = AdversarialWeightPerturbation(inner, gamma=GAMMA)
    adversarial = inner.craft(model, images, labels, make_generator(0, CPU))
    v = awp.perturbation(model, images, labels, adversarial)
    weights = perturbed_weights(model)
    assert sorted(v) == ["0.weight", "3.weight"]  # kernels only: no bias is perturbed (the authors' code)
    rho = inner.loss_on(model, images, labels, adversarial).loss  # TRADES-AWP: the TRADES loss; MART-AWP: MART's
    gradients = torch.autograd.grad(rho, list(weights.values()))
    for (name, weight), gradient in zip(weights.items(), gradients):
        assert float(v[name].norm()) == pytest.approx(GAMMA * float(weight.detach().norm()), rel=1e-5)
        assert F.cosine_similarity(v[name].flatten(), gradient.flatten(), dim=0) > 1 - 1e-5
    assert all(parameter.grad is None for parameter in model.parameters())  # v is taken on the proxy


def test_a_step_leaves_w_exactly_and_the_update_is_the_gradient_at_w_plus_v(digits):
    images, labels = digits
    data = TensorData(images, labels, "digits")
    order = torch.arange(len(images))
    model = small_model().train()
    before = state(model)
    awp = AdversarialWeightPerturbation(PGDAdversarialTraining(eps=EPS, steps=3), gamma=GAMMA)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    sums = train_epoch(model, frozen, awp, data, order, 32, make_generator(1, CPU), tqdm(disable=True))
    assert sums is not None
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())  # no drift at all
    # with a real step: w_new = w - lr * grad rho(w + v), the gradient taken at w + v and applied to w
    lr, reference = 0.5, small_model().train()
    model = small_model().train()
    train_epoch(model, torch.optim.SGD(model.parameters(), lr=lr), awp, data, order, 64, make_generator(2, CPU),
                tqdm(disable=True))
    inner = awp.inner
    adversarial = inner.craft(reference, images, labels, make_generator(2, CPU))
    v = awp.perturbation(reference, images, labels, adversarial)
    shifted = small_model().train()
    with torch.no_grad():
        for name, parameter in shifted.named_parameters():
            parameter.add_(v.get(name, torch.zeros_like(parameter)))
    gradients = torch.autograd.grad(inner.loss_on(shifted, images, labels, adversarial).loss,
                                    list(shifted.parameters()))
    for (name, parameter), start, gradient in zip(model.named_parameters(), reference.parameters(), gradients):
        assert torch.allclose(parameter, start - lr * gradient, atol=1e-7), name
    plain = small_model().train()  # and that update is not plain PGD-AT's
    train_epoch(plain, torch.optim.SGD(plain.parameters(), lr=lr), inner, data, order, 64, make_generator(2, CPU),
                tqdm(disable=True))
    assert not torch.allclose(plain[3].weight, model[3].weight, atol=1e-6)


def test_a_non_finite_loss_still_puts_w_back(digits, monkeypatch):
    images, labels = digits
    inner = PGDAdversarialTraining(eps=EPS, steps=2)
    original = inner.loss_on

    def nan_loss(model, images, labels, adversarial):
        step = original(model, images, labels, adversarial)
        step.loss = step.loss * float("nan")
        return step

    monkeypatch.setattr(inner, "loss_on", nan_loss)
    model = small_model().train()
    before = state(model)
    sums = train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.1), AdversarialWeightPerturbation(inner),
                       TensorData(images, labels, "digits"), torch.arange(64), 32, make_generator(0, CPU),
                       tqdm(disable=True))
    assert sums is None
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


def test_v_equals_arts_awp_perturbation_in_pgd_and_trades_mode(digits):
    pytest.importorskip("art.defences.trainer")
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import AdversarialTrainerAWPPyTorch
    from art.estimators.classification import PyTorchClassifier

    images, labels = digits
    for mode, inner in (("PGD", PGDAdversarialTraining(eps=EPS, steps=3)), ("TRADES", TRADES(eps=EPS, steps=3))):
        model, proxy = small_model().train(), small_model(seed=1)
        adversarial = inner.craft(model, images, labels, make_generator(0, CPU))
        ours = AdversarialWeightPerturbation(inner, gamma=GAMMA).perturbation(model, images, labels, adversarial)

        def wrap(module, lr):
            return PyTorchClassifier(module, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                                     optimizer=torch.optim.SGD(module.parameters(), lr=lr), clip_values=(0.0, 1.0),
                                     device_type="cpu")

        classifier, proxy_classifier = wrap(model, 0.01), wrap(proxy, 0.01)
        attack = ProjectedGradientDescent(classifier, eps=EPS, eps_step=0.1, max_iter=3, verbose=False)
        trainer = AdversarialTrainerAWPPyTorch(classifier, proxy_classifier, attack, mode=mode, gamma=GAMMA,
                                               beta=inner.beta if mode == "TRADES" else 6.0, warmup=0)
        theirs = trainer._weight_perturbation(images, adversarial, labels)
        assert sorted(theirs) == sorted(ours)
        for name in ours:
            assert torch.allclose(ours[name], GAMMA * theirs[name], rtol=1e-3, atol=1e-8), (mode, name)


def test_awp_starts_when_the_eps_warm_up_ends():
    config = from_mapping(ClassifierTrainConfig, {"defense": "trades", "eps": EPS, "epochs": 5, "eps_warmup": 1,
                                                  "awp_gamma": GAMMA})
    objective = training_objective(config, batches_per_epoch=10)
    assert isinstance(objective, EpsWarmup) and isinstance(objective.full, AdversarialWeightPerturbation)
    assert isinstance(objective.at_eps(EPS / 2), TRADES)  # the ramp's objectives carry no AWP
    assert objective.options()["awp_gamma"] == GAMMA
    unramped = training_objective(from_mapping(ClassifierTrainConfig, {"defense": "mart", "eps": EPS, "eps_warmup": 0,
                                                                       "awp_gamma": GAMMA}), 10)
    assert isinstance(unramped, AdversarialWeightPerturbation) and isinstance(unramped.inner, MART)


@pytest.mark.parametrize("call,words", [
    (lambda: make_objective("fast-at", eps=EPS, awp_gamma=GAMMA), ["awp_gamma", "pgd-at, trades, mart", "'fast-at'"]),
    (lambda: make_objective("pgd-at", eps=EPS, awp_gamma=0.0), ["awp gamma", "> 0"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "noise", "sigma": 0.25, "awp_gamma": GAMMA}),
     ["'awp_gamma' applies only to defenses pgd-at, trades, mart", "'noise'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"awp_gamma": GAMMA}), ["'awp_gamma' applies only", "'none'"]),
    (lambda: from_mapping(ClassifierTrainConfig, {"defense": "pgd-at", "eps": EPS, "awp_gamma": -0.01}),
     ["'awp_gamma'", "> 0", "-0.01"]),
])
def test_awp_options_are_checked_in_one_line(call, words):
    raises_one_line(call, *words)


def test_defend_adv_train_and_trades_take_awp_gamma(tmp_path, capsys):
    base = tmp_path / "clf"
    train_classifier(from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 16, "epochs": 1,
                                                          "device": "cpu", "threads": 1, "robust_eval_images": 30,
                                                          "out": str(base)}), progress=False, report=False)
    out = tmp_path / "awp"
    status, stdout, err = run_cli(["defend", "adv-train", str(base), "--eps", "0.2", "--attack-steps", "2",
                                   "--awp-gamma", "0.005", "--epochs", "1", "--out", str(out), "--no-progress"], capsys)
    assert status == 0, err
    assert "robust held-out accuracy:" in stdout
    config = load_classifier(out, "cpu")[1]
    assert (config.defense, config.awp_gamma) == ("pgd-at", 0.005)
    assert json.loads((out / "summary.json").read_text())["defense_options"]["awp_gamma"] == 0.005
    status, _, err = run_cli(["defend", "adv-train", str(base), "--attack", "fgsm", "--eps", "0.2", "--awp-gamma",
                              "0.005", "--out", str(tmp_path / "no"), "--no-progress"], capsys)
    assert_one_line_error(status, err, "'awp_gamma' applies only to defenses pgd-at, trades, mart", "'fast-at'")
    for verb, shown in (("trades", True), ("mart", True), ("adv-train", True), ("noise", False), ("fast-at", False)):
        status, stdout, _ = run_cli(["defend", verb, "--help"], capsys)
        assert status == 0 and ("--awp-gamma" in stdout) == shown, verb
