"""The playground's web server: a FastAPI app with an HTTP API for the attack page and a WebSocket for the GAN page.

``create_app(run_dirs=..., limits=...)`` builds it; ``advlab playground`` serves it with uvicorn on 127.0.0.1.
Everything a page may send is validated (pydantic models, strict JSON types, unknown keys refused); a bad request
gets a 4xx with ``{"error": "<one line>"}`` (plus ``"errors": [{"loc": [...], "msg": ...}]`` for validation
errors), a bad WebSocket message gets an ``error`` message, and neither stops the server or another session.
No request names a file: victims are ids the server lists, resolved inside the run directories it was started
with (symlinks resolved; ``..``, absolute paths and links out are refused).

HTTP
----
``GET /api/health`` -> ``{"status": "ok", "version": str}``

``GET /api/limits`` -> the server's :class:`~advlab.playground.sessions.PlaygroundLimits` as a dict.

``GET /api/gan/options`` -> ``{"defaults": {...}, "live": [names], "schema": <JSON Schema of GanOptions>}``:
every option's type, range and choices (see :class:`~advlab.playground.gan_game.GanOptions`).

``GET /api/gan/sessions`` -> ``{"sessions": n, "max_sessions": n, "by_kind": {"gan": n}, "bytes": n,
"max_total_bytes": n}`` (counts only; session ids are their pages' secrets).

``GET /api/gan/{session}/generator.safetensors`` -> the session's generator (``application/octet-stream``,
a download); load it with ``advlab.playground.load_generator`` (format there). 404 for an unknown session.

``GET /api/attack/victims`` -> ``{"victims": [{"id": "builtin" | "builtin-digits" | "<root>/<path>",
"description": str, ...}]}``: ``builtin`` is the MNIST classifier (28x28), ``builtin-digits`` scikit-learn's
digits one (8x8); built-in entries also give ``"classes"`` and ``"shape": [C, H, W]``.

``GET /api/attack/digits?victim=ID&start=0&count=20`` (count 1..100) -> ``{"victim", "total", "start",
"shape": [C, H, W], "digits": [{"index": int, "label": int, "pixels": [C*H*W floats]}]}``: the victim's test
(held-out) digits; for a victim trained on the user's files none (``total`` 0) and a ``"note"`` saying why.

``POST /api/attack`` with :class:`~advlab.playground.attack_lab.AttackRequest` (body at most
``max_body_bytes``)::

    {"victim": "builtin", "attack": "fgsm"|"bim"|"pgd"|"cw"|"square",
     "image": [H*W floats in [0, 1] at the victim's size, row by row: 784 for builtin] | "digit": int,
                                                                       (exactly one)
     "label": int?, "targeted": bool, "target": int?, "eps": (0, 1], "steps": 1..500?, "alpha": float?,
     "queries": 2..10000, "c": float, "kappa": float, "binary_steps": 1..10, "seed": int}

-> ``{"victim", "attack", "targeted", "target", "label", "label_source": "given"|"digit"|"prediction",
"shape": [C, H, W], "success": bool,
"clean": {"pixels": [...], "probabilities": [classes], "prediction": int},
"adversarial": {"pixels": [...], "probabilities": [...], "prediction": int},
"perturbation": {"pixels": [0.5 + amplification * delta], "amplification": float, "linf": float, "l2": float},
"trace": null | {"evaluation": [int], "loss": [float], "true_probability": [float], "target_probability"?: [...]},
"evaluations": int, "seconds": float}``. Pixels are row-major at the victim's size; the trace (iterative
attacks) is explained in ``advlab.playground.attack_lab``. 404: unknown victim; 400: a digit, label or target out
of range; 422: an ``image`` whose length is not the victim's H*W (the message names the count); 503: too many
attacks at once.

Status codes: 400 malformed JSON or a value the server cannot use; 404 unknown session/victim; 413 body too
large; 422 a field of the wrong type or out of range, an unknown field, attack or loss name; 503 busy.

The audio tab's routes (``/api/audio/victims``, ``/api/audio/utterances``, ``/api/audio/utterance.wav``,
``/api/audio/hear``, ``/api/audio/attack``: a targeted Carlini & Wagner attack on a speech model run) are described
in ``advlab.playground.audio_lab``; its two POST routes take bodies of up to ``audio_lab.MAX_BODY_BYTES`` (an
uploaded WAV in base64), the others ``max_body_bytes``.

The backdoor lab's routes (``/api/backdoor/options``, ``POST /api/backdoor/train``, ``GET``/``DELETE
/api/backdoor/{session}``: a digits CNN trained live on data poisoned with the user's trigger, then Neural Cleanse)
are described in ``advlab.playground.backdoor_lab``; each training is a session of kind ``backdoor``.

WebSocket ``/ws/gan`` (one GAN session per socket: each browser tab its own)
---------------------------------------------------------------------------
A socket whose ``Origin`` is another site than the server is refused. On connect the server sends::

    {"type": "hello", "session": id, "options": {...}, "live": [...], "limits": {...},
     "download": "/api/gan/<id>/generator.safetensors", "protocol": 1}

then a ``frame``. Messages from the page (JSON text, at most ``max_message_bytes`` each)::

    {"type": "play"}      train continuously: a frame every steps_per_frame steps, at most fps frames/s
    {"type": "pause"}     stop training             -> {"type": "status", "playing": false, "step": n}
    {"type": "step"}      pause, exactly one step   -> a frame
    {"type": "reset"}     pause, rebuild from the seed -> a frame
    {"type": "set", "options": {partial GanOptions}}  -> {"type": "options", "options": {...}, "reset": bool}
                          then a frame; lr_g, lr_d, k, steps_per_frame, fps apply live (no reset)
    {"type": "frame"}     -> a frame now
    {"type": "ping"}      -> {"type": "pong"}

``play`` answers ``{"type": "status", "playing": true, "step": n}``. A bad message gets
``{"type": "error", "message": str, "request": type | null}`` and changes nothing. A session is closed when
its socket closes, when it was idle (no message) for ``idle_timeout`` seconds or the server closed it
(``{"type": "closing", "reason": "idle" | "closed", "message": str}`` first), and when the server cannot take it
(``{"type": "error", "fatal": true, ...}``, then close code 1013: too many sessions or too little memory).
An internal failure is reported as an ``error`` ("internal error ..."), pauses training and keeps the session.
Training that diverges (a NaN or infinite loss) pauses with an error message and ``"diverged": true`` in frames.

A frame (floats rounded to 4 decimals; null where a value is not finite)::

    {"type": "frame", "step": int, "playing": bool, "diverged": bool,
     "bounds": [xmin, xmax, ymin, ymax],                   the view, fixed per data set
     "real": [[x, y], ...],                                a fixed sample of the data (all of the user's <= 500)
     "generated": [[x, y], ...],                           G(z) for 256 fixed noise vectors
     "gradients": [[dx, dy], ...],                         -dL_G/dx on each generated point, scaled so the longest
     "gradient_max": float,                                 is 8% of the view's width; the longest unscaled
     "discriminator": {"size": [40, 40], "values": [1600 floats], "probability": bool, "min": f, "max": f},
                         D over the view: values[i * 40 + j] at cell (column j, row i), x and y increasing from
                         the bottom-left; probabilities in [0, 1] for the sigmoid losses, raw scores otherwise
     "manifold": [[[x, y], ...], ...],                     G's image of noise-grid lines: 2-D noise, 11 lines of
                         z_2 = const then 11 of z_1 = const, 21 points each, over [-1, 1] (uniform) or [-2, 2]
                         (Gaussian); 1-D noise, one curve of 101 points
     "history": {"step": [...], "d_loss": [...], "g_loss": [...]},   at most 256 points over the whole run
     "metrics": {"kl": f, "js": f, "modes": int?, "total_modes": int?, "high_quality": f?},
     "steps_per_second": float}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.websockets import WebSocket, WebSocketDisconnect

from advlab import __version__
from advlab.core.errors import AdvlabError
from advlab.playground.attack_lab import AttackLab, AttackRequest, Busy, InvalidField, VictimNotFound, attack_list
from advlab.playground.audio_lab import AUDIO_POSTS, MAX_BODY_BYTES, AudioLab, audio_router
from advlab.playground.backdoor_lab import BackdoorLab, backdoor_router
from advlab.playground.gan_game import LIVE_OPTIONS, GanGame, GanOptions, estimate_bytes
from advlab.playground.sessions import PlaygroundLimits, Session, SessionManager, SessionRefused

PROTOCOL = 1
STATIC_DIR = Path(__file__).parent / "static"
SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"
QUEUED_MESSAGES = 64
SWEEP_EVERY = 60.0
CLOSE_TRY_AGAIN = 1013
CLOSE_POLICY = 1008
LOG = logging.getLogger("advlab.playground")


# ---------------------------------------------------------------------- control messages of /ws/gan


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Play(_Message):
    type: Literal["play"]


class Pause(_Message):
    type: Literal["pause"]


class Step(_Message):
    type: Literal["step"]


class Reset(_Message):
    type: Literal["reset"]


class FrameRequest(_Message):
    type: Literal["frame"]


class Ping(_Message):
    type: Literal["ping"]


class SetOptions(_Message):
    type: Literal["set"]
    options: dict[str, Any]


ControlMessage = TypeAdapter(Annotated[Play | Pause | Step | Reset | FrameRequest | Ping | SetOptions,
                                       Field(discriminator="type")])


# ---------------------------------------------------------------------- the app


def create_app(run_dirs: Sequence[str | Path] = (), limits: PlaygroundLimits | None = None,
               builtin_epochs: int | None = None, allowed_hosts: Sequence[str] | None = None, warm: bool = False,
               static_dir: Path | None = STATIC_DIR) -> FastAPI:
    """The playground app.

    Args:
        run_dirs: directories the attack page may read classifier runs from (nothing else is ever read).
        limits: the server's bounds (sessions, memory, idle timeout, message and body sizes).
        builtin_epochs: epochs of the built-in classifiers, MNIST and digits (None: advlab's feature-network
            recipes).
        allowed_hosts: Host header values to accept (None: any); the CLI passes the loopback names when it binds
            loopback, which stops DNS-rebinding pages from reaching the server.
        warm: at startup, pay the first GAN game's one-time cost and load (train, if not cached) the built-in
            MNIST classifier, in a background thread.
        static_dir: the front end to serve at ``/`` when it holds an index.html.
    """
    limits = limits or PlaygroundLimits()
    sessions = SessionManager(limits)
    lab = AttackLab(run_dirs, builtin_epochs, limits.concurrent_attacks, limits.attack_wait)
    audio = AudioLab(run_dirs, limits.concurrent_attacks, limits.attack_wait)
    backdoor = BackdoorLab(sessions)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            threading.Thread(target=warm_up, args=(lab,), name="advlab-playground-warm", daemon=True).start()
        sweeper = asyncio.create_task(sweep_forever(sessions, min(SWEEP_EVERY, limits.idle_timeout)))
        try:
            yield
        finally:
            sweeper.cancel()
            sessions.close_all()

    app = FastAPI(title="advlab playground", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sessions, app.state.lab, app.state.limits, app.state.audio = sessions, lab, limits, audio
    app.state.backdoor = backdoor
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes,
                       larger=dict.fromkeys(AUDIO_POSTS, max(MAX_BODY_BYTES, limits.max_body_bytes)))
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    add_error_handlers(app)
    add_http_routes(app, sessions, lab, limits)
    app.include_router(audio_router(audio))
    app.include_router(backdoor_router(backdoor))
    add_gan_socket(app, sessions, limits)
    add_front_end(app, static_dir)
    return app


def warm_up(lab: AttackLab) -> None:
    """Pay the one-time costs before the first page does: torch's first trainer build (seconds) and the built-in
    MNIST classifier (trained and cached on first use; the 8x8 digits one trains in seconds when first asked for)."""
    GanGame().close()
    lab.builtin()


async def sweep_forever(sessions: SessionManager, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        sessions.sweep()


# ---------------------------------------------------------------------- errors


def error_response(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def describe_errors(errors: Sequence[dict], whole: str = "request") -> tuple[str, list[dict]]:
    """(one line naming the first problems, [{"loc", "msg"}]) of pydantic/FastAPI validation errors."""
    listed = [{"loc": [str(part) for part in error.get("loc", ())],
               "msg": str(error.get("msg", "invalid")).removeprefix("Value error, ")} for error in errors]
    shown = [f"{'.'.join(e['loc'][1:] if e['loc'][:1] == ['body'] else e['loc']) or whole}: {e['msg']}"
             for e in listed[:3]]
    more = f" (and {len(listed) - 3} more)" if len(listed) > 3 else ""
    return "; ".join(shown) + more, listed


def is_malformed_json(errors: Sequence[dict]) -> bool:
    return any(error.get("type") == "json_invalid" for error in errors)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        errors = error.errors()
        if is_malformed_json(errors):
            return error_response(400, f"malformed JSON: {errors[0].get('ctx', {}).get('error', 'cannot parse')}")
        message, listed = describe_errors(errors)
        return error_response(422, message, errors=listed)

    @app.exception_handler(VictimNotFound)
    async def not_found(request: Request, error: VictimNotFound):
        return error_response(404, str(error))

    @app.exception_handler(InvalidField)
    async def invalid_field(request: Request, error: InvalidField):
        return error_response(422, str(error), errors=[{"loc": ["body", error.field], "msg": str(error)}])

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy):
        return error_response(503, str(error))

    @app.exception_handler(AdvlabError)
    async def user_error(request: Request, error: AdvlabError):
        return error_response(400, str(error))

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception):
        return error_response(500, f"internal error ({type(error).__name__}); the server keeps running")


class BodyLimit:
    """ASGI middleware: an HTTP request body over `limit` bytes gets 413 (Content-Length, or counted as it
    streams in); the paths in `larger` have their own limits."""

    def __init__(self, app, limit: int, larger: dict[str, int] | None = None):
        self.app, self.default, self.larger = app, limit, dict(larger or {})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.larger.get(scope.get("path", ""), self.default)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self.too_large(send, limit)
        seen, over = 0, False

        async def counted():  # past the limit the app is told the client left, and its answer is dropped
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def unless_over(message):
            if not over:
                await send(message)

        try:
            await self.app(scope, counted, unless_over)
        except Exception:
            if not over:
                raise
        if over:
            await self.too_large(send, limit)

    async def too_large(self, send, limit: int) -> None:
        body = json.dumps({"error": f"request body too large (limit {limit} bytes)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------- HTTP routes


def add_http_routes(app: FastAPI, sessions: SessionManager, lab: AttackLab, limits: PlaygroundLimits) -> None:
    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/api/limits")
    def get_limits() -> dict:
        return limits.as_dict()

    @app.get("/api/gan/options")
    def gan_options() -> dict:
        return {"defaults": GanOptions().public(), "live": sorted(LIVE_OPTIONS),
                "schema": GanOptions.model_json_schema()}

    @app.get("/api/gan/sessions")
    def gan_sessions() -> dict:
        return sessions.stats()

    @app.get("/api/gan/{session_id}/generator.safetensors")
    async def download_generator(session_id: Annotated[str, PathParam(pattern=SESSION_ID)]):
        try:
            session = sessions.get(session_id, "gan")
        except KeyError:
            return error_response(404, "no such GAN session (it closed, expired or never was)")
        payload = await asyncio.to_thread(session.state.export_generator)
        name = f"advlab-generator-{session.state.options.data}-step{session.state.step}.safetensors"
        return Response(payload, media_type="application/octet-stream",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    @app.get("/api/attack/victims")
    def victims() -> dict:
        return {"victims": lab.victims()}

    @app.get("/api/attack/attacks")
    def attacks() -> dict:
        return {"attacks": attack_list()}

    @app.get("/api/attack/digits")
    def digits(victim: Annotated[str, Query(min_length=1, max_length=256)] = "builtin",
               start: Annotated[int, Query(ge=0)] = 0, count: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
        return lab.digits(victim, start, count)

    @app.post("/api/attack")
    def attack(request: AttackRequest) -> dict:
        return lab.attack(request)


def add_front_end(app: FastAPI, static_dir: Path | None) -> None:
    """The front end at ``/`` when `static_dir` holds one; a page pointing at the API otherwise."""
    if static_dir is not None and (static_dir / "index.html").is_file():
        from starlette.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static_dir, html=True), name="front-end")
        return

    @app.get("/", response_class=HTMLResponse)
    def placeholder() -> str:
        return ("<!doctype html><title>advlab playground</title><h1>advlab playground</h1>"
                "<p>The pages are not installed; the API is: GET /api/health, /api/gan/options, /api/attack/victims, "
                "POST /api/attack, WebSocket /ws/gan (see advlab.playground.app).</p>")


# ---------------------------------------------------------------------- the GAN socket


def same_origin(websocket: WebSocket) -> bool:
    """No Origin (not a browser), or an Origin naming the host the page reached the server at."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


def add_gan_socket(app: FastAPI, sessions: SessionManager, limits: PlaygroundLimits) -> None:
    @app.websocket("/ws/gan")
    async def gan_socket(websocket: WebSocket):
        if not same_origin(websocket):
            await websocket.close(code=CLOSE_POLICY)
            return
        await websocket.accept()
        try:
            session = await asyncio.to_thread(sessions.open, "gan", GanGame, estimate_bytes(GanOptions()))
        except SessionRefused as error:
            await websocket.send_text(dumps({"type": "error", "message": str(error), "request": None, "fatal": True}))
            await websocket.close(code=CLOSE_TRY_AGAIN)
            return
        try:
            await GanSocket(websocket, session, sessions, limits).run()
        finally:
            sessions.close(session.id)


CLOSED = object()


class GanSocket:
    """One page's GAN session over its socket: a reader task queues the page's messages; this loop handles
    them in order and, while playing, trains a frame's steps in a worker thread and sends the frame."""

    def __init__(self, websocket: WebSocket, session: Session, sessions: SessionManager, limits: PlaygroundLimits):
        self.websocket, self.session, self.sessions, self.limits = websocket, session, sessions, limits
        self.queue: asyncio.Queue = asyncio.Queue(QUEUED_MESSAGES)
        self.next_frame = 0.0

    @property
    def game(self) -> GanGame:
        return self.session.state

    async def run(self) -> None:
        reader = asyncio.create_task(self.read())
        try:
            await self.send({"type": "hello", "session": self.session.id, "options": self.game.options.public(),
                             "live": sorted(LIVE_OPTIONS), "limits": self.limits.as_dict(), "protocol": PROTOCOL,
                             "download": f"/api/gan/{self.session.id}/generator.safetensors"})
            await self.send_frame()
            while True:
                message = await self.next_message()
                if message is CLOSED:
                    break
                if message is not None and not self.session.closed.is_set():
                    self.sessions.touch(self.session)
                    await self.handle(message)
                if self.sessions.expired(self.session) or self.session.closed.is_set():
                    await self.close_idle()
                    break
                if self.game.playing and time.monotonic() >= self.next_frame:
                    await self.guarded(self.play_frame(), None)
        except (WebSocketDisconnect, PageGone):
            pass  # the page went away (or stopped reading): the session ends
        finally:
            reader.cancel()

    async def close_idle(self) -> None:
        idle = self.session.expired or self.sessions.expired(self.session)
        await self.send({"type": "closing", "reason": "idle" if idle else "closed",
                         "message": f"no message for {self.limits.idle_timeout:g} s; session closed" if idle
                         else "the server closed this session"})
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close()

    async def read(self) -> None:
        """Queue the page's messages (text only, size-checked), then CLOSED."""
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await self.queue.put(BadMessage("send JSON text messages, not binary ones"))
                elif len(text) > self.limits.max_message_bytes or len(text.encode()) > self.limits.max_message_bytes:
                    await self.queue.put(BadMessage(f"message of {len(text.encode())} bytes is over the limit of "
                                                    f"{self.limits.max_message_bytes} bytes"))
                else:
                    await self.queue.put(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the socket is gone
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(CLOSED)

    async def next_message(self):
        """The next queued message, waiting until the next frame is due (playing) or a while (paused)."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.game.playing:
            wait = max(0.0, self.next_frame - time.monotonic())
        else:
            wait = min(1.0, self.sessions.idle_left(self.session) + 0.01)
        if wait <= 0:
            return None
        try:
            return await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return None

    # ------------------------------------------------------------------ handling one message

    async def handle(self, text) -> None:
        if isinstance(text, BadMessage):
            return await self.error(text.message, None)
        try:
            message = ControlMessage.validate_json(text)
        except ValidationError as error:
            errors = error.errors()
            request = peek_type(text)
            if is_malformed_json(errors):
                return await self.error(f"malformed JSON: {errors[0].get('msg')}", None)
            return await self.error(describe_errors(errors, "message")[0], request)
        await self.guarded(self.apply(message), message.type)

    async def guarded(self, work, request: str | None) -> None:
        """Run `work`; a refused value becomes an error message, and so does a bug (logged, training paused):
        neither ends the session nor touches another."""
        try:
            await work
        except ValidationError as error:
            await self.error(describe_errors(error.errors(), "options")[0], request)
        except AdvlabError as error:
            await self.error(str(error), request)
        except (WebSocketDisconnect, PageGone):
            raise
        except Exception as error:
            LOG.exception("playground session %s failed", self.session.id[:6])
            self.game.playing = False
            await self.error(f"internal error ({type(error).__name__}: {error}); training paused", request)

    async def apply(self, message) -> None:
        game = self.game
        if message.type == "play":
            if game.diverged:
                raise AdvlabError(f"training diverged at step {game.step}; reset or change the options first")
            game.playing, self.next_frame = True, time.monotonic()
            await self.send({"type": "status", "playing": True, "step": game.step})
        elif message.type == "pause":
            game.playing = False
            await self.send({"type": "status", "playing": False, "step": game.step})
        elif message.type == "step":
            game.playing = False
            if game.diverged:
                raise AdvlabError(f"training diverged at step {game.step}; reset or change the options first")
            await asyncio.to_thread(game.advance, 1)
            await self.send_frame()
        elif message.type == "reset":
            await asyncio.to_thread(game.reset)
            await self.send_frame()
        elif message.type == "set":
            await self.set_options(message.options)
        elif message.type == "frame":
            await self.send_frame()
        else:
            await self.send({"type": "pong"})

    async def set_options(self, changes: dict[str, Any]) -> None:
        """Validate, check the memory bound, apply (live or by a rebuild), answer with the options and a frame."""
        new = self.game.options.merged(changes)
        self.sessions.resize(self.session, estimate_bytes(new))
        try:
            reset = await asyncio.to_thread(self.game.update, changes)
        finally:
            self.sessions.refresh(self.session)
        await self.send({"type": "options", "options": self.game.options.public(), "reset": reset})
        await self.send_frame()

    async def play_frame(self) -> None:
        """Train steps_per_frame steps and send the frame; frames at most fps per second."""
        started = time.monotonic()
        text = await asyncio.to_thread(self.advance_and_render, self.game.options.steps_per_frame)
        self.next_frame = started + 1.0 / self.game.options.fps
        await self.send_text(text)
        if self.game.diverged:
            await self.error(f"training diverged at step {self.game.step} (a loss became NaN or infinite); reset, "
                             "or lower the learning rates", None)

    def advance_and_render(self, steps: int) -> str:
        self.game.advance(steps)
        return dumps(self.game.frame())

    # ------------------------------------------------------------------ sending

    async def send_frame(self) -> None:
        await self.send_text(await asyncio.to_thread(lambda: dumps(self.game.frame())))

    async def error(self, message: str, request: str | None) -> None:
        await self.send({"type": "error", "message": message, "request": request})

    async def send(self, message: dict) -> None:
        await self.send_text(dumps(message))

    async def send_text(self, text: str) -> None:
        try:
            await asyncio.wait_for(self.websocket.send_text(text), self.limits.send_timeout)
        except (TimeoutError, RuntimeError, OSError):  # too slow a reader, or a socket already closed
            raise PageGone from None


class BadMessage:
    def __init__(self, message: str):
        self.message = message


class PageGone(Exception):
    """The page stopped reading or its socket is closed."""


def peek_type(text: str) -> str | None:
    """The "type" of a message that failed validation, when it has a string one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and len(kind) <= 32 else None


def dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


__all__ = ["ControlMessage", "create_app"]
