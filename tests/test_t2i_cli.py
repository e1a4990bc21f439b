"""advlab text2image as a user runs it (cli/text2image.py, pipelines/text2image): a tiny run on the user's own
captioned folder writes an ordinary run directory and report, resumes exactly, samples captions and interpolations
from the run alone, evaluates; the figures (attribute accuracy, R-precision, FID) at their definitions on a
hand-built captioned set; bad input is one line with exit status 2."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error
from PIL import Image

import advlab.reports.sections.text2image  # noqa: F401 -- registers the report section (the lead imports it too)
from advlab.cli import text2image
from advlab.cli.common import Parser
from advlab.core.checkpoints import load_latest
from advlab.core.errors import AdvlabError
from advlab.data.captioned_sets import CaptionedImages
from advlab.data.vocabulary import Vocabulary
from advlab.metrics.text_image import attribute_classifier
from advlab.pipelines.text2image.figures import flat_figures, measure
from advlab.pipelines.text2image.sample_text2image import load_text2image_run
from advlab.reports.sections.text2image import record_from_summary, rows_from_record
from advlab.text2image.embedding import joint_embedding

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (40, 70, 250)}
TINY = ["--image-size", "16", "--steps", "4", "--batch-size", "4", "--g-width", "4", "--d-width", "4",
        "--z-dim", "8", "--projected-dim", "8", "--log-every", "2", "--sample-every", "2", "--checkpoint-every", "2",
        "--eval-samples", "6", "--encoder-epochs", "2", "--held-out-fraction", "0.25", "--no-progress",
        "--tensorboard", "false"]


def advlab(*argv) -> int:
    """`advlab text2image ...` in-process, as cli.main runs a command (an AdvlabError: one line, status 2)."""
    parser = Parser(prog="advlab")
    text2image.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        args = parser.parse_args([str(a) for a in argv])
        return args.handler(args)
    except AdvlabError as error:
        print(f"advlab: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        return stop.code


def cli(capsys, *argv) -> tuple[int, str, str]:
    status = advlab(*argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """12 squares of 3 colours, left or right, 16 px, with two captions each in captions.txt."""
    root = tmp_path_factory.mktemp("captioned")
    lines = []
    for i in range(12):
        colour, side = list(COLOURS)[i % 3], ("left", "right")[(i // 3) % 2]
        pixels = np.zeros((16, 16, 3), dtype=np.uint8)
        left = 2 if side == "left" else 9
        pixels[5:11, left:left + 5] = COLOURS[colour]
        Image.fromarray(pixels).save(root / f"{i:02d}.png")
        lines += [f"{i:02d}.png\ta {colour} square on the {side}", f"{i:02d}.png\tthe {side} half shows {colour}"]
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def tiny_run(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "t2i"
    assert advlab("text2image", "train", "--data", folder, "--out", out, *TINY) == 0
    return out


def test_train_writes_a_run_with_the_encoder_inside(tiny_run):
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["step"] == 4 and 0 <= summary["real_r_precision"] <= 1 and 0 <= summary["r_precision"] <= 1
    assert "attribute_accuracy" not in summary  # the user's captions carry no attributes
    checkpoint = load_latest(tiny_run / "checkpoints")
    assert any(k.startswith("text_encoder.encoder.") for k in checkpoint.tensors)
    assert any(k.startswith("image_encoder.") for k in checkpoint.tensors) and "extra.noise_rng" in checkpoint.tensors
    assert checkpoint.meta["vocabulary"]["words"][0] == "<pad>" and checkpoint.meta["caption_length"] == 6
    assert (tiny_run / "samples" / "final.png").is_file() and (tiny_run / "samples" / "step-000002.png").is_file()
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss", "s_r", "s_w", "s_f", "s_int"} <= set(records[-1])
    html = (tiny_run / "report.html").read_text()
    assert "Text to image" in html and "R-precision" in html


def test_the_run_reloads_as_it_trained(tiny_run, folder):
    """The reloaded text encoder is the cached joint embedding's; the reloaded generator the checkpoint's."""
    trained = load_text2image_run(tiny_run)
    assert trained.step == 4 and trained.caption_length == 6
    assert float(trained.text.scale) == pytest.approx(trained.embedding.dim ** 0.5)
    from advlab.data.captioned_sets import load_captioned
    cached = joint_embedding(load_captioned(str(folder), 16, 0.25, 0), epochs=2)
    tokens = trained.vocabulary.encode_all(["a red square on the left"], 6)
    assert torch.allclose(trained.embedding.embed_text(tokens), cached.embed_text(tokens))
    checkpoint = load_latest(tiny_run / "checkpoints")
    assert all(torch.equal(v, checkpoint.tensors[f"generator.{k}"]) for k, v in trained.generator.state_dict().items())


def test_resume_continues_exactly(tiny_run, tmp_path, folder):
    resumed = tmp_path / "resumed"
    shutil.copytree(tiny_run, resumed)
    for path in (resumed / "checkpoints").glob("step-000004*"):
        path.unlink()
    assert advlab("text2image", "train", "--resume", resumed, "--no-progress") == 0
    a, b = load_latest(tiny_run / "checkpoints").tensors, load_latest(resumed / "checkpoints").tensors
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_a_changed_option(tiny_run, tmp_path, capsys):
    resumed = tmp_path / "resumed"
    shutil.copytree(tiny_run, resumed)
    status, _, err = cli(capsys, "text2image", "train", "--resume", resumed, "--cls-weight", "0.3")
    assert_one_line_error(status, err, "cannot change cls_weight")


def test_sample_grid_and_interpolation(tiny_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    status, text, _ = cli(capsys, "text2image", "sample", tiny_run, "--text", "a red square on the left", "--text",
                          "a blue square on the right", "--n", "3", "--out", out)
    assert status == 0 and "6 images" in text and Image.open(out).size[0] > 3 * 64
    line = tmp_path / "line.png"
    status, text, _ = cli(capsys, "text2image", "sample", tiny_run, "--text", "a red square on the left",
                          "--interpolate-to", "a blue square on the right", "--n", "2", "--steps", "5", "--out", line)
    assert status == 0 and "10 images" in text and line.is_file()


def test_sample_with_a_word_the_encoder_never_saw(tiny_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    status, _, err = cli(capsys, "text2image", "sample", tiny_run, "--text", "a purple square", "--out", out)
    assert_one_line_error(status, err, "never saw 'purple'", "red")
    assert not out.exists()


@pytest.mark.parametrize("argv,words", [
    (["--n", "0"], ["--n must be an integer >= 1"]),
    (["--out", "grid.jpg"], [".png"]),
    (["--interpolate-to", "a red square", "--text", "a blue square"], ["one --text"]),
])
def test_sample_bad_input(tiny_run, tmp_path, capsys, argv, words):
    argv = [a if a != "grid.jpg" else tmp_path / "grid.jpg" for a in argv]
    status, _, err = cli(capsys, "text2image", "sample", tiny_run, "--text", "a red square", *argv)
    assert_one_line_error(status, err, *words)


def test_evaluate_writes_json_and_report(tiny_run, capsys):
    status, text, _ = cli(capsys, "text2image", "evaluate", tiny_run, "--n", "6")
    assert status == 0 and "R-precision" in text
    record = json.loads((tiny_run / "eval" / "text2image.json").read_text())
    assert record["step"] == 4 and record["samples"] == 6 and record["r_precision"]["candidates"] == 6
    assert (tiny_run / "eval" / "text2image_samples.png").is_file()
    assert "text2image evaluate" in (tiny_run / "report.md").read_text()


@pytest.mark.parametrize("argv,words", [
    (["--steps", "0"], ["--steps must be at least 1"]),
    (["--image-size", "30"], ["GAN-INT-CLS", "30"]),
    (["--cls-weight", "1"], ["--cls-weight"]),
    (["--batch-size", "1"], ["--batch-size must be at least 2"]),
    (["--held-out-fraction", "0.7"], ["--held-out-fraction must lie in [0, 0.5]"]),
])
def test_train_bad_input(folder, tmp_path, capsys, argv, words):
    status, _, err = cli(capsys, "text2image", "train", "--data", folder, "--out", tmp_path / "r", *argv)
    assert_one_line_error(status, err, *words)


def test_methods_switch_the_terms(folder, tmp_path):
    """The paper's ablation: gan-cls has no interpolation term, gan no wrong-text term (s_w is still measured)."""
    from advlab.pipelines.text2image.configs import Text2ImageTrainConfig

    assert Text2ImageTrainConfig(method="gan").weights == (0.0, 0.0)
    assert Text2ImageTrainConfig(method="gan-int", int_weight=2.0).weights == (0.0, 2.0)
    assert Text2ImageTrainConfig(method="gan-cls", cls_weight=0.3).weights == (0.3, 0.0)
    assert advlab("text2image", "train", "--data", folder, "--out", tmp_path / "gan", "--method", "gan", *TINY) == 0
    last = json.loads((tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "s_w" in last and "s_int" not in last


def test_train_on_a_missing_folder_and_a_bad_method(tmp_path, capsys):
    status, _, err = cli(capsys, "text2image", "train", "--data", tmp_path / "nowhere", "--out", tmp_path / "r")
    assert_one_line_error(status, err, "nowhere")
    status, _, err = cli(capsys, "text2image", "train", "--method", "gan-xyz", "--out", tmp_path / "r")
    assert status == 2 and "gan-int-cls" in err


def test_sample_and_evaluate_refuse_a_directory_that_is_no_run(tmp_path, capsys):
    status, _, err = cli(capsys, "text2image", "sample", tmp_path, "--text", "a red square")
    assert_one_line_error(status, err, "config.yaml")
    (tmp_path / "config.yaml").write_text("game: pix2pix\n")
    status, _, err = cli(capsys, "text2image", "evaluate", tmp_path)
    assert_one_line_error(status, err, "not a text-to-image run")


def test_datasets_lists_the_built_in_sets(capsys):
    status, text, _ = cli(capsys, "text2image", "datasets")
    assert status == 0 and "captioned-shapes" in text and "captioned-digits" in text and "captions.txt" in text


def hand_set(n: int = 40) -> CaptionedImages:
    """n images, one flat colour each (red, green or blue by row), with colour as the only attribute; the last
    quarter held out."""
    names = ["red", "green", "blue"]
    colours = torch.arange(n) % 3
    images = torch.zeros(n, 3, 16, 16)
    images[torch.arange(n), colours] = 1.0
    vocabulary = Vocabulary.from_captions(f"a {c} image" for c in names)
    tokens = torch.stack([vocabulary.encode_all([f"a {names[c]} image"], 3) for c in colours.tolist()])
    captions = [[f"a {names[c]} image"] for c in colours.tolist()]

    def part(rows):
        return CaptionedImages(images[rows], tokens[rows], [captions[i] for i in rows.tolist()],
                               {"colour": colours[rows]}, {"colour": names}, vocabulary, "hand")

    cut = 3 * n // 4
    data = part(torch.arange(cut))
    data.held_out = part(torch.arange(cut, n))
    return data


def test_figures_at_their_definitions():
    """A generator that draws exactly the image a caption describes reads back as the real images do; one that
    always draws red sits at the share of red captions; chance is sum p_c^2."""
    data = hand_set()
    embedding = joint_embedding(data, epochs=2)
    held = data.held_out

    def perfect(tokens, noise):
        colour = torch.tensor([["red", "green", "blue"].index(data.vocabulary.decode(t).split()[1]) for t in tokens])
        images = torch.zeros(len(tokens), 3, 16, 16)
        images[torch.arange(len(tokens)), colour] = 1.0
        return images

    record, samples, real, _ = measure(perfect, data, embedding, n=len(held), seed=0)
    assert torch.equal(samples, real)
    colour = record["attributes"]["colour"]
    assert colour["samples"] == colour["real"] and record["r_precision"]["samples"] == record["r_precision"]["real"]
    shares = torch.bincount(data.attributes["colour"], minlength=3).double() / len(data)
    assert colour["chance"] == pytest.approx(float((shares ** 2).sum()))
    assert record["fid"]["samples"] == pytest.approx(0.0, abs=1e-3)

    def always_red(tokens, noise):
        images = torch.zeros(len(tokens), 3, 16, 16)
        images[:, 0] = 1.0
        return images

    red = measure(always_red, data, embedding, n=len(held), seed=0)[0]
    read_as = int(attribute_classifier(data).predict(always_red(torch.zeros(1, 3), None))["colour"][0])
    asked_share = float((held.attributes["colour"] == read_as).double().mean())
    assert red["attributes"]["colour"]["samples"] == pytest.approx(asked_share)
    assert red["fid"]["samples"] > 100 * max(record["fid"]["samples"], 1e-6)
    figures = flat_figures(record)
    assert figures["accuracy_colour"] == colour["samples"] and figures["chance_accuracy"] == colour["chance"]
    assert rows_from_record(record_from_summary(figures)) == rows_from_record(
        {k: v for k, v in record.items() if k in ("attributes", "attribute_accuracy", "r_precision", "fid")})


def t2i_on_ranks(folder: str, out: str) -> torch.Tensor:
    """Train a tiny run (2 steps, minibatch 4) in `out`; its generator's images for fixed captions and noise."""
    from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
    from advlab.pipelines.text2image.train_text2image import train_text2image
    from advlab.text2image.gan_int_cls import generate

    config = Text2ImageTrainConfig(data=folder, image_size=16, steps=2, batch_size=4, g_width=4, d_width=4, z_dim=8,
                                   projected_dim=8, log_every=1, sample_every=2, checkpoint_every=2, eval_samples=6,
                                   encoder_epochs=2, held_out_fraction=0.25, tensorboard=False, out=out, threads=1)
    train_text2image(config, progress=False, report=False)
    trained = load_text2image_run(out)
    return generate(trained.generator, trained.text, trained.vocabulary, ["a red square on the left"], 3, 0,
                    trained.caption_length)


def test_two_ranks_train_one_game(folder, tmp_path):
    """Under torchrun the ranks end with the same players (the loop checks it) and draw what one process draws to
    batch-norm precision (each rank normalises its own share of the minibatch)."""
    from ranks import run_ranks

    alone = t2i_on_ranks(str(folder), str(tmp_path / "one"))
    shared = run_ranks(t2i_on_ranks, 2, str(folder), str(tmp_path / "two"))
    torch.testing.assert_close(shared[0], shared[1], atol=0, rtol=0)
    assert (shared[0] - alone).abs().max() < 0.05
    assert json.loads((tmp_path / "two" / "checkpoints" / "step-000002.json").read_text())["world_size"] == 2
    assert (tmp_path / "two" / "summary.json").is_file()
