"""Carlini & Wagner's audio attack: the bound always holds, the quietest success is returned, seeds repeat."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import advlab.audio.cw as cw_module
from advlab.audio.cw import AudioCW
from advlab.audio.decibels import amplitude_bound, relative_decibels
from advlab.audio.results import AudioAttackResult
from advlab.audio.room import RoomSimulation
from advlab.core.errors import AdvlabError

VOCABULARY = ("zero", "one", "two", "three")


class TinyCTC(nn.Module):
    """A stand-in SpeechModel: frames of `hop` samples -> linear -> log-probs over blank + vocabulary."""

    kind = "ctc"
    vocabulary = VOCABULARY
    sample_rate = 16000

    def __init__(self, hop: int = 320, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.hop = hop
        self.linear = nn.Linear(hop, len(VOCABULARY) + 1)

    def forward(self, waves, lengths):
        frames = waves[:, : waves.shape[1] // self.hop * self.hop].reshape(len(waves), -1, self.hop)
        return F.log_softmax(self.linear(frames * 30.0), -1)

    def output_lengths(self, lengths):
        return lengths // self.hop

    def loss(self, waves, lengths, tokens, token_lengths):
        log_probs = self(waves, lengths).transpose(0, 1)
        return F.ctc_loss(log_probs, tokens, self.output_lengths(lengths), token_lengths, blank=0,
                          reduction="none", zero_infinity=True)

    def transcribe(self, waves, lengths):
        best = self(waves, lengths).argmax(-1)
        out = []
        for row, frames in zip(best.tolist(), self.output_lengths(lengths).tolist()):
            words, previous = [], 0
            for token in row[:frames]:
                if token != previous and token != 0:
                    words.append(self.vocabulary[token - 1])
                previous = token
            out.append(tuple(words))
        return out

    def encode(self, words):
        words = words.split() if isinstance(words, str) else list(words)
        unknown = [word for word in words if word not in self.vocabulary]
        if unknown:
            raise AdvlabError(f"{', '.join(unknown)} not in the vocabulary ({', '.join(self.vocabulary)})")
        return torch.tensor([self.vocabulary.index(word) + 1 for word in words])


def batch(n: int = 3, length: int = 6400, seed: int = 0):
    """Noise bursts of peak 0.3-0.9, zero-padded beyond lengths; one row touches +-1 (the clipping case)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([length, length * 3 // 4, length // 2][:n])
    waves = torch.randn(n, length, generator=g) * torch.sin(torch.linspace(0, 6 * math.pi, length)).abs()
    waves = waves / waves.abs().amax(1, keepdim=True) * torch.tensor([0.9, 0.5, 0.3][:n])[:, None]
    waves[0] = waves[0].clamp(-0.6, 0.6) / 0.6  # many samples at exactly +-1
    return waves * (torch.arange(length)[None] < lengths[:, None]), lengths


def recorded_bounds(monkeypatch):
    """Wrap the attack's enforce_bound: every checked example with the bound it was held to."""
    calls = []
    original = cw_module.enforce_bound

    def spy(clean, adversarial, bound, valid):
        out = original(clean, adversarial, bound, valid)
        calls.append((clean.clone(), out.clone(), bound.clone()))
        return out

    monkeypatch.setattr(cw_module, "enforce_bound", spy)
    return calls


def test_the_perturbation_never_exceeds_the_bound_in_force(monkeypatch):
    calls = recorded_bounds(monkeypatch)
    waves, lengths = batch()
    result = AudioCW(TinyCTC(), db=-20.0, iterations=80, lr=0.05, check_every=5).run(waves, lengths, "one two")
    start = amplitude_bound(waves, -20.0)
    assert len(calls) == 80 // 5 + 1
    previous = start
    for clean, adversarial, bound in calls:
        assert ((adversarial - clean).abs().amax(1) <= bound).all()  # exactly, not up to rounding
        assert (bound <= previous).all()  # the bound only tightens
        previous = bound
    assert (previous < start * 0.8 ** 2).all(), "every utterance succeeded and tightened its bound at least twice"
    assert ((result.adversarial - result.clean).abs().amax(1) <= start).all()
    assert (result.db <= -20.0 + 1e-4).all() and (result.db <= result.bound_db + 1e-4).all()


def test_delta_is_zero_beyond_each_length_and_the_audio_stays_in_range():
    waves, lengths = batch()
    result = AudioCW(TinyCTC(), db=-20.0, iterations=40, lr=0.05, check_every=5).run(waves, lengths, "three")
    beyond = torch.arange(waves.shape[1])[None] >= lengths[:, None]
    assert torch.equal(result.adversarial[beyond], torch.zeros(int(beyond.sum())))
    assert result.adversarial.abs().max() <= 1.0
    assert result.success.all()
    # the clipped row (many samples at +-1) was perturbed inwards only there
    at_top = waves[0] == 1.0
    assert at_top.sum() > 10 and (result.adversarial[0][at_top] <= 1.0).all()


def test_the_quietest_success_is_returned(monkeypatch):
    reached_calls = []
    original = AudioCW.reached

    def spy(self, adversarial, lengths, goals, generator):
        reached = original(self, adversarial, lengths, goals, generator)
        reached_calls.append((adversarial.clone(), reached.clone()))
        return reached

    monkeypatch.setattr(AudioCW, "reached", spy)
    waves, lengths = batch()
    result = AudioCW(TinyCTC(), db=-20.0, iterations=60, lr=0.05, check_every=5).run(waves, lengths, "two one")
    assert result.success.all()
    quietest = torch.full((3,), math.inf)
    for adversarial, reached in reached_calls:
        db = relative_decibels(adversarial - waves, waves)
        quietest = torch.where(reached, torch.minimum(quietest, db), quietest)
    assert torch.allclose(result.db, quietest)
    assert result.after == [("two", "one")] * 3
    assert (result.first_success > 0).all() and (result.first_success % 5 == 0).all()


def test_an_utterance_never_reached_is_returned_clean():
    waves, lengths = batch()
    target = ("one", "two", "three") * 30  # more words than frames: CTC cannot align it
    result = AudioCW(TinyCTC(), db=-30.0, iterations=10, check_every=5).run(waves, lengths, [target] * 3)
    assert not result.success.any() and torch.equal(result.adversarial, result.clean)
    assert (result.first_success == -1).all() and (result.db == -math.inf).all()
    assert result.summary()["success_rate"] == 0.0 and result.summary()["mean_db"] is None


def test_a_target_word_outside_the_vocabulary_is_the_models_error():
    waves, lengths = batch()
    with pytest.raises(AdvlabError, match="seven not in the vocabulary"):
        AudioCW(TinyCTC(), iterations=5).run(waves, lengths, "one seven")


@pytest.mark.parametrize("kwargs", [{"db": 0}, {"db": 6.0}, {"shrink": 1.0}, {"iterations": 0}, {"lr": 0},
                                    {"room": "hall"}, {"eot_samples": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(AdvlabError):
        AudioCW(TinyCTC(), **kwargs)


def test_bad_batches_are_refused():
    waves, lengths = batch()
    attack = AudioCW(TinyCTC(), iterations=5)
    with pytest.raises(AdvlabError, match=r"\[-1, 1\]"):
        attack.run(waves * 2, lengths, "one")
    with pytest.raises(AdvlabError, match="lengths must lie in"):
        attack.run(waves, lengths + 5000, "one")
    with pytest.raises(AdvlabError, match="silence"):
        attack.run(torch.zeros_like(waves), lengths, "one")
    with pytest.raises(AdvlabError, match="list of 3 phrases"):
        attack.run(waves, lengths, [("one",), ("two",)])


def test_seeds_repeat_exactly_with_a_room():
    waves, lengths = batch()
    room = RoomSimulation(rt60=(0.0, 0.01))

    def attack(seed):
        return AudioCW(TinyCTC(), db=-20.0, iterations=20, lr=0.05, check_every=5, room=room, eot_samples=2,
                       playback_trials=4, seed=seed).run(waves, lengths, "one")

    a, b, c = attack(0), attack(0), attack(1)
    assert torch.equal(a.adversarial, b.adversarial) and torch.equal(a.playback_success, b.playback_success)
    assert not torch.equal(a.adversarial, c.adversarial)
    assert a.playback_success.shape == (3,) and ((a.playback_success >= 0) & (a.playback_success <= 1)).all()


def test_the_l2_penalty_makes_the_first_success_quieter_in_l2():
    waves, lengths = batch()

    def l2(c):
        result = AudioCW(TinyCTC(), db=-20.0, iterations=60, lr=0.05, c=c, check_every=60).run(waves, lengths, "one")
        assert result.success.all()  # at its only check, the last iteration
        return (result.adversarial - result.clean).norm(dim=1)

    assert (l2(0.01) < 0.6 * l2(0.0)).all()  # measured: 0.26-0.28 of it


def result_of(success, db, first, bound_db=-30.0):
    n = len(success)
    zeros = torch.zeros(n, 4)
    return AudioAttackResult(
        attack="audio-cw", clean=zeros, adversarial=zeros, lengths=torch.full((n,), 4), truths=[("one",)] * n,
        targets=[("two",)] * n, before=[("one",)] * n, after=[("two",) if s else ("one",) for s in success],
        success=torch.tensor(success), db=torch.tensor(db), bound_db=torch.full((n,), bound_db),
        first_success=torch.tensor(first), iterations=100, seconds=2.0)


def test_summary_and_tables_of_a_result():
    result = result_of([True, True, False, True], [-31.0, -40.0, -math.inf, -35.0], [10, 50, -1, 20])
    summary = result.summary()
    assert summary["n"] == 4 and summary["success_rate"] == 0.75
    assert summary["mean_db"] == pytest.approx(-106 / 3) and summary["max_db"] == -31.0
    assert summary["bound_db"] == -30.0 and summary["seconds_per_utterance"] == 0.5
    by_bound = result.success_by_bound([-30, -32, -36, -45])
    assert [row["success_rate"] for row in by_bound] == [0.75, 0.5, 0.25, 0.0]
    by_iterations = result.success_by_iterations([5, 10, 20, 100])
    assert [row["success_rate"] for row in by_iterations] == [0.0, 0.25, 0.5, 0.75]
    examples = result.examples()
    assert examples[2]["db"] is None and examples[1]["db"] == -40.0 and examples[0]["after"] == "two"
    assert examples[0]["target"] == "two" and examples[0]["truth"] == "one" and examples[2]["first_success"] == -1


def test_the_house_ctc_recogniser_is_attacked_to_a_target_within_the_bound():
    from advlab.models.speech import CTCRecogniser

    torch.manual_seed(0)
    model = CTCRecogniser(VOCABULARY, width=4, hidden=16, layers=1)  # untrained, tiny: the interface, not the figures
    waves, lengths = batch(length=8000)
    result = AudioCW(model, db=-30.0, iterations=50, lr=0.05, check_every=5).run(waves, lengths, "two")
    assert result.success.all() and result.after == [("two",)] * 3
    assert ((result.adversarial - result.clean).abs().amax(1) <= amplitude_bound(waves, -30.0)).all()
    assert model.training, "the attack gives the model its mode back"
    with pytest.raises(AdvlabError, match="'seven' is not in the model's vocabulary; it knows: zero one two three"):
        AudioCW(model, iterations=1).run(waves, lengths, "one seven")


def test_a_keyword_classifier_takes_exactly_one_target_word():
    from advlab.models.speech import KeywordClassifier

    model = KeywordClassifier(VOCABULARY, width=4, hidden=16)
    waves, lengths = batch(length=8000)
    with pytest.raises(AdvlabError):
        AudioCW(model, iterations=1).run(waves, lengths, "one two")
    result = AudioCW(model, db=-30.0, iterations=5, check_every=5).run(waves, lengths, "three")
    assert result.targets == [("three",)] * 3 and len(result.after[0]) == 1


def test_the_summary_gives_the_starting_bound_after_the_bound_has_shrunk():
    waves, lengths = batch()
    result = AudioCW(TinyCTC(), db=-20.0, iterations=30, lr=0.05, check_every=5).run(waves, lengths, "one")
    assert result.success.all() and (result.bound_db < -20.0).any()
    assert result.summary()["bound_db"] == -20.0


def test_success_is_judged_on_the_16_bit_audio_a_wav_file_holds(monkeypatch):
    from advlab.data.audio_io import pcm16

    model = TinyCTC()
    waves, lengths = batch()
    result = AudioCW(model, db=-20.0, iterations=60, check_every=5).run(waves, lengths, "one two")
    assert result.success.any()
    heard = model.transcribe(pcm16(result.adversarial), lengths)
    assert [words == ("one", "two") for words in heard] == result.success.tolist()
    assert result.after == heard  # what the file says
    monkeypatch.setattr(cw_module, "pcm16", lambda audio: torch.zeros_like(audio))  # a "WAV" that keeps nothing
    assert not AudioCW(model, db=-20.0, iterations=60, check_every=5).run(waves, lengths, "one two").success.any()
    floats = AudioCW(model, db=-20.0, iterations=60, check_every=5, pcm16=False).run(waves, lengths, "one two")
    assert floats.success.any()
