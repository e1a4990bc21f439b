"""advlab playground, backdoor lab (HTTP API): every bad input gets one clear 422, a short training through the API
reports clean accuracy, attack success and Neural Cleanse's reversed triggers, the triggers are advlab's own poisons
(a drawing becomes a BadNets patch of its ink's box), and trainings are bounded sessions (count, memory, concurrency,
idle time; closing one stops it)."""

from __future__ import annotations

import time
import warnings

import pytest
import torch
from helpers import assert_one_line_response as assert_one_line

from advlab.playground import PlaygroundLimits, backdoor_lab, create_app
from advlab.playground.backdoor_lab import (
    BackdoorRequest,
    digits_split,
    estimate_bytes,
    ink_box,
    make_backdoor,
)
from advlab.poisoning import BadNets, Blended

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

QUICK_CLEANSE = {**backdoor_lab.CLEANSE_OPTIONS, "epochs": 3}  # the code path of Neural Cleanse, in a second
EPOCHS = 6  # seeds 0-2: clean accuracy 96.1-97.2%, ASR 100%, 9 of 9 triggered digits sent to the target
TARGET = 3


def corner_drawing(cells=((0, 0), (0, 1), (1, 1)), value: float = 1.0) -> list[float]:
    drawing = [0.0] * 64
    for row, column in cells:
        drawing[row * 8 + column] = value
    return drawing


def wait_until_finished(client, session: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/backdoor/{session}").json()
        if status["phase"] not in ("training", "cleansing"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"training {session} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app([])) as client:
        yield client


@pytest.fixture(scope="module")
def trained(client):
    """One BadNets training to the end (EPOCHS epochs, Neural Cleanse with 3 epochs per class)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(backdoor_lab, "CLEANSE_OPTIONS", QUICK_CLEANSE)
            started = client.post("/api/backdoor/train", json={"kind": "badnets", "target": TARGET, "rate": 0.1,
                                                                "epochs": EPOCHS})
            assert started.status_code == 200, started.text
            status = wait_until_finished(client, started.json()["session"])
    finally:
        torch.set_num_threads(threads)
    return started.json(), status


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("body", "words"), [
    ({"kind": "drawn"}, ("trigger", "64 values")),
    ({"kind": "drawn", "trigger": [0.0] * 63}, ("63 values", "8x8")),
    ({"kind": "drawn", "trigger": [0.0] * 64}, ("empty",)),
    ({"kind": "drawn", "trigger": corner_drawing([(0, 0), (4, 4)])}, ("5x5 = 25 pixels", "16")),
    ({"kind": "drawn", "trigger": [1.5] + [0.0] * 63}, ("trigger.0", "less than or equal to 1")),
    ({"kind": "drawn", "trigger": [-0.1] + [0.0] * 63}, ("trigger.0", "greater than or equal to 0")),
    ({"kind": "drawn", "trigger": ["x"] + [0.0] * 63}, ("trigger.0",)),
    ({"kind": "badnets", "trigger": corner_drawing()}, ("'trigger'", "badnets")),
    ({"kind": "badnets", "alpha": 0.3}, ("'alpha'", "blended")),
    ({"kind": "trojan"}, ("kind", "'drawn', 'badnets' or 'blended'")),
    ({"rate": 0.6}, ("rate", "0.5")),
    ({"rate": 0}, ("rate", "greater than 0")),
    ({"rate": "0.1"}, ("rate",)),
    ({"target": 10}, ("target class 10 is out of range", "0..9")),
    ({"target": -1}, ("target class -1 is out of range",)),
    ({"epochs": 21}, ("epochs", "20")),
    ({"epochs": 0}, ("epochs",)),
    ({"kind": "blended", "alpha": 0}, ("alpha", "greater than 0")),
    ({"kind": "blended", "alpha": 1.5}, ("alpha",)),
    ({"seed": -1}, ("seed",)),
    ({"colour": "red"}, ("colour", "Extra inputs")),
])
def test_bad_input_gets_one_clear_422(client, body, words):
    assert_one_line(client.post("/api/backdoor/train", json=body), 422, *words)


def test_malformed_json_and_sessions_that_are_not_there(client):
    bad = client.post("/api/backdoor/train", content=b"{kind", headers={"content-type": "application/json"})
    assert_one_line(bad, 400, "malformed JSON")
    assert_one_line(client.get("/api/backdoor/AAAAAAAAAAAAAAAAAAAAAA"), 404, "no such backdoor training")
    assert_one_line(client.delete("/api/backdoor/AAAAAAAAAAAAAAAAAAAAAA"), 404, "no such backdoor training")
    assert client.get("/api/backdoor/..%2F..%2Fetc").status_code in (404, 422)
    assert_one_line(client.get("/api/backdoor/short"), 422, "session_id")


# ---------------------------------------------------------------------- the triggers are advlab's poisons


def test_ink_box_by_hand():
    drawing = torch.zeros(8, 8)
    assert ink_box(drawing) is None
    drawing[2, 5] = drawing[4, 3] = 0.5
    assert ink_box(drawing) == (2, 3, 3, 3)


def test_a_drawing_is_a_badnets_patch_of_its_ink_box():
    drawing = corner_drawing([(5, 6), (7, 7)], 0.75)
    backdoor = make_backdoor(BackdoorRequest(kind="drawn", trigger=drawing, target=2, rate=0.2))
    assert isinstance(backdoor, BadNets) and (backdoor.top, backdoor.left) == (5, 6) and backdoor.target == 2
    assert backdoor.pattern.shape == (1, 3, 2)
    digits = digits_split().test_images[:5]
    stamped = backdoor.apply_trigger(digits)
    box = torch.zeros(8, 8, dtype=torch.bool)
    box[5:8, 6:8] = True
    assert torch.equal(stamped[:, :, ~box], digits[:, :, ~box])  # nothing outside the box moves
    expected = torch.tensor([[0.75, 0.0], [0.0, 0.0], [0.0, 0.75]])
    assert torch.equal(stamped[:, 0, 5:8, 6:8], expected.expand(5, -1, -1))


def test_built_in_kinds_and_their_previews(client):
    assert isinstance(make_backdoor(BackdoorRequest(kind="badnets")), BadNets)
    blended = make_backdoor(BackdoorRequest(kind="blended", alpha=0.3))
    assert isinstance(blended, Blended) and blended.alpha == blended.test_alpha == 0.3
    assert make_backdoor(BackdoorRequest(kind="blended")).alpha == backdoor_lab.DEFAULT_ALPHA
    options = client.get("/api/backdoor/options").json()
    assert options["defaults"]["kind"] == "badnets" and options["shape"] == [1, 8, 8]
    assert options["limits"]["max_rate"] == 0.5 and options["limits"]["max_epochs"] == backdoor_lab.MAX_EPOCHS
    assert options["cleanse"]["epochs"] < options["cleanse"]["library_defaults"]["epochs"]
    patch = torch.tensor(options["previews"]["badnets"]).reshape(8, 8)
    checker = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])  # Gu et al.'s pattern, 3x3 at 8 px
    assert torch.equal(patch[5:, 5:], checker) and float(patch.sum()) == 5.0
    key = torch.tensor(options["previews"]["blended_key"])
    assert key.shape == (64,) and 0 <= float(key.min()) and float(key.max()) <= 1 and float(key.std()) > 0.2


# ---------------------------------------------------------------------- a short training through the API


def test_a_training_reports_accuracy_attack_success_and_reversed_triggers(trained):
    started, status = trained
    assert started["phase"] == "training" and started["poll"] == f"/api/backdoor/{started['session']}"
    assert status["phase"] == "done" and status["message"] is None, status["message"]
    train_rows = len(digits_split().train_labels)
    assert status["train_rows"] == train_rows == 1438 and status["held_out"] == 359
    assert status["poisons"] == round(0.1 * train_rows) == 144
    history = status["history"]
    assert history["epoch"] == list(range(1, EPOCHS + 1)) and status["epoch"] == EPOCHS
    assert status["clean_accuracy"] == history["clean_accuracy"][-1] >= 0.85
    assert status["asr"] == history["asr"][-1] >= 0.9
    assert history["loss"][-1] < history["loss"][0]
    assert [d["label"] for d in status["triggered"]] == [c for c in range(10) if c != TARGET]
    hits = sum(d["prediction"] == TARGET for d in status["triggered"])
    assert hits >= 6  # the row of triggered digits goes to the target as the ASR says
    for example in status["poisoned_examples"]:
        assert example["poisoned_label"] == TARGET != example["label"]
        assert torch.equal(torch.tensor(example["pixels"]).reshape(8, 8)[5:, 5:],
                           torch.tensor(status["trigger"]).reshape(8, 8)[5:, 5:])
    found = status["neural_cleanse"]
    assert found["classes"] == list(range(10)) and found["threshold"] == 2.0
    assert len(found["triggers"]) == len(found["masks"]) == 10 and all(len(t) == 64 for t in found["triggers"])
    assert all(0 <= v <= 1 for trigger in found["triggers"] for v in trigger)
    assert len(found["anomaly_index"]) == len(found["norms"]) == 10
    assert set(found["flagged"]) <= set(range(10)) and found["options"]["epochs"] == 3
    assert all(norm > 0 for norm in found["norms"]) and found["epochs"] == [3] * 10
    assert status["training_seconds"] > 0 and status["cleanse_seconds"] > 0
    assert status["seconds"] >= status["training_seconds"]


def test_the_same_request_trains_the_same_weights(client):
    body = {"kind": "drawn", "trigger": corner_drawing(), "epochs": 1, "cleanse": False, "seed": 5, "target": 1}
    losses = []
    for _ in range(2):
        session = client.post("/api/backdoor/train", json=body).json()["session"]
        status = wait_until_finished(client, session)
        assert status["phase"] == "done" and status["neural_cleanse"] is None
        assert status["trigger"] == corner_drawing()  # the ink's box stamped on a black digit: the drawing itself
        losses.append((status["loss"], status["clean_accuracy"], status["asr"]))
        client.delete(f"/api/backdoor/{session}")
    assert losses[0] == losses[1]


def test_blended_reports_its_alpha_and_key(client):
    session = client.post("/api/backdoor/train", json={"kind": "blended", "alpha": 0.5, "epochs": 1,
                                                        "cleanse": False}).json()["session"]
    status = wait_until_finished(client, session)
    client.delete(f"/api/backdoor/{session}")
    key = torch.tensor(client.get("/api/backdoor/options").json()["previews"]["blended_key"])
    assert status["alpha"] == 0.5 and status["kind"] == "blended"
    assert torch.allclose(torch.tensor(status["trigger"]), 0.5 * key, atol=1e-4)


# ---------------------------------------------------------------------- bounded sessions


def test_sessions_are_bounded_in_count_and_closing_frees_one():
    with TestClient(create_app([], PlaygroundLimits(max_sessions=1))) as client:
        body = {"epochs": 1, "cleanse": False}
        first = client.post("/api/backdoor/train", json=body).json()["session"]
        wait_until_finished(client, first)
        assert client.get("/api/gan/sessions").json()["by_kind"] == {"backdoor": 1}
        assert_one_line(client.post("/api/backdoor/train", json=body), 503, "busy", "1 sessions are open")
        assert client.delete(f"/api/backdoor/{first}").json() == {"closed": True}
        assert_one_line(client.get(f"/api/backdoor/{first}"), 404)
        second = client.post("/api/backdoor/train", json=body)
        assert second.status_code == 200, second.text


def test_a_session_larger_than_the_memory_bound_is_refused():
    limits = PlaygroundLimits(max_session_bytes=estimate_bytes() - 1)
    with TestClient(create_app([], limits)) as client:
        assert_one_line(client.post("/api/backdoor/train", json={"epochs": 1}), 503, "MB")
        assert client.get("/api/gan/sessions").json()["sessions"] == 0


def test_trainings_at_once_are_capped(client):
    lab = client.app.state.backdoor
    before = client.get("/api/gan/sessions").json()["sessions"]
    for _ in range(lab.concurrent):
        assert lab.turns.acquire(blocking=False)
    try:
        assert_one_line(client.post("/api/backdoor/train", json={"epochs": 1}), 503,
                        f"{lab.concurrent} trainings are running")
    finally:
        for _ in range(lab.concurrent):
            lab.turns.release()
    assert client.get("/api/gan/sessions").json()["sessions"] == before  # a refused training holds no session


def test_closing_a_session_stops_its_training_and_frees_its_turn(client):
    lab = client.app.state.backdoor
    session = client.post("/api/backdoor/train", json={"epochs": backdoor_lab.MAX_EPOCHS}).json()["session"]
    training = client.app.state.sessions.get(session, "backdoor").state
    assert client.delete(f"/api/backdoor/{session}").json() == {"closed": True}
    deadline = time.monotonic() + 30
    while training.finished is None and time.monotonic() < deadline:
        time.sleep(0.05)
    status = training.status()
    assert status["phase"] == "stopped" and status["epoch"] < backdoor_lab.MAX_EPOCHS
    assert status["neural_cleanse"] is None
    for _ in range(lab.concurrent):  # every turn is free again
        assert lab.turns.acquire(blocking=False)
    for _ in range(lab.concurrent):
        lab.turns.release()


def test_an_idle_session_expires():
    with TestClient(create_app([], PlaygroundLimits(idle_timeout=0.5))) as client:
        session = client.post("/api/backdoor/train", json={"epochs": 1, "cleanse": False}).json()["session"]
        wait_until_finished(client, session)
        assert client.get(f"/api/backdoor/{session}").status_code == 200
        time.sleep(0.6)
        client.app.state.sessions.sweep()  # the app's own sweeper (every 0.5 s here) may have been first
        assert client.app.state.sessions.stats()["sessions"] == 0
        assert_one_line(client.get(f"/api/backdoor/{session}"), 404)
