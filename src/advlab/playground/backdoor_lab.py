"""The playground's backdoor lab: poison scikit-learn's 8x8 digits, watch a digits CNN learn the backdoor live, then
see how well it works and what Neural Cleanse finds.

The user picks a trigger -- one drawn on the page at the digits' own size, BadNets' corner patch or a blended key --
a poisoning rate in (0, ``MAX_RATE``] and a target class; the server plants the backdoor with advlab's own poisons
(``advlab.poisoning``), never new ones:

* ``badnets``: :class:`~advlab.poisoning.BadNets` (Gu et al. 2017, sec. 3.1): its default trigger on 8x8 digits, a
  3x3 checkerboard with white corners in the bottom-right corner, replaces the pixels of its box;
* ``drawn``: the same BadNets with the user's pattern: the drawing's 64 values (row by row, in [0, 1]) are cut to
  the bounding box of their ink (the non-zero pixels) and that box is stamped where it was drawn, at most
  ``MAX_TRIGGER_PIXELS`` pixels (a quarter of the digit);
* ``blended``: :class:`~advlab.poisoning.Blended` (Chen et al. 2017, sec. 4.2, x' = (1 - alpha) x + alpha k): its
  uniform-noise key (``key_seed`` 0) blended at ``alpha`` (default 0.2), at training and at test time.

The poison replaces round(rate x 1438) of the training rows (drawn from the non-target ones) with triggered copies
relabelled to the target. The data are the built-in digits victim's split (``advlab.metrics.features``: a
permutation seeded 0, 1438 training and 359 held-out digits); the network is that victim's
:class:`~advlab.models.SmallCNN` (width 32, hidden 128), initialised from the request's seed and trained with Adam
(lr ``LR``, minibatches of ``BATCH``, plain cross-entropy: ``advlab.pipelines.train_classifier.train_epoch``) for
``epochs`` passes (at most ``MAX_EPOCHS``). After every epoch the page's poll sees the training loss, the clean
accuracy on the 359 held-out digits, the attack success rate (ASR, ``advlab.poisoning.attack_success_rate``: the
share of the held-out digits not of the target class that the trigger sends to the target) and the model's
predictions on a row of triggered held-out digits (one of each class but the target).

Then Neural Cleanse (Wang et al. 2019, sec. IV; ``advlab.poisoning.detection.neural_cleanse``) reverses the
smallest trigger of every class on ``CLEANSE_IMAGES`` held-out digits and flags the classes whose mask's L1 norm
is below the median with a MAD anomaly index above 2. Its options are cut so that all ten classes take seconds on
8x8 digits (``CLEANSE_OPTIONS``: 20 epochs per class instead of the library's 30, lambda moved after 2 epochs
instead of 5, early stop after 4 epochs without a 1% smaller mask instead of 10), and lambda starts at 1e-2 instead
of 1e-3: an 8x8 mask's L1 norm is 16 times smaller than a 32x32 one's for the same share of the image; the page
says so. At 1e-3 a drawn 3x3 corner trigger (target 7, seed 0) went unflagged (anomaly index 1.15); at 1e-2 the
target was flagged in all 8 cases tried (BadNets, blended, drawn 2x2 and 3x3 corner patches, seeds 0-2; indices
2.4-7.5), with one clean class flagged beside it in 3 of them (at 1e-3: 1 of 8).

Measured on one CPU thread (this machine, shared by several jobs): 15 epochs take 3-8 s (clean accuracy 96-99%,
ASR 98-100% for those 8 cases at rate 0.1) and Neural Cleanse 2.5-4.5 s.

Bounds: each training is one session of :class:`~advlab.playground.sessions.SessionManager` (kind ``backdoor``,
the server's session count, memory and idle limits; one training per session: a new training is a new session),
at most ``concurrent`` trainings run at once (default ``CONCURRENT_TRAININGS``; more get 503 at once), closing a
session stops its training at the next epoch. Nothing is read from or written to disk beyond scikit-learn's
bundled digits.

HTTP (added to the app by :func:`backdoor_router`; bad input answers like the other pages: 422 a field of the
wrong type or out of range, an unknown field or kind, a trigger of the wrong size, an empty one or one too big;
404 an unknown session; 503 busy; ``{"error": "<one line>"}``)::

    GET    /api/backdoor/options  -> {"defaults": {...}, "limits": {...}, "cleanse": CLEANSE_OPTIONS + images,
                                      "shape": [1, 8, 8], "previews": {"badnets": [64], "blended_key": [64]},
                                      "schema": JSON Schema of BackdoorRequest}
    POST   /api/backdoor/train    {"kind": "drawn"|"badnets"|"blended", "trigger": [64 values] (drawn only),
                                   "alpha": (0, 1] (blended only), "rate": (0, 0.5], "target": 0..9,
                                   "epochs": 1..20, "cleanse": true, "seed": 0}
                                -> {"session": id, "poll": "/api/backdoor/<id>", **status}
    GET    /api/backdoor/{id}     -> status (below); each poll keeps the session alive
    DELETE /api/backdoor/{id}     -> {"closed": true}: stops the training and ends the session

A status (floats rounded to 4 decimals)::

    {"phase": "training" | "cleansing" | "done" | "stopped" | "failed", "message": str | null,
     "kind", "target", "rate", "alpha", "seed", "epoch": epochs done, "epochs", "cleanse": bool,
     "poisons": n, "train_rows": 1438, "held_out": 359, "shape": [1, 8, 8],
     "trigger": [64]                           the trigger stamped on a black digit (blended: alpha x key)
     "poisoned_examples": [{"pixels": [64], "label": its own, "poisoned_label": the target}]   (6)
     "history": {"epoch": [...], "loss": [...], "train_accuracy": [...], "clean_accuracy": [...], "asr": [...]},
     "clean_accuracy", "asr", "loss": the last epoch's (null before the first),
     "triggered": [{"pixels": [64] with the trigger, "label", "prediction": int | null}],
     "neural_cleanse": null | {"classes": [0..9], "norms": [10], "anomaly_index": [10], "flagged": [classes],
                               "threshold": 2.0, "attack_success": [10], "reached": [10], "epochs": [10],
                               "masks": [10 x 64], "triggers": [10 x 64] (mask x pattern: the reversed trigger
                               as stamped on a black digit), "seconds", "options": {...}},
     "seconds": since the training started, "training_seconds", "cleanse_seconds"}
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor
from tqdm import tqdm

from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.data import TensorData, load_digits_images
from advlab.defenses.robust_training import StandardTraining
from advlab.metrics.features import HELD_OUT_FRACTION, held_out_split
from advlab.models import SmallCNN
from advlab.pipelines.train_classifier import accuracy, train_epoch
from advlab.playground.attack_lab import Busy, frozen
from advlab.playground.gan_game import number, rounded
from advlab.playground.sessions import MEGABYTE, SessionManager, SessionRefused
from advlab.poisoning import Backdoor, BadNets, Blended, attack_success_rate
from advlab.poisoning.detection import neural_cleanse

SIDE = 8  # scikit-learn's digits are 8x8
PIXELS = SIDE * SIDE
CLASSES = 10
KINDS = ("drawn", "badnets", "blended")
MAX_RATE = 0.5
DEFAULT_RATE = 0.1
DEFAULT_ALPHA = 0.2  # Chen et al.'s blend ratio for a random-noise key
MAX_TRIGGER_PIXELS = PIXELS // 4  # a drawn trigger's box
MAX_EPOCHS = 20
DEFAULT_EPOCHS = 15
BATCH = 64
LR = 2e-3
DATA_SEED = 0  # the built-in digits victim's split (advlab.metrics.features, recipe seed 0)
CONCURRENT_TRAININGS = 2
CLEANSE_IMAGES = 200  # held-out digits Neural Cleanse optimises on
CLEANSE_OPTIONS = {"epochs": 20, "batch": 32, "init_cost": 1e-2, "patience": 2, "early_stop_patience": 4}
LIBRARY_CLEANSE = {"epochs": 30, "batch": 32, "init_cost": 1e-3, "patience": 5, "early_stop_patience": 10}
SHOWN_POISONS = 6
SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"  # as advlab.playground.app's (secrets.token_urlsafe(16))
SESSION_KIND = "backdoor"
_INIT_LOCK = threading.Lock()  # seeded initialisation borrows torch's global generator

Pixel = Annotated[float, Field(ge=0, le=1)]
SessionId = Annotated[str, PathParam(pattern=SESSION_ID)]


class BackdoorRequest(BaseModel):
    """One training the lab asks for (strict JSON types; unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    kind: Literal["drawn", "badnets", "blended"] = Field(
        "badnets", description="the trigger: the user's drawing, BadNets' corner patch, or a blended noise key")
    trigger: list[Pixel] | None = Field(None, max_length=4 * PIXELS,
                                        description=f"kind 'drawn': the drawing, {PIXELS} values in [0, 1] row by "
                                                    f"row ({SIDE}x{SIDE}); its ink's box is the patch")
    alpha: float | None = Field(None, gt=0, le=1,
                                description=f"kind 'blended': the blend ratio (default {DEFAULT_ALPHA})")
    rate: float = Field(DEFAULT_RATE, gt=0, le=MAX_RATE, description="share of the training rows poisoned")
    target: int = Field(0, description=f"the class triggered digits are sent to, 0..{CLASSES - 1}")
    epochs: int = Field(DEFAULT_EPOCHS, ge=1, le=MAX_EPOCHS, description="passes over the poisoned training set")
    cleanse: bool = Field(True, description="run Neural Cleanse on the trained model")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seeds the poisoned rows, the network and the shuffling")

    @field_validator("target")
    @classmethod
    def _target_in_range(cls, value: int) -> int:
        if not 0 <= value < CLASSES:
            raise ValueError(f"target class {value} is out of range: the digits have classes 0..{CLASSES - 1}")
        return value

    @model_validator(mode="after")
    def _trigger_fits_kind(self) -> BackdoorRequest:
        if self.kind != "drawn" and self.trigger is not None:
            raise ValueError(f"'trigger' is the drawing of kind 'drawn'; kind {self.kind!r} brings its own")
        if self.kind != "blended" and self.alpha is not None:
            raise ValueError("'alpha' is the blend ratio of kind 'blended'")
        if self.kind == "drawn":
            check_drawing(self.trigger)
        return self


def check_drawing(values: list[float] | None) -> None:
    """A drawn trigger: PIXELS values with some ink whose box is at most MAX_TRIGGER_PIXELS; else a ValueError."""
    if values is None:
        raise ValueError(f"kind 'drawn' needs 'trigger': the drawing's {PIXELS} values in [0, 1], row by row")
    if len(values) != PIXELS:
        raise ValueError(f"trigger: {len(values)} values; a trigger is drawn at the digits' size, {SIDE}x{SIDE}: "
                         f"give {PIXELS} values in [0, 1], row by row")
    box = ink_box(torch.tensor(values).reshape(SIDE, SIDE))
    if box is None:
        raise ValueError("the trigger is empty: draw at least one pixel")
    _, _, height, width = box
    if height * width > MAX_TRIGGER_PIXELS:
        raise ValueError(f"the trigger's box is {height}x{width} = {height * width} pixels; keep it within "
                         f"{MAX_TRIGGER_PIXELS} of the digit's {PIXELS} (a quarter), e.g. a corner")


def ink_box(drawing: Tensor) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the smallest box holding every non-zero pixel of `drawing` (H, W); None if
    there is none."""
    rows, columns = drawing.nonzero(as_tuple=True)
    if not len(rows):
        return None
    top, left = int(rows.min()), int(columns.min())
    return top, left, int(rows.max()) - top + 1, int(columns.max()) - left + 1


def make_backdoor(request: BackdoorRequest) -> Backdoor:
    """advlab's poison for the request: BadNets (its default patch, or the drawing's box) or Blended."""
    if request.kind == "blended":
        return Blended(target=request.target, rate=request.rate, alpha=request.alpha or DEFAULT_ALPHA)
    if request.kind == "badnets":
        return BadNets(target=request.target, rate=request.rate)
    drawing = torch.tensor(request.trigger, dtype=torch.float32).reshape(SIDE, SIDE)
    top, left, height, width = ink_box(drawing)
    return BadNets(target=request.target, rate=request.rate, pattern=drawing[None, top:top + height, left:left + width],
                   top=top, left=left)


# ---------------------------------------------------------------------- data and network


@dataclass(frozen=True)
class DigitsSplit:
    train_images: Tensor  # (1438, 1, 8, 8) in [0, 1]
    train_labels: Tensor
    test_images: Tensor  # (359, 1, 8, 8): clean accuracy, ASR, the triggered row and Neural Cleanse's images
    test_labels: Tensor


@functools.lru_cache(maxsize=1)
def digits_split() -> DigitsSplit:
    """The built-in digits victim's split of scikit-learn's digits (a permutation seeded DATA_SEED, 20% held out)."""
    data = load_digits_images()
    train_rows, test_rows = held_out_split(len(data.labels), HELD_OUT_FRACTION, torch.Generator().manual_seed(
        DATA_SEED))
    return DigitsSplit(data.data[train_rows], data.labels[train_rows], data.data[test_rows], data.labels[test_rows])


def seeded_network(seed: int) -> SmallCNN:
    """The digits victim's SmallCNN (width 32, hidden 128) initialised from `seed` (torch's global generator is
    borrowed under a lock and given back)."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallCNN(image_size=SIDE)


@functools.lru_cache(maxsize=1)
def estimate_bytes() -> int:
    """What one training holds: the network's weights, gradients and Adam's two moments, three copies of the
    digits (clean, poisoned, the evaluations' batches) and a megabyte of buffers and records."""
    parameters = sum(parameter.numel() for parameter in SmallCNN(image_size=SIDE).parameters())
    data = digits_split()
    images = data.train_images.numel() + data.test_images.numel()
    return 4 * parameters * 4 + 3 * images * 4 + MEGABYTE


def previews() -> dict[str, list]:
    """The built-in triggers as the page shows them: BadNets' patch on a black digit and the blended key."""
    black = torch.zeros(1, 1, SIDE, SIDE)
    blended = Blended(target=0, rate=DEFAULT_RATE)
    return {"badnets": rounded(BadNets(target=0, rate=DEFAULT_RATE).apply_trigger(black).flatten()),
            "blended_key": rounded(blended.key_pattern(black).flatten())}


def shown_digits(labels: Tensor, target: int) -> Tensor:
    """Rows of the first held-out digit of every class but `target`, in class order."""
    return torch.stack([(labels == value).nonzero()[0, 0] for value in range(CLASSES) if value != target])


# ---------------------------------------------------------------------- one training (a session's state)


class BackdoorTraining:
    """One poisoned training and its Neural Cleanse, run by :meth:`run` in a thread; :meth:`status` is what the
    page polls. The session manager calls :meth:`close` when the session ends: the training stops at the next
    epoch (or before Neural Cleanse)."""

    def __init__(self, request: BackdoorRequest):
        self.request = request
        self.backdoor = make_backdoor(request)
        data = digits_split()
        self.data = data
        self.poisoned = self.backdoor.poison(data.train_images, data.train_labels, seed=request.seed)
        self.network = seeded_network(request.seed)
        self.shown = shown_digits(data.test_labels, request.target)
        self.triggered_images = self.backdoor.apply_trigger(data.test_images[self.shown])
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.phase, self.message, self.epoch = "training", None, 0
        self.history: dict[str, list] = {"epoch": [], "loss": [], "train_accuracy": [], "clean_accuracy": [],
                                         "asr": []}
        self.predictions: list[int] | None = None
        self.cleansed: dict[str, Any] | None = None
        self.started, self.trained, self.finished = time.monotonic(), None, None
        self.fixed = self.fixed_pictures()

    def memory_bytes(self) -> int:
        return estimate_bytes()

    def close(self) -> None:
        self.stopping.set()

    # ------------------------------------------------------------------ the work

    def run(self, finished: Callable[[], Any] | None = None) -> None:
        """Train, then (if asked) Neural Cleanse; `finished()` is called at the end whatever happened."""
        try:
            self.train()
            if self.request.cleanse and not self.stopping.is_set():
                self.set_phase("cleansing")
                self.cleanse()
            self.set_phase("stopped" if self.stopping.is_set() else "done")
        except Exception as error:  # reported on the page; the server and other sessions go on
            self.set_phase("failed", f"the training failed ({type(error).__name__}: {error})")
        finally:
            self.finished = time.monotonic()
            if finished is not None:
                finished()

    def train(self) -> None:
        """`epochs` passes of Adam over the poisoned training set, the figures recorded after each."""
        request, data = self.request, self.data
        training = TensorData(self.poisoned.images, self.poisoned.labels, "digits")
        optimizer = torch.optim.Adam(self.network.parameters(), lr=LR)
        shuffler = make_generator(request.seed + 1, torch.device("cpu"))
        quiet = tqdm(disable=True)
        for epoch in range(1, request.epochs + 1):
            if self.stopping.is_set():
                break
            order = torch.randperm(len(training.labels), generator=shuffler)
            self.network.train()
            sums = train_epoch(self.network, optimizer, StandardTraining(), training, order, BATCH, shuffler, quiet)
            if sums is None:
                raise RuntimeError(f"the loss became NaN or infinite in epoch {epoch}")
            loss_sum, correct, seen = sums
            self.record(epoch, loss_sum / seen, correct / seen,
                        accuracy(self.network, data.test_images, data.test_labels),
                        attack_success_rate(self.network, self.backdoor, data.test_images, data.test_labels, CLASSES))
        frozen(self.network)
        self.trained = time.monotonic()

    def record(self, epoch: int, loss: float, train_accuracy: float, clean_accuracy: float, asr: float) -> None:
        with evaluating(self.network), torch.no_grad():
            predictions = self.network(self.triggered_images).argmax(1).tolist()
        with self.lock:
            for name, value in (("epoch", epoch), ("loss", number(loss, 4)), ("train_accuracy", number(
                    train_accuracy, 4)), ("clean_accuracy", number(clean_accuracy, 4)), ("asr", number(asr, 4))):
                self.history[name].append(value)
            self.epoch, self.predictions = epoch, predictions

    def cleanse(self) -> None:
        """Neural Cleanse on CLEANSE_IMAGES held-out digits with CLEANSE_OPTIONS; every class's reversed trigger."""
        images, labels = self.data.test_images[:CLEANSE_IMAGES], self.data.test_labels[:CLEANSE_IMAGES]
        found = neural_cleanse(self.network, images, labels, seed=self.request.seed, **CLEANSE_OPTIONS)
        extras = found.extras
        masks, patterns = extras["masks"], extras["patterns"]
        cleansed = {"classes": extras["classes"], "norms": rounded(extras["norms"]),
                    "anomaly_index": rounded(extras["anomaly_index"]), "flagged": extras["flagged_classes"],
                    "threshold": found.threshold, "attack_success": rounded(extras["attack_success"]),
                    "reached": extras["reached"].tolist(), "epochs": extras["epochs"].tolist(),
                    "masks": rounded(masks.flatten(1)), "triggers": rounded((masks * patterns).flatten(1)),
                    "seconds": number(extras["seconds"], 3), "options": cleanse_settings()}
        with self.lock:
            self.cleansed = cleansed

    def set_phase(self, phase: str, message: str | None = None) -> None:
        with self.lock:
            self.phase, self.message = phase, message

    # ------------------------------------------------------------------ what the page polls

    def fixed_pictures(self) -> dict[str, Any]:
        """The pictures that do not change while training: the trigger, some poisoned rows, the triggered row."""
        rows = self.poisoned.indices[:SHOWN_POISONS]
        black = torch.zeros(1, 1, SIDE, SIDE)
        return {"trigger": rounded(self.backdoor.apply_trigger(black).flatten()),
                "poisoned_examples": [{"pixels": rounded(self.poisoned.images[row].flatten()),
                                       "label": int(self.data.train_labels[row]),
                                       "poisoned_label": int(self.poisoned.labels[row])} for row in rows.tolist()],
                "triggered_pixels": [rounded(image.flatten()) for image in self.triggered_images],
                "triggered_labels": self.data.test_labels[self.shown].tolist()}

    def status(self) -> dict[str, Any]:
        request, now = self.request, time.monotonic()
        with self.lock:
            history = {name: list(values) for name, values in self.history.items()}
            phase, message, epoch, predictions, cleansed = (self.phase, self.message, self.epoch, self.predictions,
                                                            self.cleansed)
        last = {name: (values[-1] if values else None) for name, values in history.items()}
        fixed = self.fixed
        predicted = predictions or [None] * len(fixed["triggered_labels"])
        ended = self.finished or now
        return {
            "phase": phase, "message": message, "kind": request.kind, "target": request.target, "rate": request.rate,
            "alpha": (request.alpha or DEFAULT_ALPHA) if request.kind == "blended" else None, "seed": request.seed,
            "epoch": epoch, "epochs": request.epochs, "cleanse": request.cleanse,
            "poisons": len(self.poisoned.indices), "train_rows": len(self.poisoned.labels),
            "held_out": len(self.data.test_labels), "shape": [1, SIDE, SIDE],
            "trigger": fixed["trigger"], "poisoned_examples": fixed["poisoned_examples"],
            "history": history, "clean_accuracy": last["clean_accuracy"], "asr": last["asr"], "loss": last["loss"],
            "triggered": [{"pixels": pixels, "label": label, "prediction": prediction} for pixels, label, prediction
                          in zip(fixed["triggered_pixels"], fixed["triggered_labels"], predicted)],
            "neural_cleanse": cleansed,
            "seconds": round(ended - self.started, 3),
            "training_seconds": None if self.trained is None else round(self.trained - self.started, 3),
            "cleanse_seconds": None if cleansed is None else cleansed["seconds"],
        }


def cleanse_settings() -> dict[str, Any]:
    """Neural Cleanse's options here, beside the library's defaults they replace."""
    return {**CLEANSE_OPTIONS, "images": CLEANSE_IMAGES, "anomaly_threshold": 2.0,
            "library_defaults": LIBRARY_CLEANSE}


# ---------------------------------------------------------------------- the lab and its routes


class BackdoorLab:
    """Starts trainings as sessions of `sessions` (kind "backdoor"), at most `concurrent` running at once."""

    def __init__(self, sessions: SessionManager, concurrent: int = CONCURRENT_TRAININGS):
        self.sessions = sessions
        self.concurrent = concurrent
        self.turns = threading.BoundedSemaphore(concurrent)

    def options(self) -> dict[str, Any]:
        return {"defaults": BackdoorRequest().model_dump(), "shape": [1, SIDE, SIDE],
                "limits": {"max_rate": MAX_RATE, "max_epochs": MAX_EPOCHS, "classes": CLASSES,
                           "trigger_values": PIXELS, "max_trigger_pixels": MAX_TRIGGER_PIXELS,
                           "concurrent_trainings": self.concurrent, "default_alpha": DEFAULT_ALPHA},
                "cleanse": cleanse_settings(), "previews": previews(),
                "schema": BackdoorRequest.model_json_schema()}

    def train(self, request: BackdoorRequest) -> dict[str, Any]:
        """A new session training on the poisoned digits (in a thread); its id and first status."""
        if not self.turns.acquire(blocking=False):
            raise Busy(f"{self.concurrent} trainings are running, the most this server runs at once; try again in "
                       "a few seconds")
        try:
            session = self.sessions.open(SESSION_KIND, lambda: BackdoorTraining(request), estimate_bytes())
        except SessionRefused as error:
            self.turns.release()
            raise Busy(str(error)) from None
        except BaseException:
            self.turns.release()
            raise
        training: BackdoorTraining = session.state
        threading.Thread(target=training.run, args=(self.turns.release,), name=f"advlab-backdoor-{session.id[:6]}",
                         daemon=True).start()
        return {"session": session.id, "poll": f"/api/backdoor/{session.id}", **training.status()}

    def status(self, session_id: str) -> dict[str, Any] | None:
        """The session's status (the poll keeps it alive); None when there is no such session."""
        try:
            session = self.sessions.get(session_id, SESSION_KIND)
        except KeyError:
            return None
        self.sessions.touch(session)
        return {"session": session_id, **session.state.status()}

    def close(self, session_id: str) -> bool:
        try:
            self.sessions.get(session_id, SESSION_KIND)
        except KeyError:
            return False
        return self.sessions.close(session_id)


def no_session() -> JSONResponse:
    return JSONResponse({"error": "no such backdoor training (it was closed, expired or never was); train again"},
                        status_code=404)


def backdoor_router(lab: BackdoorLab) -> APIRouter:
    """The backdoor lab's routes (see the module docstring); the app adds them beside the other pages'."""
    router = APIRouter()

    @router.get("/api/backdoor/options")
    def options() -> dict:
        return lab.options()

    @router.post("/api/backdoor/train")
    def train(request: BackdoorRequest) -> dict:
        return lab.train(request)

    @router.get("/api/backdoor/{session_id}")
    def status(session_id: SessionId):
        found = lab.status(session_id)
        return no_session() if found is None else found

    @router.delete("/api/backdoor/{session_id}")
    def close(session_id: SessionId):
        return {"closed": True} if lab.close(session_id) else no_session()

    return router


__all__ = ["CLEANSE_OPTIONS", "MAX_EPOCHS", "MAX_RATE", "BackdoorLab", "BackdoorRequest", "BackdoorTraining",
           "backdoor_router", "make_backdoor"]
