"""MidiNet's players (Yang, Chou & Yang 2017, "MidiNet: a convolutional generative adversarial network for
symbolic-domain music generation", ISMIR, sec. 3 and Fig. 1): a generator of one bar of melody, conditioned on a
chord and on the previous bar, and a chord-conditioned discriminator that also returns the features that feature
matching compares.

A bar is a piano roll of h = 16 time steps (sixteenth notes of a 4/4 bar) by w = 128 MIDI pitches, (N, 1, 16, 128)
in [0, 1]; a chord is 13 numbers (12 one-hot roots + 1 for minor; advlab.data.melodies). The settings are those of
the authors' code (RichardYang40148/MidiNet, v1/model.py), which fills in what the paper leaves out:

* Conditioner CNN (sec. 3, "conditioner CNN"): the previous bar (N, 1, 16, 128) through four convolutions of 16
  filters -- 1x128 with stride (1, 2), which spans every pitch ((N, 16, 16, 1)), then three 2x1 with stride 2
  ((N, 16, 8, 1), (N, 16, 4, 1), (N, 16, 2, 1)) -- each with batch norm and LeakyReLU(0.2). Its four feature maps
  are joined to the generator's layers of the same height.
* Generator G (sec. 3, "generator CNN"): [z (100), chord] -> linear 1024 -> BN -> ReLU; [., chord] -> linear 256
  -> BN -> ReLU, reshaped to (N, 128, 2, 1); then three transposed convolutions of 128 filters 2x1 with stride 2
  (heights 4, 8, 16; BN, ReLU) and a last transposed convolution of one 1x128 filter that spreads each time step
  over the 128 pitches, then a sigmoid. Before each transposed convolution the chord is broadcast and concatenated
  along the channels (the "1-D conditions" at every layer) and so is the conditioner's map of the same height (the
  "2-D conditions"): 128 + 13 + 16 = 157 input channels.
* Discriminator D (sec. 3, "discriminator CNN"): [bar, chord broadcast] (14 channels) -> convolution of 14 filters
  2x128 with stride 2 ((N, 14, 8, 1)) -> LeakyReLU(0.2) -- these are the features f(x) of feature matching -- ;
  [., chord] -> convolution of 77 filters 4x1 with stride 2 ((N, 77, 3, 1)) -> BN -> LeakyReLU; flattened,
  [., chord] -> linear 1024 -> BN -> LeakyReLU; [., chord] -> linear 1 (the logit). As in the authors' code D has
  no minibatch discrimination layer: its only view of the minibatch is batch normalisation's statistics.
* Initialisation as the code's DCGAN ops: weights N(0, 0.02), biases 0, batch-norm scale 1 and shift 0.

``width`` (the code's gf_dim = df_dim = 64) sets the generator's 2 * width transposed-convolution filters and D's
width + 13 second-layer filters; ``hidden`` (gfc_dim = dfc_dim = 1024) the fully connected layers.
``previous_layers`` (0-4) is one of the knobs the paper offers on how strongly the previous bar steers G (sec. 3,
"creativity"; the other is the feature-matching weights of advlab.music.midinet): the conditioner's maps are joined
to the last `previous_layers` transposed convolutions only. 4, every layer, is the authors' code; fewer layers leave
more to z and the chord, and 0 ignores the previous bar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.errors import AdvlabError

STEPS, PITCHES, CHORD_DIM, NOISE_DIM = 16, 128, 13, 100
UPSAMPLINGS = 3  # transposed convolutions of stride 2 between height 2 and height 16
SLOPE = 0.2  # LeakyReLU slope of the conditioner and D


def init_midinet(module: nn.Module) -> None:
    """The authors' initialisation (DCGAN ops): N(0, 0.02) weights, zero biases, batch norm (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def broadcast(chords: Tensor, like: Tensor) -> Tensor:
    """(N, C) conditions as (N, C, H, W) maps of `like`'s height and width (the code's conv_cond_concat)."""
    return chords[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


def join(x: Tensor, *maps: Tensor) -> Tensor:
    """`x` with condition maps concatenated along the channels."""
    return torch.cat([x, *maps], dim=1)


def full_width_conv(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """`conv(x)` for a convolution whose kernel spans x's whole width (no padding, dilation 1, one group), so the
    output has width 1: (N, C_in, H, W) -> (N, C_out, H', 1). Computed as one matrix product over the kernel's
    windows -- the same numbers as the convolution, an order of magnitude faster on a CPU for these shapes."""
    kh, kw = conv.kernel_size
    if kw != x.shape[3] or conv.padding != (0, 0) or conv.groups != 1 or conv.dilation != (1, 1):
        raise ValueError(f"full_width_conv needs a kernel as wide as the input ({kw} vs {x.shape[3]}), no padding")
    windows = x.unfold(2, kh, conv.stride[0])  # (N, C_in, H', W, kh)
    windows = windows.permute(0, 2, 1, 4, 3).flatten(2)  # (N, H', C_in * kh * W), in the weight's order
    return F.linear(windows, conv.weight.flatten(1), conv.bias).permute(0, 2, 1).unsqueeze(3)


def width_one_transposed_conv(deconv: nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """`deconv(x)` for a transposed convolution of a width-1 input whose height stride equals its kernel height
    (the windows do not overlap; no padding): (N, C_in, H, 1) -> (N, C_out, H * kh, kw). One matrix product: every
    input row becomes a kh x kw block of the output."""
    kh, kw = deconv.kernel_size
    if x.shape[3] != 1 or deconv.stride[0] != kh or deconv.padding != (0, 0) or deconv.output_padding != (0, 0) \
            or deconv.groups != 1 or deconv.dilation != (1, 1):
        raise ValueError("width_one_transposed_conv needs a width-1 input and non-overlapping kernel rows")
    n, _, h, _ = x.shape
    out_channels = deconv.out_channels
    blocks = F.linear(x[..., 0].transpose(1, 2), deconv.weight.flatten(1).t())  # (N, H, C_out * kh * kw)
    blocks = blocks.view(n, h, out_channels, kh, kw).permute(0, 2, 1, 3, 4).reshape(n, out_channels, h * kh, kw)
    return blocks if deconv.bias is None else blocks + deconv.bias[None, :, None, None]


def check_bars(bars: Tensor, what: str, pitches: int = PITCHES) -> None:
    if bars.dim() != 4 or tuple(bars.shape[1:]) != (1, STEPS, pitches):
        raise AdvlabError(f"MidiNet {what} must be (N, 1, {STEPS}, {pitches}) piano rolls, got {tuple(bars.shape)}")


class PreviousBarConditioner(nn.Module):
    """The conditioner CNN: previous bar (N, 1, 16, 128) -> its maps at heights 16, 8, 4, 2, each
    (N, width, h, 1) (16 filters in the code).

    Args:
        width: filters of every layer (16).
        pitches: the bar's pitch axis (128), spanned by the first 1 x pitches kernel.
    """

    def __init__(self, width: int = 16, pitches: int = PITCHES):
        super().__init__()
        self.pitches = pitches
        self.layers = nn.ModuleList([nn.Conv2d(1, width, (1, pitches), stride=(1, 2))])
        self.layers.extend(nn.Conv2d(width, width, (2, 1), stride=(2, 2)) for _ in range(UPSAMPLINGS))
        self.norms = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(UPSAMPLINGS + 1))

    def forward(self, previous: Tensor) -> list[Tensor]:
        """(N, 1, 16, 128) -> [h0 (N, w, 16, 1), h1 (N, w, 8, 1), h2 (N, w, 4, 1), h3 (N, w, 2, 1)]."""
        check_bars(previous, "previous bars", self.pitches)
        maps, h = [], previous
        for conv, norm in zip(self.layers, self.norms):
            h = F.leaky_relu(norm(full_width_conv(conv, h)), SLOPE)
            maps.append(h)
        return maps


class MidiNetGenerator(nn.Module):
    """G(z, chord, previous bar) -> one bar (N, 1, 16, 128), sigmoid outputs in [0, 1].

    Args:
        noise_dim: length of z (100).
        chord_dim: length of a chord condition (13: 12 roots + minor; 0 for the paper's unconditional model 1).
        width: gf_dim (64): the transposed convolutions have 2 * width filters, the second linear 4 * width units.
        hidden: units of the first linear layer (gfc_dim, 1024).
        conditioner_width: filters of the previous-bar conditioner (16).
        previous_layers: how many of the four transposed convolutions, counted from the output, receive the
            conditioner's maps (4 = all, the code's and model 2's setting; 0 = the previous bar is ignored).
        pitches: the pitch axis (128).
    """

    def __init__(self, noise_dim: int = NOISE_DIM, chord_dim: int = CHORD_DIM, width: int = 64, hidden: int = 1024,
                 conditioner_width: int = 16, previous_layers: int = UPSAMPLINGS + 1, pitches: int = PITCHES):
        super().__init__()
        if not 0 <= previous_layers <= UPSAMPLINGS + 1:
            raise AdvlabError(f"previous_layers must be 0 to {UPSAMPLINGS + 1}, got {previous_layers}")
        if min(noise_dim, width, hidden, conditioner_width) < 1 or chord_dim < 0:
            raise AdvlabError("MidiNet's noise_dim, width, hidden and conditioner_width must be positive")
        self.noise_dim, self.chord_dim, self.pitches = noise_dim, chord_dim, pitches
        self.previous_layers = previous_layers
        channels = 2 * width
        self.channels = channels
        self.conditioner = PreviousBarConditioner(conditioner_width, pitches) if previous_layers else None
        self.fc1 = nn.Linear(noise_dim + chord_dim, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden + chord_dim, channels * 2)
        self.bn2 = nn.BatchNorm1d(channels * 2)
        extra = [chord_dim + (conditioner_width if self.receives_previous(i) else 0) for i in range(UPSAMPLINGS + 1)]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(channels + extra[i], channels, (2, 1), stride=(2, 2))
                                 for i in range(UPSAMPLINGS))
        self.up_norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(UPSAMPLINGS))
        self.out = nn.ConvTranspose2d(channels + extra[-1], 1, (1, pitches), stride=(1, 2))
        init_midinet(self)

    def receives_previous(self, layer: int) -> bool:
        """Does transposed convolution `layer` (0 = the first, at height 2; 3 = the output layer) see the
        conditioner's map?"""
        return layer >= UPSAMPLINGS + 1 - self.previous_layers

    def forward(self, z: Tensor, chords: Tensor, previous: Tensor) -> Tensor:
        """z (N, noise_dim), chords (N, chord_dim), previous bars (N, 1, 16, 128) -> bars (N, 1, 16, 128)."""
        if z.dim() != 2 or z.shape[1] != self.noise_dim:
            raise AdvlabError(f"MidiNet noise must be (N, {self.noise_dim}), got {tuple(z.shape)}")
        if chords.shape != (len(z), self.chord_dim):
            raise AdvlabError(f"MidiNet chords must be (N, {self.chord_dim}), got {tuple(chords.shape)}")
        check_bars(previous, "previous bars", self.pitches)
        # the conditioner's maps from the coarsest (height 2) to the finest (height 16), matching G's layers
        prev_maps = self.conditioner(previous)[::-1] if self.conditioner is not None else []
        h = F.relu(self.bn1(self.fc1(join(z, chords))))
        h = F.relu(self.bn2(self.fc2(join(h, chords))))
        h = h.view(len(z), self.channels, 2, 1)
        for i in range(UPSAMPLINGS + 1):
            maps = [broadcast(chords, h)] + ([prev_maps[i]] if self.receives_previous(i) else [])
            h = join(h, *maps)
            if i == UPSAMPLINGS:
                return torch.sigmoid(width_one_transposed_conv(self.out, h))
            h = F.relu(self.up_norms[i](width_one_transposed_conv(self.ups[i], h)))
        raise AssertionError("unreachable")


class MidiNetDiscriminator(nn.Module):
    """D(bar, chord) -> (logits (N,), features (N, 1 + chord_dim, 8, 1)): the logit of "real" and the first
    layer's activations f(x), which feature matching compares between real and generated bars.

    Args:
        chord_dim: length of a chord condition (13).
        width: df_dim (64): the second convolution has width + chord_dim filters (77).
        hidden: units of the fully connected layer (dfc_dim, 1024).
        pitches: the pitch axis (128), spanned by the first 2 x pitches kernel.
    """

    def __init__(self, chord_dim: int = CHORD_DIM, width: int = 64, hidden: int = 1024, pitches: int = PITCHES):
        super().__init__()
        if min(width, hidden) < 1 or chord_dim < 0:
            raise AdvlabError("MidiNet's discriminator width and hidden must be positive")
        self.chord_dim, self.pitches = chord_dim, pitches
        first = 1 + chord_dim
        self.conv1 = nn.Conv2d(first, first, (2, pitches), stride=(2, 2))
        self.conv2 = nn.Conv2d(first + chord_dim, width + chord_dim, (4, 1), stride=(2, 2))
        self.bn2 = nn.BatchNorm2d(width + chord_dim)
        rows = ((STEPS - 2) // 2 + 1 - 4) // 2 + 1  # heights 16 -> 8 -> 3
        self.fc = nn.Linear((width + chord_dim) * rows + chord_dim, hidden)
        self.bn3 = nn.BatchNorm1d(hidden)
        self.logit = nn.Linear(hidden + chord_dim, 1)
        init_midinet(self)

    def first_layer(self, bars: Tensor, chords: Tensor) -> Tensor:
        """``conv1`` of [bars, chords broadcast], (N, 1 + chord_dim, 8, 1), before the activation. A chord map is
        constant, so its part of each window's sum is the chord times its weights summed over the window: the
        same numbers as the convolution of the joined maps, without building them."""
        weight = self.conv1.weight  # (C_out, 1 + chord_dim, 2, pitches)
        windows = bars.unfold(2, self.conv1.kernel_size[0], self.conv1.stride[0])  # (N, 1, 8, pitches, 2)
        windows = windows.permute(0, 2, 1, 4, 3).flatten(2)  # (N, 8, 2 * pitches)
        out = F.linear(windows, weight[:, :1].flatten(1), self.conv1.bias)
        out = out + F.linear(chords, weight[:, 1:].sum(dim=(2, 3)))[:, None, :]
        return out.permute(0, 2, 1).unsqueeze(3)

    def features(self, bars: Tensor, chords: Tensor) -> Tensor:
        """f(x): the first layer's activations (N, 1 + chord_dim, 8, 1), all that feature matching needs of D."""
        check_bars(bars, "bars", self.pitches)
        if chords.shape != (len(bars), self.chord_dim):
            raise AdvlabError(f"MidiNet chords must be (N, {self.chord_dim}), got {tuple(chords.shape)}")
        return F.leaky_relu(self.first_layer(bars, chords), SLOPE)

    def forward(self, bars: Tensor, chords: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(bars, chords)
        h = F.leaky_relu(self.bn2(full_width_conv(self.conv2, join(features, broadcast(chords, features)))), SLOPE)
        h = F.leaky_relu(self.bn3(self.fc(join(h.flatten(1), chords))), SLOPE)
        return self.logit(join(h, chords)).squeeze(1), features


__all__ = ["MidiNetDiscriminator", "MidiNetGenerator", "PreviousBarConditioner", "init_midinet"]
