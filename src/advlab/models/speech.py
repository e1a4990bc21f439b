"""Speech models that gradients flow through, end to end, from the output back to the waveform.

The front-end (``LogMel``) is the log-mel spectrogram computed in torch: a short-time Fourier transform (Hann window
of 25 ms, hop of 10 ms, ``center=True`` with zero padding), the power spectrum |X|^2, a bank of triangular mel
filters (Slaney's mel scale and area normalisation, exactly ``librosa.filters.mel(htk=False, norm="slaney")``) and
log(mel + 1e-6). Every step is differentiable, so an attack can take the gradient of a loss with respect to the
samples (Carlini & Wagner 2018, "Audio adversarial examples: targeted attacks on speech-to-text", sec. 3, who do
the same through DeepSpeech's MFCC front-end). Each utterance's features are then normalised per mel channel over
its own valid frames (cepstral mean and variance normalisation), so a recording's level does not matter.

Two model families, both ``SpeechModel``s (waves (N, T) in [-1, 1], zero-padded on the right, with lengths (N,)):

* ``CTCRecogniser`` -- a small Deep Speech 2 (Amodei et al. 2016, "Deep Speech 2: end-to-end speech recognition in
  English and Mandarin", sec. 3): a 2-D convolution over (mel, time) with stride 2 in both, clipped ReLU
  min(max(x, 0), 20) (their eq. 1), a stack of bidirectional GRUs (sec. 3.3) run on packed sequences so padding
  never changes a row's output, and a linear layer + softmax per frame over the vocabulary's words and the CTC
  blank (token 0). Trained with the CTC loss (Graves et al. 2006, eq. 14: -ln p(l | x), summed over alignments),
  decoded greedily (advlab.metrics.speech.greedy_ctc_decode). Deep Speech 2 has 2-3 layers of 32 convolution
  filters and 1,760-2,560 hidden units per GRU; the defaults here (32 filters, 2 x 128 units) keep a training step
  of 32 utterances at about 0.2 s on one CPU thread, enough for a vocabulary of ten digit words.
* ``KeywordClassifier`` -- the keyword-spotting CNN of Sainath & Parada 2015 ("Convolutional neural networks for
  small-footprint keyword spotting", sec. 3.1, "cnn-trad-fpool3"), the Speech Commands baseline (Warden 2018): a
  convolution of 20 frames x 8 mel bands, max-pooling of 3 in frequency, a convolution of 10 frames x 4 bands
  (ReLU after each; the paper uses 64 filters, here `width`, default 32), then -- so that any utterance length
  works -- the mean over the valid frames, a hidden layer and a linear layer to one logit per word.

Measured (one CPU thread, Adam, batch 32, gradient norm clipped at 5; 2,000 espeak-ng utterances of 1-4 digit words
from advlab.data.spoken, 10% held out with split_held_out(seed 0); /tmp/s13/shared/tune_speech.py):

* CTCRecogniser defaults (32 filters, 2 x 128 GRU units, 0.89 M weights), lr 2e-3: 0.26 CPU s a step; held-out WER
  0.000 and sentence accuracy 1.000 after 200 steps (53 s) at seed 0, staying there to 1,000 steps; at seed 1
  WER 0.6% after 200 steps, 0.2-1% at 250-400.
* A smaller CTCRecogniser (width 16, hidden 64, 0.23 M weights), lr 3e-3: 0.13 s a step; held-out WER 0.4%,
  sentence accuracy 0.99 after 300 steps (40 s).
* KeywordClassifier defaults on the 485 one-word utterances (48 held out), lr 2e-3: 0.11 s a step; held-out
  accuracy 0.958 after 400-800 steps at seed 0, 0.979 after 1,000 at seed 1 (one of 48 wrong).

Padding rows, and any samples beyond a row's length, never change that row's output: the samples beyond a length
are zeroed, the features beyond its valid frames are zeroed before every convolution (what the convolution's own
zero padding would read), and the GRU sees a packed sequence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from advlab.core.checkpoints import load_latest, module_state, read_tensors, restore_module
from advlab.core.errors import AdvlabError
from advlab.data.audio_io import SAMPLE_RATE
from advlab.metrics.speech import greedy_ctc_decode

BLANK = 0  # the CTC blank; the token of vocabulary word i is i + 1
LOG_FLOOR = 1e-6  # log(mel + LOG_FLOOR): about -138 dB below a full-scale sine's band energy
NORM_EPS = 1e-5  # variance floor of the per-utterance normalisation
CLIP = 20.0  # Deep Speech 2's clipped ReLU, min(max(x, 0), 20)
IMPOSSIBLE_LOSS = 1.0e4  # CTC loss of a target the frames cannot hold (finite, so a batch's mean stays finite)
PREFIX = "recogniser"  # the checkpoint prefix of a speech model's weights


# ---------------------------------------------------------------------------------------------- the mel front-end

def hz_to_mel(hz: Tensor) -> Tensor:
    """Slaney's mel scale (the Auditory Toolbox; librosa's htk=False): linear below 1 kHz (3 mels per 200 Hz),
    logarithmic above (27 mels per factor of 6.4)."""
    linear = hz / (200.0 / 3)
    log_part = 15.0 + torch.log(hz.clamp(min=1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log_part, linear)


def mel_to_hz(mel: Tensor) -> Tensor:
    """Inverse of `hz_to_mel`."""
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return torch.where(mel >= 15.0, log_part, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> Tensor:
    """Triangular mel filters on the STFT's frequency bins, as librosa.filters.mel(htk=False, norm="slaney").

    `n_mels` + 2 points evenly spaced on the Slaney mel scale from `f_min` to `f_max` (default sample_rate / 2);
    filter m rises linearly from point m to m + 1 and falls to m + 2 (in Hz), scaled by 2 / (f_{m+2} - f_m) so
    every filter has the same area (Slaney's normalisation). Computed in float64.

    Returns:
        (n_mels, n_fft // 2 + 1) float32 weights.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise AdvlabError(f"mel filterbank needs 0 <= f_min < f_max <= {sample_rate / 2:g} Hz "
                          f"(half the sample rate); got f_min={f_min:g}, f_max={f_max:g}")
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    low, high = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    points = mel_to_hz(torch.linspace(float(low), float(high), n_mels + 2, dtype=torch.float64))
    widths = points.diff()  # (n_mels + 1,)
    ramps = points[:, None] - bins[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (points[2:] - points[:-2]))[:, None]
    return weights.float()


class LogMel(nn.Module):
    """Log-mel spectrogram of waveforms, differentiable to the samples.

    Args:
        sample_rate: samples per second of the input (16,000).
        n_fft: STFT window and FFT length in samples (400 = 25 ms at 16 kHz).
        hop: samples between frames (160 = 10 ms at 16 kHz).
        n_mels: mel bands (40).
        f_min: lowest filter edge in Hz (20).
        f_max: highest filter edge in Hz (None: sample_rate / 2).

    forward(waves (N, T)) -> (N, n_mels, T // hop + 1): log(mel_filterbank @ |STFT|^2 + 1e-6), with a periodic
    Hann window and ``center=True`` (n_fft // 2 zeros padded on both sides; librosa 0.11's default), in float32
    whatever the autocast precision.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 400, hop: int = 160, n_mels: int = 40,
                 f_min: float = 20.0, f_max: float | None = None) -> None:
        super().__init__()
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max),
                             persistent=False)

    def forward(self, waves: Tensor) -> Tensor:
        with torch.autocast(waves.device.type, enabled=False):
            spectrum = torch.stft(waves.float(), self.n_fft, self.hop, window=self.window, center=True,
                                  pad_mode="constant", return_complex=True)  # (N, n_fft // 2 + 1, frames)
            power = spectrum.real.square() + spectrum.imag.square()
            return torch.log(torch.matmul(self.filterbank, power) + LOG_FLOOR)

    def frames(self, lengths: Tensor) -> Tensor:
        """(N,) frames that hold a row's samples: lengths // hop + 1 (the frames ``center=True`` gives)."""
        return torch.div(lengths, self.hop, rounding_mode="floor") + 1


# ---------------------------------------------------------------------------------------------- shared helpers

def frame_mask(frames: Tensor, total: int) -> Tensor:
    """(N, total) float mask: 1 on each row's first frames[n] positions."""
    return (torch.arange(total, device=frames.device)[None, :] < frames[:, None]).float()


def mask_frames(x: Tensor, frames: Tensor) -> Tensor:
    """`x` (N, ..., F) with every position at or beyond frames[n] along the last axis set to 0."""
    mask = frame_mask(frames.to(x.device), x.shape[-1])
    return x * mask.view(mask.shape[0], *([1] * (x.dim() - 2)), mask.shape[1])


def normalise(features: Tensor, frames: Tensor) -> Tensor:
    """Per-utterance, per-channel mean and variance normalisation over the valid frames (CMVN).

    features (N, C, F), frames (N,) -> (N, C, F), zero beyond each row's frames.
    """
    mask = frame_mask(frames, features.shape[-1])[:, None, :]
    count = frames.to(features.dtype)[:, None, None]
    mean = (features * mask).sum(-1, keepdim=True) / count
    centred = (features - mean) * mask
    variance = centred.square().sum(-1, keepdim=True) / count
    return centred / torch.sqrt(variance + NORM_EPS)


def same_padding(x: Tensor, kernel: tuple[int, int]) -> Tensor:
    """`x` (N, C, H, W) zero-padded so that a stride-1 convolution of `kernel` keeps H and W (an even kernel gets
    one more zero after than before, as PyTorch's padding="same")."""
    (kh, kw) = kernel
    return F.pad(x, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))


def conv_frames(frames: Tensor, kernel: int, stride: int, padding: int) -> Tensor:
    """Output frames of a convolution along time: (frames + 2 padding - kernel) // stride + 1."""
    return torch.div(frames + 2 * padding - kernel, stride, rounding_mode="floor") + 1


def ctc_frames_needed(tokens: Tensor, token_lengths: Tensor) -> Tensor:
    """(N,) fewest frames a CTC alignment of each target needs: its length plus one blank between each pair of
    equal neighbouring tokens ("one one" needs 3 frames)."""
    if tokens.shape[1] < 2:
        return token_lengths.clone()
    repeats = tokens[:, 1:] == tokens[:, :-1]
    inside = torch.arange(1, tokens.shape[1], device=tokens.device)[None, :] < token_lengths[:, None]
    return token_lengths + (repeats & inside).sum(1)


def checked_vocabulary(vocabulary: Sequence[str]) -> tuple[str, ...]:
    """The vocabulary as a tuple of distinct lower-case words; anything else is an AdvlabError."""
    words = tuple(vocabulary)
    if not words:
        raise AdvlabError("a speech model needs a vocabulary of at least one word")
    bad = [w for w in words if not isinstance(w, str) or not w or w != w.lower() or len(w.split()) != 1]
    if bad:
        raise AdvlabError(f"vocabulary words must be single lower-case words; not {bad[:5]}")
    if len(set(words)) != len(words):
        raise AdvlabError("the vocabulary lists a word twice: " + ", ".join(sorted({w for w in words
                                                                                    if words.count(w) > 1})))
    return words


# ---------------------------------------------------------------------------------------------- the models

class SpeechModel(nn.Module):
    """What attacks and pipelines use of a speech model: waves (N, T) in [-1, 1] with lengths (N,) in, words out.

    Subclasses set `kind` and define `forward`, `output_lengths`, `loss` and `transcribe`.

    Args:
        vocabulary: the words, in token order (word i is token i + 1; token 0 is the CTC blank).
        sample_rate: samples per second the model expects (16,000).
        n_mels: mel bands of the front-end (40); its window is 25 ms and its hop 10 ms at any rate.
    """

    kind = ""

    def __init__(self, vocabulary: Sequence[str], sample_rate: int = SAMPLE_RATE, n_mels: int = 40) -> None:
        super().__init__()
        self.vocabulary = checked_vocabulary(vocabulary)
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.front = LogMel(self.sample_rate, n_fft=round(0.025 * sample_rate), hop=round(0.010 * sample_rate),
                            n_mels=self.n_mels)

    def features(self, waves: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised log-mel features (N, n_mels, F), zero beyond each row's valid frames, and those frames (N,).
        Samples at or beyond a row's length are zeroed first, so whatever pads a row cannot reach it."""
        lengths = lengths.to(waves.device).long()
        waves = mask_frames(waves, lengths)
        frames = self.front.frames(lengths)
        return normalise(self.front(waves), frames), frames

    def output_lengths(self, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, waves: Tensor, lengths: Tensor, tokens: Tensor, token_lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def transcribe(self, waves: Tensor, lengths: Tensor) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def encode(self, words: str | Sequence[str]) -> Tensor:
        """Tokens (S,) long of a transcript ("one two" or ("one", "two")): word i of the vocabulary is i + 1.

        Words outside the vocabulary are an AdvlabError that names each of them and lists the vocabulary.
        """
        words = tuple(words.lower().split()) if isinstance(words, str) else tuple(words)
        unknown = [w for w in words if w not in self.vocabulary]
        if unknown:
            listed = ", ".join(dict.fromkeys(repr(w) for w in unknown))
            raise AdvlabError(f"{listed} {'is' if len(set(unknown)) == 1 else 'are'} not in the model's vocabulary; "
                              f"it knows: {' '.join(self.vocabulary)}")
        return torch.tensor([self.vocabulary.index(w) + 1 for w in words], dtype=torch.long)

    def words(self, tokens: Sequence[int]) -> tuple[str, ...]:
        """The words of tokens (blank and out-of-range tokens skipped)."""
        return tuple(self.vocabulary[t - 1] for t in tokens if 1 <= t <= len(self.vocabulary))

    def settings(self) -> dict[str, Any]:
        """JSON-able settings that `build_speech_model` rebuilds this model from (kind, vocabulary, sample_rate
        and the sizes)."""
        return {"kind": self.kind, "vocabulary": list(self.vocabulary), "sample_rate": self.sample_rate,
                "n_mels": self.n_mels, **self.sizes()}

    def sizes(self) -> dict[str, int | float]:
        return {}


class CTCRecogniser(SpeechModel):
    """A small Deep Speech 2: log-mel -> CMVN -> 2-D convolution (stride 2 x 2, clipped ReLU) -> bidirectional
    GRUs (packed) -> per-frame log-softmax over blank + words.

    Args:
        vocabulary: the words (token i + 1 = word i; 0 = blank).
        sample_rate: 16,000.
        n_mels: mel bands (40).
        width: convolution filters (32; Deep Speech 2 uses 32).
        hidden: GRU units per direction (128).
        layers: stacked bidirectional GRU layers (2).

    forward(waves (N, T), lengths (N,)) -> log-probabilities (N, F', V + 1), F' = (T // hop) // 2 + 1 frames of
    20 ms; rows are valid up to output_lengths(lengths).
    """

    kind = "ctc"
    KERNEL = (11, 11)  # (mel bands, frames): Deep Speech 2's second layer is 21 x 11 on 161 bins; ours see 40 bands
    STRIDE = 2

    def __init__(self, vocabulary: Sequence[str], sample_rate: int = SAMPLE_RATE, n_mels: int = 40, width: int = 32,
                 hidden: int = 128, layers: int = 2) -> None:
        super().__init__(vocabulary, sample_rate, n_mels)
        self.width, self.hidden, self.layers = int(width), int(hidden), int(layers)
        pad = (self.KERNEL[0] // 2, self.KERNEL[1] // 2)
        self.conv = nn.Conv2d(1, self.width, self.KERNEL, stride=self.STRIDE, padding=pad)
        bands = (n_mels + 2 * pad[0] - self.KERNEL[0]) // self.STRIDE + 1
        self.rnn = nn.GRU(self.width * bands, self.hidden, num_layers=self.layers, bidirectional=True,
                          batch_first=True)
        self.head = nn.Linear(2 * self.hidden, len(self.vocabulary) + 1)

    def sizes(self) -> dict[str, int]:
        return {"width": self.width, "hidden": self.hidden, "layers": self.layers}

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """(N,) valid output frames of each row."""
        return conv_frames(self.front.frames(lengths.long()), self.KERNEL[1], self.STRIDE, self.KERNEL[1] // 2)

    def forward(self, waves: Tensor, lengths: Tensor) -> Tensor:
        features, frames = self.features(waves, lengths)
        x = torch.clamp(self.conv(features.unsqueeze(1)), 0.0, CLIP)  # (N, width, bands, F')
        x = x.permute(0, 3, 1, 2).flatten(2)  # (N, F', width * bands)
        steps = conv_frames(frames, self.KERNEL[1], self.STRIDE, self.KERNEL[1] // 2)
        packed = pack_padded_sequence(x, steps.cpu(), batch_first=True, enforce_sorted=False)
        # cuDNN's RNN has no backward pass in eval mode; an attack needs one, so eval-mode gradients use PyTorch's
        with torch.backends.cudnn.flags(enabled=self.training or not torch.is_grad_enabled()):
            out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return F.log_softmax(self.head(out).float(), dim=-1)

    def loss(self, waves: Tensor, lengths: Tensor, tokens: Tensor, token_lengths: Tensor) -> Tensor:
        """(N,) CTC loss -ln p(tokens | waves) of each utterance (Graves et al. 2006, eq. 14; blank 0).

        tokens (N, S) long (padded with anything), token_lengths (N,). A target that the row's frames cannot hold
        (fewer frames than `ctc_frames_needed`) has no alignment: its loss is IMPOSSIBLE_LOSS (1e4), finite, with
        no gradient, rather than torch's infinity.
        """
        log_probs = self(waves, lengths)
        steps = self.output_lengths(lengths.to(log_probs.device))
        tokens, token_lengths = tokens.to(log_probs.device).long(), token_lengths.to(log_probs.device).long()
        losses = F.ctc_loss(log_probs.transpose(0, 1), tokens, steps, token_lengths, blank=BLANK, reduction="none",
                            zero_infinity=True)
        feasible = ctc_frames_needed(tokens, token_lengths) <= steps
        return torch.where(feasible, losses, torch.full_like(losses, IMPOSSIBLE_LOSS))

    @torch.no_grad()
    def transcribe(self, waves: Tensor, lengths: Tensor) -> list[tuple[str, ...]]:
        """Greedy (best-path) CTC transcripts, one tuple of words per row."""
        log_probs = self(waves, lengths)
        return [self.words(t) for t in greedy_ctc_decode(log_probs, self.output_lengths(lengths), BLANK)]


class KeywordClassifier(SpeechModel):
    """Sainath & Parada's cnn-trad-fpool3 over the valid frames: one word per utterance.

    Args:
        vocabulary: the words (classes; class i is word i, token i + 1).
        sample_rate: 16,000.
        n_mels: mel bands (40).
        width: filters of each convolution (32; the paper's 64).
        hidden: units of the hidden layer before the output (128; the paper's DNN layer).
        dropout: dropout probability on the pooled features and the hidden layer while training (0; the Speech
            Commands baseline uses 0.5, which on the digit set's 437 one-word utterances cost accuracy: 95.8% vs
            97.9% held out after 1,000 steps).

    forward(waves (N, T), lengths (N,)) -> logits (N, V).
    """

    kind = "keyword"
    KERNELS = ((8, 20), (4, 10))  # (mel bands, frames) of the two convolutions (sec. 3.1, Table 1)
    POOL = 3  # max-pooling in frequency after the first convolution

    def __init__(self, vocabulary: Sequence[str], sample_rate: int = SAMPLE_RATE, n_mels: int = 40, width: int = 32,
                 hidden: int = 128, dropout: float = 0.0) -> None:
        super().__init__(vocabulary, sample_rate, n_mels)
        if n_mels < self.POOL:
            raise AdvlabError(f"the keyword classifier needs at least {self.POOL} mel bands, not {n_mels}")
        if not 0 <= dropout < 1:
            raise AdvlabError(f"dropout must lie in [0, 1), got {dropout}")
        self.width, self.hidden, self.dropout = int(width), int(hidden), float(dropout)
        self.conv1 = nn.Conv2d(1, self.width, self.KERNELS[0])
        self.conv2 = nn.Conv2d(self.width, self.width, self.KERNELS[1])
        self.fc = nn.Linear(self.width * (n_mels // self.POOL), self.hidden)
        self.head = nn.Linear(self.hidden, len(self.vocabulary))

    def sizes(self) -> dict[str, int | float]:
        return {"width": self.width, "hidden": self.hidden, "dropout": self.dropout}

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """(N,) ones: one decision per utterance."""
        return torch.ones_like(lengths, dtype=torch.long)

    def forward(self, waves: Tensor, lengths: Tensor) -> Tensor:
        features, frames = self.features(waves, lengths)
        x = F.relu(self.conv1(same_padding(features.unsqueeze(1), self.KERNELS[0])))  # (N, width, n_mels, F)
        x = F.max_pool2d(x, (self.POOL, 1))  # (N, width, n_mels // 3, F)
        x = F.relu(self.conv2(same_padding(mask_frames(x, frames), self.KERNELS[1])))
        pooled = mask_frames(x, frames).sum(-1) / frames.to(x.dtype)[:, None, None]  # mean over valid frames
        pooled = F.dropout(pooled.flatten(1), self.dropout, self.training)
        return self.head(F.dropout(F.relu(self.fc(pooled)), self.dropout, self.training))

    def loss(self, waves: Tensor, lengths: Tensor, tokens: Tensor, token_lengths: Tensor) -> Tensor:
        """(N,) cross-entropy of class tokens[:, 0] - 1 (token_lengths is accepted for the common signature)."""
        logits = self(waves, lengths)
        return F.cross_entropy(logits.float(), tokens[:, 0].to(logits.device).long() - 1, reduction="none")

    @torch.no_grad()
    def transcribe(self, waves: Tensor, lengths: Tensor) -> list[tuple[str, ...]]:
        """The arg-max word of each row, as a one-word transcript."""
        return [(self.vocabulary[i],) for i in self(waves, lengths).argmax(1).tolist()]

    def encode(self, words: str | Sequence[str]) -> Tensor:
        """The token (1,) of exactly one word."""
        tokens = super().encode(words)
        if tokens.numel() != 1:
            raise AdvlabError(f"a keyword classifier's target is one word, not {tokens.numel()}; "
                              f"choose one of: {' '.join(self.vocabulary)}")
        return tokens


# ---------------------------------------------------------------------------------------------- building, loading

MODELS: dict[str, type[SpeechModel]] = {"ctc": CTCRecogniser, "keyword": KeywordClassifier}


def build_speech_model(settings: dict[str, Any]) -> SpeechModel:
    """The model `settings` (a model's `settings()`: kind, vocabulary, sample_rate, n_mels and its sizes) describes,
    freshly initialised. An unknown kind or key is an AdvlabError naming the valid ones."""
    settings = dict(settings)
    kind = settings.pop("kind", None)
    if kind not in MODELS:
        raise AdvlabError(f"unknown speech model kind {kind!r}: choose one of {', '.join(MODELS)}")
    cls = MODELS[kind]
    valid = [p for p in cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount]]
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise AdvlabError(f"unknown {kind} model setting(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    if "vocabulary" not in settings:
        raise AdvlabError("speech model settings need a 'vocabulary'")
    return cls(**settings)


def export_speech_model(model: SpeechModel, directory: str | Path) -> Path:
    """Write a model outside a run: DIR/model.safetensors (module_state(model, "recogniser")) and
    DIR/settings.json (model.settings()); `load_speech_model(DIR)` reads it back. Returns DIR."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module_state(model, PREFIX).items()}
    save_file(state, str(directory / "model.safetensors"))
    (directory / "settings.json").write_text(json.dumps(model.settings(), indent=1))
    return directory


def load_speech_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[SpeechModel, dict]:
    """The trained speech model of an audio run, in eval mode on `device`, and its checkpoint's meta.

    Reads the run's latest checkpoint (RUN/checkpoints): weights under the prefix "recogniser", the settings under
    the meta key "model". A folder written by `export_speech_model` (model.safetensors + settings.json) loads too
    (its meta is {"model": settings}). Anything else is an AdvlabError "RUN is not an audio run".
    """
    run = Path(run_dir)
    if (run / "checkpoints").is_dir():
        checkpoint = load_latest(run / "checkpoints")
        tensors, meta = checkpoint.tensors, checkpoint.meta
    elif (run / "settings.json").is_file() and (run / "model.safetensors").is_file():
        try:
            meta = {"model": json.loads((run / "settings.json").read_text())}
        except ValueError as error:
            raise AdvlabError(f"{run / 'settings.json'} is not JSON: {error}") from None
        tensors = read_tensors(run / "model.safetensors")
    else:
        raise AdvlabError(f"{run} is not an audio run (advlab audio train)")
    if not isinstance(meta.get("model"), dict):
        raise AdvlabError(f"{run} is not an audio run (advlab audio train)")
    model = build_speech_model(meta["model"])
    restore_module(model, PREFIX, tensors)
    return model.to(device).eval(), meta
