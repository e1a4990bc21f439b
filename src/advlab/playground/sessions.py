"""The playground's session manager: every browser tab its own session, bounded in count, memory and idle time.

A session is what one open page holds on the server (a GAN game for the GAN page). The manager hands out an
unguessable id (``secrets.token_urlsafe``) per session and enforces the server's limits
(:class:`PlaygroundLimits`):

* at most ``max_sessions`` sessions at once; one more is refused with :class:`SessionRefused`;
* every session states the bytes it holds (``memory_bytes()``: weights, gradients, optimiser moments, data and
  buffers); a session over ``max_session_bytes``, or one that would take the total over ``max_total_bytes``, is
  refused, and so is a change of options that would grow a session past either bound (:meth:`SessionManager.resize`);
* a session that has heard nothing from its page for ``idle_timeout`` seconds is *expired*: the page's socket
  loop asks :meth:`SessionManager.expired` and closes it, and :meth:`SessionManager.sweep` removes any that are
  left (the app runs it periodically);
* closing a session (the page's socket closed, the tab stopped) ends it at once: its training loop stops with it.

The manager is thread-safe: the web server may serve sockets from several event loops and worker threads.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from advlab.core.errors import AdvlabError

MEGABYTE = 1 << 20


@dataclass(frozen=True)
class PlaygroundLimits:
    """What one playground server allows; every field is a bound the server enforces.

    Attributes:
        max_sessions: GAN sessions open at once (each browser tab holds one).
        max_session_bytes: memory one session may hold (its own estimate, see ``memory_bytes``).
        max_total_bytes: memory all sessions together may hold.
        idle_timeout: seconds without a message from the page before its session expires.
        max_message_bytes: size of one WebSocket message from a page.
        max_body_bytes: size of one HTTP request body.
        send_timeout: seconds a page may take to accept one frame before its session is closed.
        concurrent_attacks: attack requests computed at once (more wait up to ``attack_wait`` seconds).
        attack_wait: seconds an attack request waits for its turn before a 503.
    """

    max_sessions: int = 32
    max_session_bytes: int = 64 * MEGABYTE
    max_total_bytes: int = 512 * MEGABYTE
    idle_timeout: float = 1800.0
    max_message_bytes: int = 256 * 1024
    max_body_bytes: int = 64 * 1024
    send_timeout: float = 30.0
    concurrent_attacks: int = 2
    attack_wait: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_session_bytes", "max_total_bytes", "max_message_bytes", "max_body_bytes",
                     "concurrent_attacks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AdvlabError(f"playground limit {name} must be an integer >= 1, got {value!r}")
        for name in ("idle_timeout", "send_timeout", "attack_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise AdvlabError(f"playground limit {name} must be a number > 0 (seconds), got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SessionRefused(AdvlabError):
    """The server cannot take (or grow) a session now: too many sessions or too much memory."""


class SessionState(Protocol):
    """What the manager needs of a session's contents."""

    def memory_bytes(self) -> int: ...

    def close(self) -> None: ...


@dataclass
class Session:
    """One open page's state on the server."""

    id: str
    kind: str
    state: SessionState
    bytes: int
    last_active: float
    created: float
    closed: threading.Event = field(default_factory=threading.Event)
    expired: bool = False  # closed by the sweep for idleness (not by the server or the page)


class SessionManager:
    """Opens, finds, resizes, expires and closes sessions within :class:`PlaygroundLimits`.

    Args:
        limits: the bounds to enforce.
        clock: seconds as a float (``time.monotonic``); tests pass a fake one.
    """

    def __init__(self, limits: PlaygroundLimits | None = None, clock: Callable[[], float] = time.monotonic):
        self.limits = limits or PlaygroundLimits()
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening and closing

    def open(self, kind: str, make_state: Callable[[], SessionState], estimate: int) -> Session:
        """A new session whose state `make_state()` builds, if `estimate` bytes fit; else SessionRefused.

        Expired sessions are swept first, so a crowd of abandoned tabs does not block a new one.
        """
        self.sweep()
        with self._lock:
            self._check_room(estimate, freed=0)
            placeholder = Session(secrets.token_urlsafe(16), kind, _Reserved(), estimate, self.clock(), self.clock())
            self._sessions[placeholder.id] = placeholder  # hold the room while the state is built
        try:
            state = make_state()
        except BaseException:
            self.close(placeholder.id)
            raise
        with self._lock:
            placeholder.state, placeholder.bytes = state, state.memory_bytes()
        return placeholder

    def close(self, session_id: str, expired: bool = False) -> bool:
        """End a session (its training stops; `expired`: for idleness); False when there was none of that id."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        session.expired = expired
        session.closed.set()
        session.state.close()
        return True

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.close(session_id)

    # ------------------------------------------------------------------ finding and touching

    def get(self, session_id: str, kind: str | None = None) -> Session:
        """The open session `session_id` (of `kind`); KeyError when there is none."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or (kind is not None and session.kind != kind):
            raise KeyError(session_id)
        return session

    def touch(self, session: Session) -> None:
        """The page spoke: the session's idle clock starts again."""
        session.last_active = self.clock()

    def expired(self, session: Session) -> bool:
        """Has the session heard nothing from its page for longer than the idle timeout?"""
        return self.clock() - session.last_active > self.limits.idle_timeout

    def idle_left(self, session: Session) -> float:
        """Seconds until the session expires (0 when it has)."""
        return max(0.0, self.limits.idle_timeout - (self.clock() - session.last_active))

    def sweep(self) -> list[str]:
        """Close every expired session; returns their ids."""
        with self._lock:
            stale = [s.id for s in self._sessions.values() if self.clock() - s.last_active > self.limits.idle_timeout]
        for session_id in stale:
            self.close(session_id, expired=True)
        return stale

    # ------------------------------------------------------------------ memory

    def resize(self, session: Session, new_bytes: int) -> None:
        """Let `session` grow (or shrink) to `new_bytes`, or raise SessionRefused and leave it as it is."""
        with self._lock:
            if session.id not in self._sessions:
                raise SessionRefused("this session was closed")
            self._check_room(new_bytes, freed=session.bytes)
            session.bytes = new_bytes

    def refresh(self, session: Session) -> None:
        """Record what the session says it holds now (after a change it was allowed, see :meth:`resize`)."""
        with self._lock:
            session.bytes = session.state.memory_bytes()

    def _check_room(self, wanted: int, freed: int) -> None:
        limits = self.limits
        if freed == 0 and len(self._sessions) >= limits.max_sessions:
            raise SessionRefused(f"the server is busy: {len(self._sessions)} sessions are open (limit "
                                 f"{limits.max_sessions}); close another tab or try again later")
        if wanted > limits.max_session_bytes:
            raise SessionRefused(f"these options need about {wanted / MEGABYTE:.1f} MB, more than one session may "
                                 f"hold ({limits.max_session_bytes / MEGABYTE:.1f} MB); use smaller networks, "
                                 "batches or data")
        total = self._total() - freed + wanted
        if total > limits.max_total_bytes:
            raise SessionRefused(f"the server is out of session memory ({total / MEGABYTE:.1f} MB would exceed "
                                 f"{limits.max_total_bytes / MEGABYTE:.1f} MB); try again later")

    def _total(self) -> int:
        return sum(session.bytes for session in self._sessions.values())

    # ------------------------------------------------------------------ statistics

    def __len__(self) -> int:
        return len(self._sessions)

    def total_bytes(self) -> int:
        with self._lock:
            return self._total()

    def stats(self) -> dict[str, Any]:
        """Counts and memory (no ids: an id is its page's secret)."""
        with self._lock:
            kinds: dict[str, int] = {}
            for session in self._sessions.values():
                kinds[session.kind] = kinds.get(session.kind, 0) + 1
            return {"sessions": len(self._sessions), "max_sessions": self.limits.max_sessions, "by_kind": kinds,
                    "bytes": self._total(), "max_total_bytes": self.limits.max_total_bytes}


class _Reserved:
    """The state of a session whose real state is still being built."""

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        pass


__all__ = ["MEGABYTE", "PlaygroundLimits", "Session", "SessionManager", "SessionRefused", "SessionState"]
