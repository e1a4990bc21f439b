"""The playground's sessions: bounded count and memory, idle expiry, a closed socket ends its training, and 20
concurrent GAN sessions training side by side."""

import contextlib
import threading
import time
import warnings

import pytest
import torch
from helpers import receive
from starlette.websockets import WebSocketDisconnect

from advlab.core.errors import AdvlabError
from advlab.playground import PlaygroundLimits, SessionManager, SessionRefused, create_app
from advlab.playground.gan_game import GanGame, GanOptions, estimate_bytes
from advlab.playground.sessions import MEGABYTE

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SMALL = {"g_width": 16, "d_width": 16, "batch_size": 32, "steps_per_frame": 2, "fps": 2}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class State:
    def __init__(self, size: int):
        self.size, self.closed = size, False

    def memory_bytes(self) -> int:
        return self.size

    def close(self) -> None:
        self.closed = True


def until(ws, kind: str) -> dict:
    """The next message of type `kind`; anything but an error may come before it."""
    while (message := receive(ws))["type"] != kind:
        assert message["type"] != "error", message
    return message


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


# ---------------------------------------------------------------------- the manager alone


def test_the_session_count_is_bounded():
    manager = SessionManager(PlaygroundLimits(max_sessions=3))
    sessions = [manager.open("gan", lambda: State(10), 10) for _ in range(3)]
    assert len({session.id for session in sessions}) == 3 and len(manager) == 3
    with pytest.raises(SessionRefused, match="3 sessions are open"):
        manager.open("gan", lambda: State(10), 10)
    assert manager.close(sessions[0].id) and sessions[0].state.closed and sessions[0].closed.is_set()
    assert not manager.close(sessions[0].id)
    manager.open("gan", lambda: State(10), 10)
    assert len(manager) == 3 and manager.stats()["by_kind"] == {"gan": 3}


def test_memory_is_bounded_per_session_and_in_total():
    manager = SessionManager(PlaygroundLimits(max_session_bytes=120, max_total_bytes=250))
    with pytest.raises(SessionRefused, match="more than one session may hold"):
        manager.open("gan", lambda: State(121), 121)
    first = manager.open("gan", lambda: State(100), 100)
    manager.open("gan", lambda: State(100), 100)
    manager.open("gan", lambda: State(50), 50)
    with pytest.raises(SessionRefused, match="out of session memory"):
        manager.open("gan", lambda: State(1), 1)
    with pytest.raises(SessionRefused, match="out of session memory"):
        manager.resize(first, 101)  # growing past the total is refused too...
    with pytest.raises(SessionRefused, match="more than one session may hold"):
        manager.resize(first, 121)
    assert first.bytes == 100 and manager.total_bytes() == 250
    manager.resize(first, 40)  # ...shrinking is fine, and makes room
    manager.open("gan", lambda: State(60), 60)
    assert manager.total_bytes() == 250


def test_a_failing_build_gives_its_room_back():
    manager = SessionManager(PlaygroundLimits(max_sessions=1))

    def broken():
        raise AdvlabError("bad options")

    with pytest.raises(AdvlabError, match="bad options"):
        manager.open("gan", broken, 10)
    assert len(manager) == 0 and manager.total_bytes() == 0
    manager.open("gan", lambda: State(1), 1)


def test_idle_sessions_expire_and_a_message_keeps_one_alive():
    clock = Clock()
    manager = SessionManager(PlaygroundLimits(idle_timeout=10), clock=clock)
    quiet, busy = manager.open("gan", lambda: State(1), 1), manager.open("gan", lambda: State(1), 1)
    clock.now = 6
    manager.touch(busy)
    assert manager.idle_left(quiet) == 4 and not manager.expired(quiet)
    clock.now = 10.5
    assert manager.expired(quiet) and not manager.expired(busy)
    assert manager.sweep() == [quiet.id] and quiet.state.closed and len(manager) == 1
    assert quiet.expired and quiet.closed.is_set()  # the page is told "idle" even when its next message comes late
    manager.close(busy.id)
    assert busy.closed.is_set() and not busy.expired
    busy = manager.open("gan", lambda: State(1), 1)
    with pytest.raises(KeyError):
        manager.get(quiet.id)
    assert manager.get(busy.id, "gan") is busy
    with pytest.raises(KeyError):
        manager.get(busy.id, "attack")


def test_the_manager_is_thread_safe():
    manager = SessionManager(PlaygroundLimits(max_sessions=50))

    def churn():
        for _ in range(50):
            manager.close(manager.open("gan", lambda: State(1), 1).id)

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(manager) == 0 and manager.total_bytes() == 0


def test_limits_are_checked():
    for bad in ({"max_sessions": 0}, {"idle_timeout": 0}, {"max_body_bytes": 1.5}, {"send_timeout": True}):
        with pytest.raises(AdvlabError, match=next(iter(bad))):
            PlaygroundLimits(**bad)


# ---------------------------------------------------------------------- a game's memory


def tensor_bytes(game: GanGame) -> int:
    """Bytes of the tensors a game holds: weights, gradients and optimiser state of both players."""
    total = 0
    for module, optimizer in ((game.trainer.generator, game.trainer.optimizer_g),
                              (game.trainer.discriminator, game.trainer.optimizer_d)):
        for parameter in module.parameters():
            total += parameter.numel() * 4 * (1 + (parameter.grad is not None))
        for slots in optimizer.state.values():
            total += sum(value.numel() * value.element_size() for value in slots.values() if torch.is_tensor(value))
    return total


@pytest.mark.parametrize("options", [{}, {"g_width": 256, "d_width": 256, "g_layers": 6, "d_layers": 6},
                                     {"optimizer": "sgd", "loss": "wgan-gp", "batch_size": 1024}])
def test_the_memory_estimate_covers_the_tensors_a_game_holds(options):
    game = GanGame(GanOptions(**options))
    game.advance(2)
    held = tensor_bytes(game)
    assert held <= estimate_bytes(game.options) <= held + 64 * MEGABYTE  # covers them, without absurdity
    assert game.memory_bytes() == estimate_bytes(game.options)


def test_options_too_big_for_a_session_are_refused_over_the_socket():
    limits = PlaygroundLimits(max_session_bytes=estimate_bytes(GanOptions()) + MEGABYTE)
    with TestClient(create_app(limits=limits)) as client, client.websocket_connect("/ws/gan") as ws:
        hello = receive(ws)
        until(ws, "frame")
        ws.send_json({"type": "set", "options": {"g_width": 256, "d_width": 256, "g_layers": 6, "d_layers": 6}})
        assert "more than one session may hold" in until(ws, "error")["message"]
        session = client.app.state.sessions.get(hello["session"])
        assert session.state.options == GanOptions() and session.bytes == estimate_bytes(GanOptions())


# ---------------------------------------------------------------------- sessions over sockets


def test_twenty_concurrent_sessions_train_and_memory_stays_bounded():
    limits = PlaygroundLimits(max_sessions=20)
    app = create_app(limits=limits)
    with TestClient(app) as client:
        manager = app.state.sessions
        growth = []
        for _ in range(2):  # twice: the second round must not hold more than the first
            before = rss_bytes()
            with contextlib.ExitStack() as stack:
                sockets = [stack.enter_context(client.websocket_connect("/ws/gan")) for _ in range(20)]
                for ws in sockets:
                    until(ws, "frame")
                    ws.send_json({"type": "set", "options": SMALL})
                    until(ws, "options")
                for ws in sockets:
                    ws.send_json({"type": "play"})
                with pytest.raises(WebSocketDisconnect) as refused:  # the 21st is refused
                    with client.websocket_connect("/ws/gan") as extra:
                        assert "20 sessions are open" in until(extra, "error")["message"]
                        receive(extra)
                assert refused.value.code == 1013
                for ws in sockets:
                    steps = [until(ws, "frame")["step"] for _ in range(2)]
                    assert steps == sorted(steps) and steps[-1] > steps[0]
                    ws.send_json({"type": "pause"})  # leave the core to the others
                stats = manager.stats()
                assert stats["sessions"] == 20 and stats["bytes"] == 20 * estimate_bytes(GanOptions(**SMALL))
                assert stats["bytes"] <= limits.max_total_bytes
            growth.append(rss_bytes() - before)
            wait_for(lambda: len(manager) == 0)
        assert growth[1] < 32 * MEGABYTE, [g / MEGABYTE for g in growth]


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_closed_socket_ends_its_training():
    app = create_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws/gan") as ws:
            hello = receive(ws)
            until(ws, "frame")
            ws.send_json({"type": "play"})
            until(ws, "frame")
            game = app.state.sessions.get(hello["session"]).state
        wait_for(lambda: len(app.state.sessions) == 0)
        time.sleep(0.1)  # a step already running finishes (the rest of its frame's steps do not)
        step = game.step
        time.sleep(0.3)
        assert game.step == step and not game.playing and game.closed  # nothing trains it any more


def test_an_idle_session_expires_and_its_socket_closes():
    app = create_app(limits=PlaygroundLimits(idle_timeout=2.0))  # the first frame comes in well under it, loaded
    with TestClient(app) as client, client.websocket_connect("/ws/gan") as ws:
        receive(ws)
        until(ws, "frame")
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}
        started = time.monotonic()
        closing = receive(ws)
        assert closing["type"] == "closing" and closing["reason"] == "idle"
        assert 1.8 <= time.monotonic() - started < 10
        with pytest.raises(WebSocketDisconnect):
            receive(ws)
        wait_for(lambda: len(app.state.sessions) == 0)
