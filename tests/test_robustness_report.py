"""advlab robustness: the checks on hand-computed numbers, the record's invariants, the flags on models that
mask their gradients (quantised input, softmax output, noise in forward), the files, and bad input via the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, raises_one_line, run_cli
from torch import nn

from advlab.attacks import APGD, FGSM
from advlab.core.checkpoints import module_state, save_checkpoint
from advlab.core.config import dump_yaml
from advlab.core.runs import RunDir
from advlab.defenses import Preprocessed
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security import robustness_checks as checks
from advlab.pipelines.security.robustness import TITLES, RobustnessConfig, evaluate_robustness, parse_eps, worst_case
from advlab.pipelines.train_classifier import RECORD_KIND, held_out_split, load_labelled_data, split_rows
from advlab.reports.robustness_report import write_robustness_report

FAST = dict(eps=(0.1, 0.2, 0.3), n=64, steps=10, queries=30, targets=1, check_images=64, progress=False)
STABLE_CHECKS = {"iterative_beats_single_step", "white_box_beats_black_box", "square_does_not_beat_white_box",
                 "accuracy_reaches_zero", "more_effort_does_not_help", "accuracy_falls_with_eps", "gradients_not_zero",
                 "gradient_direction_raises_loss", "deterministic", "outputs_are_logits", "certified_below_worst_case"}


# ---------------------------------------------------------------------- fixtures


def write_victim_run(model: nn.Module, root, epochs: int = 20) -> RunDir:
    """A classifier run directory for a tests/victims digits model (trained on the same seeded 80/20 split)."""
    config = ClassifierTrainConfig(out=str(root), data="digits", model="cnn", epochs=epochs, test_fraction=0.2, seed=0,
                                   device="cpu")
    run = RunDir(Path(root))
    run.prepare_new(overwrite=False, resumable=False, folders=("checkpoints",))
    dump_yaml(config, run.config)
    data = load_labelled_data(config)
    _, test_rows = split_rows(len(data), config.test_fraction, config.seed)
    meta = {"kind": RECORD_KIND, "config": dataclasses.asdict(config), "classes": 10,
            "class_names": [str(k) for k in range(10)], "sample_shape": list(data.sample_shape),
            "split": {"seed": 0, "test_fraction": 0.2, "rows": len(data), "test_rows": test_rows.tolist()}}
    save_checkpoint(run.checkpoints, epochs, module_state(model, "model"), meta, keep=1)
    run.metrics.write_text(json.dumps({"kind": "train", "step": epochs, "train_loss": 0.0}) + "\n")
    run.write_summary({"epochs": epochs, "test_size": len(test_rows)})
    return run


@pytest.fixture(scope="module")
def victim_run(digits_cnn, tmp_path_factory):
    run = write_victim_run(digits_cnn.model, tmp_path_factory.mktemp("robustness") / "clf")
    images, labels = held_out_split(run.root)
    assert torch.equal(images, digits_cnn.images) and torch.equal(labels, digits_cnn.labels)  # the same split
    return run


def evaluate(model, victim, surrogate=None, **options):
    config = RobustnessConfig(**{**FAST, **options})
    return evaluate_robustness(model, victim.images[:config.n], victim.labels[:config.n], config, surrogate)


@pytest.fixture(scope="module")
def standard(digits_cnn, digits_mlp):
    return evaluate(digits_cnn.model, digits_cnn, digits_mlp.model)


class Quantise(nn.Module):
    """A 2-bit input quantisation: torch.round has a zero gradient everywhere."""

    def forward(self, images):
        return torch.round(images * 3) / 3


class Noisy(nn.Module):
    """Gaussian noise added to the input at every forward pass: a randomised model."""

    def __init__(self, model, sigma):
        super().__init__()
        self.model, self.sigma = model, sigma

    def forward(self, images):
        return self.model((images + self.sigma * torch.randn_like(images)).clamp(0, 1))


def named(record: dict) -> dict[str, dict]:
    return {check["name"]: check for check in record["checks"]}


# ---------------------------------------------------------------------- the checks on hand-made numbers


def test_tolerance_is_two_points_or_two_images():
    assert checks.tolerance(500) == 0.02
    assert checks.tolerance(64) == 2 / 64
    assert checks.tolerance(100) == 0.02


def test_iterative_check_compares_pgd_with_fgsm_within_the_tolerance():
    close = {"fgsm": {"0.1": 0.50, "0.2": 0.20}, "pgd": {"0.1": 0.515, "0.2": 0.10}}  # 1.5 points above: chance
    assert checks.check_iterative_beats_single_step(close, 500)["passed"]
    worse = {"fgsm": {"0.1": 0.50, "0.2": 0.20}, "pgd": {"0.1": 0.45, "0.2": 0.25}}
    check = checks.check_iterative_beats_single_step(worse, 500)
    assert not check["passed"] and "eps 0.2" in check["evidence"] and "25.0%" in check["evidence"]


def test_white_box_and_square_checks():
    per_attack = {"square": {"0.1": 0.60}, "transfer": {"0.1": 0.90}}
    assert checks.check_white_box_beats_black_box({"0.1": 0.61}, per_attack, 500)["passed"]
    check = checks.check_white_box_beats_black_box({"0.1": 0.70}, per_attack, 500)
    assert not check["passed"] and "square at eps 0.1 (60.0% vs white-box 70.0%)" in check["evidence"]
    members = ["apgd-ce", "apgd-t", "square"]
    after = {"apgd-ce": {"0.1": 0.5}, "apgd-t": {"0.1": 0.45}, "square": {"0.1": 0.44}}
    assert checks.check_square(after, members, 500)["passed"]
    after["square"]["0.1"] = 0.40  # 5 points below what the white-box attacks reached
    assert not checks.check_square(after, members, 500)["passed"]
    exactly_two = {"apgd-ce": {"0.1": 0.9}, "apgd-t": {"0.1": 84 / 100}, "square": {"0.1": 82 / 100}}
    assert checks.check_square(exactly_two, members, 100)["passed"]  # two images of 100 are within the tolerance
    three = {**exactly_two, "square": {"0.1": 81 / 100}}
    assert not checks.check_square(three, members, 100)["passed"]


def test_large_eps_more_effort_and_monotonicity_checks():
    large = {"eps": 0.5, "norm": "linf", "why": "any image", "n": 100, "attacks": "APGD-CE", "accuracy": 0.02}
    assert checks.check_reaches_zero(large)["passed"]
    assert not checks.check_reaches_zero({**large, "accuracy": 0.03})["passed"]
    effort = {"eps": 0.1, "n": 100, "base_steps": 50, "base_restarts": 1, "more_steps": 100, "more_restarts": 3,
              "base_accuracy": 0.50, "more_accuracy": 0.49}
    assert checks.check_more_effort(effort)["passed"]
    assert "not converged" in checks.check_more_effort({**effort, "more_accuracy": 0.45})["evidence"]
    assert "helped the model" in checks.check_more_effort({**effort, "more_accuracy": 0.55})["evidence"]
    # with the worst case on the same images: APGD-CE alone gaining from more effort is no failure when the other
    # attacks had already broken those images; the stronger run breaking images the worst case left is one
    covered = {**effort, "more_accuracy": 0.45, "worst_case_accuracy": 0.44, "with_more_accuracy": 0.43}
    assert checks.check_more_effort(covered)["passed"]
    assert "worst case leaves 44.0%, and 43.0% with the stronger run" in checks.check_more_effort(covered)["evidence"]
    overstated = {**covered, "worst_case_accuracy": 0.48, "with_more_accuracy": 0.45}
    assert "reported accuracy is too high" in checks.check_more_effort(overstated)["evidence"]
    assert not checks.check_more_effort({**covered, "more_accuracy": 0.53})["passed"]  # helped the model
    falling = {"pgd": {"0.1": 0.5, "0.2": 0.3, "0.05": 0.7}}
    assert checks.check_falls_with_eps(falling, 500)["passed"]
    rising = checks.check_falls_with_eps({"pgd": {"0.05": 0.7, "0.1": 0.5, "0.2": 0.6}}, 500)
    assert not rising["passed"] and "from 50.0% at eps 0.1 to 60.0% at eps 0.2" in rising["evidence"]


def test_output_probe_tells_logits_probabilities_and_log_probabilities():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]])
    assert checks.probe_outputs(logits)["kind"] == "logits"
    assert checks.probe_outputs(logits.softmax(1))["kind"] == "probabilities"
    assert checks.probe_outputs(logits.log_softmax(1))["kind"] == "log-probabilities"
    assert not checks.check_logits(checks.probe_outputs(logits.softmax(1)))["passed"]
    assert checks.check_logits(checks.probe_outputs(logits.log_softmax(1)))["passed"]  # CE and DLR cannot tell


def test_gradient_probe_matches_the_closed_form_of_a_linear_model():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images, labels = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    probe = checks.probe_gradients(linear, images, labels)
    weight, logits = linear[1].weight.detach(), linear(images).detach()
    # d CE / dx = W^T (softmax(z) - onehot(y))
    expected = ((logits.softmax(1) - F.one_hot(labels, 3)) @ weight).norm(dim=1)
    assert probe["norms"] == pytest.approx([float(f"{v:.3g}") for v in expected], rel=1e-3)
    assert probe["zero"] == 0 and checks.check_gradients(probe)["passed"]
    masked = checks.probe_gradients(nn.Sequential(Quantise(), linear), images, labels)
    assert masked["zero"] == 5 and not checks.check_gradients(masked)["passed"]


def test_randomness_probe():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = torch.rand(8, 1, 2, 2)
    assert not checks.probe_randomness(linear, images)["randomized"]
    assert checks.probe_randomness(Noisy(linear, 0.1), images)["randomized"]


def test_parse_eps():
    assert parse_eps("0.2, 0.05,0.1,0.1") == (0.05, 0.1, 0.2)
    raises_one_line(lambda: parse_eps("0.1,abc"), "--eps", "0.1,abc")
    raises_one_line(lambda: parse_eps(""), "--eps is empty")
    raises_one_line(lambda: parse_eps("-0.1"), "--eps", "> 0", "-0.1")
    raises_one_line(lambda: parse_eps("1.5"), "at most 1")
    raises_one_line(lambda: parse_eps("nan"), "--eps")
    assert parse_eps("1.5", "l2") == (1.5,)


# ---------------------------------------------------------------------- a standard CNN


def test_record_has_the_stable_keys_and_types(standard):
    assert isinstance(standard["clean_accuracy"], float)
    for key in ("robust_accuracy", "per_attack", "checks"):
        assert key in standard
    assert list(standard["robust_accuracy"]) == ["0.1", "0.2", "0.3"]
    assert all(isinstance(value, float) for value in standard["robust_accuracy"].values())
    assert set(standard["per_attack"]) == {"fgsm", "pgd", "apgd-ce", "apgd-t", "square", "transfer"}
    for curve in standard["per_attack"].values():
        assert list(curve) == ["0.1", "0.2", "0.3"]
    assert {check["name"] for check in standard["checks"]} == STABLE_CHECKS
    for check in standard["checks"]:
        assert set(check) == {"name", "passed", "evidence"} and isinstance(check["passed"], bool)
        assert isinstance(check["evidence"], str) and any(c.isdigit() for c in check["evidence"])
    assert standard["n"] == 64 and standard["options"]["steps"] == 10 and standard["seconds"]["total"] > 0
    json.dumps(standard)  # all of it is JSON


def test_worst_case_is_a_per_example_union_below_every_attack(standard):
    robust, clean = standard["robust_accuracy"], standard["clean_accuracy"]
    values = list(robust.values())
    assert all(value <= clean for value in values)
    assert all(later <= earlier for earlier, later in zip(values, values[1:]))
    for eps, value in robust.items():
        singles = [curve[eps] for curve in standard["per_attack"].values()]
        assert value <= min(singles) and value <= standard["ensemble"]["accuracy"][eps]
    assert robust["0.3"] == 0.0  # 8x8 digits at Linf 0.3: nothing survives


def test_more_effort_probe_compares_against_the_worst_case_on_the_same_images(standard):
    probe = standard["probes"]["more_effort"]
    # the worst case unites APGD-CE with the other attacks, the stronger run can only break more on top of it
    assert probe["with_more_accuracy"] <= probe["worst_case_accuracy"] <= probe["base_accuracy"]
    assert probe["with_more_accuracy"] <= probe["more_accuracy"]
    check = next(check for check in standard["checks"] if check["name"] == "more_effort_does_not_help")
    assert "the report's worst case leaves" in check["evidence"]
    # every member of the ensemble ran again with more effort, not only APGD-CE (before: APGD-CE alone)
    chain = standard["ensemble"]["members"]
    assert list(probe["broke_more"]) == chain and probe["members"] == [TITLES[name] for name in chain]
    assert (probe["more_steps"], probe["more_targets"], probe["more_queries"]) == (20, 3, 60)  # FAST x 2, + 2, x 2
    broke = sum(probe["broke_more"].values())
    assert probe["with_more_accuracy"] == pytest.approx(probe["worst_case_accuracy"] - broke / probe["n"])
    assert "once every member ran with more effort" in check["evidence"] and "Square" in check["evidence"]


def test_more_effort_counts_what_each_stronger_member_breaks_beyond_the_worst_case(digits_cnn):
    """A report whose members barely ran (1 step, 4 queries) leaves images that the stronger members break: the
    check fails and names the budget (the stronger members only attack the worst case's survivors)."""
    record = evaluate(digits_cnn.model, digits_cnn, eps=(0.15,), n=48, check_images=48, steps=1, queries=4,
                      restarts=1)
    probe = record["probes"]["more_effort"]
    assert probe["more_steps"] == 2 and probe["more_queries"] == 8
    assert sum(probe["broke_more"].values()) >= 3
    assert not named(record)["more_effort_does_not_help"]["passed"]
    assert "raise --steps" in named(record)["more_effort_does_not_help"]["evidence"]


def test_budgets_fill_what_the_command_left_open():
    fast, standard = RobustnessConfig().resolved(), RobustnessConfig(budget="standard").resolved()
    assert (fast.steps, fast.restarts, fast.targets, fast.fab_targets, fast.queries, fast.eot_draws) == \
        (25, 1, 3, 0, 500, 8)
    # AutoAttack's standard version: APGD-CE/APGD-T 100 steps, 9 targets, FAB-T 9 targets, Square 5,000; rand: EOT 20
    assert (standard.steps, standard.restarts, standard.targets, standard.fab_targets, standard.queries,
            standard.eot_draws) == (100, 1, 9, 9, 5000, 20)
    assert RobustnessConfig(budget="standard", queries=300).resolved().queries == 300  # a flag changes one setting
    raises_one_line(RobustnessConfig(budget="autoattack").validate, "unknown --budget 'autoattack'",
                    "valid budgets are: fast, standard")


def test_record_lists_the_images_no_attack_broke(standard):
    for key, accuracy in standard["robust_accuracy"].items():
        rows = standard["unbroken"][key]
        assert len(rows) == round(accuracy * standard["n"]) and rows == sorted(set(rows))
    keys = standard["eps"]
    for smaller, larger in zip(keys, keys[1:]):
        assert set(standard["unbroken"][larger]) <= set(standard["unbroken"][smaller])


def test_standard_budget_adds_fab_t_in_autoattacks_order(digits_cnn):
    """--budget standard runs AutoAttack's members (here with small overrides): APGD-CE, APGD-T, FAB-T, Square."""
    record = evaluate(digits_cnn.model, digits_cnn, eps=(0.15,), n=24, check_images=24, budget="standard", steps=5,
                      queries=20, targets=2, fab_targets=2)
    assert record["ensemble"]["members"] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert record["budget"]["name"] == "standard"
    assert record["budget"]["members"]["fab-t"] == {"steps": 5, "targets": 2}
    assert set(record["budget"]["changed"]) == {"steps", "queries", "targets", "fab_targets"}
    assert record["per_attack"]["fab-t"]["0.15"] <= record["clean_accuracy"]
    assert record["robust_accuracy"]["0.15"] <= record["per_attack"]["fab-t"]["0.15"]
    assert "fab-t" in record["probes"]["more_effort"]["broke_more"]


def test_record_states_every_members_budget(standard):
    budget = standard["budget"]
    assert budget["name"] == "fast" and budget["eot"] is None
    assert set(budget["changed"]) == {"steps", "targets", "queries"}  # FAST overrides them
    assert budget["members"] == {"apgd-ce": {"steps": 10, "restarts": 1}, "apgd-t": {"steps": 10, "targets": 1},
                                 "square": {"queries": 30}}


def test_apgd_t_member_counts_any_misclassified_iterate(digits_cnn, monkeypatch):
    """The report's APGD-T runs AutoAttack's rule (misclassify=True); before the fix it kept only iterates that
    reached the target (failed: APGD-T was built without misclassify)."""
    import advlab.pipelines.security.robustness as robustness

    built = []

    class Spy(APGD):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(robustness, "APGD", Spy)
    evaluate(digits_cnn.model, digits_cnn, eps=(0.1,), n=16, check_images=16, steps=2, queries=4)
    targeted = [kwargs for kwargs in built if kwargs.get("targeted")]
    assert targeted and all(kwargs["misclassify"] for kwargs in targeted)


def test_worst_case_unites_attacks_per_example_and_carries_breaks_to_larger_eps():
    correct = torch.tensor([True, True, True, True, False])
    broken = {"a": {"0.1": torch.tensor([False, True, False, False, True]),
                    "0.2": torch.tensor([True, False, False, False, True])},  # misses image 1 at the larger eps
              "b": {"0.1": torch.tensor([False, False, True, False, True]),
                    "0.2": torch.tensor([False, False, False, True, True])}}
    # eps 0.1: a breaks image 1, b image 2, image 4 was wrong already -> 2 of 5 left (each attack alone: 3 of 5)
    # eps 0.2: a breaks image 0, b image 3, images 1 and 2 stay broken from eps 0.1 -> none left
    assert worst_case(correct, broken, ["0.1", "0.2"]) == {"0.1": 0.4, "0.2": 0.0}


def test_per_attack_curves_match_direct_runs(digits_cnn, standard):
    images, labels = digits_cnn.images[:64], digits_cnn.labels[:64]
    for eps in (0.1, 0.3):
        fgsm = FGSM(digits_cnn.model, eps=eps).run(images, labels)[0].summary()["robust_accuracy"]
        apgd = APGD(digits_cnn.model, eps=eps, steps=10, seed=0).run(images, labels)[0].summary()["robust_accuracy"]
        assert standard["per_attack"]["fgsm"][f"{eps:g}"] == pytest.approx(fgsm)
        assert standard["per_attack"]["apgd-ce"][f"{eps:g}"] == pytest.approx(apgd)


def test_a_standard_cnn_passes_every_check(standard):
    failed = [check for check in standard["checks"] if not check["passed"]]
    assert not failed, failed
    assert standard["warning"] is None
    assert not standard["adaptive"]["eot"] and not standard["adaptive"]["bpda"]


# ---------------------------------------------------------------------- models that mask their gradients


def test_quantised_input_passes_naive_pgd_but_is_flagged_and_broken_by_bpda(digits_cnn, digits_mlp):
    model = Preprocessed(digits_cnn.model, Quantise())
    record = evaluate(model, digits_cnn, digits_mlp.model, eps=(0.1, 0.3))
    assert record["clean_accuracy"] >= 0.9
    assert record["per_attack"]["pgd"]["0.3"] >= 0.8  # naive PGD sees a zero gradient and fails
    assert record["per_attack"]["apgd-ce"]["0.3"] >= 0.8
    found = named(record)
    probe = record["probes"]["gradients"]  # the images the model gets right: 64 here, 63 on another CPU
    assert probe["n"] >= 0.9 * 64 and probe["zero"] == probe["n"]
    assert not found["gradients_not_zero"]["passed"]
    assert f"{probe['n']} of {probe['n']} images have an exactly zero" in found["gradients_not_zero"]["evidence"]
    assert not found["gradient_direction_raises_loss"]["passed"]
    assert record["warning"].startswith("this model may mask its gradients") and \
        "gradients_not_zero" in record["warning"]
    assert record["adaptive"]["bpda"] and record["ensemble"]["members"][:2] == ["apgd-ce", "bpda-apgd-ce"]
    assert record["per_attack"]["bpda-apgd-ce"]["0.3"] <= 0.1  # BPDA breaks it
    assert record["robust_accuracy"]["0.3"] <= 0.1


def test_softmax_output_is_flagged(digits_cnn):
    record = evaluate(nn.Sequential(digits_cnn.model, nn.Softmax(dim=1)), digits_cnn, eps=(0.2,), n=32,
                      check_images=32)
    found = named(record)
    assert not found["outputs_are_logits"]["passed"] and "probabilities" in found["outputs_are_logits"]["evidence"]
    assert "outputs_are_logits" in record["warning"]
    assert "no surrogate model: the transfer attack was left out" in record["notes"]


def test_a_randomised_model_is_flagged_and_attacked_with_eot(digits_cnn):
    record = evaluate(Noisy(digits_cnn.model, 0.1), digits_cnn, eps=(0.2,), n=32, check_images=32, steps=5,
                      eot_draws=2, queries=20)
    found = named(record)
    assert not found["deterministic"]["passed"] and "EOT" in found["deterministic"]["evidence"]
    assert record["adaptive"] == {"eot": True, "eot_draws": 2, "bpda": False}
    assert record["budget"]["eot"] == {"draws": 2, "average": "gradients"}  # AutoAttack's rand version
    assert record["model"]["randomized"] and "deterministic" in record["warning"]
    assert record["per_attack"]["apgd-ce"]["0.2"] <= 0.3  # EOT-APGD still breaks it at eps 0.2


# ---------------------------------------------------------------------- files and the CLI


def test_report_files_are_written_and_escaped(standard, tmp_path):
    record = {**standard, "notes": ["<script>alert(1)</script> & co"]}
    files = write_robustness_report(tmp_path, record)
    for name in ("accuracy_vs_eps", "loss_landscape", "markdown", "html"):
        assert files[name].is_file() and files[name].parent == tmp_path / "robustness"
    page = files["html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'src="accuracy_vs_eps.png"' in page and 'src="loss_landscape.png"' in page
    markdown = files["markdown"].read_text()
    assert "All sanity checks passed." in markdown and "| 0.1 |" in markdown


def test_cli_writes_the_json_report_and_links_it(victim_run, capsys):
    status, out, err = run_cli(["robustness", str(victim_run.root), "--eps", "0.1,0.2", "--n", "40", "--steps", "5",
                                "--queries", "20", "--targets", "1", "--check-images", "32", "--device", "cpu",
                                "--no-progress"], capsys)
    assert status == 0, err
    record = json.loads((victim_run.root / "robustness.json").read_text())
    assert record["n"] == 40 and record["surrogate"]["kind"] == "quick MLP" and "transfer" in record["per_attack"]
    assert record["model"]["run"] == str(victim_run.root.resolve())
    for name in ("robustness.html", "robustness.md", "accuracy_vs_eps.png", "loss_landscape.png"):
        assert (victim_run.root / "robustness" / name).is_file(), name
    worst = record["robust_accuracy"]["0.1"]
    assert f"| 0.1 | {100 * worst:.1f}% |" in out and "[PASS] iterative_beats_single_step" in out
    assert "robustness.json" in out and "robustness.html" in out
    assert 'href="robustness/robustness.html"' in (victim_run.root / "report.html").read_text()
    assert "## Robustness" in (victim_run.root / "report.md").read_text()


@pytest.mark.parametrize("eps, words", [("0.1,abc", ("--eps", "0.1,abc")), ("", ("--eps is empty",)),
                                        ("-0.1", ("--eps", "> 0")), ("0.1,,0.2", ("--eps",))])
def test_cli_refuses_bad_eps_lists(victim_run, capsys, eps, words):
    status, _, err = run_cli(["robustness", str(victim_run.root), f"--eps={eps}", "--no-progress"], capsys)
    assert_one_line_error(status, err, *words)


def test_cli_refuses_run_directories_without_a_classifier(tmp_path, victim_run, capsys):
    missing = tmp_path / "missing"
    status, _, err = run_cli(["robustness", str(missing), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no such run directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_cli(["robustness", str(empty), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no config.yaml")
    gan = tmp_path / "gan"
    gan.mkdir()
    (gan / "config.yaml").write_text("loss: hinge\nsteps: 1000\nbatch_size: 64\n")
    status, _, err = run_cli(["robustness", str(gan), "--no-progress"], capsys)
    assert_one_line_error(status, err, "not a classifier run")
    no_checkpoint = tmp_path / "no-checkpoint"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.yaml").write_text(victim_run.config.read_text())
    status, _, err = run_cli(["robustness", str(no_checkpoint), "--no-progress"], capsys)
    assert_one_line_error(status, err, "no checkpoint")


def test_cli_refuses_bad_options(victim_run, capsys):
    status, _, err = run_cli(["robustness", str(victim_run.root), "--norm", "l3", "--no-progress"], capsys)
    assert_one_line_error(status, err, "--norm", "l3", "linf, l2")
    status, _, err = run_cli(["robustness", str(victim_run.root), "--steps", "0", "--no-progress"], capsys)
    assert_one_line_error(status, err, "--steps", ">= 1")
    status, _, err = run_cli(["robustness", str(victim_run.root), "--budget", "autoattack", "--no-progress"], capsys)
    assert_one_line_error(status, err, "--budget", "autoattack", "fast, standard")
    status, _, err = run_cli(["robustness", str(victim_run.root), "--fab-targets", "-1", "--no-progress"], capsys)
    assert_one_line_error(status, err, "--fab-targets", ">= 0")


def test_large_budget_for_l2_holds_the_linf_half_ball():
    from advlab.pipelines.security.robustness import large_budget

    eps, why = large_budget(RobustnessConfig(norm="l2", eps=(1.0,)), (1, 8, 8), (1.0,))
    assert eps == pytest.approx(0.5 * math.sqrt(64)) and "d = 64" in why


def test_without_eps_an_mnist_run_gets_madry_et_al_s_budgets(victim_run, tmp_path, monkeypatch):
    import advlab.cli.robustness as cli

    assert cli.default_eps(str(victim_run.root), "linf") == (0.05, 0.1, 0.2, 0.3)  # digits
    assert cli.default_eps(str(tmp_path / "not-a-run"), "linf") == (0.05, 0.1, 0.2, 0.3)  # robustness_run explains
    monkeypatch.setattr(cli, "classifier_config", lambda run: ClassifierTrainConfig(data="mnist"))
    assert cli.default_eps(str(victim_run.root), "linf") == (0.1, 0.2, 0.3, 0.4)
    assert cli.default_eps(str(victim_run.root), "l2") == RobustnessConfig().eps
