"""WAV reading/writing and resampling (advlab.data.audio_io): every PCM width, float, stereo, bad files."""

import struct

import numpy as np
import pytest
import scipy.io.wavfile
import torch

from advlab.core.errors import AdvlabError
from advlab.data.audio_io import MIN_SAMPLE_RATE, SAMPLE_RATE, load_audio, read_wav, resample, write_wav


def wav_24bit(path, samples: list[int], rate: int) -> None:
    """A mono 24-bit PCM WAV written by hand (scipy writes no 24-bit files)."""
    data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in samples)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 3, 3, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_write_then_read_is_16_bit_pcm_and_clips(tmp_path):
    wave = torch.tensor([0.0, 0.5, -0.5, 0.999, -1.0, 1.7, -3.0, 0.123456])
    path = write_wav(tmp_path / "deep" / "x.wav", wave, 16000)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    rate, raw = scipy.io.wavfile.read(path)
    assert rate == 16000 and raw.dtype == np.int16
    assert raw.tolist() == [0, 16384, -16384, 32734, -32767, 32767, -32767, 4045]  # round(x * 32767), clipped
    back, rate = read_wav(path)
    assert back.dtype == torch.float32 and back.shape == (8,)
    assert torch.allclose(back, wave.clamp(-1, 1), atol=1.0 / 32767)


@pytest.mark.parametrize("dtype, scale, offset", [(np.int16, 2.0**15, 0), (np.int32, 2.0**31, 0),
                                                  (np.uint8, 128.0, 128)])
def test_read_integer_pcm_widths(tmp_path, dtype, scale, offset):
    info = np.iinfo(dtype)
    raw = np.array([info.min, info.max, offset, offset + 1, offset - 5], dtype=dtype)
    scipy.io.wavfile.write(tmp_path / "x.wav", 11025, raw)
    wave, rate = read_wav(tmp_path / "x.wav")
    assert rate == 11025
    expected = (raw.astype(np.float64) - offset) / scale
    assert np.allclose(wave.numpy(), expected, atol=1e-7)
    assert float(wave.min()) == -1.0 and float(wave.max()) <= 1.0  # float32 rounds 1 - 2^-31 to 1


def test_read_24_bit_pcm(tmp_path):
    samples = [0, 2**23 - 1, -(2**23), 4194304, -1]
    wav_24bit(tmp_path / "x.wav", samples, 48000)
    wave, rate = read_wav(tmp_path / "x.wav")
    assert rate == 48000
    assert np.allclose(wave.numpy(), np.array(samples) / 2.0**23, atol=1e-7)


def test_read_float_wavs_are_clipped_and_stereo_is_averaged(tmp_path):
    stereo = np.array([[0.2, 0.4], [1.5, 0.5], [-0.3, -0.9], [2.0, 2.0]], dtype=np.float32)
    scipy.io.wavfile.write(tmp_path / "s.wav", 8000, stereo)
    wave, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000
    assert np.allclose(wave.numpy(), [0.3, 0.75, -0.6, 1.0])  # channels averaged after clipping each to [-1, 1]
    scipy.io.wavfile.write(tmp_path / "d.wav", 8000, np.array([0.25, -0.75]))  # float64
    assert read_wav(tmp_path / "d.wav")[0].tolist() == [0.25, -0.75]


def test_a_file_that_does_not_decode_is_named(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"this is not audio at all, only some garbage bytes" * 3)
    with pytest.raises(AdvlabError, match=r"x\.wav is not a WAV file that decodes \(.+\)"):
        read_wav(tmp_path / "x.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AdvlabError, match="empty.wav is not a WAV file that decodes"):
        read_wav(tmp_path / "empty.wav")
    with pytest.raises(AdvlabError, match="missing.wav: no such file"):
        read_wav(tmp_path / "missing.wav")


def test_a_header_with_a_streaming_length_is_read_to_its_last_sample(tmp_path):
    raw = np.array([100, -200, 300, 400], dtype=np.int16)
    scipy.io.wavfile.write(tmp_path / "x.wav", 22050, raw)
    data = bytearray((tmp_path / "x.wav").read_bytes())
    data[4:8] = struct.pack("<I", 0x7FFFFFFF)  # as espeak-ng --stdout writes it
    data[40:44] = struct.pack("<I", 0x7FFFFFFF - 36)
    (tmp_path / "x.wav").write_bytes(bytes(data))
    wave, _ = read_wav(tmp_path / "x.wav")
    assert np.allclose(wave.numpy(), raw / 32768.0)


def test_resample_keeps_a_tone_and_removes_what_is_above_the_new_nyquist():
    t = torch.arange(44100) / 44100.0
    low = 0.5 * torch.sin(2 * torch.pi * 440.0 * t)
    out = resample(low, 44100, 16000)
    assert out.shape == (16000,) and out.dtype == torch.float32
    u = torch.arange(16000) / 16000.0
    inner = slice(200, -200)  # away from the filter's edge effects
    assert torch.allclose(out[inner], 0.5 * torch.sin(2 * torch.pi * 440.0 * u)[inner], atol=2e-3)
    high = 0.5 * torch.sin(2 * torch.pi * 6000.0 * t)  # above 8 kHz audio's 4 kHz Nyquist
    assert float(resample(high, 44100, 8000)[inner].abs().max()) < 0.01
    assert resample(low, 16000, 16000) is low
    assert resample(torch.zeros(1001), 16000, 8000).shape == (501,)
    with pytest.raises(AdvlabError, match="rate_to must be a positive integer"):
        resample(low, 16000, 0)


def test_load_audio_resamples_and_refuses_low_rates(tmp_path):
    stereo = (np.stack([np.linspace(-0.5, 0.5, 22050)] * 2, 1) * 32767).astype(np.int16)
    scipy.io.wavfile.write(tmp_path / "a.wav", 22050, stereo)
    wave = load_audio(tmp_path / "a.wav")
    assert wave.shape == (SAMPLE_RATE,) and float(wave.abs().max()) <= 1.0
    assert load_audio(tmp_path / "a.wav", rate=22050).shape == (22050,)
    scipy.io.wavfile.write(tmp_path / "low.wav", 4000, np.zeros(400, dtype=np.int16))
    with pytest.raises(AdvlabError, match=f"low.wav is recorded at 4000 Hz; the front-end needs at least "
                                          f"{MIN_SAMPLE_RATE} Hz"):
        load_audio(tmp_path / "low.wav")
    scipy.io.wavfile.write(tmp_path / "ok.wav", MIN_SAMPLE_RATE, np.zeros(400, dtype=np.int16))
    assert load_audio(tmp_path / "ok.wav").shape == (800,)


def test_pcm16_is_what_a_written_wav_file_reads_back(tmp_path):
    from advlab.data.audio_io import pcm16

    wave = torch.linspace(-1.2, 1.2, 4001) ** 3 * 0.7 + 1e-5
    write_wav(tmp_path / "x.wav", wave, 16000)
    read, _ = read_wav(tmp_path / "x.wav")
    assert torch.equal(pcm16(wave), read)
