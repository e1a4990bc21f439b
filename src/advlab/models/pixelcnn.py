"""A small gated PixelCNN over L grey levels: exact likelihoods, sampling, training, safetensors files.

van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu 2016, "Conditional Image Generation
with PixelCNN Decoders" (NeurIPS), sec. 2. An image x of n = H * W pixels, each quantised to one of L levels
(x in [0, 1] -> round(x * (L - 1))), is modelled in raster order (row by row, left to right):

    p(x) = prod_{i=1}^{n} p(x_i | x_1, ..., x_{i-1})                                    (eq. 1)

and each conditional is an L-way softmax (the paper's 256-way discrete distribution, sec. 2 of Pixel
Recurrent Neural Networks), so the negative log-likelihood is a cross-entropy and training is
classification. Its summary is bits per dimension, -log_2 p(x) / n.

Causality comes from two stacks of masked convolutions (sec. 2.2, Figure 1): a vertical stack whose output
at row r sees only the rows above r (every column), and a horizontal stack whose output at (r, c) sees row r
left of c (type A, the first layer: c excluded; type B, later layers: c's own features included), fed by the
vertical stack at each layer. Together they see every earlier pixel: the plain PixelCNN's blind spot is gone.
Each layer is gated (sec. 2.2, eq. 2):

    y = tanh(W_f * x) (.) sigmoid(W_g * x)

with a 1x1 convolution and a residual connection on the horizontal stack (Figure 2; none in the first layer,
whose input is the image itself). Two 1x1 convolutions with ReLUs map the horizontal stack to the L logits of
each pixel. The conditioning vector h of sec. 2.3 is not used (the model is unconditional).

Only grey images (one channel) are modelled, as digits and MNIST are; the within-pixel R, G, B ordering that
colour needs (Pixel RNN sec. 3.4) is refused with one clear error rather than half built.

A trained model is one safetensors file (``save_pixelcnn``, ``load_pixelcnn``): the tensors under
``pixelcnn.`` and the description (format, levels, channels, image size, width, layers, kernel, and how it
was trained) in the header; nothing is unpickled.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors, read_described, restore_module
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating

FORMAT = "advlab-pixelcnn/1"
FILE_NAME = "pixelcnn.safetensors"
RANGE_TOLERANCE = 1e-6
NUMBERS = ("levels", "channels", "height", "image_width", "width", "layers", "kernel", "first_kernel")


class GatedLayer(nn.Module):
    """One gated layer (sec. 2.2, Figure 2): the vertical and the horizontal stack, masked type A or B."""

    def __init__(self, in_channels: int, width: int, kernel: int, first: bool):
        super().__init__()
        half = kernel // 2
        self.first = first
        self.vertical = nn.Conv2d(in_channels, 2 * width, (half + 1, kernel), padding=(half, half))
        self.horizontal = nn.Conv2d(in_channels, 2 * width, (1, half + 1), padding=(0, half))
        self.vertical_to_horizontal = nn.Conv2d(2 * width, 2 * width, 1)
        self.horizontal_out = nn.Conv2d(width, width, 1)
        vertical_mask = torch.ones_like(self.vertical.weight)
        horizontal_mask = torch.ones_like(self.horizontal.weight)
        if first:  # type A: the row (vertical) and the pixel (horizontal) being predicted are not seen
            vertical_mask[:, :, -1] = 0
            horizontal_mask[:, :, :, -1] = 0
        self.register_buffer("vertical_mask", vertical_mask, persistent=False)
        self.register_buffer("horizontal_mask", horizontal_mask, persistent=False)

    def forward(self, vertical: Tensor, horizontal: Tensor) -> tuple[Tensor, Tensor]:
        rows, columns = vertical.shape[-2:]
        v = F.conv2d(vertical, self.vertical.weight * self.vertical_mask, self.vertical.bias,
                     padding=self.vertical.padding)[:, :, :rows]  # output row r sees input rows r-half..r
        h = F.conv2d(horizontal, self.horizontal.weight * self.horizontal_mask, self.horizontal.bias,
                     padding=self.horizontal.padding)[:, :, :, :columns]  # output column c sees c-half..c
        out = self.horizontal_out(gate(self.vertical_to_horizontal(v) + h))
        return gate(v), out if self.first else out + horizontal


def gate(features: Tensor) -> Tensor:
    """tanh(first half) * sigmoid(second half) of the channels (eq. 2)."""
    filters, gates = features.chunk(2, dim=1)
    return torch.tanh(filters) * torch.sigmoid(gates)


class PixelCNN(nn.Module):
    """A gated PixelCNN over `levels` grey levels of (1, H, W) images in [0, 1].

    ``logits(levels)`` gives (N, L, 1, H, W) from quantised images; ``log_prob``/``bits_per_dim`` score images
    in [0, 1]; ``sample`` draws in raster order.

    Args:
        levels: grey levels L the pixels are quantised to (256: the paper's 8-bit pixels).
        channels: image channels; only 1 (grey images) is supported.
        image_size: (H, W) of the images it models (kept for checks and its file; the network is convolutional).
        width: feature channels of each stack.
        layers: gated layers (the first of type A with first_kernel, the rest of type B with kernel).
        kernel: kernel size of the type-B layers (odd).
        first_kernel: kernel size of the first, type-A layer (odd; 7 in the paper).
    """

    def __init__(self, levels: int = 256, channels: int = 1, image_size: tuple[int, int] = (28, 28), width: int = 32,
                 layers: int = 5, kernel: int = 3, first_kernel: int = 7):
        super().__init__()
        self.levels = check_int("pixelcnn: levels", levels, 2)
        if channels != 1:
            raise AdvlabError(f"pixelcnn: only grey images (1 channel) are modelled, got {channels!r} channels; "
                              "colour needs the R, G, B ordering within each pixel, which advlab's PixelCNN lacks")
        self.channels = 1
        if not (isinstance(image_size, (tuple, list)) and len(image_size) == 2):
            raise AdvlabError(f"pixelcnn: image_size must be (height, width), got {image_size!r}")
        self.image_size = (check_int("pixelcnn: image height", image_size[0], 1),
                           check_int("pixelcnn: image width", image_size[1], 1))
        self.width = check_int("pixelcnn: width", width, 1)
        self.layers = check_int("pixelcnn: layers", layers, 1)
        self.kernel = check_odd("pixelcnn: kernel", kernel)
        self.first_kernel = check_odd("pixelcnn: first_kernel", first_kernel)
        self.stack = nn.ModuleList([GatedLayer(1 if k == 0 else width, width, first_kernel if k == 0 else kernel,
                                               first=k == 0) for k in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1), nn.ReLU(), nn.Conv2d(width, levels, 1))

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    def logits(self, levels: Tensor) -> Tensor:
        """(N, L, 1, H, W) logits of p(x_i | x_<i) for every pixel i, from quantised images (N, 1, H, W) (ints)."""
        inputs = levels.to(self.head[-1].weight.dtype) / (self.levels - 1) * 2 - 1
        vertical = horizontal = inputs
        for layer in self.stack:
            vertical, horizontal = layer(vertical, horizontal)
        return self.head(horizontal).unsqueeze(2)

    def forward(self, images: Tensor) -> Tensor:
        """The logits (N, L, 1, H, W) of images in [0, 1]."""
        return self.logits(self.quantise(images))

    def quantise(self, images: Tensor) -> Tensor:
        """Images in [0, 1] (N, 1, H, W) -> their levels round(x * (L - 1)), int64; other input is one error."""
        check_images(images, self.sample_shape, "pixelcnn")
        return torch.round(images.detach().clamp(0, 1) * (self.levels - 1)).long()

    def log_prob(self, images: Tensor) -> Tensor:
        """log p(x) in nats of each image in [0, 1] (quantised to the L levels), (N,)."""
        levels = self.quantise(images)
        return -F.cross_entropy(self.logits(levels), levels, reduction="none").flatten(1).sum(1)

    def bits_per_dim(self, images: Tensor) -> Tensor:
        """-log_2 p(x) / (C * H * W) of each image, (N,): the negative log-likelihood in bits per sub-pixel."""
        return -self.log_prob(images) / (math.log(2) * math.prod(self.sample_shape))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> Tensor:
        """n images (n, 1, H, W) in [0, 1] drawn pixel by pixel in raster order (one forward per pixel)."""
        n = check_int("pixelcnn: n", n, 1)
        device = self.head[-1].weight.device
        generator = torch.Generator(device=device).manual_seed(seed)
        levels = torch.zeros(n, *self.sample_shape, dtype=torch.long, device=device)
        with evaluating(self):
            for row, column in raster(self.image_size):
                probabilities = self.logits(levels)[:, :, 0, row, column].softmax(1)
                levels[:, 0, row, column] = torch.multinomial(probabilities, 1, generator=generator)[:, 0]
        return levels.float() / (self.levels - 1)

    def description(self) -> dict[str, str]:
        """The header metadata of its file (all strings)."""
        numbers = {"levels": self.levels, "channels": self.channels, "height": self.image_size[0],
                   "image_width": self.image_size[1], "width": self.width, "layers": self.layers,
                   "kernel": self.kernel, "first_kernel": self.first_kernel}
        return {"format": FORMAT, **{key: str(value) for key, value in numbers.items()}}

    def extra_repr(self) -> str:
        return f"levels={self.levels}, image_size={self.image_size}, width={self.width}, layers={self.layers}"


def raster(image_size: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, column) of every pixel in raster order."""
    return [(row, column) for row in range(image_size[0]) for column in range(image_size[1])]


def check_odd(name: str, value) -> int:
    value = check_int(name, value, 1)
    if value % 2 == 0:
        raise AdvlabError(f"{name} must be odd, got {value}")
    return value


def check_images(images, shape: tuple[int, ...], owner: str) -> None:
    """A float tensor (N, *shape), N >= 1, finite, in [0, 1]; otherwise one AdvlabError naming `owner`."""
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise AdvlabError(f"{owner}: images must be a float tensor in [0, 1], got "
                          f"{getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim != 4 or images.shape[0] == 0 or tuple(images.shape[1:]) != tuple(shape):
        raise AdvlabError(f"{owner}: images must have shape (N, {', '.join(map(str, shape))}) with N >= 1, got "
                          f"{tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise AdvlabError(f"{owner}: images contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise AdvlabError(f"{owner}: images must lie in [0, 1], found values in [{low:.4g}, {high:.4g}]")


# ---------------------------------------------------------------------- training


def train_pixelcnn(model: PixelCNN, images: Tensor, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                   seed: int = 0, progress: bool = True) -> list[float]:
    """Fit `model` to `images` (N, 1, H, W) in [0, 1] by maximum likelihood: Adam on the mean cross-entropy of
    every pixel's L-way softmax, minibatches shuffled by `seed`. Returns the training bits/dim of each epoch
    (the mean over its minibatches); the model is left in eval mode. A loss that turns NaN is one error."""
    epochs = check_int("pixelcnn: epochs", epochs, 1)
    batch_size = check_int("pixelcnn: batch_size", batch_size, 1)
    lr = check_number("pixelcnn: lr", lr, strict=True)
    levels = model.quantise(images)
    device = model.head[-1].weight.device
    levels = levels.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    shuffle = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    bar = tqdm(total=epochs, disable=not progress, unit="epoch", desc="pixelcnn", dynamic_ncols=True, file=sys.stderr)
    for epoch in range(epochs):
        order = torch.randperm(len(levels), generator=shuffle).to(device)
        total = 0.0
        for first in range(0, len(order), batch_size):
            batch = levels[order[first:first + batch_size]]
            loss = F.cross_entropy(model.logits(batch), batch)
            if not torch.isfinite(loss):
                raise AdvlabError(f"pixelcnn: the loss became {float(loss)} in epoch {epoch + 1}; lower lr")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(levels) / math.log(2))
        bar.update(1)
        bar.set_postfix(bits_per_dim=f"{history[-1]:.3f}")
    bar.close()
    return history


def batched_bits_per_dim(model: PixelCNN, images: Tensor, batch_size: int = 256) -> Tensor:
    """bits/dim of every image (N,), on the CPU, computed in eval mode in batches on the model's device."""
    device = model.head[-1].weight.device
    with torch.no_grad(), evaluating(model):
        return torch.cat([model.bits_per_dim(images[first:first + batch_size].to(device)).cpu()
                          for first in range(0, len(images), batch_size)])


# ---------------------------------------------------------------------- its file


def pixelcnn_file(path: str | Path) -> Path:
    """The model file at `path`: the file itself, or DIR/pixelcnn.safetensors for a directory."""
    path = Path(path)
    return path / FILE_NAME if path.is_dir() else path


def save_pixelcnn(model: PixelCNN, path: str | Path, **training: str | int | float) -> Path:
    """Write `model` to `path` (a file, or DIR/pixelcnn.safetensors for a directory) atomically; `training`
    (e.g. epochs, bits_per_dim) goes into the header beside its description. Returns the file's path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path.mkdir(parents=True, exist_ok=True)
        path = path / FILE_NAME
    tensors = {f"pixelcnn.{key}": value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    metadata = {**{key: str(value) for key, value in training.items()}, **model.description()}
    atomic_write_bytes(path, safetensors_to_bytes(tensors, metadata=metadata))
    return path


def load_pixelcnn(path: str | Path, device: str | torch.device = "cpu") -> tuple[PixelCNN, dict[str, str]]:
    """(the PixelCNN saved at `path` in eval mode with frozen weights, its header metadata); `path` is the file or
    the directory holding pixelcnn.safetensors. Another kind of file is one AdvlabError."""
    path = pixelcnn_file(path)
    payload, metadata = read_described(path, FORMAT, "pixelcnn", "model", "a PixelCNN (advlab defend pixel-defend)")
    try:
        numbers = {key: int(metadata[key]) for key in NUMBERS}
    except (KeyError, ValueError) as error:
        raise AdvlabError(f"pixelcnn: the description in {path} is incomplete ({error})") from None
    model = PixelCNN(numbers["levels"], numbers["channels"], (numbers["height"], numbers["image_width"]),
                     numbers["width"], numbers["layers"], numbers["kernel"], numbers["first_kernel"])
    try:
        restore_module(model, "pixelcnn", parse_safetensors(payload, path))
    except AdvlabError as error:
        raise AdvlabError(f"pixelcnn: {path} does not hold the model its header describes "
                          f"({str(error).split(': ', 1)[-1]})") from None
    model = model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, metadata


__all__ = ["FORMAT", "PixelCNN", "load_pixelcnn", "batched_bits_per_dim", "save_pixelcnn", "train_pixelcnn"]
