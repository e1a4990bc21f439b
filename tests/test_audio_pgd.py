"""Untargeted audio PGD in dB terms: inside the ball at every step, zero beyond lengths, seeded."""

import pytest
import torch
from test_audio_cw import TinyCTC, batch

import advlab.audio.pgd as pgd_module
from advlab.audio.decibels import amplitude_bound
from advlab.audio.pgd import AudioPGD
from advlab.audio.room import RoomSimulation
from advlab.core.errors import AdvlabError


def truths_of(model, waves, lengths):
    with torch.no_grad():
        return [tuple(words) for words in model.transcribe(waves, lengths)]


def test_every_iterate_stays_inside_the_ball_zero_beyond_lengths_and_in_range(monkeypatch):
    calls = []
    original = pgd_module.enforce_bound

    def spy(clean, adversarial, bound, valid):
        out = original(clean, adversarial, bound, valid)
        calls.append((clean, out, bound))
        return out

    monkeypatch.setattr(pgd_module, "enforce_bound", spy)
    model = TinyCTC()
    waves, lengths = batch()
    result = AudioPGD(model, eps_db=-25.0, steps=12).run(waves, lengths, truths_of(model, waves, lengths))
    eps = amplitude_bound(waves, -25.0)
    assert len(calls) == 13
    beyond = torch.arange(waves.shape[1])[None] >= lengths[:, None]
    for clean, adversarial, bound in calls:
        assert torch.equal(bound, eps)
        assert ((adversarial - clean).abs().amax(1) <= eps).all()
        assert adversarial.abs().max() <= 1 and (adversarial[beyond] == 0).all()
    assert ((result.adversarial - result.clean).abs().amax(1) <= eps).all()
    assert (result.db <= -25.0 + 1e-4).all() and (result.bound_db == -25.0).all()
    # sign steps of 0.1 eps from a random start saturate the ball
    assert (result.db > -25.5).all()


def test_success_means_a_changed_transcript_and_the_tables_agree():
    model = TinyCTC()
    waves, lengths = batch()
    truths = truths_of(model, waves, lengths)
    result = AudioPGD(model, eps_db=-20.0, steps=10).run(waves, lengths, truths)
    assert result.before == truths and result.targets is None
    assert torch.equal(result.success, torch.tensor([a != t for a, t in zip(result.after, truths)]))
    assert result.success.all() and (result.first_success >= 1).all()
    assert result.success_by_iterations([10])[0]["success_rate"] == 1.0


def test_a_looser_bound_succeeds_more_often():
    model = TinyCTC()
    waves, lengths = batch(seed=3)
    truths = truths_of(model, waves, lengths)

    def rate(eps_db):
        return float(AudioPGD(model, eps_db=eps_db, steps=10).run(waves, lengths, truths).success.float().mean())

    assert rate(-60.0) < rate(-15.0)


def test_seeds_repeat_exactly():
    model = TinyCTC()
    waves, lengths = batch()
    truths = truths_of(model, waves, lengths)
    room = RoomSimulation(rt60=(0.0, 0.01))

    def attack(seed, room=None):
        return AudioPGD(model, eps_db=-30.0, steps=3, seed=seed, room=room, eot_samples=2,
                        playback_trials=3).run(waves, lengths, truths)

    assert torch.equal(attack(0).adversarial, attack(0).adversarial)
    assert not torch.equal(attack(0).adversarial, attack(1).adversarial)
    a, b = attack(2, room), attack(2, room)
    assert torch.equal(a.adversarial, b.adversarial) and torch.equal(a.playback_success, b.playback_success)


def test_no_random_start_from_the_clean_audio():
    model = TinyCTC()
    waves, lengths = batch()
    truths = truths_of(model, waves, lengths)
    a = AudioPGD(model, eps_db=-30.0, steps=2, random_start=False, seed=0).run(waves, lengths, truths)
    b = AudioPGD(model, eps_db=-30.0, steps=2, random_start=False, seed=1).run(waves, lengths, truths)
    assert torch.equal(a.adversarial, b.adversarial)


@pytest.mark.parametrize("kwargs", [{"eps_db": 0.0}, {"eps_db": 10}, {"steps": 0}, {"alpha": 0.0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(AdvlabError):
        AudioPGD(TinyCTC(), **kwargs)


def test_a_truth_outside_the_vocabulary_is_the_models_error():
    waves, lengths = batch()
    with pytest.raises(AdvlabError, match="seven not in the vocabulary"):
        AudioPGD(TinyCTC(), steps=1).run(waves, lengths, ["one", "seven", "two"])
