"""Progressive growing of GANs (Karras et al. 2018, "Progressive growing of GANs for improved
quality, stability, and variation", ICLR; arXiv:1710.10196).

What this file implements, by section of the paper:

* Equalised learning rate (sec. 4.1): weights are drawn from N(0, 1) and multiplied at run
  time by He's constant c = gain / sqrt(fan_in), gain = sqrt(2) (the output layers use gain 1,
  as the paper's code does); biases start at zero.
* Pixelwise feature vector normalisation in G (sec. 4.2):
  b_xy = a_xy / sqrt(1/N sum_j (a_xy^j)^2 + 1e-8), after every convolution of G (and on z).
* Minibatch standard deviation (sec. 3): the std of every feature at every position over a
  group of samples, averaged into one number that is appended as an extra feature map.
* The networks of table 2 (appendix A.1), scaled by `width`: G grows from a 4x4 map, each
  doubling is nearest-neighbour upsampling and two 3x3 convolutions; D mirrors it with two 3x3
  convolutions and 2x2 average pooling; 1x1 toRGB / fromRGB layers at every resolution;
  LeakyReLU(0.2). D ends with minibatch stddev, a 3x3 and a 4x4 convolution and a linear layer.
* The fade-in of fig. 2: at resolution r with weight alpha,
  G = (1 - alpha) * upsample(toRGB_{r/2}(h_{r/2})) + alpha * toRGB_r(block_r(h_{r/2})), and D
  mixes fromRGB_{r/2}(avgpool(x)) with block_r(fromRGB_r(x)) in the same way.

Both networks hold every layer of every resolution from the start, so the state_dict has the
same keys at every stage and one checkpoint format serves the whole schedule; the stage
(`resolution`, `alpha`) is plain state set by `set_stage`, not saved (it follows from the step).
A new network starts at the final stage (max_resolution, alpha 1).

Images are NCHW in [0, 1] at the boundary (DESIGN.md). G's last layer is linear, as in the
paper (no tanh): its output y in about [-1, 1] is mapped to (y + 1) / 2. In training mode that
value is returned as it is, so D sees exactly what G made, as in the paper; in eval mode
(sampling, metrics, the EMA copy) it is clipped into [0, 1], as the paper's code clips when it
saves images. D maps its input to [-1, 1] inside.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from advlab.core.errors import AdvlabError

LEAK = 0.2
#: feature maps double per step away from the image, at most this many times (the paper: 16 ... 512)
MAX_DOUBLINGS = 5
#: G's first layer is the paper's 4x4 convolution of a 1x1 latent, whose fan_in is 16 * z_dim
INPUT_GAIN = math.sqrt(2) / 4


class EqualizedConv2d(nn.Module):
    """A convolution whose N(0, 1) weight is scaled at run time by c = gain / sqrt(fan_in) (sec. 4.1).

    Args:
        in_channels, out_channels, kernel_size: as for nn.Conv2d (square kernel, stride 1).
        padding: zero padding; default kernel_size // 2 (keeps the size for odd kernels).
        gain: sqrt(2) (He) for layers followed by LeakyReLU; 1 for linear output layers.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int | None = None,
                 gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        out_channels, in_channels, kernel, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, kernel_size={kernel}, padding={self.padding}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Module):
    """A linear layer whose N(0, 1) weight is scaled at run time by c = gain / sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"{in_features}, {out_features}, scale={self.scale:.4g}"


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each feature vector (dim 1) divided by its root mean square (sec. 4.2); any shape (N, C, ...)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    """`pixel_norm` as a layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the mean over features and positions of the std over a group (sec. 3).

    Consecutive samples form groups of `group_size` (samples 0..G-1, then G..2G-1, ...); the std
    is the population one, sqrt(E[(x - E x)^2] + 1e-8), as in the paper's code. A batch smaller
    than `group_size` is one group; a batch that `group_size` does not divide is also one group
    (the whole batch), so every sample always sees a statistic of at least as many samples.

    Shapes: (N, C, H, W) -> (N, C + 1, H, W).
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:
            group = n
        grouped = x.reshape(n // group, group, *x.shape[1:])
        variance = grouped.var(dim=1, unbiased=False)
        statistic = torch.sqrt(variance + 1e-8).mean(dim=(1, 2, 3))
        feature = statistic.repeat_interleave(group).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, feature], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def stage_resolutions(max_resolution: int) -> list[int]:
    """[4, 8, ..., max_resolution]; AdvlabError unless max_resolution is a power of two >= 8."""
    valid = isinstance(max_resolution, int) and not isinstance(max_resolution, bool) and max_resolution >= 8
    if not valid or max_resolution & (max_resolution - 1):
        raise AdvlabError(f"ProGAN needs a max_resolution that is a power of two, at least 8; got {max_resolution!r}")
    return [4 * 2**i for i in range(int(math.log2(max_resolution)) - 1)]


def check_stage(resolution: int, alpha: float, max_resolution: int) -> tuple[int, float]:
    """(resolution, alpha) if the network can take that stage; one-line AdvlabError naming the valid ones."""
    valid = stage_resolutions(max_resolution)
    if type(resolution) is not int or resolution not in valid:
        names = ", ".join(map(str, valid))
        raise AdvlabError(f"ProGAN resolution must be one of {names} (max_resolution {max_resolution}); "
                          f"got {resolution!r}")
    return int(resolution), check_alpha(alpha)


def check_alpha(alpha: float) -> float:
    """`alpha` as a float if it is a number in [0, 1]; one-line AdvlabError otherwise."""
    number = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if not number or not 0.0 <= alpha <= 1.0:
        raise AdvlabError(f"alpha (the fade-in weight) must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def features_at(resolution: int, max_resolution: int, width: int) -> int:
    """Feature maps at `resolution`: `width` next to the image, doubling per step away (at most 32x)."""
    steps = int(math.log2(max_resolution // resolution))
    return width * 2 ** min(steps, MAX_DOUBLINGS)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """2x nearest-neighbour upsampling (the paper's 'upsample': each pixel becomes a 2x2 block)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def size_ratio(images: torch.Tensor, resolution: int, verb: str) -> int:
    """The power-of-two ratio between square `images`' size and `resolution` (larger over smaller)."""
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise AdvlabError(f"expected square images (N, C, H, H), got shape {tuple(images.shape)}")
    size = images.shape[-1]
    if isinstance(resolution, int) and not isinstance(resolution, bool) and resolution >= 1:
        big, small = (size, resolution) if verb == "downsample" else (resolution, size)
        ratio = big // small
        if big % small == 0 and not ratio & (ratio - 1):
            return ratio
    raise AdvlabError(f"cannot {verb} {size}x{size} images to resolution {resolution!r}; "
                      f"the sizes must differ by a power of two")


def downsample_to(images: torch.Tensor, resolution: int, alpha: float = 1.0) -> torch.Tensor:
    """Real images at the network's current stage: average-pooled to `resolution` (fig. 2).

    During a fade-in (alpha < 1) the real images are mixed between the two resolutions as G's
    output is (fig. 2 caption): (1 - alpha) * upsample(pool_{r/2}(x)) + alpha * pool_r(x).
    alpha is ignored at 4x4, where nothing fades in.

    Args:
        images: (N, C, S, S), S = resolution * 2^k.
        resolution: the current resolution r.
        alpha: the fade-in weight in [0, 1]; default 1 (plain pooling).

    Returns:
        (N, C, r, r).
    """
    factor = size_ratio(images, resolution, "downsample")
    alpha = check_alpha(alpha)
    pooled = F.avg_pool2d(images, factor) if factor > 1 else images
    if alpha >= 1 or resolution <= 4:
        return pooled
    coarse = upsample(F.avg_pool2d(images, 2 * factor))
    return (1 - alpha) * coarse + alpha * pooled


def upsample_to(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of (N, C, s, s) images to (N, C, r, r), e.g. early-stage samples for metrics."""
    factor = size_ratio(images, resolution, "upsample")
    return F.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images


def conv_act(in_channels: int, out_channels: int, kernel_size: int = 3, padding: int | None = None) -> list[nn.Module]:
    return [EqualizedConv2d(in_channels, out_channels, kernel_size, padding), nn.LeakyReLU(LEAK)]


class ProGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, r, r) at the current resolution r (table 2, fig. 2).

    Args:
        z_dim: latent size.
        max_resolution: final output size, a power of two >= 8.
        channels: image channels.
        width: feature maps of the highest-resolution block (doubling towards 4x4, at most 32x).
    """

    def __init__(self, z_dim: int = 64, max_resolution: int = 32, channels: int = 1, width: int = 32):
        super().__init__()
        self.z_dim, self.max_resolution, self.channels = z_dim, max_resolution, channels
        self.resolutions = stage_resolutions(max_resolution)
        feats = {r: features_at(r, max_resolution, width) for r in self.resolutions}
        self.input = EqualizedLinear(z_dim, feats[4] * 16, gain=INPUT_GAIN)
        self.input_conv = nn.Sequential(*conv_act(feats[4], feats[4]), PixelNorm())
        self.blocks = nn.ModuleDict({
            str(r): nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                  *conv_act(feats[r // 2], feats[r]), PixelNorm(),
                                  *conv_act(feats[r], feats[r]), PixelNorm())
            for r in self.resolutions[1:]})
        self.to_rgb = nn.ModuleDict({str(r): EqualizedConv2d(feats[r], channels, 1, gain=1.0)
                                     for r in self.resolutions})
        self.resolution, self.alpha = max_resolution, 1.0

    def set_stage(self, resolution: int, alpha: float) -> None:
        """Emit images at `resolution`, fading the newest block in with weight `alpha` in [0, 1]."""
        self.resolution, self.alpha = check_stage(resolution, alpha, self.max_resolution)

    def features(self, z: torch.Tensor, resolution: int) -> torch.Tensor:
        """The feature maps (N, f_r, r, r) that toRGB_r would turn into an image."""
        x = self.input(pixel_norm(z)).view(len(z), -1, 4, 4)
        x = self.input_conv(pixel_norm(F.leaky_relu(x, LEAK)))
        for r in self.resolutions[1:]:
            if r > resolution:
                break
            x = self.blocks[str(r)](x)
        return x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        r, alpha = self.resolution, self.alpha
        if r == 4 or alpha == 1.0:
            return self.to_image(self.to_rgb[str(r)](self.features(z, r)))
        low = self.features(z, r // 2)
        old = upsample(self.to_rgb[str(r // 2)](low))
        new = self.to_rgb[str(r)](self.blocks[str(r)](low))
        return self.to_image((1 - alpha) * old + alpha * new)

    def to_image(self, rgb: torch.Tensor) -> torch.Tensor:
        """Linear output in about [-1, 1] -> [0, 1]; clipped only in eval mode (see the module docstring)."""
        image = (rgb + 1) / 2
        return image if self.training else image.clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, alpha={self.alpha:g}"


class ProGANDiscriminator(nn.Module):
    """images (N, channels, r, r) in [0, 1] at the current resolution r -> raw scores (N,).

    Args:
        max_resolution: final image size, a power of two >= 8.
        channels: image channels.
        width: feature maps of the highest-resolution block (doubling towards 4x4, at most 32x).
        group_size: minibatch stddev group (sec. 3; the paper's 4).
    """

    def __init__(self, max_resolution: int = 32, channels: int = 1, width: int = 32, group_size: int = 4):
        super().__init__()
        self.max_resolution, self.channels = max_resolution, channels
        self.resolutions = stage_resolutions(max_resolution)
        feats = {r: features_at(r, max_resolution, width) for r in self.resolutions}
        self.from_rgb = nn.ModuleDict({str(r): nn.Sequential(*conv_act(channels, feats[r], 1))
                                       for r in self.resolutions})
        self.blocks = nn.ModuleDict({
            str(r): nn.Sequential(*conv_act(feats[r], feats[r]), *conv_act(feats[r], feats[r // 2]),
                                  nn.AvgPool2d(2))
            for r in self.resolutions[1:]})
        self.head = nn.Sequential(MinibatchStdDev(group_size), *conv_act(feats[4] + 1, feats[4]),
                                  *conv_act(feats[4], feats[4], 4, padding=0), nn.Flatten(),
                                  EqualizedLinear(feats[4], 1, gain=1.0))
        self.resolution, self.alpha = max_resolution, 1.0

    def set_stage(self, resolution: int, alpha: float) -> None:
        """Take images at `resolution`, fading the newest block in with weight `alpha` in [0, 1]."""
        self.resolution, self.alpha = check_stage(resolution, alpha, self.max_resolution)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        r, alpha = self.resolution, self.alpha
        self.check_input(images)
        if r == 4 or alpha == 1.0:
            return self.score(self.from_rgb[str(r)](images * 2 - 1), r)
        new = self.blocks[str(r)](self.from_rgb[str(r)](images * 2 - 1))
        old = self.from_rgb[str(r // 2)](F.avg_pool2d(images, 2) * 2 - 1)
        return self.score((1 - alpha) * old + alpha * new, r // 2)

    def score(self, h: torch.Tensor, resolution: int) -> torch.Tensor:
        """Feature maps (N, f_r, r, r) entering the blocks at `resolution` -> scores (N,)."""
        for r in reversed(self.resolutions[1:]):
            if r <= resolution:
                h = self.blocks[str(r)](h)
        return self.head(h).flatten()

    def check_input(self, images: torch.Tensor) -> None:
        expected = (self.channels, self.resolution, self.resolution)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise AdvlabError(f"ProGAN discriminator at resolution {self.resolution} expects images "
                              f"(N, {', '.join(map(str, expected))}), got {tuple(images.shape)}; "
                              f"downsample real images with downsample_to")

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, alpha={self.alpha:g}"
