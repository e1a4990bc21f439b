"""WAV files in and out, and resampling: the house's audio boundary (issue 21).

Audio at every API boundary is a float32 tensor in [-1, 1], mono, at ``SAMPLE_RATE`` (16,000 Hz) unless a caller
asks for another rate. The log-mel front-end needs at least ``MIN_SAMPLE_RATE`` (8,000 Hz): speech carries most of
its intelligibility below 4 kHz, the Nyquist frequency of 8 kHz audio; a recording made below that has lost it and
is refused rather than upsampled.

* :func:`read_wav` decodes any WAV scipy.io.wavfile reads -- PCM of 8 bits (unsigned), 16, 24 (scipy gives it
  left-justified in int32), 32 and 64 bits, and 32/64-bit float -- to float32 in [-1, 1] (integers divided by
  2^(bits-1), 8-bit centred on 128, float samples clipped), channels averaged. WAVs whose header gives a wrong
  length (espeak-ng ``--stdout`` writes one: it streams) are read up to their last whole sample.
* :func:`write_wav` writes 16-bit PCM, clipped to [-1, 1] and rounded, atomically (a temporary file renamed).
* :func:`resample` is polyphase resampling (``scipy.signal.resample_poly``, its default Kaiser-windowed FIR with
  beta 5) by the gcd-reduced ratio rate_to / rate_from.
* :func:`load_audio` reads, refuses a rate below ``MIN_SAMPLE_RATE`` and resamples.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import scipy.io.wavfile
import scipy.signal
import torch
from torch import Tensor

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.errors import AdvlabError

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 8000
PCM_MAX = 32767  # 16-bit full scale written by write_wav


def _to_float(data: np.ndarray) -> np.ndarray:
    """scipy's samples (T,) or (T, C) of any WAV dtype -> float32 in [-1, 1], same shape."""
    if data.dtype == np.uint8:  # 8-bit PCM is unsigned, centred on 128
        return (data.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(data.dtype, np.signedinteger):  # 16-bit, 24-bit (left-justified int32), 32, 64
        scale = float(2 ** (8 * data.dtype.itemsize - 1))
        return (data.astype(np.float64) / scale).astype(np.float32)
    if np.issubdtype(data.dtype, np.floating):
        values = np.nan_to_num(data.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
        return np.clip(values, -1.0, 1.0)
    raise ValueError(f"unsupported sample type {data.dtype}")


def _decode(source, label: str) -> tuple[Tensor, int]:
    """Decode WAV bytes or a path (read_wav's rules); `label` names the source in errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            rate, data = scipy.io.wavfile.read(source)
        samples = _to_float(np.asarray(data))
    except (ValueError, EOFError, OSError, TypeError, IndexError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AdvlabError(f"{label} is not a WAV file that decodes ({reason})") from None
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1 or samples.size == 0:
        raise AdvlabError(f"{label} is not a WAV file that decodes (it holds no samples)")
    if rate <= 0:
        raise AdvlabError(f"{label} is not a WAV file that decodes (its header gives a sample rate of {rate} Hz)")
    return torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), int(rate)


def read_wav(path: str | Path) -> tuple[Tensor, int]:
    """Read a WAV file as ((T,) float32 in [-1, 1], sample rate in Hz); channels are averaged.

    Args:
        path: a .wav file: PCM 8/16/24/32/64-bit or float 32/64-bit, any number of channels.

    Raises:
        AdvlabError: "PATH: no such file", or "PATH is not a WAV file that decodes (reason)" for anything scipy
            cannot read, a file with no samples, or a zero sample rate.
    """
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{path}: no such file")
    return _decode(str(path), str(path))


def decode_wav_bytes(data: bytes, label: str = "the audio") -> tuple[Tensor, int]:
    """:func:`read_wav` of WAV bytes held in memory (a pipe's output); `label` names them in errors."""
    return _decode(io.BytesIO(data), label)


def pcm16(waves: Tensor) -> Tensor:
    """What `read_wav` reads back from the 16-bit file `write_wav` makes of `waves` (any shape): clipped to [-1, 1],
    rounded to round(x * 32767), read as that / 32768 (the usual reading of 16-bit PCM)."""
    levels = torch.round(waves.double().clamp(-1.0, 1.0) * PCM_MAX)  # float64, as wav_bytes rounds
    return (levels / (PCM_MAX + 1)).to(waves.dtype)


def wav_bytes(wave: Tensor | np.ndarray, rate: int) -> bytes:
    """A (T,) wave as the bytes of a 16-bit PCM mono WAV file, clipped to [-1, 1]."""
    samples = np.asarray(wave.detach().cpu() if isinstance(wave, Tensor) else wave, dtype=np.float64)
    if samples.ndim != 1:
        raise AdvlabError(f"write_wav needs one mono wave (T,), got shape {tuple(samples.shape)}")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise AdvlabError(f"the sample rate must be a positive integer number of Hz, got {rate!r}")
    samples = np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0)
    buffer = io.BytesIO()
    scipy.io.wavfile.write(buffer, int(rate), np.round(samples * PCM_MAX).astype(np.int16))
    return buffer.getvalue()


def write_wav(path: str | Path, wave: Tensor | np.ndarray, rate: int) -> Path:
    """Write a (T,) wave as a 16-bit PCM mono WAV file (clipped to [-1, 1]); parents are made; returns the path.

    The file is written through a temporary file and renamed (core.checkpoints.atomic_write_bytes), so a reader
    never sees half a file. Samples map to round(x * 32767).
    """
    path = Path(path)
    data = wav_bytes(wave, rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def _check_rate(name: str, rate) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise AdvlabError(f"{name} must be a positive integer number of Hz, got {rate!r}")
    return int(rate)


def resample(wave: Tensor, rate_from: int, rate_to: int) -> Tensor:
    """(T,) wave at `rate_from` -> (ceil(T * rate_to / rate_from),) float32 at `rate_to`, clipped to [-1, 1].

    Polyphase resampling (scipy.signal.resample_poly, up = rate_to / g, down = rate_from / g, g their gcd); its
    anti-aliasing filter removes what lies above the lower Nyquist frequency. Equal rates return the wave as it is.
    The result is on the wave's device.
    """
    rate_from, rate_to = _check_rate("rate_from", rate_from), _check_rate("rate_to", rate_to)
    if wave.ndim != 1:
        raise AdvlabError(f"resample needs one mono wave (T,), got shape {tuple(wave.shape)}")
    if rate_from == rate_to:
        return wave
    g = math.gcd(rate_from, rate_to)
    values = scipy.signal.resample_poly(wave.detach().cpu().double().numpy(), rate_to // g, rate_from // g)
    return torch.from_numpy(np.clip(values, -1.0, 1.0).astype(np.float32)).to(wave.device)


def load_audio(path: str | Path, rate: int = SAMPLE_RATE) -> Tensor:
    """A WAV file as a (T,) float32 wave in [-1, 1] at `rate` Hz (channels averaged, resampled).

    Raises:
        AdvlabError: read_wav's errors, and "PATH is recorded at R Hz; the front-end needs at least 8000 Hz" for a
            file recorded below ``MIN_SAMPLE_RATE``.
    """
    rate = _check_rate("rate", rate)
    wave, recorded = read_wav(path)
    check_recorded_rate(recorded, str(path))
    return resample(wave, recorded, rate)


def check_recorded_rate(recorded: int, label: str) -> None:
    """Refuse audio recorded below MIN_SAMPLE_RATE: "LABEL is recorded at R Hz; the front-end needs at least 8000 Hz"
    (speech needs 4 kHz of bandwidth)."""
    if recorded < MIN_SAMPLE_RATE:
        raise AdvlabError(f"{label} is recorded at {recorded} Hz; the front-end needs at least {MIN_SAMPLE_RATE} Hz")


__all__ = ["MIN_SAMPLE_RATE", "SAMPLE_RATE", "check_recorded_rate", "decode_wav_bytes", "load_audio", "pcm16",
           "read_wav", "resample", "wav_bytes", "write_wav"]
