"""One 2-D GAN game of the playground's GAN page, played by advlab's own trainer, after GAN Lab.

Kahng, Thorat, Chau, Viegas & Wattenberg 2018, "GAN Lab: Understanding complex deep generative models using
interactive visual experimentation" (IEEE VIS): a generator and a discriminator, both small MLPs, learn a 2-D
distribution while the page shows the real and generated points, the discriminator's output as a heatmap over the
plane, the generator's transform of the noise space (a warped grid), the gradient arrows on the generated points,
the loss curves and the KL/JS divergence between the real and generated densities on a grid.

The game is Algorithm 1 of Goodfellow et al. 2014 as :class:`advlab.gan.trainer.GANTrainer` plays it (k D-steps
per G-step), with the house's networks (:func:`advlab.pipelines.gan.gan_setup.build_generator`/``build_discriminator``:
``MLPGenerator``/``MLPDiscriminator``), optimisers (``build_optimizer``: Adam, or SGD with momentum 0.9) and
losses (``advlab.gan.losses``: minimax, nonsaturating, least-squares, hinge, wgan-gp with the toy-problem settings
of Gulrajani et al.'s code, lambda 0.1 and Adam(0.5, 0.9)). What the page may change is :class:`GanOptions`.
Learning rates, k and the frame pacing change *live*: the optimisers' param groups are updated and training
goes on (step count and weights kept); any other change rebuilds the game from its seed.

Data: ring8, grid25 and the spiral (advlab.data.toy2d; modes covered and the high-quality fraction of
``advlab.metrics.mode_coverage`` are shown for the first two), points drawn on the page
(in the canvas square [-1, 1]^2) and the user's CSV of 2-D points (GAN Lab's issue #10), which is moved and
scaled into [-1, 1]^2 for training; the exported generator undoes that map, so it draws in the CSV's units.

Frames (:meth:`GanGame.frame`) are plain JSON-able dicts with floats rounded; their fields are listed in
``advlab.playground.app``'s docstring. The divergences: the plane within the frame's bounds is cut into
``HIST_BINS`` x ``HIST_BINS`` cells plus one cell for everything outside; p is the histogram of a fixed real
sample, q that of a fixed generated sample (each normalised); JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m),
m = (p + q) / 2, and KL(p || q) with ``SMOOTHING`` pseudo-counts added to every cell of both histograms (so that
a cell that G misses costs a finite amount); natural logarithms.

The generator downloads as one safetensors file (:meth:`GanGame.export_generator`), read back by
:func:`advlab.models.generator_file.load_generator` (re-exported here); the format is described there.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import threading
import time
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn

from advlab.core.checkpoints import module_state
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.data import TOY2D, GaussianMixture2D, Spiral2D, TensorData
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer, sample_noise
from advlab.metrics.modes import mode_coverage
from advlab.models.generator_file import GENERATOR_FORMAT, load_generator
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.gan_setup import build_discriminator, build_generator, build_optimizer

MAX_POINTS = 5000  # points drawn on the page or rows of a CSV
MIN_POINTS = 2
MAX_CSV_CHARS = 200_000
CANVAS = 1.0  # drawn points lie in [-CANVAS, CANVAS]^2
BOUNDS = {"ring8": 1.5, "grid25": 6.0, "spiral": 1.25, "points": 1.25, "csv": 1.25}  # half-width of the view
REAL_POINTS = 256  # real points shown (all of the user's when there are at most SHOW_ALL)
SHOW_ALL = 500
GENERATED_POINTS = 256  # generated points shown, from fixed noise, with their gradient arrows
METRIC_SAMPLES = 1000  # generated samples behind the mode counts and the divergences
REAL_HIST_SAMPLES = 5000
GRID = 40  # the discriminator's heatmap is GRID x GRID
HIST_BINS = 20
SMOOTHING = 0.01  # pseudo-count per histogram cell for KL
MANIFOLD_LINES, MANIFOLD_POINTS, CURVE_POINTS = 11, 21, 101
ARROW_FRACTION = 0.08  # the longest gradient arrow, as a fraction of the view's width
HISTORY_POINTS = 256  # loss history kept (decimated by 2 when full)
DECIMALS = 4
LIVE_OPTIONS = frozenset({"lr_g", "lr_d", "k", "steps_per_frame", "fps"})
BASE_BYTES = 1 << 20  # buffers of a frame, the fixed samples, Python objects
_INIT_LOCK = threading.Lock()  # seeded initialisation borrows torch's global generator

Point = Annotated[list[float], Field(min_length=2, max_length=2)]


# ---------------------------------------------------------------------- options


class GanOptions(BaseModel):
    """Everything the GAN page can choose; unknown keys and wrong types are refused (strict JSON types).

    ``lr_g``, ``lr_d``, ``k``, ``steps_per_frame`` and ``fps`` change live; anything else resets the game.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    data: Literal["ring8", "grid25", "spiral", "points", "csv"] = "ring8"
    points: list[Point] | None = Field(None, max_length=MAX_POINTS,
                                       description="data 'points': the drawn points, each [x, y] in [-1, 1]")
    csv: str | None = Field(None, max_length=MAX_CSV_CHARS,
                            description="data 'csv': text with one 'x,y' per line (a header line is skipped)")
    loss: Literal["minimax", "nonsaturating", "least-squares", "hinge", "wgan-gp"] = "nonsaturating"
    k: int = Field(1, ge=1, le=10, description="discriminator steps per generator step")
    lr_g: float = Field(1e-3, gt=0, le=1)
    lr_d: float = Field(1e-3, gt=0, le=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    noise_dim: int = Field(2, ge=1, le=2)
    noise: Literal["uniform", "gaussian"] = "uniform"
    g_layers: int = Field(2, ge=1, le=6, description="hidden layers of the generator")
    g_width: int = Field(64, ge=2, le=256)
    d_layers: int = Field(2, ge=1, le=6, description="hidden layers of the discriminator")
    d_width: int = Field(64, ge=2, le=256)
    batch_size: int = Field(128, ge=8, le=1024)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    steps_per_frame: int = Field(10, ge=1, le=100, description="training steps between two frames (speed)")
    fps: int = Field(30, ge=1, le=60, description="most frames per second while playing (slow motion: low)")

    @model_validator(mode="after")
    def _data_fields(self) -> GanOptions:
        if self.data == "points" and self.points is None:
            raise ValueError("data 'points' needs 'points': a list of [x, y] pairs")
        if self.data == "csv" and self.csv is None:
            raise ValueError("data 'csv' needs 'csv': the text of the file")
        for name in ("points", "csv"):
            if self.data != name and getattr(self, name) is not None:
                raise ValueError(f"'{name}' is only for data '{name}', not {self.data!r}")
        return self

    def public(self) -> dict[str, Any]:
        """The options as the page sees them back: without the (possibly large) points and CSV text."""
        return self.model_dump(exclude={"points", "csv"})

    def merged(self, changes: dict[str, Any]) -> GanOptions:
        """These options with `changes` applied, validated; the user's points or CSV are dropped when the data
        stops being theirs."""
        values = {**self.model_dump(), **changes}
        for name in ("points", "csv"):
            if values["data"] != name and name not in changes:
                values[name] = None
        return GanOptions.model_validate(values)


def estimate_bytes(options: GanOptions) -> int:
    """Memory a game with `options` holds: weights, gradients and optimiser moments of both players, their
    activations for one step (D sees real and generated batches; WGAN-GP's double backward), data and buffers."""
    moments = 2 if options.optimizer == "adam" else 1
    g = mlp_parameters(options.noise_dim, 2, options.g_width, options.g_layers)
    d = mlp_parameters(2, 1, options.d_width, options.d_layers)
    activations = 6 * options.batch_size * (options.g_width * options.g_layers
                                            + 2 * options.d_width * options.d_layers)
    data = 4 * 2 * (len(options.points or ()) + (options.csv or "").count("\n") + 1)
    return 4 * ((2 + moments) * (g + d) + activations) + data + BASE_BYTES


def mlp_parameters(inputs: int, outputs: int, width: int, layers: int) -> int:
    """Weights and biases of advlab.models.mlp's network: `layers` hidden layers of `width`."""
    return inputs * width + width + (layers - 1) * (width * width + width) + width * outputs + outputs


# ---------------------------------------------------------------------- data


def parse_csv_points(text: str) -> Tensor:
    """(N, 2) float32 points from CSV text: one 'x,y' per line (comma, semicolon, tab or spaces); blank lines,
    '#' comments and one header line before the first row are skipped. Anything else is an AdvlabError naming
    the line."""
    rows: list[list[float]] = []
    first = first_content_line(text)
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field for field in re.split(r"[,;\s]+", line) if field]
        try:
            values = [float(field) for field in fields]
        except ValueError:
            if number == first:
                continue  # a header
            raise AdvlabError(f"CSV line {number}: expected two numbers x,y, got {line[:40]!r}") from None
        if len(values) != 2:
            raise AdvlabError(f"CSV line {number}: expected 2 columns (x, y), found {len(values)}")
        if not all(math.isfinite(value) for value in values):
            raise AdvlabError(f"CSV line {number}: coordinates must be finite numbers, got {line[:40]!r}")
        rows.append(values)
        if len(rows) > MAX_POINTS:
            raise AdvlabError(f"the CSV holds more than {MAX_POINTS} points; give at most {MAX_POINTS}")
    if len(rows) < MIN_POINTS:
        raise AdvlabError(f"the CSV holds {len(rows)} points; give at least {MIN_POINTS} rows of x,y")
    return torch.tensor(rows, dtype=torch.float32)


def first_content_line(text: str) -> int:
    """The number of the first line of `text` that is neither blank nor a comment (0 if none)."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return number
    return 0


def fit_square(points: Tensor) -> tuple[Tensor, float]:
    """(centre, scale) with (points - centre) / scale inside [-1, 1]^2, touching it, aspect kept."""
    low, high = points.min(0).values, points.max(0).values
    centre = (low + high) / 2
    scale = float((high - low).max()) / 2
    return centre, scale if scale > 0 else 1.0


def make_data(options: GanOptions) -> tuple[Any, tuple[Tensor, float] | None]:
    """(data source, (centre, scale) of the map applied to CSV data or None)."""
    if options.data in TOY2D:
        return TOY2D[options.data](), None
    if options.data == "points":
        points = torch.tensor(options.points, dtype=torch.float32)
        if len(points) < MIN_POINTS:
            raise AdvlabError(f"draw at least {MIN_POINTS} points (got {len(points)})")
        if points.abs().max() > CANVAS:
            raise AdvlabError(f"drawn points must lie in the canvas [-{CANVAS:g}, {CANVAS:g}]^2; found "
                              f"{float(points.abs().max()):.4g}")
        return TensorData(points, None, "points"), None
    points = parse_csv_points(options.csv)
    centre, scale = fit_square(points)
    return TensorData((points - centre) / scale, None, "csv"), (centre, scale)


# ---------------------------------------------------------------------- the game


class GanGame:
    """A GAN game that a page plays: build from :class:`GanOptions`, train, render frames, export G.

    Thread-safe: every public method holds the game's lock (training runs in a worker thread while the
    download endpoint may copy the generator).
    """

    def __init__(self, options: GanOptions | None = None):
        self.lock = threading.RLock()
        self.closed = False
        self.options = options or GanOptions()
        self.build(make_data(self.options))

    # ------------------------------------------------------------------ building

    def build(self, data: tuple[Any, tuple[Tensor, float] | None]) -> None:
        """(Re)build players, optimisers and the fixed samples from the options and their seed, on `data`
        (what make_data made of the options)."""
        options = self.options
        self.data, self.csv_map = data
        config = trainer_config(options)
        generator, discriminator = players(options, config)
        self.trainer = GANTrainer(
            generator=generator, discriminator=discriminator,
            loss=make_loss(config.loss, config.gp_weight, config.drift), data=self.data,
            optimizer_g=build_optimizer(config, generator.parameters(), config.lr_g),
            optimizer_d=build_optimizer(config, discriminator.parameters(), config.lr_d),
            sampler=make_generator(options.seed, torch.device("cpu")), z_dim=options.noise_dim,
            batch_size=options.batch_size, k=options.k, noise=options.noise)
        self.playing, self.diverged = False, False
        self.history: dict[str, list] = {"step": [], "d_loss": [], "g_loss": []}
        self.stride = 1
        self.steps_per_second = 0.0
        self.fixed_samples()

    def fixed_samples(self) -> None:
        """The samples every frame reuses, drawn from a generator of their own (seed + 1), so that the points
        shown move only because G moves."""
        draw = make_generator(self.options.seed + 1, torch.device("cpu"))
        if isinstance(self.data, TensorData) and len(self.data) <= SHOW_ALL:
            self.real_shown = self.data.data
        else:
            self.real_shown = self.data.sample(REAL_POINTS, draw)
        real_hist = self.data.data if isinstance(self.data, TensorData) else self.data.sample(REAL_HIST_SAMPLES, draw)
        self.noise_shown = sample_noise(GENERATED_POINTS, self.options.noise_dim, self.options.noise, draw)
        self.noise_metric = sample_noise(METRIC_SAMPLES, self.options.noise_dim, self.options.noise, draw)
        self.half = BOUNDS[self.options.data]
        self.real_counts = histogram(real_hist, self.half)
        self.grid_points = plane_grid(self.half, GRID)
        self.noise_lines = noise_grid(self.options.noise_dim, self.options.noise)
        self.real_json = rounded(self.real_shown, DECIMALS)

    def reset(self) -> None:
        """Back to step 0: the same options, the same seed, so the same start."""
        with self.lock:
            self.build((self.data, self.csv_map))

    def update(self, changes: dict[str, Any]) -> bool:
        """Apply option `changes`; True when they reset the game, False when they applied live. Invalid changes
        (a ValidationError or an AdvlabError, e.g. a bad CSV) leave the game exactly as it was."""
        with self.lock:
            new = self.options.merged(changes)
            changed = {name for name in type(new).model_fields if getattr(new, name) != getattr(self.options, name)}
            if not changed - LIVE_OPTIONS:
                self.options = new
                self.apply_live()
                return False
            data = make_data(new) if changed & {"data", "points", "csv"} else (self.data, self.csv_map)
            playing = self.playing
            self.options = new
            self.build(data)
            self.playing = playing
            return True

    def apply_live(self) -> None:
        """Learning rates into the optimisers' param groups and k into the trainer; weights and step stay."""
        for optimizer, lr in ((self.trainer.optimizer_g, self.options.lr_g),
                              (self.trainer.optimizer_d, self.options.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr
        self.trainer.k = self.options.k

    def memory_bytes(self) -> int:
        return estimate_bytes(self.options)

    def close(self) -> None:
        """The page is gone: stop, and stop any steps still running (within one step)."""
        self.playing, self.closed = False, True

    # ------------------------------------------------------------------ training

    @property
    def step(self) -> int:
        return self.trainer.step

    def advance(self, steps: int) -> None:
        """`steps` iterations of Algorithm 1 (each k D-steps and one G-step); the loss history is recorded on
        every `stride`-th step. A non-finite loss stops play and marks the game diverged."""
        with self.lock:
            if self.diverged:
                return
            start = time.perf_counter()
            for _ in range(steps):
                if self.closed:
                    break
                record = self.trainer.step % self.stride == 0
                step = self.trainer.step
                stats = self.trainer.train_iteration(record)
                if record:
                    self.remember(step, stats["d_loss"], stats["g_loss"])
            seconds = time.perf_counter() - start
            self.steps_per_second = steps / seconds if seconds > 0 else 0.0
            if not self.trainer.check_finite():
                self.playing, self.diverged = False, True

    def remember(self, step: int, d_loss: float, g_loss: float) -> None:
        history = self.history
        history["step"].append(step)
        history["d_loss"].append(number(d_loss))
        history["g_loss"].append(number(g_loss))
        if len(history["step"]) >= HISTORY_POINTS:  # keep every other point, record half as often
            for name in history:
                history[name] = history[name][::2]
            self.stride *= 2

    # ------------------------------------------------------------------ frames

    def frame(self) -> dict[str, Any]:
        """The state the page draws; field by field in advlab.playground.app's docstring."""
        with self.lock:
            generator, discriminator, loss = self.trainer.generator, self.trainer.discriminator, self.trainer.loss
            with torch.no_grad():
                generated = generator(self.noise_shown)
                metric_points = generator(self.noise_metric)
                scores = discriminator(self.grid_points)
                lines = generator(self.noise_lines.reshape(-1, self.options.noise_dim)).reshape(
                    *self.noise_lines.shape[:2], 2)
            heat = loss.probability(scores)
            arrows, largest = gradient_arrows(generated, discriminator, loss, self.half)
            return {
                "type": "frame", "step": self.trainer.step, "playing": self.playing, "diverged": self.diverged,
                "bounds": [-self.half, self.half, -self.half, self.half],
                "real": self.real_json, "generated": rounded(generated, DECIMALS),
                "discriminator": {"size": [GRID, GRID], "values": rounded(heat, DECIMALS),
                                  "probability": loss.sigmoid_output,
                                  "min": number(heat.min(), DECIMALS), "max": number(heat.max(), DECIMALS)},
                "manifold": rounded(lines, DECIMALS),
                "gradients": rounded(arrows, DECIMALS), "gradient_max": number(largest),
                "history": {name: list(values) for name, values in self.history.items()},
                "metrics": self.metrics(metric_points),
                "steps_per_second": round(self.steps_per_second, 1),
            }

    def metrics(self, points: Tensor) -> dict[str, Any]:
        """KL/JS between the real and generated histograms, and mode coverage on the known mixtures."""
        kl, js = divergences(self.real_counts, histogram(points, self.half))
        found: dict[str, Any] = {"kl": number(kl), "js": number(js), "modes": None, "total_modes": None,
                                 "high_quality": None}
        if isinstance(self.data, GaussianMixture2D) and bool(torch.isfinite(points).all()):
            coverage = mode_coverage(points, self.data)
            found.update(modes=coverage.modes, total_modes=coverage.total_modes,
                         high_quality=number(coverage.high_quality))
        return found

    # ------------------------------------------------------------------ export

    def export_generator(self) -> bytes:
        """The generator as safetensors bytes with its description in the header (see :func:`load_generator`);
        for CSV data the map into [-1, 1]^2 is folded into the last layer, so it draws in the CSV's units."""
        with self.lock:
            generator = copy.deepcopy(self.trainer.generator).cpu()
            step = self.trainer.step
        if self.csv_map is not None:
            centre, scale = self.csv_map
            last = generator.net[-1]
            with torch.no_grad():
                last.weight.mul_(scale)
                last.bias.mul_(scale).add_(centre)
        options = self.options
        metadata = {"format": GENERATOR_FORMAT, "model": "mlp", "z_dim": str(options.noise_dim),
                    "out_features": "2", "width": str(options.g_width), "depth": str(options.g_layers),
                    "noise": options.noise, "loss": options.loss, "data": options.data, "step": str(step)}
        tensors = {name: tensor.contiguous() for name, tensor in module_state(generator, "generator").items()}
        return safetensors_to_bytes(tensors, metadata=metadata)


def trainer_config(options: GanOptions) -> GANTrainConfig:
    """The house's config of this game, resolved for 2-D points (Adam's betas, WGAN-GP's toy settings)."""
    return GANTrainConfig(data=options.data, model="mlp", z_dim=options.noise_dim, loss=options.loss, k=options.k,
                          batch_size=options.batch_size, optimizer=options.optimizer, lr_g=options.lr_g,
                          lr_d=options.lr_d, noise=options.noise, ema=0.0, seed=options.seed).resolved("points")


def players(options: GanOptions, config: GANTrainConfig) -> tuple[nn.Module, nn.Module]:
    """(G, D) built by the house's builders with each network's own width and depth, initialised from the seed
    (torch's global generator is borrowed under a lock and given back)."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        generator = build_generator(dataclasses.replace(config, width=options.g_width, depth=options.g_layers), (2,))
        discriminator = build_discriminator(
            dataclasses.replace(config, d_width=options.d_width, depth=options.d_layers), (2,))
    return generator, discriminator


# ---------------------------------------------------------------------- frame pieces


def plane_grid(half: float, size: int) -> Tensor:
    """(size * size, 2) cell centres of [-half, half]^2, row-major from the bottom row: point i * size + j is
    (x_j, y_i), x and y increasing."""
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 * half - half
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def noise_grid(noise_dim: int, noise: str) -> Tensor:
    """Polylines in noise space that G maps to the plane: (lines, points, noise_dim). 2-D: MANIFOLD_LINES
    horizontal then MANIFOLD_LINES vertical lines of MANIFOLD_POINTS points; 1-D: one line of CURVE_POINTS.
    The square is [-1, 1] (uniform noise's support) or [-2, 2] (two standard deviations of Gaussian noise)."""
    reach = 1.0 if noise == "uniform" else 2.0
    if noise_dim == 1:
        return torch.linspace(-reach, reach, CURVE_POINTS).reshape(1, CURVE_POINTS, 1)
    across = torch.linspace(-reach, reach, MANIFOLD_POINTS)
    levels = torch.linspace(-reach, reach, MANIFOLD_LINES)
    horizontal = torch.stack([across.expand(MANIFOLD_LINES, -1), levels[:, None].expand(-1, MANIFOLD_POINTS)], -1)
    return torch.cat([horizontal, horizontal.flip(-1)])


def gradient_arrows(points: Tensor, discriminator: nn.Module, loss, half: float) -> tuple[Tensor, Tensor]:
    """-dL_G/dx for every generated point x (the way G's loss pushes it), per point (the loss of a batch is its
    mean, so the batch size is multiplied back), scaled so that the longest arrow is ARROW_FRACTION of the view's
    width; and the longest raw arrow's length."""
    x = points.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss.generator_loss(discriminator(x)) * len(x), x)
    arrows = -grad
    largest = arrows.norm(dim=1).max()
    scale = ARROW_FRACTION * 2 * half / largest if largest > 0 else 0.0
    return arrows * scale, largest


def histogram(points: Tensor, half: float, bins: int = HIST_BINS) -> Tensor:
    """Counts (bins * bins + 1,) of points in the cells of [-half, half]^2 (row-major, as plane_grid), the last
    cell for points outside the square (and any non-finite ones)."""
    points = points.detach().to(torch.float64)
    finite = torch.isfinite(points).all(1)
    inside = finite & (points.abs() < half).all(1)
    cells = ((points[inside] + half) / (2 * half) * bins).floor().long().clamp(0, bins - 1)
    counts = torch.bincount(cells[:, 1] * bins + cells[:, 0], minlength=bins * bins).to(torch.float64)
    return torch.cat([counts, torch.tensor([float((~inside).sum())], dtype=torch.float64)])


def divergences(real_counts: Tensor, fake_counts: Tensor, smoothing: float = SMOOTHING) -> tuple[float, float]:
    """(KL(p || q) with `smoothing` pseudo-counts per cell, JS(p, q)), natural logarithms; p real, q generated."""
    p, q = real_counts / real_counts.sum(), fake_counts / fake_counts.sum()
    m = (p + q) / 2
    js = 0.5 * kl_terms(p, m) + 0.5 * kl_terms(q, m)
    cells = len(real_counts)
    p_smooth = (real_counts + smoothing) / (real_counts.sum() + smoothing * cells)
    q_smooth = (fake_counts + smoothing) / (fake_counts.sum() + smoothing * cells)
    return kl_terms(p_smooth, q_smooth), js


def kl_terms(p: Tensor, q: Tensor) -> float:
    """sum p log(p / q) over the cells where p > 0 (0 log 0 = 0)."""
    used = p > 0
    return float((p[used] * torch.log(p[used] / q[used])).sum())


def rounded(values: Tensor, decimals: int = DECIMALS) -> list:
    """A tensor as nested lists of floats rounded to `decimals` (in float64, so they print short); NaN and
    infinities become None (JSON has no NaN)."""
    values = values.detach().to(torch.float64)
    if bool(torch.isfinite(values).all()):
        return torch.round(values, decimals=decimals).tolist()
    return _nulled(torch.round(values, decimals=decimals).tolist())


def _nulled(values):
    if isinstance(values, list):
        return [_nulled(value) for value in values]
    return values if math.isfinite(values) else None


def number(value, decimals: int = 6) -> float | None:
    """A scalar (float or 0-d tensor) rounded, or None when it is not finite."""
    value = float(value)
    return round(value, decimals) if math.isfinite(value) else None


__all__ = ["GENERATOR_FORMAT", "LIVE_OPTIONS", "GanGame", "GanOptions", "Spiral2D", "divergences",
           "estimate_bytes", "histogram", "load_generator", "parse_csv_points"]
