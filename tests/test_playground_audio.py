"""advlab playground, audio tab (HTTP API): speech model runs as victims, their held-out utterances only when their
data lie inside --runs, Carlini & Wagner's targeted attack (and PGD without a target) answering with decodable WAVs
within the dB bound, uploads, and one clear 4xx for each bad input."""

from __future__ import annotations

import base64
import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch
import yaml
from helpers import assert_one_line_response as assert_one_line

from advlab.data.audio_io import decode_wav_bytes, resample
from advlab.pipelines.audio import held_out_audio
from advlab.playground import create_app
from advlab.playground.attack_lab import AttackLab
from advlab.playground.audio_lab import MAX_BODY_BYTES, MAX_SECONDS

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng; make test installs it)")

TINY = ["--steps", "2", "--width", "4", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--log-every", "1",
        "--sample-every", "100", "--checkpoint-every", "2", "--tensorboard", "false", "--device", "cpu",
        "--no-progress", "--held-out-fraction", "0.25"]
PCM_STEP = 2 / 32767  # what two 16-bit roundings may move a sample


def make_speech_runs(base: Path) -> Path:
    """BASE/runs: asr (a tiny CTC recogniser of 8 espeak-ng utterances in runs/data), far (the same model, its data
    folder outside runs) and linked (its data folder inside runs, one file a link outside); BASE/runs is returned."""
    from advlab.cli.main import main

    root, outside = base / "runs", base / "outside"
    root.mkdir()
    threads = torch.get_num_threads()
    try:
        assert main(["audio", "data", "--out", str(root / "data"), "--n", "8", "--max-words", "2",
                     "--no-progress"]) == 0
        assert main(["audio", "train", "--data", str(root / "data"), "--out", str(root / "asr"), *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    shutil.copytree(root / "data", outside / "data")
    for name, data in (("far", outside / "data"), ("linked", root / "linkdata")):
        shutil.copytree(root / "asr", root / name)
        config = yaml.safe_load((root / name / "config.yaml").read_text())
        (root / name / "config.yaml").write_text(yaml.safe_dump({**config, "data": str(data), "out": str(root / name)}))
    shutil.copytree(root / "data", root / "linkdata")
    (root / "linkdata" / "00000.wav").unlink()
    (root / "linkdata" / "00000.wav").symlink_to(outside / "data" / "00000.wav")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return make_speech_runs(tmp_path_factory.mktemp("audio-playground"))


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app([runs])) as client:
        yield client


@pytest.fixture(scope="module")
def vocabulary(client) -> list[str]:
    victims = {v["id"]: v for v in client.get("/api/audio/victims").json()["victims"]}
    return victims["runs/asr"]["vocabulary"]


def decoded(url: str) -> tuple[torch.Tensor, int]:
    prefix = "data:audio/wav;base64,"
    assert url.startswith(prefix)
    return decode_wav_bytes(base64.b64decode(url[len(prefix):]))


# ---------------------------------------------------------------------- victims and utterances


def test_victims_are_the_speech_runs_and_the_attack_lab_ignores_them(client, runs):
    victims = {v["id"]: v for v in client.get("/api/audio/victims").json()["victims"]}
    assert set(victims) == {"runs/asr", "runs/far", "runs/linked"}
    asr = victims["runs/asr"]
    held = held_out_audio(runs / "asr")
    assert asr["kind"] == "ctc" and asr["sample_rate"] == 16000 and asr["utterances"] == len(held) == 2
    assert set(asr["vocabulary"]) >= {word for words in held.transcripts for word in words}
    attack_ids = {v["id"] for v in AttackLab([runs]).victims()}
    assert attack_ids == {"builtin", "builtin-digits"}  # no speech run among the classifier victims


def test_no_speech_run_says_how_to_make_one(tmp_path):
    with TestClient(create_app([tmp_path])) as client:
        body = client.get("/api/audio/victims").json()
    assert body["victims"] == []
    assert "advlab audio data" in body["help"] and "advlab audio train" in body["help"]


def test_utterances_are_the_held_out_ones(client, runs):
    held = held_out_audio(runs / "asr")
    body = client.get("/api/audio/utterances", params={"victim": "runs/asr"}).json()
    assert body["total"] == len(held) and [u["name"] for u in body["utterances"]] == held.names
    assert [u["truth"] for u in body["utterances"]] == [" ".join(t) for t in held.transcripts]
    assert all(isinstance(u["heard"], str) for u in body["utterances"])
    response = client.get("/api/audio/utterance.wav", params={"victim": "runs/asr", "index": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    wave, rate = decode_wav_bytes(response.content)
    assert rate == 16000 and torch.allclose(wave, held.waves[1], atol=PCM_STEP)


@pytest.mark.parametrize("victim", ["runs/far", "runs/linked"])
def test_a_run_whose_data_lie_outside_the_runs_offers_no_utterance(client, victim):
    body = client.get("/api/audio/utterances", params={"victim": victim}).json()
    assert body["total"] == 0 and body["utterances"] == [] and "outside" in body["note"]
    assert_one_line(client.get("/api/audio/utterance.wav", params={"victim": victim, "index": 0}), 400, "upload")
    assert_one_line(client.post("/api/audio/attack", json={"victim": victim, "utterance": 0, "target": "two"}), 400,
                    "outside")


# ---------------------------------------------------------------------- attacks


def assert_within_bound(result: dict, bound_db: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three WAVs decode at the model's rate with the same length, and the adversarial one lies within the
    bound (on the 16-bit files); returns (clean, adversarial, perturbation)."""
    (clean, rate), (adversarial, rate_adv), (perturbation, rate_pert) = (
        decoded(result[key]["wav"]) for key in ("clean", "adversarial", "perturbation"))
    assert rate == rate_adv == rate_pert == result["sample_rate"] == 16000
    assert clean.shape == adversarial.shape == perturbation.shape
    assert len(clean) / rate == pytest.approx(result["duration"], abs=5e-4)
    amplitude = clean.abs().max() * 10 ** (bound_db / 20)
    delta = adversarial - clean
    assert 0 < delta.abs().max() <= amplitude + PCM_STEP
    gain = result["perturbation"]["gain"]
    assert torch.allclose(perturbation, (delta * gain).clamp(-1, 1), atol=(gain + 1) * PCM_STEP)
    return clean, adversarial, perturbation


def test_targeted_attack_makes_the_model_hear_the_target_within_the_bound(client, vocabulary):
    target = " ".join(vocabulary[:2])
    result = client.post("/api/audio/attack", json={"victim": "runs/asr", "utterance": 0, "target": target,
                                                    "db": -30, "iterations": 150}).json()
    assert result["attack"] == "audio-cw" and result["source"] == "utterance" and result["target"] == target
    assert result["success"] and result["after"] == target and result["before"] != target
    assert result["bound_db"] <= -30 and result["db"] <= result["bound_db"] + 1e-3
    assert 0 < result["first_success"] <= 150
    clean, adversarial, _ = assert_within_bound(result, result["bound_db"])
    measured = 20 * torch.log10((adversarial - clean).abs().max() / clean.abs().max())
    assert float(measured) == pytest.approx(result["db"], abs=0.5)  # the dB figure is that of the audio served
    spec, wave = result["spectrogram"], result["waveform"]
    for key in ("clean", "adversarial", "perturbation"):
        assert len(spec[key]) == spec["bins"] * spec["frames"] and 0 <= min(spec[key]) <= max(spec[key]) <= 255
        assert len(wave[key]["min"]) == len(wave[key]["max"]) == wave["columns"]
    assert max(spec["clean"]) == 255 or max(spec["adversarial"]) == 255
    assert max(spec["perturbation"]) < max(spec["clean"])  # its strongest bin below speech's, on one scale


def test_without_a_target_the_untargeted_baseline_runs(client, runs):
    truth = " ".join(held_out_audio(runs / "asr").transcripts[1])
    result = client.post("/api/audio/attack", json={"victim": "runs/asr", "utterance": 1, "db": -25,
                                                    "iterations": 5}).json()
    assert result["attack"] == "audio-pgd" and result["target"] is None and result["truth"] == truth
    assert result["bound_db"] == -25 and result["success"] == (result["after"] != truth)
    assert_within_bound(result, -25.0)


def wav_file(wave: torch.Tensor, rate: int, channels: int = 1) -> bytes:
    samples = np.round(np.repeat(wave.numpy()[:, None], channels, 1) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    scipy.io.wavfile.write(buffer, rate, samples if channels > 1 else samples[:, 0])
    return buffer.getvalue()


def encoded(data: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(data).decode()


def test_an_uploaded_wav_is_resampled_heard_and_attacked(client, runs):
    wave = held_out_audio(runs / "asr").waves[1]
    upload = encoded(wav_file(resample(wave, 16000, 22050), 22050, channels=2))
    heard = client.post("/api/audio/hear", json={"victim": "runs/far", "wav": upload}).json()
    assert heard["recorded_rate"] == 22050 and heard["sample_rate"] == 16000
    assert heard["seconds"] == pytest.approx(len(wave) / 16000, abs=0.01)
    result = client.post("/api/audio/attack", json={"victim": "runs/far", "wav": upload, "db": -30,
                                                    "iterations": 5}).json()
    assert result["source"] == "upload" and result["attack"] == "audio-pgd" and result["truth"] == heard["heard"]
    clean, _, _ = assert_within_bound(result, -30.0)
    assert torch.allclose(clean, resample(resample(wave, 16000, 22050), 22050, 16000), atol=2e-3)


# ---------------------------------------------------------------------- bad input


def test_a_target_outside_the_vocabulary_is_the_models_one_line(client, vocabulary):
    message = assert_one_line(client.post("/api/audio/attack", json={"victim": "runs/asr", "utterance": 0,
                                                                      "target": "hello " + vocabulary[0]}), 400,
                              "'hello'", "not in the model's vocabulary")
    assert " ".join(vocabulary) in message


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"victim": "nope", "utterance": 0}, 404, ("not a speech model run",)),
    ({"victim": "runs/../runs/asr", "utterance": 0}, 404, ("not a speech model run",)),
    ({"victim": "runs/asr", "utterance": 0, "db": 5}, 422, ("db", "must be negative")),
    ({"victim": "runs/asr", "utterance": 0, "db": -30, "iterations": 501}, 422, ("iterations",)),
    ({"victim": "runs/asr", "utterance": 0, "iterations": "10"}, 422, ("iterations",)),
    ({"victim": "runs/asr"}, 422, ("exactly one",)),
    ({"victim": "runs/asr", "utterance": 0, "wav": "UklGRg=="}, 422, ("exactly one",)),
    ({"victim": "runs/asr", "utterance": 0, "eps": 1}, 422, ("eps",)),
    ({"victim": "runs/asr", "utterance": 9}, 400, ("outside the victim's held-out utterances",)),
    ({"victim": "runs/asr", "wav": "not base64!"}, 400, ("base64",)),
    ({"victim": "runs/asr", "wav": encoded(b"RIFF0000WAVEjunk")}, 400, ("not a WAV file that decodes",)),
])
def test_each_bad_request_is_one_clear_error(client, body, status, words):
    assert_one_line(client.post("/api/audio/attack", json=body), status, *words)


def test_bad_uploads_are_one_clear_error_each(client):
    tone = torch.sin(torch.arange(4000) * 0.3) * 0.5
    low = encoded(wav_file(tone, 4000))
    assert_one_line(client.post("/api/audio/hear", json={"victim": "runs/asr", "wav": low}), 400, "4000 Hz",
                    "at least 8000 Hz")
    long = encoded(wav_file(torch.sin(torch.arange(int(8000 * (MAX_SECONDS + 1))) * 0.3) * 0.5, 8000))
    assert_one_line(client.post("/api/audio/attack", json={"victim": "runs/asr", "wav": long, "target": "two"}), 400,
                    f"at most {MAX_SECONDS:g} s")
    silent = encoded(wav_file(torch.zeros(8000), 16000))
    assert_one_line(client.post("/api/audio/hear", json={"victim": "runs/asr", "wav": silent}), 400, "silent")
    huge = b'{"victim": "runs/asr", "wav": "' + b"A" * MAX_BODY_BYTES + b'"}'
    assert_one_line(client.post("/api/audio/attack", content=huge, headers={"content-type": "application/json"}),
                    413, "too large")
    assert_one_line(client.post("/api/audio/attack", content=b"{", headers={"content-type": "application/json"}),
                    400, "malformed JSON")


def test_other_routes_keep_the_servers_body_limit(client):
    body = b'{"victim": "builtin", "image": [' + b"0," * 40000 + b"0]}"
    assert_one_line(client.post("/api/attack", content=body, headers={"content-type": "application/json"}), 413,
                    "too large")
