"""The metric suite on runs: the Evaluator, `advlab gan evaluate`, and evaluation during training."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_one_line_error, run_cli

from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images, ring8
from advlab.pipelines.gan.evaluate_gan import Evaluator, parse_metrics


def ring8_draw(modes: int):
    """A 'generator' that emits ring8's samples from only the first `modes` modes."""
    mixture = ring8()

    def draw(n: int, seed: int) -> torch.Tensor:
        generator = make_generator(seed, torch.device("cpu"))
        index = torch.randint(modes, (n,), generator=generator)
        return mixture.means[index] + mixture.std * torch.randn(n, 2, generator=generator)

    return draw


def test_parse_metrics():
    assert parse_metrics("fid, kid,fid") == ("fid", "kid")
    assert parse_metrics(("prdc", "modes")) == ("prdc", "modes")
    with pytest.raises(AdvlabError, match="unknown metric 'fod'.*valid metrics are: fid, kid"):
        parse_metrics("fid,fod")
    with pytest.raises(AdvlabError, match="no metric given"):
        parse_metrics(" , ")


def test_four_of_eight_ring_modes_gets_four():
    evaluator = Evaluator(ring8(), ("fid", "prdc", "modes"), n=2000)
    whole = evaluator.evaluate(ring8_draw(8)).figures
    half = evaluator.evaluate(ring8_draw(4)).figures
    assert whole["modes"] == 8 and half["modes"] == 4
    assert half["high_quality"] > 0.95
    assert whole["fid"] < 0.01 < half["fid"]
    assert whole["recall"] > 0.9 and half["recall"] < 0.6
    assert whole["kl"] < 0.01 and half["kl"] == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=0.02)


def test_inception_score_needs_images():
    with pytest.raises(AdvlabError, match="inception score needs images"):
        Evaluator(ring8(), ("is",), n=100)


@pytest.fixture(scope="module")
def digits_evaluator():
    return Evaluator(load_digits_images(), ("fid", "kid", "is", "prdc", "modes"), n=600, seed=0)


def real_digits_draw(n: int, seed: int) -> torch.Tensor:
    data = load_digits_images()
    rows = torch.randint(len(data), (n,), generator=make_generator(seed, torch.device("cpu")))
    return data.data[rows]


def noise_draw(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=make_generator(seed, torch.device("cpu")))


def test_real_digits_beat_noise_on_every_metric(digits_evaluator):
    real = digits_evaluator.evaluate(real_digits_draw).figures
    noise = digits_evaluator.evaluate(noise_draw).figures
    assert real["fid"] < 0.1 * noise["fid"]
    assert real["kid"] < 0.1 * noise["kid"]
    assert real["inception_score"] > 2 * noise["inception_score"]
    # k-NN precision is lenient with noise here (about 0.7: a few real outliers with wide 3-NN balls swallow
    # the noise's features, the weakness Naeem et al. 2020 point out); density and coverage are not
    assert real["precision"] > noise["precision"] + 0.1
    assert real["recall"] > 0.5 > noise["recall"]
    assert real["density"] > 0.5 > noise["density"]
    assert real["coverage"] > 0.5 > noise["coverage"]
    assert real["modes"] == 10 and real["total_modes"] == 10
    assert real["kl"] < noise["kl"]
    # the yardstick: the two halves of the real sample against each other
    assert 0 <= real["real_fid"] < noise["fid"]


def test_one_repeated_digit_collapses_the_modes(digits_evaluator):
    one = load_digits_images().data[:1]
    collapsed = digits_evaluator.evaluate(lambda n, seed: one.expand(n, -1, -1, -1)).figures
    assert collapsed["modes"] == 1
    assert collapsed["kl"] == pytest.approx(torch.log(torch.tensor(10.0)).item(), abs=1e-6)
    assert collapsed["inception_score"] == pytest.approx(1.0, abs=1e-6)
    assert collapsed["recall"] < 0.05


# ------------------------------------------------------------------------------ the CLI on real runs


@pytest.fixture(scope="module")
def ring8_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ring8"
    from advlab.cli.main import main

    assert main(["gan", "train", "--data", "ring8", "--steps", "60", "--out", str(out), "--no-progress",
                 "--sample-every", "30", "--eval-every", "30", "--metrics", "fid,prdc,modes", "--eval-samples", "300",
                 "--tensorboard", "false", "--width", "32"]) == 0
    return out


def test_training_logs_metrics_every_eval_step(ring8_run):
    records = [json.loads(line) for line in (ring8_run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [30, 60]
    for record in evals:
        assert {"fid", "precision", "recall", "density", "coverage", "modes", "high_quality"} <= set(record)
        assert record["fid"] >= 0


def test_gan_evaluate_writes_eval_json_plots_and_report(ring8_run, capsys):
    status, out, err = run_cli(["gan", "evaluate", str(ring8_run), "--n", "400", "--metrics",
                                "fid,kid,prdc,modes,birthday", "--no-progress"], capsys)
    assert status == 0, err
    content = json.loads((ring8_run / "eval" / "eval.json").read_text())
    figures = content["figures"]
    assert content["step"] == 60 and content["n"] == 400 and content["features"] == "points"
    for key in ("fid", "real_fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "modes", "kl",
                "support"):
        assert key in figures, key
    assert "fid" in out and "modes" in out
    for name in content["plots"].values():
        assert (ring8_run / "eval" / name).is_file()
    assert "samples per mode" in content["plots"]
    convergence = content["convergence"]
    assert set(convergence) >= {"d_loss", "g_loss"}
    assert convergence["d_loss"]["pairs"] == 2  # the two evaluations during training (steps 30 and 60)
    report = (ring8_run / "report.html").read_text()
    assert "Evaluation" in report and "modes.png" in report
    assert (ring8_run / "plots" / "convergence_vs_quality.png").is_file()


def test_digits_run_evaluates_with_the_feature_network(tmp_path, capsys):
    out = tmp_path / "digits"
    status, _, err = run_cli(["gan", "train", "--data", "digits", "--image-size", "8", "--steps", "5", "--out",
                              str(out), "--no-progress", "--tensorboard", "false", "--width", "8"], capsys)
    assert status == 0, err
    status, text, err = run_cli(["gan", "evaluate", str(out), "--n", "200", "--metrics", "fid,is,modes,birthday",
                                 "--no-progress"], capsys)
    assert status == 0, err
    content = json.loads((out / "eval" / "eval.json").read_text())
    assert content["features"].startswith("digits")
    assert content["figures"]["total_modes"] == 10
    assert 1 <= content["figures"]["inception_score"] <= 10
    assert set(content["birthday"]) == {"pixel", "features"}
    assert (out / "eval" / "birthday_pairs.png").is_file()


def test_stacked_digits_run_counts_a_thousand_modes(tmp_path, capsys):
    out = tmp_path / "stacked"
    status, _, err = run_cli(["gan", "train", "--data", "stacked-digits", "--image-size", "8", "--steps", "3", "--out",
                              str(out), "--no-progress", "--tensorboard", "false", "--width", "8"], capsys)
    assert status == 0, err
    status, _, err = run_cli(["gan", "evaluate", str(out), "--n", "300", "--metrics", "fid,modes", "--no-progress"],
                             capsys)
    assert status == 0, err
    figures = json.loads((out / "eval" / "eval.json").read_text())["figures"]
    assert figures["total_modes"] == 1000
    # 300 real stacked digits hit about 1000 (1 - exp(-0.3)) = 259 distinct triples (249 with seed 0)
    assert 200 < figures["real_modes"] <= 300
    assert figures["modes"] <= 300


def test_features_command_trains_and_lists(capsys):
    status, out, err = run_cli(["features", "train", "--data", "digits", "--no-progress"], capsys)
    assert status == 0, err
    status, listing, err = run_cli(["features", "list"], capsys)
    assert status == 0, err
    assert "digits" in listing and "8" in listing


@pytest.mark.parametrize("argv, words", [
    (["gan", "evaluate", "{tmp}/nothing"], ["not a GAN run"]),
    (["gan", "evaluate", "{ring8}", "--metrics", "fid,fod"], ["unknown metric 'fod'"]),
    (["gan", "evaluate", "{ring8}", "--metrics", "is"], ["inception score needs images"]),
    (["gan", "evaluate", "{ring8}", "--n", "5"], ["--n must be at least"]),
    (["gan", "evaluate", "{ring8}", "--metrics", "fid", "--features", "inception:{tmp}/missing.pth"], []),
])
def test_bad_evaluate_input_is_one_line(argv, words, ring8_run, tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    argv = [a.format(tmp=tmp_path, ring8=ring8_run) for a in argv]
    status, _, err = run_cli(argv, capsys)
    if words:
        assert_one_line_error(status, err, *words)
    else:  # 2-D points need no feature network: the spec is not even read
        assert status == 0, err


def test_a_run_without_a_generator(tmp_path, capsys):
    run = tmp_path / "empty"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data: ring8\n")
    status, _, err = run_cli(["gan", "evaluate", str(run)], capsys)
    assert_one_line_error(status, err, "holds no generator")


def test_unknown_metric_for_training_is_refused_before_anything_runs(tmp_path, capsys):
    status, _, err = run_cli(["gan", "train", "--data", "ring8", "--out", str(tmp_path / "r"), "--eval-every", "10",
                              "--metrics", "fid,nope"], capsys)
    assert_one_line_error(status, err, "unknown metric 'nope'")
    assert not (tmp_path / "r").exists()
