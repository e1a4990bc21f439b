"""advlab attack NAME RUN: results that match a direct attack, sweeps, outputs, flags from signatures, bad input."""

import json

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli
from torch import Tensor, nn

from advlab.attacks import ATTACKS, FGSM, PGD, Attack
from advlab.cli.main import build_parser, main
from advlab.core.parameters import parse_args_section
from advlab.pipelines.security.attack_run import AttackRunConfig, attack_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier

VICTIM = ["--data", "digits", "--width", "8", "--epochs", "3", "--lr", "0.003", "--device", "cpu", "--threads", "1",
          "--no-progress"]
QUIET = ["--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    out = tmp_path_factory.mktemp("attack") / "clf"
    threads = torch.get_num_threads()
    try:
        assert main(["classifier", "train", "--out", str(out), *VICTIM]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def results(directory):
    return json.loads((directory / "results.json").read_text())


def direct(attack_cls, run, n, **options):
    model, _ = load_classifier(run, "cpu")
    images, labels = held_out_split(run)
    return attack_cls(model, **options).run(images[:n], labels[:n])


def test_pgd_matches_a_direct_run(victim, capsys):
    status, out, err = run_cli(["attack", "pgd", str(victim), "--eps", "0.1", "--steps", "5", "--restarts", "2",
                            "--n", "32", *QUIET], capsys)
    assert status == 0, err
    directory = victim / "attacks" / "pgd"
    for name in ("results.json", "table.md", "grid.png", "adversarial.npy"):
        assert (directory / name).is_file(), name
    saved = results(directory)
    expected = direct(PGD, victim, 32, eps=0.1, steps=5, restarts=2, seed=0)[0]
    row = saved["rows"][0]
    assert row["robust_accuracy"] == expected.summary()["robust_accuracy"]
    assert row["n"] == 32 and row["eps"] == 0.1
    assert np.array_equal(np.load(directory / "adversarial.npy"), expected.adversarial.numpy())
    assert saved["options"] == {"eps": 0.1, "alpha": None, "steps": 5, "norm": "linf", "random_start": True,
                                "restarts": 2}
    assert saved["victim"]["run"] == str(victim.resolve()) and saved["victim"]["test_accuracy"] > 0.5
    assert f"{100 * row['robust_accuracy']:.1f}%" in out and "robust acc" in out
    assert (directory / "table.md").read_text() in out
    assert "attacks/pgd/grid.png" in (victim / "report.html").read_text()  # the victim's report was updated


def test_fgsm_matches_a_direct_run_and_batches_change_nothing(victim, capsys, tmp_path):
    status, _, err = run_cli(["attack", "fgsm", str(victim), "--eps", "0.15", "--n", "40", "--out",
                          str(tmp_path / "whole"), *QUIET], capsys)
    assert status == 0, err
    expected = direct(FGSM, victim, 40, eps=0.15)[0].summary()
    assert results(tmp_path / "whole")["rows"][0]["robust_accuracy"] == expected["robust_accuracy"]
    status, _, err = run_cli(["attack", "fgsm", str(victim), "--eps", "0.15", "--n", "40", "--batch-size", "16",
                          "--out", str(tmp_path / "batched"), *QUIET], capsys)
    assert status == 0, err
    whole, batched = results(tmp_path / "whole")["rows"][0], results(tmp_path / "batched")["rows"][0]
    for key in ("robust_accuracy", "success_rate", "linf_median", "l2_mean"):
        assert whole[key] == pytest.approx(batched[key], abs=1e-6), key
    assert np.allclose(np.load(tmp_path / "whole" / "adversarial.npy"),
                       np.load(tmp_path / "batched" / "adversarial.npy"), atol=1e-6)


def test_eps_sweep_one_row_per_eps(victim, capsys, tmp_path):
    status, out, err = run_cli(["attack", "pgd", str(victim), "--eps", "0.05,0.1,0.3", "--steps", "5", "--n", "32",
                            "--out", str(tmp_path / "sweep"), *QUIET], capsys)
    assert status == 0, err
    rows = results(tmp_path / "sweep")["rows"]
    assert [row["eps"] for row in rows] == [0.05, 0.1, 0.3]
    robust = [row["robust_accuracy"] for row in rows]
    assert robust == sorted(robust, reverse=True) and robust[-1] < robust[0]
    assert all(row["linf_median"] is None or row["linf_median"] <= row["eps"] + 1e-6 for row in rows)
    for eps in ("0.05", "0.1", "0.3"):
        assert (tmp_path / "sweep" / f"grid-eps{eps}.png").is_file()
    adversarial = np.load(tmp_path / "sweep" / "adversarial.npy")
    clean = held_out_split(victim)[0][:32].numpy()
    assert np.abs(adversarial - clean).max() == pytest.approx(0.3, abs=1e-6)  # the largest eps
    assert out.count("\n| 0.") == 3


def test_out_never_overwrites(victim, capsys, tmp_path):
    argv = ["attack", "fgsm", str(victim), "--eps", "0.1", "--n", "8", *QUIET]
    assert run_cli(argv, capsys)[0] == 0
    first = (victim / "attacks" / "fgsm" / "results.json").read_bytes()
    assert run_cli([*argv[:4], "0.2", *argv[5:]], capsys)[0] == 0
    assert (victim / "attacks" / "fgsm" / "results.json").read_bytes() == first
    assert results(victim / "attacks" / "fgsm-2")["rows"][0]["eps"] == 0.2
    assert run_cli(argv, capsys)[0] == 0 and (victim / "attacks" / "fgsm-3").is_dir()
    explicit = ["--out", str(victim / "attacks" / "fgsm")]
    status, _, err = run_cli([*argv, *explicit], capsys)
    assert_one_line_error(status, err, "already holds files", "--overwrite")
    assert (victim / "attacks" / "fgsm" / "results.json").read_bytes() == first
    assert run_cli([*argv[:4], "0.3", *argv[5:], *explicit, "--overwrite"], capsys)[0] == 0
    assert results(victim / "attacks" / "fgsm")["rows"][0]["eps"] == 0.3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    status, _, err = run_cli([*argv, "--out", str(tmp_path / "mine"), "--overwrite"], capsys)
    assert_one_line_error(status, err, "holds no attack run")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_targeted_and_mask(victim, capsys, tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    np.save(tmp_path / "mask.npy", mask)
    status, _, err = run_cli(["attack", "pgd", str(victim), "--eps", "0.3", "--steps", "5", "--n", "24",
                          "--targeted-by", "next", "--mask", str(tmp_path / "mask.npy"), "--out",
                          str(tmp_path / "t"), *QUIET], capsys)
    assert status == 0, err
    saved = results(tmp_path / "t")
    assert saved["targeted"] and saved["targeted_by"] == "next" and saved["rows"][0]["targeted"]
    model, _ = load_classifier(victim, "cpu")
    images, labels = held_out_split(victim)
    expected = PGD(model, eps=0.3, steps=5, targeted=True, seed=0).run(
        images[:24], labels[:24], targets=(labels[:24] + 1) % 10, mask=torch.from_numpy(mask).bool())[0]
    assert saved["rows"][0]["success_rate"] == expected.summary()["success_rate"]
    adversarial = np.load(tmp_path / "t" / "adversarial.npy")
    outside = np.broadcast_to(mask == 0, adversarial.shape)
    assert np.array_equal(adversarial[outside], images[:24].numpy()[outside])


def test_target_class_and_least_likely(victim, tmp_path):
    base = {"attack": "fgsm", "run": str(victim), "options": {"eps": 0.2}, "n": 16, "device": "cpu",
            "progress": False, "report": False}
    out = attack_run(AttackRunConfig(**base, target=3, out=str(tmp_path / "k")))
    assert results(out)["target"] == 3 and results(out)["rows"][0]["targeted"]
    out = attack_run(AttackRunConfig(**base, targeted_by="least-likely", out=str(tmp_path / "ll")))
    assert results(out)["targeted_by"] == "least-likely"
    with pytest.raises(Exception, match="unknown option 'stepz'.*valid options are: eps, norm"):
        attack_run(AttackRunConfig(**{**base, "options": {"stepz": 3}}))


@pytest.mark.parametrize("argv,words", [
    (["attack", "pgdx", "RUN"], ["invalid choice", "'pgdx'", "'fgsm'", "'pgd'"]),
    (["attack", "pgd", "RUN", "--eps", "-0.1"], ["eps", ">= 0"]),
    (["attack", "pgd", "RUN", "--eps", "0.1,x"], ["--eps", "comma-separated"]),
    (["attack", "pgd", "RUN", "--steps", "many"], ["--steps", "integer"]),
    (["attack", "pgd", "RUN", "--mask", "MASK"], ["mask of shape (7, 8)", "does not fit"]),
    (["attack", "pgd", "RUN", "--mask", "NOFILE"], ["not found"]),
    (["attack", "pgd", "MISSING"], ["no such run directory"]),
    (["attack", "pgd", "RUN", "--n", "100000"], ["--n", "held-out images"]),
    (["attack", "pgd", "RUN", "--n", "0"], ["--n", ">= 1"]),
    (["attack", "pgd", "RUN", "--targeted-by", "next", "--target", "2"], ["not both"]),
    (["attack", "pgd", "RUN", "--target", "10"], ["--target 10", "classes 0..9"]),
    (["attack", "pgd", "RUN", "--norm", "l7"], ["unknown norm", "linf, l2"]),
    (["attack", "pgd", "RUN", "--bogus", "1"], ["unrecognized arguments"]),
])
def test_bad_input(victim, argv, words, capsys, tmp_path):
    np.save(tmp_path / "bad.npy", np.ones((7, 8)))
    paths = {"RUN": str(victim), "MASK": str(tmp_path / "bad.npy"), "NOFILE": str(tmp_path / "none.npy"),
             "MISSING": str(tmp_path / "missing")}
    before = sorted(p.name for p in (victim / "attacks").iterdir()) if (victim / "attacks").is_dir() else []
    status, _, err = run_cli([paths.get(a, a) for a in argv] + QUIET, capsys)
    assert_one_line_error(status, err, *words)
    after = sorted(p.name for p in (victim / "attacks").iterdir()) if (victim / "attacks").is_dir() else []
    assert after == before  # nothing written


def test_a_gan_run_is_not_a_victim(tmp_path, capsys):
    (tmp_path / "gan").mkdir()
    (tmp_path / "gan" / "config.yaml").write_text("data: ring8\nsteps: 10\n")
    status, _, err = run_cli(["attack", "fgsm", str(tmp_path / "gan"), *QUIET], capsys)
    assert_one_line_error(status, err, "not a classifier run")


# ---------------------------------------------------------------------- flags from the signature


class Toy(Attack):
    """A toy black-box attack that only adds `step` to every pixel.

    Args:
        model: the victim.
        eps: the budget
            (a continuation line).
        transforms: names of things, comma-separated.
        step: how far to move.
        extra: an optional count.
        surrogate: another classifier (a run directory on the command line).
        n: an option whose name clashes with a common flag.
        targeted: unused.
    """

    name = "toy"
    black_box = True

    def __init__(self, model: nn.Module, eps: float = 0.1, transforms: tuple[str, ...] = ("rotate",),
                 step: float = 0.05, extra: int | None = None, surrogate: nn.Module | None = None, n: int = 1,
                 verbose: bool = False, targeted: bool = False):
        super().__init__(model, eps=eps, targeted=targeted)
        assert surrogate is None or isinstance(surrogate, nn.Module)  # a run directory is loaded as a model
        self.transforms, self.step, self.extra, self.surrogate, self.verbose = transforms, step, extra, surrogate, n

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        self.queries = torch.full((len(images),), 3, dtype=torch.int64)
        return images + min(self.step, self.eps)


def test_a_newly_registered_attack_gets_flags_from_its_signature(victim, capsys, monkeypatch):
    monkeypatch.setitem(ATTACKS, "toy", Toy)
    parser = build_parser()
    help_text = " ".join(parser._subparsers._group_actions[0].choices["attack"]._subparsers._group_actions[0]
                         .choices["toy"].format_help().split()).replace("- ", "-")
    for words in ("--transforms A,B,...", "names of things, comma-separated (comma-separated strings; default rotate)",
                  "the budget (a continuation line) (a number, or comma-separated numbers for a sweep; default 0.1)",
                  "--surrogate RUN", "--attack-n", "--verbose", "(an integer or none; default none)"):
        assert words in help_text, words
    status, out, err = run_cli(["attack", "toy", str(victim), "--transforms", "rotate,scale", "--extra", "none",
                            "--step", "0.02", "--surrogate", str(victim), "--attack-n", "4", "--verbose", "true",
                            "--n", "10", *QUIET], capsys)
    assert status == 0, err
    saved = results(victim / "attacks" / "toy")
    assert saved["options"] == {"eps": 0.1, "transforms": ["rotate", "scale"], "step": 0.02, "extra": None,
                                "surrogate": str(victim), "n": 4, "verbose": True}
    assert saved["black_box"] and saved["rows"][0]["queries_max"] == 3
    assert "queries median" in out and saved["rows"][0]["linf_median"] in (None, pytest.approx(0.02))
    status, _, err = run_cli(["attack", "toy", str(victim), "--verbose", "maybe", *QUIET], capsys)
    assert_one_line_error(status, err, "--verbose", "true/false")


def test_args_section_parser():
    doc = """Title.

    Args:
        alpha: first line
            second line.
        beta (int): typed.

    Returns:
        nothing: really.
    """
    import inspect

    assert parse_args_section(inspect.cleandoc(doc)) == {"alpha": "first line second line.", "beta": "typed."}


def test_per_image_mask_is_split_with_the_batches(victim, tmp_path):
    mask = np.zeros((12, 1, 8, 8), np.float32)
    for i in range(12):
        mask[i, 0, i % 8, :] = 1  # image i may change row i % 8 only
    np.save(tmp_path / "rows.npy", mask)
    out = attack_run(AttackRunConfig(attack="fgsm", run=str(victim), options={"eps": 0.3}, n=12, batch_size=5,
                                     mask=str(tmp_path / "rows.npy"), device="cpu", progress=False, report=False,
                                     out=str(tmp_path / "m")))
    adversarial = np.load(out / "adversarial.npy")
    clean = held_out_split(victim)[0][:12].numpy()
    assert np.array_equal(adversarial[mask == 0], clean[mask == 0])
    assert (np.abs(adversarial - clean).reshape(12, -1).max(1) > 0).all()


def test_report_verb_shows_the_attacks(victim, capsys):
    assert run_cli(["attack", "fgsm", str(victim), "--eps", "0.2", "--n", "8", *QUIET], capsys)[0] == 0
    status, out, _ = run_cli(["report", str(victim)], capsys)
    assert status == 0 and "report.html" in out
    page = (victim / "report.html").read_text()
    assert "<h2>Attacks</h2>" in page and 'src="attacks/fgsm/grid.png"' in page and "robust acc" in page
