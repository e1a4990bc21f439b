"""Model extraction (advlab.privacy.extraction, advlab privacy extract): equation solving recovers linear models
exactly from d + 1 queries, the output defenses answer what they say, Jacobian augmentation doubles its set per
round, Knockoff Nets copies the digits victim, and the pipeline writes its record under RUN/privacy/ only."""

import json

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli

from advlab.data import load_digits_images
from advlab.models import SmallCNN
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.extract_run import ExtractRunConfig, extract_run
from advlab.pipelines.train_classifier import load_classifier, train_classifier
from advlab.privacy.extraction import (
    EquationSolving,
    JacobianAugmentation,
    KnockoffNets,
    agreement,
    output_defense,
    rounded,
    seed_set,
    shift_to_class_zero,
    top_k,
    transfer_set,
)
from advlab.privacy.extraction.copies import copy_labels
from advlab.privacy.extraction.knockoff import rewards
from advlab.privacy.victim import Victim, module_victim

SHAPE, D = (1, 8, 8), 64


def linear_victim(weights: torch.Tensor, bias: torch.Tensor, output: str = "logits") -> Victim:
    """A float64 softmax regression seen through its logits or probabilities."""
    def predict(images):
        logits = images.flatten(1).double() @ weights.T + bias
        return logits if output == "logits" else torch.softmax(logits, 1)
    return Victim(predict, output)


def relative_error(found: torch.Tensor, truth: torch.Tensor) -> float:
    return float((found - truth).norm() / truth.norm())


# ---------------------------------------------------------------------- equation solving


def test_equation_solving_recovers_binary_logistic_regression_from_d_plus_1_queries():
    generator = torch.Generator().manual_seed(1)
    w, b = torch.randn(D, generator=generator, dtype=torch.float64), torch.randn(1, generator=generator).double()

    def probabilities(images):  # the API of a binary logistic regression: (1 - p, p)
        p = torch.sigmoid(images.flatten(1).double() @ w + b)
        return torch.stack([1 - p, p], 1)

    victim = Victim(probabilities, "probabilities")
    found = EquationSolving().extract(victim, SHAPE)
    assert victim.queries == found.queries == D + 1
    assert relative_error(found.weights[1], w) < 1e-6 and abs(float(found.bias[1] - b)) < 1e-6
    assert found.weights[0].abs().max() == 0 and found.condition_number > 1


def test_equation_solving_recovers_softmax_regression_up_to_the_shift():
    generator = torch.Generator().manual_seed(2)
    weights, bias = torch.randn(10, D, generator=generator).double(), torch.randn(10, generator=generator).double()
    for output in ("logits", "probabilities"):
        found = EquationSolving(seed=3).extract(linear_victim(weights, bias, output), SHAPE)
        shifted_weights, shifted_bias = shift_to_class_zero(weights, bias)
        assert relative_error(found.weights, shifted_weights) < 1e-6
        assert relative_error(found.bias, shifted_bias) < 1e-6
        fresh = torch.rand(50, *SHAPE, generator=generator)  # the same probabilities everywhere, not just on queries
        truth = torch.softmax(fresh.flatten(1).double() @ weights.T + bias, 1)
        assert torch.allclose(torch.softmax(found.logits(fresh), 1), truth, atol=1e-9)


def test_equation_solving_needs_d_plus_1_queries_and_scores():
    victim = linear_victim(torch.randn(10, D).double(), torch.randn(10).double())
    raises_one_line(lambda: EquationSolving(queries=D).extract(victim, SHAPE), "d + 1 = 65", "got 64")
    assert victim.queries == 0  # refused before asking anything
    labels_only = output_defense(victim, "top1")
    raises_one_line(lambda: EquationSolving().extract(labels_only, SHAPE), "only labels", "jacobian")


def test_equation_solving_copies_a_float32_logreg_module():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(D, 10)).eval()
    found = EquationSolving(queries=200).extract(module_victim(model), SHAPE)  # overdetermined: least squares
    images = load_digits_images().data[:300]
    assert agreement(found.as_module(), images, copy_labels(model, images)) == 1.0


# ---------------------------------------------------------------------- output defenses


def test_output_defenses_answer_what_they_say():
    generator = torch.Generator().manual_seed(4)
    weights, bias = torch.randn(10, D, generator=generator).double(), torch.randn(10, generator=generator).double()
    victim = linear_victim(weights, bias)
    images = torch.rand(30, *SHAPE, generator=generator)
    truth = victim.probabilities(images)
    assert output_defense(victim, "none") is victim
    top1 = output_defense(victim, "top1")
    assert top1.label_only and top1.module is None and torch.equal(top1.query(images), truth.argmax(1))
    two = output_defense(victim, "round:2").query(images)
    assert torch.allclose(two * 100, (two * 100).round(), atol=1e-9) and (two - truth).abs().max() <= 0.005 + 1e-12
    three = output_defense(victim, "top3").query(images)
    kept = three > 0
    assert (kept.sum(1) == 3).all()
    assert torch.allclose(three.sort(1, descending=True).values[:, :3], truth.topk(3, 1).values)
    assert (three.sum(1) < 1).all()  # not renormalised
    assert torch.allclose(top_k(victim, 3, renormalise=True).query(images).sum(1), torch.ones(30, dtype=torch.float64))
    assert (rounded(victim, 0).query(images).sum(1) <= 1).all()
    raises_one_line(lambda: output_defense(victim, "blur"), "unknown output defense", "round:2")
    raises_one_line(lambda: output_defense(victim, "top0"), "k >= 1")


# ---------------------------------------------------------------------- Jacobian augmentation


def test_jacobian_augmentation_doubles_its_set_and_beats_chance(digits_mlp):
    oracle = module_victim(digits_mlp.model)
    seeds, _ = seed_set(digits_mlp.images, digits_mlp.labels, 2, seed=0)
    torch.manual_seed(0)
    substitute = SmallCNN()
    attack = JacobianAugmentation(epochs=10, seed=0)
    found = attack.extract(oracle, substitute, seeds, [20 * 8])
    assert found.sizes == [20, 40, 80, 160] and oracle.queries == 160  # Algorithm 1: |S_rho| = |S_0| 2^rho
    # round 0's new points are S_0 + lambda sign(J): every pixel moved by exactly lambda, or clipped to [0, 1]
    moved = (found.images[20:40] - found.images[:20]).abs()
    clipped = (found.images[20:40] == 0) | (found.images[20:40] == 1)
    assert ((moved - 0.1).abs() < 1e-6)[~clipped].all()
    assert [attack.step_at(rho) for rho in range(7)] == [0.1, 0.1, 0.1, -0.1, -0.1, -0.1, 0.1]
    fidelity = agreement(found.copies[160], digits_mlp.images, copy_labels(digits_mlp.model, digits_mlp.images))
    assert fidelity > 0.3  # chance is 0.1
    assert not any(p.grad is not None for p in substitute.parameters())  # the caller's model was not trained
    raises_one_line(lambda: attack.extract(oracle, substitute, seeds, [10]), "below the seed set's 20")


# ---------------------------------------------------------------------- Knockoff Nets


def test_knockoff_rewards_by_hand():
    answers = torch.tensor([[0.7, 0.2, 0.1]])
    predicted = torch.tensor([[0.5, 0.25, 0.25]])
    mean = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)
    certainty, diversity, loss = rewards(answers, predicted, mean)[0].tolist()
    assert certainty == pytest.approx(0.5) and diversity == pytest.approx(0.3)
    assert loss == pytest.approx(-(0.7 * torch.tensor(0.5).log() + 0.3 * torch.tensor(0.25).log()).item())


def test_knockoff_adaptive_queries_each_transfer_image_once(digits_mlp):
    victim = output_defense(module_victim(digits_mlp.model), "top1")
    transfer = transfer_set("digits", SHAPE, 400, seed=0)
    attack = KnockoffNets("adaptive", epochs=2, min_steps=0, seed=0)
    rows, answers = attack.select(victim, SmallCNN(), transfer.images[:400], 300, transfer.arms[:400])
    assert len(rows) == 300 == len(rows.unique()) == victim.queries and answers.dtype == torch.int64
    raises_one_line(lambda: KnockoffNets("greedy"), "unknown sampling", "adaptive")
    raises_one_line(lambda: attack.extract(victim, SmallCNN(), transfer.images[:100], [200], transfer.arms[:100]),
                    "exceeds the transfer set's 100")


def test_knockoff_copies_the_digits_victim_at_5000_queries(digits_cnn):
    """The issue's check: the victim's own architecture as the copy, 5,000 MNIST queries, fidelity >= 95%."""
    transfer = transfer_set("digits", SHAPE, 5000, seed=0)
    torch.manual_seed(1)
    copies = KnockoffNets("random", seed=0).extract(module_victim(digits_cnn.model), SmallCNN(), transfer.images,
                                                    [5000])
    reference = copy_labels(digits_cnn.model, digits_cnn.images)
    assert agreement(copies[5000], digits_cnn.images, reference) >= 0.95


# ---------------------------------------------------------------------- the pipeline and the CLI


@pytest.fixture(scope="module")
def logreg_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("extract") / "logreg"
    config = ClassifierTrainConfig(data="digits", model="logreg", epochs=5, device="cpu", tensorboard=False,
                                   out=str(out))
    train_classifier(config, progress=False, report=False)
    return out


def files_outside_privacy(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.relative_to(run).parts[0] != "privacy")


def test_extract_run_equation_solving_writes_its_record_and_copy(logreg_run):
    before = files_outside_privacy(logreg_run)
    record = extract_run(ExtractRunConfig(run=str(logreg_run), method="equation-solving", device="cpu",
                                          progress=False, overwrite=True))
    folder = logreg_run / "privacy" / "extraction" / "equation-solving"
    assert json.loads((folder / "extraction.json").read_text()) == record
    assert {"method", "budgets", "output_defense", "seconds"} <= set(record)
    assert set(record["budgets"]["65"]) == {"fidelity", "accuracy", "transfer_rate", "queries"}
    assert record["budgets"]["65"]["fidelity"] == 1.0 and record["budgets"]["65"]["queries"] == 65
    assert record["solved"]["65"]["relative_weight_error"] < 1e-3  # the victim computes in float32
    copy, _ = load_classifier(folder / "copy", "cpu")
    victim, _ = load_classifier(logreg_run, "cpu")
    images = load_digits_images().data
    assert torch.allclose(F.softmax(copy(images), 1), F.softmax(victim(images), 1), atol=1e-4)
    assert (folder / "fidelity.png").stat().st_size > 0
    assert files_outside_privacy(logreg_run) == before


def test_cli_extract_jacobian_prints_a_table(logreg_run, capsys):
    status, out, _ = run_cli(["privacy", "extract", str(logreg_run), "--method", "jacobian", "--queries", "50,100",
                              "--seed-per-class", "5", "--output-defense", "round:2", "--device", "cpu",
                              "--no-progress", "--overwrite"], capsys)
    assert status == 0 and "| 100 |" in out and "fidelity" in out
    record = json.loads((logreg_run / "privacy" / "extraction" / "jacobian" / "extraction.json").read_text())
    assert set(record["budgets"]) == {"50", "100"} and record["output_defense"] == "round:2"
    assert record["set_sizes"] == [50, 100] and record["evaluation_images"] == 360 - 50


def test_cli_extract_refuses_bad_input(logreg_run, capsys):
    run = str(logreg_run)
    assert_one_line_error(*run_cli(["privacy", "extract", run, "--method", "equation-solving", "--queries", "64",
                                    "--device", "cpu", "--overwrite"], capsys)[::2], "d + 1 = 65")
    assert_one_line_error(*run_cli(["privacy", "extract", run, "--method", "equation-solving", "--output-defense",
                                    "top1", "--device", "cpu", "--overwrite"], capsys)[::2], "only labels")
    assert_one_line_error(*run_cli(["privacy", "extract", run, "--method", "steal"], capsys)[::2], "--method")
    raises_one_line(lambda: extract_run(ExtractRunConfig(run=run, method="steal")), "unknown extraction method")
    extract_run(ExtractRunConfig(run=run, method="equation-solving", device="cpu", progress=False, overwrite=True))
    raises_one_line(lambda: extract_run(ExtractRunConfig(run=run, method="equation-solving", device="cpu")),
                    "already holds an extraction", "--overwrite")
