"""Robust training objectives (PGD-AT, TRADES, fast-AT, Gaussian noise), their config, the divergence stop,
and `advlab defend adv-train | trades | fast-at | noise` end to end on tiny runs."""

import importlib
import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.attacks import PGD
from advlab.attacks.losses import input_gradient
from advlab.core.config import from_mapping
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.defenses.fast_at import FastAdversarialTraining
from advlab.defenses.gaussian_noise import GaussianNoiseTraining
from advlab.defenses.pgd_at import PGDAdversarialTraining
from advlab.defenses.robust_training import GeneratorPGD, StandardTraining, make_objective
from advlab.defenses.trades import TRADES, kl_divergence
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

pipeline = importlib.import_module("advlab.pipelines.train_classifier")
TINY = {"data": "digits", "model": "cnn", "width": 8, "epochs": 2, "device": "cpu", "threads": 1,
        "robust_eval_images": 40}
EPS = 0.2


@pytest.fixture(scope="module")
def batch():
    """A tiny CNN in train mode (half-trained, so gradients are informative) and 32 digits."""
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


def in_ball(adversarial, images, eps):
    return float((adversarial - images).abs().max()) <= eps + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1


def no_parameter_gradients(model):
    return all(parameter.grad is None for parameter in model.parameters())


# ---------------------------------------------------------------------- the objectives against their definitions


def test_standard_objective_is_cross_entropy(batch):
    model, images, labels = batch
    step = StandardTraining().loss(model, images, labels, make_generator(0, torch.device("cpu")))
    assert torch.equal(step.inputs, images)
    assert torch.allclose(step.loss, F.cross_entropy(model(images), labels))


def test_pgd_at_trains_on_pgd_examples_inside_the_ball(batch):
    model, images, labels = batch
    objective = PGDAdversarialTraining(eps=EPS, steps=5)
    step = objective.loss(model, images, labels, make_generator(3, torch.device("cpu")))
    assert no_parameter_gradients(model) and model.training  # inner max: no parameter grads, mode restored
    assert in_ball(step.inputs, images, EPS)
    assert float((step.inputs - images).abs().max()) > 0.9 * EPS  # the iterates reach the sphere
    assert torch.allclose(step.loss, F.cross_entropy(model(step.inputs), labels))
    assert step.loss > F.cross_entropy(model(images), labels) + 0.1  # the inner max raised the loss
    # the inner PGD is advlab's PGD, its random start drawn from the run's generator
    same = PGD(model, eps=EPS, steps=5, seed=3)(images, labels)
    assert torch.equal(step.inputs, same)
    assert objective.options() == {"eps": EPS, "steps": 5, "alpha": pytest.approx(2.5 * EPS / 5)}


def test_generator_pgd_draws_a_new_start_each_call(batch):
    model, images, labels = batch
    attack = GeneratorPGD(model, make_generator(0, torch.device("cpu")), eps=EPS, steps=0)
    first, second = attack(images, labels), attack(images, labels)
    assert not torch.equal(first, second)  # one stream for the run, not a re-seeded start per batch
    again = GeneratorPGD(model, make_generator(0, torch.device("cpu")), eps=EPS, steps=0)(images, labels)
    assert torch.equal(first, again)


def test_trades_with_beta_zero_is_cross_entropy(batch):
    model, images, labels = batch
    step = TRADES(eps=EPS, steps=3, beta=0.0).loss(model, images, labels, make_generator(0, torch.device("cpu")))
    assert torch.allclose(step.loss, F.cross_entropy(model(images), labels), atol=1e-7)


def test_kl_term_is_the_kl_divergence_nonnegative_and_zero_at_x():
    clean, other = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)) * 3, \
        torch.randn(64, 10, generator=torch.Generator().manual_seed(1)) * 3
    ours = kl_divergence(clean, other)
    torch_kl = F.kl_div(F.log_softmax(other, 1), F.log_softmax(clean, 1), reduction="none", log_target=True).sum(1)
    assert torch.allclose(ours, torch_kl, atol=1e-6)
    assert (ours >= 0).all() and ours.min() > 0
    assert torch.allclose(kl_divergence(clean, clean), torch.zeros(64), atol=1e-6)
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.9, 0.1]])  # by hand: 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1)
    assert kl_divergence(p.log(), q.log()).item() == pytest.approx(0.5 * math.log(5 / 9) + 0.5 * math.log(5))


def test_trades_loss_is_ce_plus_beta_kl_at_its_maximiser(batch):
    model, images, labels = batch
    objective = TRADES(eps=EPS, steps=5, beta=6.0)
    step = objective.loss(model, images, labels, make_generator(7, torch.device("cpu")))
    assert no_parameter_gradients(model) and model.training
    assert in_ball(step.inputs, images, EPS)
    logits = model(images)
    expected = F.cross_entropy(logits, labels) + 6.0 * kl_divergence(logits, model(step.inputs)).mean()
    assert torch.allclose(step.loss, expected, atol=1e-6)
    # the inner maximisation raised the KL far above its start x + 0.001 N(0, I)
    start = images + 0.001 * torch.randn(images.shape, generator=make_generator(7, torch.device("cpu")))
    with torch.no_grad():
        assert kl_divergence(logits, model(step.inputs)).mean() > 10 * kl_divergence(logits, model(start)).mean()
    assert torch.allclose(step.logits, logits)


def test_fast_at_is_one_step_of_1_25_eps_from_a_uniform_start(batch):
    model, images, labels = batch
    objective = FastAdversarialTraining(eps=EPS)
    assert objective.alpha == pytest.approx(1.25 * EPS)
    step = objective.loss(model, images, labels, make_generator(5, torch.device("cpu")))
    assert no_parameter_gradients(model)
    # Algorithm 3 by hand: delta ~ U(-eps, eps) (x + delta in [0, 1]), one signed step of 1.25 eps, projection
    uniform = torch.rand(images.shape, generator=make_generator(5, torch.device("cpu")))
    start = torch.clamp(images + (2 * uniform - 1) * EPS, (images - EPS).clamp(min=0), (images + EPS).clamp(max=1))
    model.eval()
    grad, _ = input_gradient(model, start, labels)
    model.train()
    expected = torch.clamp(start + 1.25 * EPS * grad.sign(), (images - EPS).clamp(min=0), (images + EPS).clamp(max=1))
    assert torch.allclose(step.inputs, expected)
    assert in_ball(step.inputs, images, EPS)
    assert torch.allclose(step.loss, F.cross_entropy(model(step.inputs), labels))


class ConstantClassifier(nn.Module):
    """Logits that ignore the image: predicts `winner` everywhere."""

    def __init__(self, winner: int):
        super().__init__()
        self.bias = nn.Parameter(F.one_hot(torch.tensor(winner), 3).float())

    def forward(self, images):
        return self.bias.expand(len(images), 3) + 0 * images.flatten(1).sum(1, keepdim=True)


def test_fast_at_guard_stops_when_pgd_accuracy_collapses():
    images, labels = torch.rand(20, 1, 4, 4), torch.zeros(20, dtype=torch.long)
    objective = FastAdversarialTraining(eps=EPS)
    right, wrong = ConstantClassifier(0), ConstantClassifier(1)
    first = objective.epoch_check(right, images, labels, seed=0)
    assert not first.stop and first.figures == {"guard_robust_accuracy": 1.0}
    assert not objective.epoch_check(right, images, labels, seed=0).stop  # no drop
    collapse = objective.epoch_check(wrong, images, labels, seed=0)  # 1.0 -> 0.0: a drop of more than 0.2
    assert collapse.stop and "catastrophic overfitting" in collapse.reason and "1.000 to 0.000" in collapse.reason
    fresh = FastAdversarialTraining(eps=EPS)
    assert not fresh.epoch_check(wrong, images, labels, seed=0).stop  # the first epoch compares with 0


def test_noise_with_vanishing_sigma_is_cross_entropy_and_the_noise_is_unclipped_gaussian(batch):
    model, images, labels = batch
    tiny = GaussianNoiseTraining(sigma=1e-9).loss(model, images, labels, make_generator(0, torch.device("cpu")))
    assert torch.allclose(tiny.loss, F.cross_entropy(model(images), labels), atol=1e-6)
    many = images.repeat(40, 1, 1, 1)
    step = GaussianNoiseTraining(sigma=0.5).loss(model, many, labels.repeat(40), make_generator(1, torch.device("cpu")))
    noise = step.inputs - many
    assert float(noise.std()) == pytest.approx(0.5, rel=0.03) and abs(float(noise.mean())) < 0.01
    assert step.inputs.min() < -0.5 and step.inputs.max() > 1.5  # not clipped (Cohen et al. certify unclipped)
    assert torch.allclose(step.loss, F.cross_entropy(model(step.inputs), labels.repeat(40)))


@pytest.mark.parametrize("call,words", [
    (lambda: make_objective("cutout"), ["unknown training defense 'cutout'", "pgd-at", "trades", "fast-at", "noise"]),
    (lambda: make_objective("pgd-at"), ["needs eps"]),
    (lambda: make_objective("noise"), ["needs sigma"]),
    (lambda: PGDAdversarialTraining(eps=-0.1), ["eps", "(0, 1]", "-0.1"]),
    (lambda: TRADES(eps=0.1, beta=-1), ["beta", ">= 0", "-1"]),
    (lambda: GaussianNoiseTraining(sigma=0.0), ["sigma", "> 0"]),
    (lambda: FastAdversarialTraining(eps=0.1, alpha=0), ["alpha", "> 0"]),
])
def test_objectives_refuse_bad_options(call, words):
    raises_one_line(call, *words)


# ---------------------------------------------------------------------- the config


@pytest.mark.parametrize("values,words", [
    ({"defense": "cutout"}, ["'defense'", "none", "pgd-at", "trades", "fast-at", "noise", "'cutout'"]),
    ({"defense": "pgd-at"}, ["'pgd-at'", "needs option 'eps'"]),
    ({"defense": "pgd-at", "eps": -0.1}, ["'eps'", "(0, 1]", "-0.1"]),
    ({"defense": "trades", "eps": 0.0}, ["'eps'", "(0, 1]"]),
    ({"defense": "fast-at", "eps": 1.5}, ["'eps'", "(0, 1]", "1.5"]),
    ({"defense": "trades", "eps": 0.2, "beta": -1.0}, ["'beta'", ">= 0", "-1"]),
    ({"defense": "pgd-at", "eps": 0.2, "attack_steps": 0}, ["'attack_steps'", "1 or more"]),
    ({"defense": "pgd-at", "eps": 0.2, "attack_alpha": 0.0}, ["'attack_alpha'", "(0, 1]"]),
    ({"defense": "noise", "sigma": 0.0}, ["'sigma'", "> 0", "0.0"]),
    ({"defense": "noise", "sigma": -0.25}, ["'sigma'", "> 0", "-0.25"]),
    ({"defense": "noise"}, ["'noise'", "needs option 'sigma'"]),
    ({"eps": 0.2}, ["'eps' applies only to", "pgd-at", "'none'"]),
    ({"defense": "pgd-at", "eps": 0.2, "sigma": 0.5}, ["'sigma' applies only to defense 'noise'"]),
    ({"defense": "noise", "sigma": 0.5, "attack_alpha": 0.1}, ["'attack_alpha' applies only"]),
    ({"robust_eval_images": -1}, ["'robust_eval_images'", "zero or more"]),
])
def test_defense_options_are_checked(values, words):
    raises_one_line(lambda: from_mapping(ClassifierTrainConfig, values), *words)


def test_defaults_train_without_a_defense():
    config = ClassifierTrainConfig()
    assert (config.defense, config.eps, config.sigma, config.beta, config.attack_steps) == ("none", None, None, 6.0, 10)


# ---------------------------------------------------------------------- the training loop


def tiny_config(out, **values):
    return from_mapping(ClassifierTrainConfig, {**TINY, "out": str(out), **values})


def test_a_defended_run_logs_robust_accuracy_and_is_an_ordinary_classifier_run(tmp_path):
    run = train_classifier(tiny_config(tmp_path / "run", defense="pgd-at", eps=EPS, attack_steps=2),
                           progress=False, report=False).root
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(0 <= r["test_robust_accuracy"] <= 1 for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["defense"] == "pgd-at" and summary["defense_options"]["eps"] == EPS
    assert summary["test_robust_accuracy"] == records[-1]["test_robust_accuracy"]
    assert summary["robust_eval_images"] == 40
    model, config = load_classifier(run, "cpu")
    images, labels = held_out_split(run)
    # the logged figure is PGD-10 at eps on the first 40 held-out images, seeded by the run's seed
    adversarial = PGD(model, eps=EPS, steps=10, seed=config.seed)(images[:40], labels[:40])
    with torch.no_grad():
        robust = float((model(adversarial).argmax(1) == labels[:40]).double().mean())
    assert robust == pytest.approx(summary["test_robust_accuracy"])
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000002.json", "step-000002.safetensors"]


def test_divergence_stops_with_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    batches_per_epoch = math.ceil(1437 / 64)

    class DivergesInEpochTwo(StandardTraining):
        def loss(self, model, images, labels, generator):
            calls["n"] += 1
            step = super().loss(model, images, labels, generator)
            if calls["n"] > batches_per_epoch + 3:
                step.loss = step.loss * float("nan")
            return step

    monkeypatch.setattr(pipeline, "training_objective", lambda config, batches_per_epoch=0: DivergesInEpochTwo())
    run = tmp_path / "run"
    message = raises_one_line(lambda: train_classifier(tiny_config(run, epochs=3), progress=False),
                              "NaN or infinite in epoch 2", "last good checkpoint (epoch 1)", str(run / "checkpoints"))
    assert "lower --lr" in message
    model, _ = load_classifier(run, "cpu")  # the epoch-1 weights still load
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert json.loads((run / "checkpoints/step-000001.json").read_text())["step"] == 1
    assert not (run / "summary.json").exists()


def test_an_absurd_learning_rate_stops_in_the_first_epoch_with_nothing_saved(tmp_path):
    run = tmp_path / "run"
    raises_one_line(lambda: train_classifier(tiny_config(run, lr=1e6), progress=False),
                    "NaN or infinite in epoch 1", "nothing was saved", "lower --lr")
    assert not any((run / "checkpoints").iterdir())


def test_the_fast_at_guard_rolls_back_to_the_previous_epoch(tmp_path, monkeypatch):
    verdicts = iter([False, True])
    original = FastAdversarialTraining.epoch_check

    def collapses_in_epoch_two(self, model, images, labels, seed):
        check = original(self, model, images, labels, seed)
        check.stop, check.reason = next(verdicts), "catastrophic overfitting (forced)"
        return check

    monkeypatch.setattr(FastAdversarialTraining, "epoch_check", collapses_in_epoch_two)
    run = train_classifier(tiny_config(tmp_path / "run", defense="fast-at", eps=EPS, epochs=3), progress=False,
                           report=False).root
    summary = json.loads((run / "summary.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all("guard_robust_accuracy" in r for r in records)
    assert summary["epochs"] == 1 and summary["stopped_early"]["epoch"] == 2
    assert summary["test_accuracy"] == records[0]["test_accuracy"]  # the restored epoch's figures
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000001.json", "step-000001.safetensors"]
    model, _ = load_classifier(run, "cpu")
    images, labels = held_out_split(run)
    with torch.no_grad():
        accuracy = float((model(images).argmax(1) == labels).double().mean())
    assert accuracy == summary["test_accuracy"]


# ---------------------------------------------------------------------- advlab defend ... end to end


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("defend") / "clf"
    train_classifier(tiny_config(out, epochs=1, model="mlp", width=16), progress=False, report=False)
    return out


@pytest.mark.parametrize("argv,defense,options", [
    (["adv-train", "--eps", "0.2", "--attack-steps", "2"], "pgd-at", {"eps": 0.2, "attack_steps": 2}),
    (["adv-train", "--attack", "fgsm", "--eps", "0.1"], "fast-at", {"eps": 0.1}),
    (["trades", "--beta", "1", "--eps", "0.2", "--attack-steps", "2"], "trades", {"beta": 1.0, "eps": 0.2}),
    (["fast-at", "--eps", "0.2"], "fast-at", {"eps": 0.2}),
    (["noise", "--sigma", "0.25"], "noise", {"sigma": 0.25}),
])
def test_defend_verbs_train_on_the_base_runs_data_and_split(base_run, tmp_path, capsys, argv, defense, options):
    out = tmp_path / "robust"
    status, stdout, err = run_cli(["defend", argv[0], str(base_run), *argv[1:], "--out", str(out), "--epochs", "1",
                                   "--no-progress"], capsys)
    assert status == 0, err
    assert "held-out accuracy:" in stdout and f"run: {out}" in stdout and "warning" not in err
    key = "noisy" if defense == "noise" else "robust"
    assert f"{key} held-out accuracy:" in stdout and "(40 images)" in stdout
    model, config = load_classifier(out, "cpu")
    base_model, base_config = load_classifier(base_run, "cpu")
    assert config.defense == defense and all(getattr(config, k) == v for k, v in options.items())
    assert (config.model, config.width, config.seed, config.test_fraction) == ("mlp", 16, 0, 0.2)  # RUN's
    for base, defended in zip(held_out_split(base_run), held_out_split(out)):
        assert torch.equal(base, defended)
    assert not torch.equal(next(model.parameters()), next(base_model.parameters()))  # trained anew


def test_defend_overrides_any_option_and_warns_when_the_split_changes(base_run, tmp_path, capsys):
    out = tmp_path / "robust"
    status, stdout, err = run_cli(["defend", "noise", str(base_run), "--sigma", "0.5", "--seed", "3", "--epochs", "1",
                                   "--width", "8", "--out", str(out), "--no-progress"], capsys)
    assert status == 0, err
    config = load_classifier(out, "cpu")[1]
    assert (config.seed, config.width, config.sigma) == (3, 8, 0.5)
    assert "warning" in err and "not judged on the same images" in err


@pytest.mark.parametrize("argv,words", [
    (["adv-train", "RUN", "--out", "OUT"], ["'pgd-at'", "needs option 'eps'"]),
    (["noise", "RUN", "--sigma", "0", "--out", "OUT"], ["'sigma'", "> 0"]),
    (["trades", "RUN", "--eps", "0.2", "--beta", "-2", "--out", "OUT"], ["'beta'", ">= 0"]),
    (["fast-at", "RUN", "--eps", "-0.2", "--out", "OUT"], ["'eps'", "(0, 1]"]),
    (["trades", "NOWHERE", "--eps", "0.2", "--out", "OUT"], ["no such run directory"]),
    (["fast-at", "RUN", "--eps", "0.2"], ["no output directory", "--out"]),
])
def test_defend_errors_are_one_line(base_run, tmp_path, capsys, argv, words):
    argv = [str(base_run) if a == "RUN" else str(tmp_path / "out") if a == "OUT" else
            str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in argv]
    status, _, err = run_cli(["defend", *argv, "--no-progress"], capsys)
    assert_one_line_error(status, err, *words)
    assert not (tmp_path / "out").exists()


def test_classifier_train_takes_the_defense_options_too(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, err = run_cli(["classifier", "train", "--out", str(out), "--data", "digits", "--model", "mlp",
                                   "--width", "16", "--epochs", "1", "--device", "cpu", "--defense", "trades",
                                   "--eps", "0.1", "--attack-steps", "2", "--beta", "3", "--robust-eval-images", "30",
                                   "--no-progress"], capsys)
    assert status == 0, err
    assert "robust held-out accuracy:" in stdout and "PGD-10 (Linf, eps 0.1)" in stdout and "(30 images)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["defense_options"] == {"eps": 0.1, "steps": 2, "alpha": pytest.approx(0.125), "beta": 3.0}
    status, _, err = run_cli(["classifier", "train", "--out", str(tmp_path / "other"), "--defense", "noise",
                              "--no-progress"], capsys)
    assert_one_line_error(status, err, "needs option 'sigma'")


def test_defend_verbs_hide_the_options_they_do_not_use(capsys):
    status, stdout, _ = run_cli(["defend", "noise", "--help"], capsys)
    assert status == 0 and "--sigma" in stdout and "--eps" not in stdout and "--defense" not in stdout
    status, stdout, _ = run_cli(["defend", "trades", "--help"], capsys)
    assert "--beta" in stdout and "--sigma" not in stdout
