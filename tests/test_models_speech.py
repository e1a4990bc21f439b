"""Speech models: the log-mel front-end against librosa and by hand, gradients to the waveform, padding
invariance, CTC loss on impossible targets, encoding errors, settings and loading."""

import json
import math

import librosa
import numpy as np
import pytest
import torch

from advlab.core.checkpoints import module_state, save_checkpoint
from advlab.core.errors import AdvlabError
from advlab.models.speech import (
    IMPOSSIBLE_LOSS,
    CTCRecogniser,
    KeywordClassifier,
    LogMel,
    build_speech_model,
    ctc_frames_needed,
    export_speech_model,
    load_speech_model,
    mel_filterbank,
)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATE = 16000


def tone(hz, seconds=0.5, amplitude=0.5, rate=RATE):
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * hz * t)).float()


def small_ctc(seed=0):
    torch.manual_seed(seed)
    return CTCRecogniser(DIGITS, width=4, hidden=8).eval()


def small_keyword(seed=0):
    torch.manual_seed(seed)
    return KeywordClassifier(DIGITS, width=4, hidden=8).eval()


@pytest.mark.parametrize("rate, n_fft, n_mels, f_min, f_max", [
    (16000, 400, 40, 20.0, None), (8000, 256, 20, 0.0, 4000.0), (22050, 512, 64, 50.0, 7000.0)])
def test_mel_filterbank_matches_librosa(rate, n_fft, n_mels, f_min, f_max):
    ours = mel_filterbank(rate, n_fft, n_mels, f_min, f_max)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=False,
                                 norm="slaney")
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-8)


def test_log_mel_of_a_tone_matches_librosa():
    wave = tone(1000.0) + tone(300.0, amplitude=0.2)
    ours = LogMel()(wave[None])[0]
    mel = librosa.feature.melspectrogram(y=wave.numpy(), sr=RATE, n_fft=400, hop_length=160, win_length=400,
                                         window="hann", center=True, pad_mode="constant", power=2.0, n_mels=40,
                                         fmin=20.0, fmax=None, htk=False, norm="slaney")
    assert ours.shape == mel.shape == (40, 8000 // 160 + 1)
    np.testing.assert_allclose(ours.numpy(), np.log(mel + 1e-6), atol=2e-4)


def test_a_1khz_tone_peaks_in_the_band_holding_1khz():
    # Slaney's mel scale: 1 kHz is mel 15 and 8 kHz is 15 + ln(8) / (ln(6.4) / 27) = 45.245; 20 Hz is 0.3. The 42
    # edges are 1.0962 mel apart, so band 12's peak sits at edge 13 = 14.55 mel = 970 Hz, band 13's at 15.65 mel =
    # 1045 Hz. 1 kHz lies 30 Hz above the first and 45 Hz below the second: band 12 (0-based) holds the most of it.
    log_mel = LogMel()(tone(1000.0)[None])[0]
    assert int(log_mel[:, 5:-5].mean(1).argmax()) == 12
    filters = mel_filterbank(RATE, 400, 40, 20.0)
    assert int(filters[:, 1000 // 40].argmax()) == 12  # the 1 kHz FFT bin (40 Hz apart) weighs most in band 12


def test_log_mel_gradient_reaches_the_waveform():
    wave = (tone(440.0) + 0.01 * torch.randn(8000)).requires_grad_(True)
    LogMel()(wave[None]).mean().backward()
    assert torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


def test_frames_count_is_what_stft_gives():
    front = LogMel()
    for samples in (1, 159, 160, 161, 8000, 8001):
        assert front(torch.zeros(1, samples)).shape[-1] == int(front.frames(torch.tensor([samples]))[0])


@pytest.mark.parametrize("make", [small_ctc, small_keyword])
def test_padding_never_changes_a_row(make):
    model = make()
    torch.manual_seed(1)
    alone = 0.3 * torch.randn(1, 5000)
    other = 0.3 * torch.randn(7300)
    batch = torch.zeros(3, 7300)
    batch[0] = other
    batch[1, :5000] = alone[0]
    batch[1, 5000:] = 0.5  # garbage beyond the length must not reach the row either
    batch[2, :3100] = other[:3100]
    lengths = torch.tensor([7300, 5000, 3100])
    with torch.no_grad():
        single = model(alone, torch.tensor([5000]))
        padded = model(batch, lengths)
    if model.kind == "ctc":
        steps = int(model.output_lengths(torch.tensor([5000]))[0])
        assert single.shape[1] == steps
        torch.testing.assert_close(padded[1, :steps], single[0], atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(padded[1], single[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("make", [small_ctc, small_keyword])
def test_loss_gradient_reaches_every_valid_sample_and_no_padding(make):
    model = make()
    torch.manual_seed(2)
    waves = (0.2 * torch.randn(2, 6000)).requires_grad_(True)
    lengths = torch.tensor([6000, 4000])
    tokens = torch.tensor([[2, 3, 4], [5, 0, 0]])
    loss = model.loss(waves, lengths, tokens, torch.tensor([3, 1]))
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    loss.sum().backward()
    grad = waves.grad
    assert torch.isfinite(grad).all()
    assert (grad[0].abs() > 0).float().mean() > 0.99 and (grad[1, :4000].abs() > 0).float().mean() > 0.99
    assert grad[1, 4000:].abs().max() == 0


def test_ctc_frames_needed_counts_repeats():
    tokens = torch.tensor([[1, 1, 2, 2], [3, 4, 3, 0], [5, 5, 5, 5]])
    # 1 1 2 2 needs 4 + 2 blanks; 3 4 3 none; 5 5 (length 2, the rest padding) needs 3
    assert ctc_frames_needed(tokens, torch.tensor([4, 3, 2])).tolist() == [6, 3, 3]


def test_ctc_loss_is_finite_when_the_target_cannot_fit():
    model = small_ctc()
    torch.manual_seed(3)
    waves = (0.2 * torch.randn(2, 800)).requires_grad_(True)  # 800 samples: 6 frames -> 3 output frames
    lengths = torch.tensor([800, 800])
    assert model.output_lengths(lengths).tolist() == [3, 3]
    tokens = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 0, 0, 0]])
    loss = model.loss(waves, lengths, tokens, torch.tensor([5, 2]))
    assert torch.isfinite(loss).all()
    assert loss[0] == IMPOSSIBLE_LOSS and 0 < loss[1] < IMPOSSIBLE_LOSS
    repeated = model.loss(waves[:1], lengths[:1], torch.tensor([[1, 1, 1]]), torch.tensor([3]))  # needs 5 > 3
    assert repeated[0] == IMPOSSIBLE_LOSS
    loss.sum().backward()
    assert torch.isfinite(waves.grad).all() and waves.grad[1].abs().sum() > 0


def test_ctc_loss_equals_torch_ctc_per_row():
    model = small_ctc()
    torch.manual_seed(4)
    waves = 0.2 * torch.randn(2, 4000)
    lengths = torch.tensor([4000, 2500])
    tokens = torch.tensor([[3, 1, 4], [1, 5, 0]])
    token_lengths = torch.tensor([3, 2])
    with torch.no_grad():
        ours = model.loss(waves, lengths, tokens, token_lengths)
        for row in range(2):
            n = int(lengths[row])
            log_probs = model(waves[row:row + 1, :n], lengths[row:row + 1])
            expected = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), tokens[row:row + 1],
                                                    model.output_lengths(lengths[row:row + 1]),
                                                    token_lengths[row:row + 1], blank=0, reduction="sum")
            assert ours[row] == pytest.approx(float(expected), rel=1e-5)


def test_keyword_loss_is_cross_entropy_of_the_word():
    model = small_keyword()
    torch.manual_seed(5)
    waves, lengths = 0.2 * torch.randn(3, 3000), torch.tensor([3000, 2000, 1000])
    tokens = torch.tensor([[1], [10], [4]])
    with torch.no_grad():
        logits = model(waves, lengths)
        loss = model.loss(waves, lengths, tokens, torch.ones(3, dtype=torch.long))
    expected = -torch.log_softmax(logits, 1)[torch.arange(3), torch.tensor([0, 9, 3])]
    torch.testing.assert_close(loss, expected)
    assert model.transcribe(waves, lengths) == [(DIGITS[i],) for i in logits.argmax(1).tolist()]


def test_transcribe_decodes_ctc_outputs_into_words():
    model = small_ctc()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0, 0, 0, 5.0, 0, 0, 0, 0, 0, 0]))  # token 4 = "three" everywhere
    transcripts = model.transcribe(0.1 * torch.randn(2, 3000), torch.tensor([3000, 1500]))
    assert transcripts == [("three",), ("three",)]


def test_encode_names_unknown_words_and_keyword_takes_one():
    model = small_ctc()
    assert model.encode("One two  nine").tolist() == [2, 3, 10]
    assert model.encode(("zero",)).tolist() == [1]
    with pytest.raises(AdvlabError, match=r"'hello', 'world' are not in .*it knows: zero one two"):
        model.encode("one hello world hello")
    keyword = small_keyword()
    assert keyword.encode("seven").tolist() == [8]
    with pytest.raises(AdvlabError, match="one word, not 2"):
        keyword.encode("one two")
    with pytest.raises(AdvlabError, match="'yes' is not in"):
        keyword.encode("yes")


def test_settings_build_errors():
    with pytest.raises(AdvlabError, match="unknown speech model kind 'rnn'"):
        build_speech_model({"kind": "rnn", "vocabulary": ["a"]})
    with pytest.raises(AdvlabError, match="unknown ctc model setting.*depth.*valid: vocabulary"):
        build_speech_model({"kind": "ctc", "vocabulary": ["a"], "depth": 3})
    with pytest.raises(AdvlabError, match="twice: a"):
        CTCRecogniser(("a", "b", "a"))
    with pytest.raises(AdvlabError, match="single lower-case words"):
        KeywordClassifier(("Yes", "no"))


@pytest.mark.parametrize("make", [small_ctc, small_keyword])
def test_export_and_run_checkpoint_load_the_same_model(make, tmp_path):
    model = make(seed=6)
    settings = json.loads(json.dumps(model.settings()))
    assert settings["kind"] == model.kind and settings["vocabulary"] == list(DIGITS)
    waves, lengths = 0.2 * torch.randn(2, 4000), torch.tensor([4000, 3000])
    with torch.no_grad():
        expected = model(waves, lengths)
    export_speech_model(model, tmp_path / "export")
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints", 5, module_state(model, "recogniser"), {"model": settings, "step": 5})
    for source in (tmp_path / "export", run):
        loaded, meta = load_speech_model(source)
        assert not loaded.training and meta["model"] == settings
        with torch.no_grad():
            torch.testing.assert_close(loaded(waves, lengths), expected)
    with pytest.raises(AdvlabError, match="is not an audio run"):
        load_speech_model(tmp_path)
    save_checkpoint(tmp_path / "gan" / "checkpoints", 1, module_state(model, "generator"), {})
    with pytest.raises(AdvlabError, match="is not an audio run"):
        load_speech_model(tmp_path / "gan")


def test_keyword_dropout_acts_only_while_training():
    torch.manual_seed(7)
    model = KeywordClassifier(DIGITS, width=4, hidden=8, dropout=0.5)
    waves, lengths = 0.2 * torch.randn(2, 3000), torch.tensor([3000, 2000])
    with torch.no_grad():
        model.train()
        first, second = model(waves, lengths), model(waves, lengths)
        model.eval()
        torch.testing.assert_close(model(waves, lengths), model(waves, lengths))
    assert not torch.allclose(first, second)
    assert build_speech_model(model.settings()).dropout == 0.5
    with pytest.raises(AdvlabError, match=r"dropout must lie in \[0, 1\)"):
        KeywordClassifier(DIGITS, dropout=1.0)
