"""Spoken digit strings synthesised with espeak-ng: speech data without a download (issue 21, part 1).

Carlini & Wagner (2018) attack DeepSpeech trained on thousands of hours of speech; advlab trains its small
recognisers on utterances it makes itself with espeak-ng (Debian's ``espeak-ng`` package, a formant synthesiser), so
that a run, a test and an attack need nothing from the network. :func:`make_spoken_digits` writes a folder that
:func:`advlab.data.audio_sets.load_audio_folder` reads back by its transcript file.

Each utterance ``i`` is made from its own random stream (``numpy.random.default_rng([seed, i])``), so the folder is
the same file for file for one seed, and its first k utterances do not depend on ``n``:

1. **Text**: ``min_words`` .. ``max_words`` words (uniform), each a uniform draw from ``DIGIT_WORDS`` -- "seven four
   four". Words are spoken as the synthesiser reads them, separated by a random extra word gap of 0-50 ms
   (``WORD_GAP_MS``, espeak-ng ``-g``).
2. **Voice**: an English accent from ``ACCENTS`` (British ``en``, American ``en-us``, New York ``en-us-nyc``,
   Scottish, Lancastrian, West Midlands, Received Pronunciation, Caribbean) and, with even odds, a male variant
   (``MALE_VARIANTS``: the accent's own voice or ``+m1`` .. ``+m7``) or a female one (``FEMALE_VARIANTS``: ``+f1``
   .. ``+f5``) -- 8 x 13 = 104 voices. (espeak-ng 1.51 ignores a variant appended to ``en-gb``, hence ``en``.)
3. **Prosody**: speed uniform in 120-200 words per minute (``SPEED_WPM``; espeak-ng's default is 175), pitch uniform
   in 20-80 (``PITCH``, espeak-ng's 0-99 scale, default 50).
4. **Silence**: the synthesiser's output (22,050 Hz, resampled to ``rate`` with :func:`~advlab.data.audio_io.resample`)
   is trimmed to its first and last sample at or above -40 dB of its peak (``TRIM_DB``), then given a silent margin
   of 50-250 ms (``MARGIN_SECONDS``, drawn for each end).
5. **Noise**: white Gaussian noise at a signal-to-noise ratio drawn uniformly from ``snr_db`` (default 20-40 dB).
   The SNR is that of the *speech*: 10 log10(P_s / P_n) with P_s the mean power of the trimmed speech (margins
   excluded) and P_n the mean power of the noise over the whole clip; the drawn noise is rescaled so that the ratio
   is met exactly before quantisation.
6. **Level**: the noisy clip is scaled to a peak drawn from 0.3-0.9 (``PEAK``) and written as 16-bit PCM.

The folder holds ``NNNNN.wav`` (five digits, more past 99,999), ``transcripts.tsv`` ("NNNNN.wav<TAB>seven four
four" per file) and ``dataset.json``: the generator ("espeak-ng" and its version), ``n``, ``seed``, ``rate``,
``min_words``, ``max_words``, the accents, variants, speed, pitch, gap, margin, peak and SNR ranges, the seconds it
took, and per utterance its file, text, voice, speed, pitch, gap, SNR, peak and margins in samples (``utterances``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.data.audio_io import MIN_SAMPLE_RATE, SAMPLE_RATE, decode_wav_bytes, resample, write_wav

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-us-nyc", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp", "en-029")
MALE_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7")
FEMALE_VARIANTS = ("+f1", "+f2", "+f3", "+f4", "+f5")
SPEED_WPM = (120, 200)
PITCH = (20, 80)
WORD_GAP_MS = (0, 50)  # in steps of 10 ms (espeak-ng -g counts 10 ms units)
MARGIN_SECONDS = (0.05, 0.25)
PEAK = (0.3, 0.9)
TRIM_DB = -40.0
DEFAULT_SNR_DB = (20.0, 40.0)
ESPEAK = "espeak-ng"
ESPEAK_TIMEOUT_S = 60
TRANSCRIPTS_FILE, DATASET_FILE = "transcripts.tsv", "dataset.json"
MISSING = "espeak-ng is not installed: apt-get install espeak-ng (Debian's package; make test installs it)"


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which(ESPEAK) is not None


def espeak_version() -> str:
    """espeak-ng's version ("1.51"); AdvlabError when it is not installed."""
    if not espeak_available():
        raise AdvlabError(MISSING)
    out = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S).stdout
    found = re.search(r"text-to-speech:\s*(\S+)", out)
    return found.group(1) if found else out.strip()


def synthesise(text: str, voice: str = "en-us", speed_wpm: int = 175, pitch: int = 50, rate: int = SAMPLE_RATE,
               gap_ms: int = 0) -> Tensor:
    """Speak `text` with espeak-ng: a (T,) float32 wave in [-1, 1] at `rate` Hz, as the synthesiser made it.

    Args:
        text: what to say (passed on stdin; nothing is trimmed or normalised).
        voice: an espeak-ng voice with an optional variant, e.g. ``"en-us+f3"``, ``"en-gb-scotland"``.
        speed_wpm: words per minute (espeak-ng ``-s``, 80-450).
        pitch: 0-99 (``-p``; 50 is the voice's own).
        rate: the output's sample rate (espeak-ng writes 22,050 Hz; resampled).
        gap_ms: extra pause between words, rounded down to 10 ms (``-g``).

    Raises:
        AdvlabError: espeak-ng missing (the message says how to install it) or failing (an unknown voice).
    """
    if not espeak_available():
        raise AdvlabError(MISSING)
    command = [ESPEAK, "-v", str(voice), "-s", str(int(speed_wpm)), "-p", str(int(pitch)), "-g",
               str(int(gap_ms) // 10), "--stdout"]
    done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, timeout=ESPEAK_TIMEOUT_S)
    if done.returncode != 0 or len(done.stdout) <= 44:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AdvlabError(f"espeak-ng could not speak with voice {voice!r}: {message[-1] if message else 'no audio'}"
                          " (espeak-ng --voices=en lists the voices)")
    wave, made_at = decode_wav_bytes(done.stdout, f"espeak-ng's output for voice {voice!r}")
    return resample(wave, made_at, rate)


def trim_silence(wave: Tensor, threshold_db: float = TRIM_DB) -> Tensor:
    """The part of a (T,) wave from its first to its last sample with |x| >= peak * 10^(threshold_db / 20)."""
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    if peak == 0.0:
        return wave[:0]
    loud = torch.nonzero(wave.abs() >= peak * 10.0 ** (threshold_db / 20.0)).flatten()
    return wave[int(loud[0]): int(loud[-1]) + 1]


def add_noise(speech: Tensor, lead: int, trail: int, snr_db: float, rng: np.random.Generator) -> Tensor:
    """`speech` (T,) between `lead` and `trail` silent samples, plus white noise at exactly `snr_db`.

    SNR = 10 log10(P_s / P_n): P_s the mean power of `speech`, P_n that of the noise over the whole clip
    (lead + T + trail samples); the Gaussian draw is rescaled to meet it.
    """
    clean = torch.cat([speech.new_zeros(lead), speech, speech.new_zeros(trail)]).double()
    noise = torch.from_numpy(rng.standard_normal(len(clean)))
    power = float(speech.double().pow(2).mean())
    noise = noise * (power / (10.0 ** (snr_db / 10.0) * float(noise.pow(2).mean()))) ** 0.5
    return clean + noise


def _utterance(i: int, seed: int, min_words: int, max_words: int, rate: int,
               snr_db: tuple[float, float]) -> tuple[Tensor, dict]:
    """Utterance `i` of the set for `seed` (module docstring, steps 1-6) and what was drawn for it."""
    rng = np.random.default_rng([seed, i])
    words = [DIGIT_WORDS[d] for d in rng.integers(0, 10, int(rng.integers(min_words, max_words + 1)))]
    accent = ACCENTS[int(rng.integers(len(ACCENTS)))]
    female = bool(rng.random() < 0.5)
    variants = FEMALE_VARIANTS if female else MALE_VARIANTS
    voice = accent + variants[int(rng.integers(len(variants)))]
    speed = int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1))
    pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
    gap = 10 * int(rng.integers(WORD_GAP_MS[0] // 10, WORD_GAP_MS[1] // 10 + 1))
    lead, trail = (int(round(s * rate)) for s in rng.uniform(*MARGIN_SECONDS, size=2))
    snr = float(rng.uniform(*snr_db))
    peak = float(rng.uniform(*PEAK))
    speech = trim_silence(synthesise(" ".join(words), voice, speed, pitch, rate, gap))
    if speech.numel() == 0:
        raise AdvlabError(f"espeak-ng produced silence for {' '.join(words)!r} with voice {voice!r}")
    noisy = add_noise(speech, lead, trail, snr, rng)
    wave = (noisy * (peak / float(noisy.abs().max()))).float()
    info = {"text": " ".join(words), "voice": voice, "female": female, "speed_wpm": speed, "pitch": pitch,
            "word_gap_ms": gap, "snr_db": round(snr, 4), "peak": round(peak, 4), "lead_samples": lead,
            "trail_samples": trail, "samples": len(wave)}
    return wave, info


def _check_snr(snr_db) -> tuple[float, float]:
    if not isinstance(snr_db, (tuple, list)) or len(snr_db) != 2:
        raise AdvlabError(f"snr_db must be a (low, high) pair of decibels, e.g. (20, 40), got {snr_db!r}")
    low, high = (check_number("snr_db", value, -100.0) for value in snr_db)
    if low > high:
        raise AdvlabError(f"snr_db must be (low, high) with low <= high, got {snr_db!r}")
    return low, high


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Make `out`; refuse a non-empty one unless `overwrite`, which removes an earlier set's files only."""
    if out.exists() and not out.is_dir():
        raise AdvlabError(f"{out} is a file; give a folder for the spoken digits")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AdvlabError(f"{out} is not empty; give an empty or new folder, or overwrite=True (--overwrite) "
                              "to replace the spoken digits there")
        for path in out.iterdir():
            if path.is_file() and (re.fullmatch(r"\d{5,}\.wav", path.name)
                                   or path.name in (TRANSCRIPTS_FILE, DATASET_FILE, "READY")):
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def make_spoken_digits(out: str | Path, n: int = 2000, min_words: int = 1, max_words: int = 4, seed: int = 0,
                       rate: int = SAMPLE_RATE, snr_db: tuple[float, float] = DEFAULT_SNR_DB,
                       overwrite: bool = False, progress: bool = True) -> Path:
    """Synthesise `n` spoken digit strings into the folder `out` (module docstring); returns `out`.

    Args:
        out: the folder to write (made if missing; must be empty unless `overwrite`).
        n: utterances to make (about 8 ms of espeak-ng each plus resampling: 2,000 take under a minute).
        min_words, max_words: words per utterance, drawn uniformly from this range (1-4).
        seed: the random streams; the same seed makes the same files.
        rate: sample rate of the files in Hz (16,000; at least 8,000).
        snr_db: (low, high) range of the speech-to-noise ratio in dB (20-40).
        overwrite: replace an earlier set in `out` (its NNNNN.wav, transcripts.tsv and dataset.json; nothing else).
        progress: show a progress bar on stderr.

    Raises:
        AdvlabError: espeak-ng missing, a non-empty `out` without `overwrite`, or a bad argument.
    """
    n = check_int("n", n, 1)
    min_words, max_words = check_int("min_words", min_words, 1), check_int("max_words", max_words, 1)
    if min_words > max_words:
        raise AdvlabError(f"min_words ({min_words}) must not exceed max_words ({max_words})")
    seed = check_int("seed", seed, 0)
    rate = check_int("rate", rate, MIN_SAMPLE_RATE)
    low, high = _check_snr(snr_db)
    version = espeak_version()
    out = Path(out)
    _prepare_out(out, overwrite)
    width = max(5, len(str(n - 1)))
    lines, utterances = [], []
    for i in tqdm(range(n), desc="synthesising", unit="utterance", disable=not progress, file=sys.stderr):
        wave, info = _utterance(i, seed, min_words, max_words, rate, (low, high))
        name = f"{i:0{width}d}.wav"
        write_wav(out / name, wave, rate)
        lines.append(f"{name}\t{info['text']}\n")
        utterances.append({"file": name, **info})
    atomic_write_bytes(out / TRANSCRIPTS_FILE, "".join(lines).encode("utf-8"))
    record = {"generator": "espeak-ng", "version": version, "n": n, "seed": seed, "rate": rate,
              "min_words": min_words, "max_words": max_words, "words": list(DIGIT_WORDS), "accents": list(ACCENTS),
              "male_variants": list(MALE_VARIANTS), "female_variants": list(FEMALE_VARIANTS),
              "speed_wpm": list(SPEED_WPM), "pitch": list(PITCH), "word_gap_ms": list(WORD_GAP_MS),
              "margin_seconds": list(MARGIN_SECONDS), "peak": list(PEAK), "trim_db": TRIM_DB, "snr_db": [low, high],
              "utterances": utterances}
    atomic_write_bytes(out / DATASET_FILE, (json.dumps(record, indent=1) + "\n").encode("utf-8"))
    return out


__all__ = ["ACCENTS", "DIGIT_WORDS", "FEMALE_VARIANTS", "MALE_VARIANTS", "add_noise", "espeak_available",
           "espeak_version", "make_spoken_digits", "synthesise", "trim_silence"]
