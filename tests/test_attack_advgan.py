"""AdvGAN (Xiao et al. 2018): losses by hand, the ball, one forward pass, targets, determinism, distilled queries,
saving and loading, bad input, and `advlab attack advgan` (torchrun and strength: test_attack_advgan_slow.py)."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, cli_classifier_run, raises_one_line, run_cli
from safetensors.torch import save_file
from torch import nn

from advlab.attacks import ATTACKS, AdvGAN, make_attack
from advlab.attacks.advgan import (
    adversarial_loss,
    decay_at,
    hinge_loss,
    load_generator,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    patch_layers,
)
from advlab.attacks.queries import QueryCounter
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError

TINY = {"width": 8, "train_batch_size": 32}


def fitted(victim, steps=4, rows=128, seed=0, **options):
    """An AdvGAN with a tiny U-Net fitted for a few steps on the first `rows` training images."""
    attack = AdvGAN(victim.model, eps=options.pop("eps", 0.1), steps=steps, seed=seed, **{**TINY, **options})
    return attack.fit(victim.train_images[:rows], victim.train_labels[:rows])


# ---------------------------------------------------------------------- the losses, by hand


def test_adversarial_loss_is_cw_on_the_logits():
    logits = torch.tensor([[3.0, 1.0, 0.5], [0.0, 2.0, 1.0]])
    labels = torch.tensor([0, 2])
    # untargeted: z_y - max_{j != y} z_j = 3 - 1 = 2 and 1 - 2 = -1, floored at -kappa
    assert adversarial_loss(logits, labels).tolist() == [2.0, 0.0]
    assert adversarial_loss(logits, labels, kappa=5.0).tolist() == [2.0, -1.0]
    assert adversarial_loss(logits, labels, kappa=0.5).tolist() == [2.0, -0.5]
    # targeted to class 1: max_{j != t} z_j - z_t = 3 - 1 = 2 and 1 - 2 = -1
    targets = torch.tensor([1, 1])
    assert adversarial_loss(logits, targets, targeted=True).tolist() == [2.0, 0.0]
    assert adversarial_loss(logits, targets, targeted=True, kappa=3.0).tolist() == [2.0, -1.0]


def test_hinge_and_least_squares_losses_by_hand():
    perturbation = torch.stack([torch.full((1, 2, 2), 0.5), torch.full((1, 2, 2), 0.1)])  # L2 norms 1.0 and 0.2
    assert torch.allclose(hinge_loss(perturbation, 0.6), torch.tensor([0.4, 0.0]))
    assert torch.allclose(hinge_loss(perturbation, 0.0), torch.tensor([1.0, 0.2]))
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    assert lsgan_discriminator_loss(real, fake).item() == pytest.approx((0 + 0.25) / 2 + (0 + 0.25) / 2)
    assert lsgan_generator_loss(fake).item() == pytest.approx((1 + 0.25) / 2)


def test_generator_loss_of_one_iteration_matches_eq_4(digits_cnn):
    """The recorded loss_g is loss_adv + alpha loss_gan + beta loss_hinge, and loss_adv is the C&W loss of the target
    model on the x' the generator made before its step (recomputed here from a copy of the players)."""
    attack = AdvGAN(digits_cnn.model, eps=0.1, alpha=0.3, beta=2.0, c_fraction=0.1, kappa=1.0, seed=0, **TINY)
    images, labels = digits_cnn.train_images[:32], digits_cnn.train_labels[:32]
    game = attack.setup(images, 10, 1e-3, 0, Distributed(), torch.device("cpu"))
    generator = game.players["generator"]
    with torch.no_grad():
        delta = generator(images)
        expected_adv = adversarial_loss(digits_cnn.model((images + delta).clamp(0, 1)), labels, kappa=1.0).mean()
        c = 0.1 * 0.1 * math.sqrt(64)
        expected_hinge = hinge_loss(delta, c).mean()
    grads = [None if p.grad is None else p.grad.clone() for p in digits_cnn.model.parameters()]
    stats = game.train_iteration(images, labels, record=True)
    assert stats["loss_adv"] == pytest.approx(expected_adv.item(), rel=1e-5)
    assert stats["loss_hinge"] == pytest.approx(expected_hinge.item(), rel=1e-5, abs=1e-7)
    assert stats["loss_g"] == pytest.approx(stats["loss_adv"] + 0.3 * stats["loss_gan"] + 2.0 * stats["loss_hinge"],
                                            rel=1e-5)
    assert not any(p.requires_grad is False for p in generator.parameters())
    after = [p.grad for p in digits_cnn.model.parameters()]  # the target gets no gradient and is never trained
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(grads, after))


def test_small_helpers():
    assert [patch_layers((8, 8)), patch_layers((28, 28)), patch_layers((256, 256)), patch_layers((5, 9))] == \
        [1, 3, 3, 1]
    assert decay_at(60) == 51 and decay_at(600) == 501 and decay_at(5) == 0


# ---------------------------------------------------------------------- attack time


@pytest.fixture(scope="module")
def trained(digits_cnn):
    return fitted(digits_cnn, steps=6)


def test_registered_and_built_by_name(digits_cnn):
    assert ATTACKS["advgan"] is AdvGAN
    assert isinstance(make_attack("advgan", digits_cnn.model, eps=0.2), AdvGAN)


def test_adversarial_images_stay_in_the_ball_the_box_and_the_mask(digits_cnn, trained):
    images, labels = digits_cnn.images, digits_cnn.labels
    adversarial = trained(images, labels)
    assert adversarial.shape == images.shape
    assert (adversarial - images).abs().max() <= 0.1 + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (adversarial != images).any()
    # the generator's own output is eps * tanh: within the ball before any clipping
    with torch.no_grad():
        assert trained.net(images).abs().max() <= 0.1
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    masked = trained(images, labels, mask)
    assert torch.equal(masked[..., ~mask], images[..., ~mask])


def test_an_attack_is_one_generator_pass_and_no_query(digits_cnn, trained):
    images, labels = digits_cnn.images[:50], digits_cnn.labels[:50]
    counter = QueryCounter(digits_cnn.model)
    attack = AdvGAN(counter, eps=0.1)
    attack.use_generator(trained.net, "the fixture")
    calls = []
    hook = attack.net.register_forward_hook(lambda *_: calls.append(1))
    try:
        adversarial = attack.perturb(images, labels, None)
        assert counter.calls == 0 and len(calls) == 1  # perturb: one pass of G, the target never asked
        again = attack(images, labels)
        assert len(calls) == 2
        assert counter.calls == 1 and counter.queries == 1  # the base class checks the model on one image
    finally:
        hook.remove()
    assert torch.equal(adversarial, again)


def test_fit_is_deterministic_for_a_seed(digits_cnn):
    first, second = fitted(digits_cnn, seed=3), fitted(digits_cnn, seed=3)
    other = fitted(digits_cnn, seed=4)
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()):
        assert torch.equal(a, b)
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    assert torch.equal(first(images, labels), second(images, labels))
    assert not torch.equal(first(images, labels), other(images, labels))
    assert first.training["iterations"] == 4 and len(first.training["history"]) >= 1


def test_fit_leaves_torch_global_generator_alone(digits_cnn):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fitted(digits_cnn, steps=1)
    assert torch.equal(torch.rand(3), expected)


def target_margin(model, images, targets):
    """Mean of z_t - max_{j != t} z_j (positive: classified as the target)."""
    with torch.no_grad():
        return (-adversarial_loss(model(images), targets, targeted=True, kappa=1e9)).mean().item()


@pytest.mark.parametrize("fixed", [True, False])
def test_targeted_mode_moves_towards_the_target(digits_cnn, fixed):
    """Trained towards class 3 (the paper's one generator per target) or towards random targets (one conditioned
    generator for all), G moves held-out images towards class 3: margins -22.8 -> -9.4 (fixed) and -13.2 (random),
    12% to 15% of them reach it (seeds 0-2, 60 steps); the thresholds leave room."""
    keep = digits_cnn.labels != 3
    images, labels = digits_cnn.images[keep], digits_cnn.labels[keep]
    targets = torch.full_like(labels, 3)
    train_images, train_labels = digits_cnn.train_images[:512], digits_cnn.train_labels[:512]
    attack = AdvGAN(digits_cnn.model, eps=0.3, targeted=True, steps=60, seed=0, **TINY)
    attack.fit(train_images, train_labels, targets=torch.full_like(train_labels, 3) if fixed else None)
    assert attack.net.classes == 10
    adversarial = attack(images, targets)
    before, after = target_margin(digits_cnn.model, images, targets), target_margin(digits_cnn.model, adversarial,
                                                                                     targets)
    assert after > before + (8.0 if fixed else 5.0)
    if fixed:
        reached = (digits_cnn.model(adversarial).argmax(1) == 3).double().mean().item()
        assert reached > 0.06 and (digits_cnn.model(images).argmax(1) == 3).double().mean().item() < 0.02
        result = attack.run(images, labels, targets=targets)[0]
        assert result.targeted and result.summary()["success_rate"] >= reached - 0.02


def test_distilled_mode_counts_its_queries_exactly(digits_cnn):
    counter = QueryCounter(digits_cnn.model)
    rows, steps, batch = 100, 5, 32
    attack = AdvGAN(counter, eps=0.1, mode="distilled", steps=steps, distill_epochs=2, seed=0, width=8,
                    train_batch_size=batch)
    assert attack.black_box
    attack.fit(digits_cnn.train_images[:rows], digits_cnn.train_labels[:rows])
    # one query per training image (static distillation), one per fresh x' of every minibatch (eq. 5)
    assert counter.queries == rows + steps * batch == attack.training_queries == attack.training["queries"]
    assert counter.calls == 1 + steps  # the training images in one chunk, then one call per iteration
    counter.reset()
    images, labels = digits_cnn.images[:30], digits_cnn.labels[:30]
    result = attack.run(images, labels)[0]
    assert torch.equal(result.queries, torch.ones(30, dtype=torch.int64))  # the clean pass, nothing else
    assert counter.queries == 30 + 30  # the clean pass, and run() measuring the result
    assert "loss_distill" in attack.training["last"] and "target_success" in attack.training["last"]


def test_distilled_mode_trains_a_given_surrogate_copy(digits_cnn, digits_mlp):
    before = [p.detach().clone() for p in digits_mlp.model.parameters()]
    attack = AdvGAN(digits_cnn.model, eps=0.1, mode="distilled", surrogate=digits_mlp.model, steps=2,
                    distill_epochs=1, seed=0, **TINY)
    attack.fit(digits_cnn.train_images[:64], digits_cnn.train_labels[:64])
    assert all(torch.equal(a, b) for a, b in zip(before, digits_mlp.model.parameters()))
    assert all(not p.requires_grad for p in digits_mlp.model.parameters())


# ---------------------------------------------------------------------- saving and loading


def test_a_saved_generator_attacks_the_same(tmp_path, digits_cnn, trained):
    path = trained.save(tmp_path / "generator.safetensors")
    reused = AdvGAN(digits_cnn.model, generator=str(path))
    assert reused.eps == 0.1 and reused.net is not None
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    assert torch.equal(reused(images, labels), trained(images, labels))
    generator = load_generator(path)
    assert generator.mode == "semi-white-box" and generator.model_classes == 10 and generator.classes == 0


def test_bad_input_is_one_clear_line(tmp_path, digits_cnn, trained):
    model = digits_cnn.model
    for eps in (0, -0.1, 1.5):
        raises_one_line(lambda eps=eps: AdvGAN(model, eps=eps), "eps")
    raises_one_line(lambda: AdvGAN(model, eps=[0.1, 0.2]), "one eps")
    raises_one_line(lambda: AdvGAN(model, mode="white-box"), "unknown mode", "semi-white-box")
    raises_one_line(lambda: AdvGAN(model, steps=0), "steps")
    raises_one_line(lambda: AdvGAN(model)(digits_cnn.images[:4], digits_cnn.labels[:4]), "not trained", "fit")
    # a target model that wants other images
    wide = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    images, labels = digits_cnn.train_images[:40], digits_cnn.train_labels[:40]
    raises_one_line(lambda: AdvGAN(wide, steps=1, **TINY).fit(images, labels), "model failed", "(1, 1, 8, 8)")
    raises_one_line(lambda: AdvGAN(wide, mode="distilled", steps=1, **TINY).fit(images, labels), "model failed")
    raises_one_line(lambda: AdvGAN(model, steps=1, **TINY).fit(images, labels + 10), "labels must lie in [0, 9]")
    # generator files: another image shape, another eps, tensors that do not fit, not a generator, missing
    path = trained.save(tmp_path / "g.safetensors")
    big = torch.rand(2, 1, 28, 28)
    raises_one_line(lambda: AdvGAN(wide, generator=str(path))(big, torch.tensor([0, 1])), "(1, 8, 8)",
                    "(1, 28, 28)")
    raises_one_line(lambda: AdvGAN(model, eps=0.2, generator=str(path)), "eps 0.1", "--eps 0.1")
    raises_one_line(lambda: AdvGAN(model, generator=str(path), targeted=True), "untargeted")
    tensors = {key: value.clone() for key, value in
               __import__("safetensors.torch", fromlist=["x"]).load_file(str(path)).items()}
    meta = dict(__import__("advlab.core.checkpoints", fromlist=["x"]).read_safetensors_metadata(path))
    save_file(tensors, str(tmp_path / "wider.safetensors"), metadata={**meta, "unet_width": "16"})
    raises_one_line(lambda: AdvGAN(model, generator=str(tmp_path / "wider.safetensors")), "does not hold")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "something"})
    raises_one_line(lambda: AdvGAN(model, generator=str(tmp_path / "other.safetensors")), "not an AdvGAN generator")
    raises_one_line(lambda: AdvGAN(model, generator=str(tmp_path / "missing.safetensors")), "not found")
    with pytest.raises(AdvlabError):
        AdvGAN(model).save(tmp_path / "nothing.safetensors")


# ---------------------------------------------------------------------- advlab attack advgan


VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--device", "cpu", "--threads", "1",
          "--no-progress"]
QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]
SMALL = ["--steps", "3", "--train-batch-size", "32", "--width", "8", "--n", "24"]


@pytest.fixture(scope="module")
def victim_run(tmp_path_factory):
    return cli_classifier_run(tmp_path_factory.mktemp("advgan") / "clf", VICTIM)


def test_cli_trains_on_the_training_rows_then_attacks_and_compares_with_pgd(victim_run, capsys, tmp_path):
    from advlab.pipelines.train_classifier import held_out_split, load_classifier, run_split

    status, out, err = run_cli(["attack", "advgan", str(victim_run), "--eps", "0.1", *SMALL, *QUIET], capsys)
    assert status == 0, err
    directory = victim_run / "attacks" / "advgan"
    record = json.loads((directory / "results.json").read_text())
    _, (train_rows, test_rows) = run_split(victim_run)
    training = record["training"]
    assert training["rows"] == "training split" and training["n"] == len(train_rows) == training["images"]
    assert training["attacked_rows"] == 24 and training["iterations"] == 3
    assert record["images"]["source"] == "held-out split" and record["rows"][0]["n"] == 24
    assert set(record["comparison"]) == {"advgan", "pgd"} and record["comparison"]["pgd"]["steps"] == 40
    assert record["comparison"]["advgan"]["success_rate"] == record["rows"][0]["success_rate"]
    assert record["time_per_image_ms"]["generation"] == pytest.approx(1000 * record["rows"][0]["seconds"] / 24)
    assert f"the run's {len(train_rows)} training rows, not on the 24 held-out rows" in out
    assert "pgd (40 steps)" in out and "time per image (ms)" in out
    assert (directory / "table.md").read_text() in out
    # the saved generator is the one that attacked: reusing it in Python gives adversarial.npy again
    model, _ = load_classifier(victim_run, "cpu")
    images, labels = held_out_split(victim_run)
    reused = AdvGAN(model, generator=str(directory / "generator.safetensors"))
    assert np.array_equal(reused(images[:24], labels[:24]).numpy(), np.load(directory / "adversarial.npy"))
    # and --generator reuses it without training
    again = tmp_path / "again"
    status, out, err = run_cli(["attack", "advgan", str(victim_run), "--generator",
                                str(directory / "generator.safetensors"), "--n", "24", "--out", str(again), *QUIET],
                               capsys)
    assert status == 0, err
    record = json.loads((again / "results.json").read_text())
    assert record["training"]["reused"].endswith("generator.safetensors") and "reused" in out
    assert np.array_equal(np.load(again / "adversarial.npy"), np.load(directory / "adversarial.npy"))


@pytest.mark.parametrize("argv, words", [
    (["--eps", "0.1,0.2"], ["one eps"]),
    (["--eps", "0"], ["eps"]),
    (["--mode", "whitebox"], ["unknown mode"]),
    (["--generator", "nowhere.safetensors"], ["not found"]),
])
def test_cli_bad_input(victim_run, capsys, tmp_path, argv, words):
    status, _, err = run_cli(["attack", "advgan", str(victim_run), *argv, *SMALL, "--out", str(tmp_path / "x"),
                              *QUIET], capsys)
    assert_one_line_error(status, err, *words)


# ---------------------------------------------------------------------- the robustness report


def test_robustness_report_runs_advgan_beside_the_ensemble(digits_cnn, victim_run):
    from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness, robustness_run

    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    generative = {eps: fitted(digits_cnn, steps=3, eps=eps) for eps in (0.1, 0.3)}
    config = RobustnessConfig(eps=(0.1, 0.3), n=40, steps=3, queries=20, targets=1, check_images=8, progress=False,
                              report=False)
    record = evaluate_robustness(digits_cnn.model, images, labels, config, None, generative=generative)
    assert record["attacks"]["advgan"] == {"kind": "generative", "title": "AdvGAN"}
    assert "advgan" not in record["ensemble"]["members"]
    for eps, attack in generative.items():
        key = f"{eps:g}"
        direct = attack.run(images, labels)[0].summary()["robust_accuracy"]
        assert record["per_attack"]["advgan"][key] == pytest.approx(direct)  # the same generator, judged alike
        assert record["robust_accuracy"][key] <= record["per_attack"]["advgan"][key]
    with pytest.raises(AdvlabError, match="fitted AdvGAN"):
        evaluate_robustness(digits_cnn.model, images, labels, replace_eps(config, (0.2,)), None, generative=generative)
    raises_one_line(lambda: RobustnessConfig(eps=(0.5,), norm="l2", advgan=True).validate(), "Linf")
    # a run directory: one generator per eps, fitted on the run's training rows
    _, record = robustness_run(RobustnessConfig(run=str(victim_run), eps=(0.1,), n=16, steps=2, queries=10, targets=1,
                                                check_images=4, advgan=True, advgan_steps=2, device="cpu",
                                                progress=False, report=False))
    assert record["advgan"]["rows"] == "training split" and record["advgan"]["generators"]["0.1"]["iterations"] == 2
    assert "advgan" in record["per_attack"]


def replace_eps(config, eps):
    import dataclasses

    return dataclasses.replace(config, eps=eps)
