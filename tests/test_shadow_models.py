"""Shadow models as classifier runs under RUN/privacy/shadows/
(advlab.pipelines.security.shadow_models): the target's recipe
on paired halves of its data, reused when the recipe and rows match, extended without retraining, the same weights
in worker processes."""

import dataclasses
import shutil

import pytest
import torch
from helpers import files_outside, newest_checkpoint_times, raises_one_line, tiny_digits_target

from advlab.pipelines.security.shadow_models import shadow_dir, shadow_models, shadow_seed
from advlab.pipelines.train_classifier import classifier_config, run_split
from advlab.privacy.membership.shadows import paired_membership
from advlab.privacy.victim import module_victim


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tiny_digits_target(tmp_path_factory.mktemp("shadows") / "target")


def checkpoint_times(run, shadows: int) -> list[int]:
    return newest_checkpoint_times(shadow_dir(run, index) for index in range(shadows))


def test_paired_membership_extends_and_is_balanced_for_every_even_count():
    wide = paired_membership(9, 101, seed=4)
    for count in range(1, 10):
        assert torch.equal(paired_membership(count, 101, seed=4), wide[:count])
    for pair in range(4):
        assert torch.equal(wide[2 * pair], ~wide[2 * pair + 1])
    assert (wide.sum(1)[0::2] == 50).all() and (wide.sum(1)[1::2] == 51).all()
    for even in (2, 4, 6, 8):
        assert (wide[:even].sum(0) == even // 2).all()
    assert not torch.equal(paired_membership(2, 101, seed=5), wide[:2])


def test_shadows_are_runs_of_the_target_recipe_on_their_halves_and_write_only_under_privacy(target):
    before = files_outside(target)
    shadows = shadow_models(target, 2, seed=0, device="cpu", progress=False)
    assert (shadows.trained, shadows.reused) == (2, 0) and shadows.shadows_per_minute > 0
    assert files_outside(target) == before
    _, (train_rows, held_out_rows) = run_split(target)
    assert torch.equal(shadows.pool, torch.arange(len(train_rows) + len(held_out_rows)))
    assert torch.equal(shadows.shadow_set.members, paired_membership(2, len(shadows.pool), 0))
    recipe = classifier_config(target)
    for index, row in enumerate(shadows.shadow_set.members):
        run = shadow_dir(target, index)
        assert classifier_config(run) == dataclasses.replace(recipe, out=str(run), seed=shadow_seed(0, index),
                                                             tensorboard=False)
        _, (in_rows, out_rows) = run_split(run)
        assert torch.equal(in_rows, shadows.pool[row]) and torch.equal(out_rows, shadows.pool[~row])
        model = shadows.shadow_set.models[index]
        assert not model.training and not any(parameter.requires_grad for parameter in model.parameters())
    # the two halves train different models (different rows and seeds)
    first, second = (next(model.parameters()) for model in shadows.shadow_set.models)
    assert not torch.equal(first, second)


def test_a_second_call_reuses_and_more_shadows_train_only_the_new_ones(target):
    shadow_models(target, 2, seed=0, device="cpu", progress=False)
    times = checkpoint_times(target, 2)
    again = shadow_models(target, 2, seed=0, device="cpu", progress=False)
    assert (again.trained, again.reused, again.seconds) == (2 - 2, 2, 0.0)
    assert checkpoint_times(target, 2) == times
    more = shadow_models(target, 4, seed=0, device="cpu", progress=False)
    assert (more.trained, more.reused) == (2, 2)
    assert checkpoint_times(target, 2) == times
    assert torch.equal(more.shadow_set.members[:2], again.shadow_set.members)
    images = run_split(target)[0].data[:50]
    for old, new in zip(again.shadow_set.models, more.shadow_set.models):
        assert torch.equal(old(images), new(images))


def test_a_changed_recipe_or_seed_retrains(target, tmp_path):
    copy = tmp_path / "target"
    shutil.copytree(target, copy, ignore=shutil.ignore_patterns("shadow-00[1-9]"))
    shadow_models(copy, 1, seed=0, device="cpu", progress=False)
    other_seed = shadow_models(copy, 1, seed=1, device="cpu", progress=False)
    assert other_seed.trained == 1  # other halves, other training seed: shadow-000 is replaced
    config = classifier_config(shadow_dir(copy, 0))
    (shadow_dir(copy, 0) / "config.yaml").write_text(
        (shadow_dir(copy, 0) / "config.yaml").read_text().replace(f"epochs: {config.epochs}", "epochs: 1"))
    assert shadow_models(copy, 1, seed=1, device="cpu", progress=False).trained == 1
    assert classifier_config(shadow_dir(copy, 0)).epochs == config.epochs


@pytest.mark.slow  # ~30 s here: each spawned worker imports torch and advlab afresh
def test_worker_processes_train_the_same_weights(target, tmp_path):
    copy = tmp_path / "target"
    shutil.copytree(target, copy, ignore=shutil.ignore_patterns("privacy"))
    in_workers = shadow_models(copy, 2, seed=0, workers=2, device="cpu", progress=False)
    assert (in_workers.trained, in_workers.workers) == (2, 2)
    in_turn = shadow_models(target, 2, seed=0, device="cpu", progress=False)
    for parallel, serial in zip(in_workers.shadow_set.models, in_turn.shadow_set.models):
        for a, b in zip(parallel.state_dict().values(), serial.state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("shadows, workers, message", [(0, 1, "--shadows"), (2, 0, "--workers")])
def test_bad_counts_are_one_clear_error(target, shadows, workers, message):
    raises_one_line(lambda: shadow_models(target, shadows, workers=workers, device="cpu", progress=False), message)


def test_module_victim_shows_probabilities_or_labels_only():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    images = torch.rand(6, 1, 2, 2)
    logits = module(images).detach()
    probabilities = module_victim(module, output="probabilities")
    labels = module_victim(module, output="labels")
    assert torch.allclose(probabilities.query(images), logits.softmax(1))
    assert torch.equal(labels.query(images), logits.argmax(1)) and labels.label_only
    assert probabilities.module is None and labels.module is None and module_victim(module).module is module
    assert torch.allclose(probabilities.log_probabilities(images), logits.double().log_softmax(1), atol=1e-6)
