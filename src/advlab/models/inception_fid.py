"""The Inception-v3 of the Fréchet Inception Distance, in plain torch, loading the FID weights file.

Heusel et al. 2017 ("GANs trained by a two time-scale update rule converge to a local Nash
equilibrium", Sec. 4 and Eq. 6) define FID on the 2048-d "pool3" activations of the Inception-v3
graph of Szegedy et al. 2016 ("Rethinking the Inception architecture", Table 1 and Figs. 5-7)
released by TensorFlow as ``inception-2015-12-05``; Salimans et al. 2016 define the Inception
Score on the same graph's 1008-way softmax. This module builds that graph so that pytorch-fid's
port of its weights, ``pt_inception-2015-12-05-6726825d.pth``, loads into it key for key.

The 2015 graph differs from the later Inception-v3 (torchvision's) in three places, all kept here:

* the 3x3 average pools inside the Inception-A, -C and first -E blocks divide by the number of
  real pixels under the window, not by 9 (TensorFlow's SAME padding; ``count_include_pad=False``);
* the pool branch of the last Inception-E block (``Mixed_7c``) takes a 3x3 *max* pool;
* the classifier has 1008 outputs (1000 ImageNet classes and 8 unused ones).

Every convolution is bias-free and followed by BatchNorm (eps 0.001) and ReLU. Parameter and
buffer names follow torchvision's ``Inception3`` (``Mixed_5b.branch1x1.conv.weight``, ...), which
is the naming of the FID weights file; the auxiliary classifier is absent.

Input handling matches pytorch-fid's ``InceptionV3(resize_input=True, normalize_input=True)``:
images in [0, 1] are resized to 299x299 (bilinear, ``align_corners=False``) and mapped to [-1, 1].
The network is frozen in eval mode: ``train()`` cannot switch it back, so BatchNorm always uses the
file's running statistics.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.errors import AdvlabError

INPUT_SIZE = 299
FEATURES = 2048
CLASSES = 1008
BATCHNORM_EPS = 0.001
OPTIONAL_SUFFIX = ".num_batches_tracked"  # BatchNorm's step counter: unused in eval, absent from some files


class ConvBN(nn.Module):
    """Bias-free convolution, BatchNorm (eps 0.001), ReLU; torchvision's ``BasicConv2d`` names."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BATCHNORM_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def pool_3x3_same(x: Tensor, kind: str) -> Tensor:
    """3x3 stride-1 pool with one pixel of SAME padding; an average counts only the real pixels."""
    if kind == "max":
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Fig. 5): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (``pool_features`` maps)."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        wide = self.branch5x5_2(self.branch5x5_1(x))
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = self.branch_pool(pool_3x3_same(x, "avg"))
        return torch.cat([self.branch1x1(x), wide, deep, pooled], 1)


class ReductionB(nn.Module):
    """35x35 -> 17x17 grid reduction (``Mixed_6a``): stride-2 3x3 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), deep, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block (Fig. 6) with factorised 7x7 convolutions of ``channels_7x7`` maps."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        pooled = self.branch_pool(pool_3x3_same(x, "avg"))
        return torch.cat([self.branch1x1(x), single, double, pooled], 1)


class ReductionD(nn.Module):
    """17x17 -> 8x8 grid reduction (``Mixed_7a``): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        short = self.branch3x3_2(self.branch3x3_1(x))
        long = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            long = layer(long)
        return torch.cat([short, long, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block (Fig. 7) with split 1x3/3x1 outputs; ``pool`` is "avg" (``Mixed_7b``) or "max" (``Mixed_7c``)."""

    def __init__(self, in_channels: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        short = self.branch3x3_1(x)
        deep = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = self.branch_pool(pool_3x3_same(x, self.pool))
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(short), self.branch3x3_2b(short),
                          self.branch3x3dbl_3a(deep), self.branch3x3dbl_3b(deep), pooled], 1)


def prepare_inputs(images: Tensor) -> Tensor:
    """images (N, 3, H, W) in [0, 1] -> the network's input (N, 3, 299, 299) in [-1, 1].

    Bilinear resize (``align_corners=False``) unless the images are already 299x299, then 2x - 1.
    """
    if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * images - 1


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3: images (N, 3, H, W) in [0, 1] -> (pool3 features (N, 2048), logits (N, 1008)).

    Build it with `load_fid_inception(path)`; a fresh instance has random weights. It stays in eval
    mode whatever ``train()`` is told, and its parameters do not require gradients. `embed` is the
    entry point for metrics (no autograd graph); calling the module itself keeps the graph, so
    gradients reach images that require them (for attacks on the metric).
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURES, CLASSES)
        self.requires_grad_(False)  # a fixed measuring instrument; gradients still flow to the images
        self.train(False)

    def train(self, mode: bool = True) -> FIDInceptionV3:
        """Always eval: BatchNorm must use the file's running statistics, never batch statistics."""
        return super().train(False)

    def pool3(self, x: Tensor) -> Tensor:
        """Network input (N, 3, H, W) in [-1, 1], H, W >= 75 -> pool3 features (N, 2048)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (N, 3, H, W) in [0, 1] -> (pool3 features (N, 2048), logits (N, 1008)), with gradients."""
        features = self.pool3(prepare_inputs(images))
        return features, self.fc(features)

    def embed(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """FID/IS embedding of a batch, without gradients.

        Args:
            images: float tensor (N, 3, H, W) in [0, 1], any H and W (resized to 299x299 bilinearly);
                moved to the network's device and dtype.

        Returns:
            (features, logits): pool3 features (N, 2048), the input of FID and KID, and the Inception
            Score's logits (N, 1008) = features @ fc.weight.T, WITHOUT fc's bias: Salimans et al.'s reference
            code multiplies pool3 by the softmax layer's weight matrix only, and torch-fidelity's IS uses the
            same "unbiased" logits. (``forward`` returns fc(features), with the bias, like the original graph.)
        """
        check_images(images)
        weight = self.fc.weight
        with torch.no_grad():
            features = self.pool3(prepare_inputs(images.to(device=weight.device, dtype=weight.dtype)))
            return features, features @ weight.T


def check_images(images) -> None:
    """An AdvlabError unless `images` is a non-empty float tensor (N, 3, H, W)."""
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise AdvlabError(f"the FID Inception-v3 needs a float tensor of images, got {describe(images)}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0 or min(images.shape[2:]) == 0:
        raise AdvlabError(f"the FID Inception-v3 needs images of shape (N, 3, H, W) with N >= 1, got "
                          f"{tuple(images.shape)} (repeat a grayscale channel 3 times)")


def describe(value) -> str:
    """A short name for what a caller passed: the dtype of a tensor, else the type."""
    return f"a {value.dtype} tensor" if isinstance(value, Tensor) else type(value).__name__


def load_fid_inception(path: str | Path) -> FIDInceptionV3:
    """The FID Inception-v3 with the weights of `path`, in eval mode on the CPU.

    Args:
        path: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (read with
            ``torch.load(weights_only=True)``: nothing but tensors is unpickled), or a
            ``.safetensors`` file holding the same keys. Nothing is ever downloaded.

    Returns:
        FIDInceptionV3 with every parameter and buffer loaded strictly (BatchNorm's
        ``num_batches_tracked`` counters may be absent: eval mode never reads them).

    Raises:
        AdvlabError: the file is missing or unreadable, is not a weights file, or its keys or
            shapes do not match the network (the message counts and names the first few).
    """
    path = Path(path)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise AdvlabError(f"FID Inception weights file {path} {problem} (pytorch-fid's "
                          "pt_inception-2015-12-05-6726825d.pth is expected; advlab downloads nothing)")
    state = read_state_dict(path)
    with torch.device("meta"):  # no time spent on a random initialisation the file overwrites
        model = FIDInceptionV3()
    state = fitted_state(model, state, path)
    model.to_empty(device="cpu").load_state_dict(state, strict=True)
    return model


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The name -> tensor mapping stored in `path` (.safetensors, else torch.load with weights_only)."""
    if path.suffix == ".safetensors":
        from advlab.core.checkpoints import read_tensors  # safetensors is only needed for this format

        return read_tensors(path)
    try:
        with warnings.catch_warnings():  # e.g. torch's note on the pickle protocol of old files
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise AdvlabError(f"cannot read {path}: {error.strerror or error}") from None
    except Exception:  # weights_only refusals, corrupt archives and non-pickles raise many types
        raise AdvlabError(f"{path} is not a weights file: torch.load(weights_only=True) cannot read it "
                          "as tensors") from None
    if not isinstance(loaded, Mapping):
        raise AdvlabError(f"{path} is not a weights file: it holds a {type(loaded).__name__}, not a state dict")
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in loaded.items()):
        raise AdvlabError(f"{path} is not a weights file: its {type(loaded).__name__} holds entries that are not "
                          "named tensors")
    return dict(loaded)


def fitted_state(model: nn.Module, state: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """`state` checked against `model`'s keys and shapes, with absent BatchNorm counters filled in."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise AdvlabError(f"{path} does not fit the FID Inception-v3: {plural(len(missing), 'key')} missing"
                          f"{first_few(missing)}, {len(unexpected)} unexpected{first_few(unexpected)}")
    wrong = [f"{k} {tuple(state[k].shape)} instead of {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if wrong:
        raise AdvlabError(f"{path} does not fit the FID Inception-v3: {plural(len(wrong), 'tensor')} of the wrong "
                          f"shape ({', '.join(wrong[:3])}{', ...' if len(wrong) > 3 else ''})")
    return {k: state[k] if k in state else torch.zeros_like(v, device="cpu") for k, v in expected.items()}


def first_few(keys: list[str], shown: int = 3) -> str:
    """' (a, b, c, ...)' naming the first `shown` keys, or '' for none."""
    if not keys:
        return ""
    return f" ({', '.join(keys[:shown])}{', ...' if len(keys) > shown else ''})"


def plural(count: int, noun: str) -> str:
    """'1 key', '2 keys'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
