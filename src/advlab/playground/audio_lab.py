"""The playground's audio tab: hear Carlini & Wagner's targeted attack (2018) on a speech model run.

A victim is a speech model run (``advlab audio train``: a config.yaml that ``advlab.reports.reading.is_audio_config``
accepts, and its checkpoint) found under the directories the server was started with (``--runs``), at most
``SCAN_DEPTH`` levels down, exactly as the attack page finds classifier runs (the attack page ignores speech runs;
this tab ignores classifier runs). Its utterances are the run's held-out ones (``advlab.pipelines.audio.
held_out_audio``), served only when the run's data folder and every file in it lie inside one of those directories
(the server reads nothing else); any victim also takes an uploaded WAV (base64 in the request, at most
``MAX_WAV_BYTES``; decoded by ``advlab.data.audio_io.decode_wav_bytes``, any PCM or float WAV, channels averaged,
refused below ``MIN_SAMPLE_RATE``, resampled to the model's rate).

The attack (bounded: at most ``MAX_ITERATIONS`` iterations on at most ``MAX_SECONDS`` of audio, ``concurrent`` at
once) is advlab's own:

* with a target phrase, ``advlab.audio.cw.AudioCW`` (Carlini & Wagner 2018, sec. 4, eq. 2-3): minimise the CTC
  loss of the target (a keyword model: the target word's cross-entropy) subject to dB_x(delta) = dB(delta) - dB(x)
  <= tau (eq. 1, dB(x) = max_i 20 log10 |x_i|), tau shrinking by 0.8 after each success, the quietest success
  returned (the clean audio when none);
* without one, the untargeted baseline ``advlab.audio.pgd.AudioPGD`` (Madry et al. 2018, eq. 2) in the same dB
  terms, away from the utterance's transcript (an upload: from what the model hears in it).

The answer holds what the model heard before and after, the perturbation's dB relative to the audio and the bound
it met, the three sounds as 16-bit PCM WAV data URLs (the perturbation amplified by ``gain`` so its loudest sample
is at half of full scale, as in ``advlab attack audio-cw``'s perturbation/*.wav), and small arrays the page draws:
a min/max envelope of each waveform and spectrograms on one dB scale.

HTTP (added to the app by :func:`audio_router`; bad input answers like the attack page: 400 a value the server
cannot use, 404 an unknown victim, 413 too large a body, 422 a field of the wrong type or out of range, 503 busy;
``{"error": "<one line>"}``)::

    GET  /api/audio/victims -> {"victims": [{"id", "description", "kind": "ctc"|"keyword", "vocabulary": [words],
                                "sample_rate", "utterances": n, "note"?: why none}], "help": how to make a run}
    GET  /api/audio/utterances?victim=ID&start=0&count=20 (count 1..100) -> {"victim", "total", "start",
             "utterances": [{"index", "name", "truth", "heard", "seconds"}], "note"?}
    GET  /api/audio/utterance.wav?victim=ID&index=I -> the held-out utterance (audio/wav, the model's rate)
    POST /api/audio/hear   {"victim", "utterance": int | "wav": base64} -> {"victim", "heard", "seconds",
             "sample_rate", "recorded_rate"}
    POST /api/audio/attack {"victim", "utterance": int | "wav": base64 (exactly one), "target": "one two" | null,
             "db": -30 (the starting bound, negative), "iterations": 1..500 (100), "seed": 0}
         -> {"victim", "attack": "audio-cw"|"audio-pgd", "target", "truth", "source": "utterance"|"upload", "name",
             "sample_rate", "duration", "before", "after", "success", "db": dB of the perturbation (null: none),
             "bound_db": the bound it met, "start_db", "first_success", "iterations", "seconds",
             "clean": {"wav": data URL, "peak"}, "adversarial": {"wav", "peak"},
             "perturbation": {"wav", "gain", "peak"},
             "waveform": {"columns": n, "clean": {"min": [n], "max": [n]}, "adversarial": ..., "perturbation": ...},
             "spectrogram": {"bins", "frames", "max_hz", "db_top", "db_range", "clean": [bins * frames ints 0..255,
                             row r = frequency bin r from the bottom], "adversarial": ..., "perturbation": ...}}
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor

from advlab.audio.cw import AudioCW
from advlab.audio.decibels import check_db_bound, relative_decibels
from advlab.audio.pgd import AudioPGD
from advlab.core.errors import AdvlabError
from advlab.data.audio_io import check_recorded_rate, decode_wav_bytes, resample, wav_bytes
from advlab.data.audio_sets import AudioSet
from advlab.models.speech import SpeechModel
from advlab.pipelines.audio.attack_audio import perturbation_gain
from advlab.pipelines.audio.train_audio import audio_config, held_out_audio, load_audio_run, transcribe
from advlab.playground.attack_lab import (
    Busy,
    VictimNotFound,
    checkpoint_stamp,
    files_inside,
    frozen,
    inside,
    run_roots,
    scan_runs,
)
from advlab.reports.reading import is_audio_config, read_config

MAX_ITERATIONS = 500
DEFAULT_ITERATIONS = 100
MAX_SECONDS = 6.0  # audio attacked or heard at most this long
MAX_WAV_BYTES = 2 * 1024 * 1024  # an uploaded WAV file's bytes
MAX_BODY_BYTES = (MAX_WAV_BYTES + 2) // 3 * 4 + 4096  # the POST routes' bodies: the WAV in base64 and the fields
MAX_TARGET_CHARS = 200
AUDIO_POSTS = ("/api/audio/hear", "/api/audio/attack")  # the routes whose bodies may hold a WAV file
MIN_DB = -120.0
MAX_VICTIMS = 200
CACHED_VICTIMS = 4
MAX_PAGE = 100
WAVEFORM_COLUMNS = 480
SPECTROGRAM_BINS = 64
SPECTROGRAM_FRAMES = 240
SPECTROGRAM_RANGE_DB = 80.0
DECIMALS = 4
HELP = ("No speech model run found under the server's --runs directories. Make one: advlab audio data --out "
        "data/spoken; advlab audio train --data data/spoken --out runs/asr; then advlab playground --runs runs")


def check_target(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return " ".join(value.lower().split())


class AudioSource(BaseModel):
    """The audio of a request: a held-out utterance of the victim, or an uploaded WAV file (exactly one)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    victim: str = Field(min_length=1, max_length=256, description="a run id from GET /api/audio/victims")
    utterance: int | None = Field(None, ge=0, description="the index of one of the victim's held-out utterances")
    wav: str | None = Field(None, min_length=1, max_length=MAX_BODY_BYTES,
                            description="or a WAV file's bytes in base64 (a data: URL prefix is accepted), at most "
                                        f"{MAX_WAV_BYTES} bytes before encoding")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.utterance is None) == (self.wav is None):
            raise ValueError("give exactly one of 'utterance' (a held-out utterance's index) and 'wav' (a WAV file "
                             "in base64)")
        return self


class AudioAttackRequest(AudioSource):
    """One attack the audio tab asks for (strict JSON types; unknown keys refused)."""

    target: str | None = Field(None, max_length=MAX_TARGET_CHARS,
                               description="the phrase to make the model hear (Carlini & Wagner); empty: the "
                                           "untargeted PGD baseline")
    db: float = Field(-30.0, ge=MIN_DB, description="the starting bound on dB_x(delta), negative")
    iterations: int = Field(DEFAULT_ITERATIONS, ge=1, le=MAX_ITERATIONS,
                            description="Adam iterations (C&W) or gradient steps (PGD)")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("db")
    @classmethod
    def _negative(cls, value: float) -> float:
        try:
            return check_db_bound(value, "the bound")
        except AdvlabError as error:
            raise ValueError(str(error)) from None

    @field_validator("target")
    @classmethod
    def _phrase(cls, value: str | None) -> str | None:
        return check_target(value)


@dataclass
class AudioVictim:
    """A speech model run the tab can attack, frozen in eval mode on the CPU, with its held-out utterances when the
    server may read them (`held` None and `note` saying why otherwise)."""

    id: str
    run: Path
    model: SpeechModel
    held: AudioSet | None
    note: str | None

    def summary(self) -> dict[str, Any]:
        model = self.model
        found = {"id": self.id, "description": f"speech model run {self.run.name} ({model.kind}, "
                 f"{len(model.vocabulary)} words, {model.sample_rate} Hz)", "kind": model.kind,
                 "vocabulary": list(model.vocabulary), "sample_rate": model.sample_rate,
                 "utterances": 0 if self.held is None else len(self.held)}
        return found if self.note is None else {**found, "note": self.note}


class AudioLab:
    """Speech model runs under `run_dirs`, their held-out utterances, and attacks on one utterance.

    Args:
        run_dirs: the directories the server may read runs (and their data folders) from.
        concurrent: attacks computed at once; `wait`: seconds a request waits for its turn (then 503).
    """

    def __init__(self, run_dirs: Sequence[str | Path] = (), concurrent: int = 2, wait: float = 60.0):
        self.roots = run_roots(run_dirs)
        self.turns = threading.BoundedSemaphore(concurrent)
        self.wait = wait
        self._cache: OrderedDict[str, tuple[tuple, AudioVictim]] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ victims

    def run_ids(self) -> list[tuple[str, Path]]:
        found = []
        for name, root in self.roots.items():
            for run in scan_runs(root, is_audio_run):
                relative = run.relative_to(root).as_posix()
                found.append((name if relative == "." else f"{name}/{relative}", run))
                if len(found) >= MAX_VICTIMS:
                    return found
        return found

    def victims(self) -> dict[str, Any]:
        """Every speech model run under the roots, with its vocabulary and how many utterances it offers."""
        listed = []
        for victim_id, _ in self.run_ids():
            try:
                listed.append(self.victim(victim_id).summary())
            except AdvlabError as error:  # a run without a checkpoint yet, or a broken one: listed, not usable
                listed.append({"id": victim_id, "description": f"speech model run {victim_id}", "utterances": 0,
                               "unusable": True, "note": str(error)})
        return {"victims": listed, **({} if listed else {"help": HELP})}

    def victim(self, victim_id: str) -> AudioVictim:
        """The victim of that id, loaded once (again when its checkpoint changed)."""
        run = self.resolve_run(victim_id)
        stamp = checkpoint_stamp(run)
        with self._lock:
            cached = self._cache.get(victim_id)
            if cached is not None and cached[0] == stamp:
                self._cache.move_to_end(victim_id)
                return cached[1]
        victim = load_audio_victim(victim_id, run, self.roots)
        with self._lock:
            self._cache[victim_id] = (stamp, victim)
            while len(self._cache) > CACHED_VICTIMS:
                self._cache.popitem(last=False)
        return victim

    def resolve_run(self, victim_id: str) -> Path:
        """The run directory of `victim_id`, inside its root (symlinks resolved), with the files its loader reads
        inside it too; VictimNotFound otherwise."""
        root_name, _, relative = victim_id.partition("/")
        refuse = VictimNotFound(f"victim {victim_id!r} is not a speech model run the server offers (GET "
                                "/api/audio/victims lists them)")
        root = self.roots.get(root_name)
        if root is None or "\\" in relative or "\x00" in relative or relative.startswith("/"):
            raise refuse
        if ".." in Path(relative).parts:
            raise refuse
        run = (root / relative).resolve()
        if not inside(run, root) or not is_audio_run(run) or not files_inside(run, root):
            raise refuse
        return run

    # ------------------------------------------------------------------ utterances

    def utterances(self, victim_id: str, start: int = 0, count: int = 20) -> dict[str, Any]:
        """Held-out utterances `start` .. `start + count - 1`: name, transcript, what the model hears, seconds."""
        victim = self.victim(victim_id)
        if victim.held is None:
            return {"victim": victim_id, "total": 0, "start": start, "utterances": [], "note": victim.note}
        held, rate = victim.held, victim.model.sample_rate
        rows = list(range(start, min(start + count, len(held))))
        heard = hear(victim.model, [held.waves[i] for i in rows]) if rows else []
        return {"victim": victim_id, "total": len(held), "start": start,
                "utterances": [{"index": i, "name": held.names[i], "truth": " ".join(held.transcripts[i]),
                                "heard": " ".join(words), "seconds": round(len(held.waves[i]) / rate, 3)}
                               for i, words in zip(rows, heard)]}

    def utterance_wav(self, victim_id: str, index: int) -> bytes:
        victim = self.victim(victim_id)
        return wav_bytes(held_utterance(victim, index)[0], victim.model.sample_rate)

    def audio(self, victim: AudioVictim, source: AudioSource) -> tuple[Tensor, int | None, tuple[str, ...] | None,
                                                                       str]:
        """(the wave (T,) at the model's rate, the upload's recorded rate or None, the transcript or None, name)."""
        if source.utterance is not None:
            wave, truth, name = held_utterance(victim, source.utterance)
            recorded = None
        else:
            wave, recorded = decode_upload(source.wav, victim.model.sample_rate)
            truth, name = None, "upload"
        seconds = len(wave) / victim.model.sample_rate
        if seconds > MAX_SECONDS:
            raise AdvlabError(f"the {'utterance' if recorded is None else 'uploaded audio'} lasts {seconds:.1f} s; the "
                              f"playground attacks at most {MAX_SECONDS:g} s (trim it, or run advlab attack audio-cw)")
        if float(wave.abs().max()) == 0:
            raise AdvlabError("the audio is silent: a bound in dB relative to its peak allows no perturbation")
        return wave, recorded, truth, name

    def hear(self, source: AudioSource) -> dict[str, Any]:
        """What the victim hears in the utterance or upload (checks an upload before a longer attack)."""
        victim = self.victim(source.victim)
        wave, recorded, _, _ = self.audio(victim, source)
        rate = victim.model.sample_rate
        return {"victim": victim.id, "heard": " ".join(hear(victim.model, [wave])[0]),
                "seconds": round(len(wave) / rate, 3), "sample_rate": rate,
                "recorded_rate": rate if recorded is None else recorded}

    # ------------------------------------------------------------------ the attack

    def attack(self, request: AudioAttackRequest) -> dict[str, Any]:
        """Run the attack the request asks for; everything the tab shows (see the module docstring)."""
        victim = self.victim(request.victim)
        wave, _, truth, name = self.audio(victim, request)
        if request.target is not None:
            victim.model.encode(request.target)  # words outside the vocabulary: the model's one-line error
        if not self.turns.acquire(timeout=self.wait):
            raise Busy(f"the server is busy with other attacks; try again in a moment (waited {self.wait:g} s)")
        try:
            return run_audio_attack(victim, request, wave, truth, name)
        finally:
            self.turns.release()


# ---------------------------------------------------------------------- finding and loading victims


def is_audio_run(directory: Path) -> bool:
    """Does `directory` hold a speech model run's config.yaml (advlab audio train)?"""
    if not (directory / "config.yaml").is_file():
        return False
    try:
        return is_audio_config(read_config(directory))
    except AdvlabError:
        return False


def load_audio_victim(victim_id: str, run: Path, roots: dict[str, Path]) -> AudioVictim:
    model, _ = load_audio_run(run, "cpu")
    held, note = None, data_note(run, roots)
    if note is None:
        try:
            held = held_out_audio(run)
        except AdvlabError as error:
            note = f"its held-out utterances cannot be read ({error}); upload a WAV instead"
    return AudioVictim(victim_id, run, frozen(model), held, note)


def data_note(run: Path, roots: dict[str, Path]) -> str | None:
    """None when the run's data folder and every file in it lie inside one of the roots; else why not."""
    data = Path(audio_config(run).data).expanduser()
    outside = (f"its data folder {data} lies outside the directories the server was started with (--runs); "
               "upload a WAV instead")
    resolved = data.resolve()
    root = next((root for root in roots.values() if inside(resolved, root)), None)
    if root is None:
        return outside
    if not resolved.is_dir():
        return f"its data folder {data} is gone; upload a WAV instead"
    if not all(inside(path, root) for path in resolved.rglob("*")):
        return outside
    return None


def held_utterance(victim: AudioVictim, index: int) -> tuple[Tensor, tuple[str, ...], str]:
    if victim.held is None:
        raise AdvlabError(f"victim {victim.id!r} serves no held-out utterances: {victim.note}")
    if index >= len(victim.held):
        raise AdvlabError(f"utterance {index} is outside the victim's held-out utterances 0..{len(victim.held) - 1}")
    return victim.held.waves[index], tuple(victim.held.transcripts[index]), Path(victim.held.names[index]).stem


def decode_upload(text: str, rate: int) -> tuple[Tensor, int]:
    """(the uploaded WAV (T,) at `rate`, the rate it was recorded at) from its base64 text."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AdvlabError("wav: not base64 text of a WAV file") from None
    if len(data) > MAX_WAV_BYTES:
        raise AdvlabError(f"the uploaded file has {len(data)} bytes; the playground takes WAV files of at most "
                          f"{MAX_WAV_BYTES} bytes")
    wave, recorded = decode_wav_bytes(data, "the uploaded file")
    check_recorded_rate(recorded, "the uploaded file")
    if len(wave) > MAX_SECONDS * recorded * 1.01:  # refuse before resampling a long file
        raise AdvlabError(f"the uploaded audio lasts {len(wave) / recorded:.1f} s; the playground attacks at most "
                          f"{MAX_SECONDS:g} s (trim it, or run advlab attack audio-cw)")
    return resample(wave, recorded, rate), recorded


def hear(model: SpeechModel, waves: list[Tensor]) -> list[tuple[str, ...]]:
    """What a victim (on the CPU) hears in each wave."""
    return transcribe(model, waves, torch.device("cpu"))


# ---------------------------------------------------------------------- one attack and what the page draws


def run_audio_attack(victim: AudioVictim, request: AudioAttackRequest, wave: Tensor,
                     truth: tuple[str, ...] | None, name: str) -> dict[str, Any]:
    model, rate = victim.model, victim.model.sample_rate
    waves, lengths = wave[None].float(), torch.tensor([len(wave)])
    if request.target is not None:
        attack = AudioCW(model, db=request.db, iterations=request.iterations, seed=request.seed)
        result = attack.run(waves, lengths, request.target, truths=None if truth is None else [truth])
    else:
        truth = truth if truth is not None else hear(model, [wave])[0]
        attack = AudioPGD(model, eps_db=request.db, steps=request.iterations, seed=request.seed)
        result = attack.run(waves, lengths, [truth])
    clean, adversarial = result.clean[0].detach(), result.adversarial[0].detach()
    delta = adversarial - clean
    peak, gain = float(delta.abs().max()), perturbation_gain(delta)
    db = float(relative_decibels(delta, clean))
    return {
        "victim": victim.id, "attack": attack.name, "target": request.target,
        "truth": None if truth is None else " ".join(truth),
        "source": "utterance" if request.utterance is not None else "upload", "name": name, "sample_rate": rate,
        "duration": round(len(wave) / rate, 3), "before": " ".join(result.before[0]),
        "after": " ".join(result.after[0]), "success": bool(result.success[0]),
        "db": round(db, 2) if db > float("-inf") else None, "bound_db": round(float(result.bound_db[0]), 2),
        "start_db": request.db, "first_success": int(result.first_success[0]), "iterations": result.iterations,
        "seconds": round(result.seconds, 3),
        "clean": {"wav": data_url(clean, rate), "peak": round(float(clean.abs().max()), 5)},
        "adversarial": {"wav": data_url(adversarial, rate), "peak": round(float(adversarial.abs().max()), 5)},
        "perturbation": {"wav": data_url(delta * gain, rate), "gain": round(gain, 3), "peak": round(peak, 6)},
        "waveform": envelopes({"clean": clean, "adversarial": adversarial, "perturbation": delta}),
        "spectrogram": spectrograms({"clean": clean, "adversarial": adversarial, "perturbation": delta}, rate),
    }


def data_url(wave: Tensor, rate: int) -> str:
    """A (T,) wave as a 16-bit PCM WAV data URL (clipped to [-1, 1])."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(wave.cpu(), rate)).decode("ascii")


def envelopes(waves: dict[str, Tensor], columns: int = WAVEFORM_COLUMNS) -> dict[str, Any]:
    """Each wave's minimum and maximum over `columns` equal stretches of its samples (at most one per sample)."""
    length = len(next(iter(waves.values())))
    columns = max(1, min(columns, length))
    edges = torch.linspace(0, length, columns + 1).round().long()
    drawn: dict[str, Any] = {"columns": columns}
    for key, wave in waves.items():
        parts = [wave[edges[i]:max(edges[i + 1], edges[i] + 1)] for i in range(columns)]
        drawn[key] = {"min": rounded(torch.stack([p.min() for p in parts])),
                      "max": rounded(torch.stack([p.max() for p in parts]))}
    return drawn


def spectrograms(waves: dict[str, Tensor], rate: int, bins: int = SPECTROGRAM_BINS,
                 frames: int = SPECTROGRAM_FRAMES, span_db: float = SPECTROGRAM_RANGE_DB) -> dict[str, Any]:
    """Power spectrograms (25 ms Hann windows, 10 ms hops; averaged into `bins` equal frequency bands and at most
    `frames` frames) in dB on one scale: 255 at the loudest cell of them all, 0 at `span_db` below it."""
    n_fft, hop = round(0.025 * rate), round(0.010 * rate)
    powers = {}
    for key, wave in waves.items():
        spec = torch.stft(wave.float(), n_fft, hop, window=torch.hann_window(n_fft), center=True,
                          return_complex=True).abs().pow(2)  # (n_fft // 2 + 1, F)
        spec = torch.nn.functional.adaptive_avg_pool1d(spec.T[None], bins)[0].T  # (bins, F)
        if spec.shape[1] > frames:
            spec = torch.nn.functional.adaptive_avg_pool1d(spec[None], frames)[0]
        powers[key] = 10 * torch.log10(spec + 1e-12)
    top = max(float(p.max()) for p in powers.values())
    drawn: dict[str, Any] = {"bins": bins, "frames": int(next(iter(powers.values())).shape[1]), "max_hz": rate / 2,
                             "db_top": round(top, 2), "db_range": span_db}
    for key, power in powers.items():
        scaled = (power - (top - span_db)) / span_db * 255
        drawn[key] = scaled.clamp(0, 255).round().to(torch.uint8).flatten().tolist()
    return drawn


def rounded(values: Tensor) -> list:
    return torch.round(values.detach().to(torch.float64), decimals=DECIMALS).tolist()


# ---------------------------------------------------------------------- HTTP


def audio_router(lab: AudioLab) -> APIRouter:
    """The audio tab's routes (see the module docstring); the app adds them beside the attack page's."""
    router = APIRouter()

    @router.get("/api/audio/victims")
    def victims() -> dict:
        return lab.victims()

    @router.get("/api/audio/utterances")
    def utterances(victim: Annotated[str, Query(min_length=1, max_length=256)],
                   start: Annotated[int, Query(ge=0)] = 0,
                   count: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20) -> dict:
        return lab.utterances(victim, start, count)

    @router.get("/api/audio/utterance.wav")
    def utterance_wav(victim: Annotated[str, Query(min_length=1, max_length=256)],
                      index: Annotated[int, Query(ge=0)]) -> Response:
        return Response(lab.utterance_wav(victim, index), media_type="audio/wav",
                        headers={"cache-control": "no-store"})

    @router.post("/api/audio/hear")
    def hear_route(request: AudioSource) -> dict:
        return lab.hear(request)

    @router.post("/api/audio/attack")
    def attack(request: AudioAttackRequest) -> dict:
        return lab.attack(request)

    return router


__all__ = ["AUDIO_POSTS", "MAX_BODY_BYTES", "MAX_ITERATIONS", "MAX_SECONDS", "MAX_WAV_BYTES", "AudioAttackRequest",
           "AudioLab", "AudioSource", "AudioVictim", "audio_router"]
