"""Sharded evaluation under torchrun (issue 18, part 4): two gloo processes give one process's figures exactly.

One spawn of 2 ranks (tests/ranks.py) runs every sharded evaluation once on tiny digits models, and one process
runs the same calls in the test process: `advlab robustness` (2 chunks of 12 images), `advlab attack` (3 batches),
smoothing certification (3 chunks of 2 images), the GAN metrics (600 images: feature chunks of 500 and 100) and
LiRA's shadow models (3 shadows: rank 0 trains 0 and 2, rank 1 trains 1). Each rank evaluates its own copy of the
victim run, so that what rank 1 wrote (nothing) can be seen apart from rank 0's files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_digits_target
from ranks import run_ranks
from test_robustness_report import write_victim_run

from advlab.core.distributed import context
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.pipelines.chunks import chunk_seed, map_seeded_chunks
from advlab.pipelines.gan.evaluate_gan import Evaluator
from advlab.pipelines.security.attack_run import AttackRunConfig, attack_run
from advlab.pipelines.security.robustness import RobustnessConfig, robustness_run
from advlab.pipelines.security.smooth_run import SmoothRunConfig, smooth_run

ROBUSTNESS = dict(eps=(0.1, 0.2), n=24, chunk_size=12, steps=3, queries=10, targets=1, check_images=16)
ATTACK = dict(attack="pgd", options={"eps": [0.1, 0.2], "steps": 3}, n=30, batch_size=10)
SMOOTHING = dict(sigma=0.25, n=100, n0=10, alpha=0.05, batch=50, n_images=6, chunk_size=2)
SHADOWS = 3
TIMING = {"seconds", "processes", "files"}  # what may differ between 1 and 2 processes


def files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def noisy_digits(n: int, seed: int) -> torch.Tensor:
    """A 'generator': real digits with uniform noise, seeded."""
    data = load_digits_images()
    generator = make_generator(seed, torch.device("cpu"))
    rows = torch.randint(len(data), (n,), generator=generator)
    return (data.data[rows] + 0.2 * torch.rand(data.data[rows].shape, generator=generator)).clamp(0, 1)


def trained_shadows(target: str) -> tuple[list[str], list[list[torch.Tensor]]]:
    """(the shadows this process trained, every shadow's parameters) of SHADOWS shadows of `target`."""
    import advlab.pipelines.security.shadow_models as module

    trained, train = [], module.train_shadow

    def recording(config, *rest, **options):
        trained.append(Path(config.out).name)
        return train(config, *rest, **options)

    module.train_shadow = recording
    try:
        shadows = module.shadow_models(target, SHADOWS, seed=0, device="cpu", progress=False)
    finally:
        module.train_shadow = train
    return trained, [[p.detach().clone() for p in model.parameters()] for model in shadows.shadow_set.models]


def evaluations(root: str, name: str | None = None) -> dict:
    """Every sharded evaluation on this rank's copy (root/rank{r}, or root/`name`) of the victim run."""
    ctx = context("cpu")
    folder = Path(root) / (name or f"rank{ctx.rank}")
    run = folder / "clf"
    before = files(run)
    _, record = robustness_run(RobustnessConfig(run=str(run), device="cpu", progress=False, report=False,
                                                **ROBUSTNESS))
    attacked = attack_run(AttackRunConfig(run=str(run), device="cpu", progress=False, report=False, **ATTACK))
    certified = smooth_run(SmoothRunConfig(run=str(run), device="cpu", progress=False, **SMOOTHING))
    evaluator = Evaluator(load_digits_images(), ("fid", "kid", "prdc", "modes", "is"), n=600, seed=0)
    evaluation = evaluator.evaluate(noisy_digits)
    target = folder / "target" if name else Path(root) / "shared-target"
    trained, shadows = trained_shadows(str(target))
    return {"rank": ctx.rank, "record": record, "wrote": sorted(files(run) - before), "attack": str(attacked),
            "certify": str(certified / "certify.json"), "figures": evaluation.figures,
            "features": evaluation.fake_features, "trained": trained, "shadows": shadows}


@pytest.fixture(scope="module")
def runs(digits_cnn, tmp_path_factory) -> Path:
    """root/{rank0,rank1,single}/clf: three copies of one digits CNN run; a tiny membership target in
    root/single/target and root/shared-target (the 2 ranks' shadows go there)."""
    root = tmp_path_factory.mktemp("sharded")
    write_victim_run(digits_cnn.model, root / "single" / "clf")
    tiny_digits_target(root / "single" / "target")
    shutil.copytree(root / "single" / "target", root / "shared-target")
    for rank in (0, 1):
        shutil.copytree(root / "single" / "clf", root / f"rank{rank}" / "clf")
    return root


@pytest.fixture(scope="module")
def one_process(runs) -> dict:
    return evaluations(str(runs), "single")


@pytest.fixture(scope="module")
def two_ranks(runs, one_process) -> list[dict]:
    return run_ranks(evaluations, 2, str(runs))


def without(value, keys=TIMING):
    """`value` without the keys that say how long or in how many processes it ran, nor the run's own path."""
    if isinstance(value, dict):
        return {key: without(item, keys) for key, item in value.items() if key not in keys and key != "run"}
    if isinstance(value, list):
        return [without(item, keys) for item in value]
    return value


def test_robustness_on_two_ranks_is_the_one_process_record_and_rank_1_writes_nothing(runs, one_process, two_ranks):
    first, second = two_ranks
    written = json.loads((runs / "rank0" / "clf" / "robustness.json").read_text())
    single = json.loads((runs / "single" / "clf" / "robustness.json").read_text())
    assert single["chunks"]["count"] == 2 and (single["processes"], written["processes"]) == (1, 2)
    assert without(written) == without(single)
    assert without(second["record"]) == without(first["record"]) == without(single)
    assert 0 < single["robust_accuracy"]["0.1"] < 1  # a figure the chunks could get wrong
    assert "robustness.json" in first["wrote"] and second["wrote"] == []


def test_attack_batches_on_two_ranks_give_the_one_process_results(one_process, two_ranks):
    first, second = two_ranks
    results = [json.loads((Path(outcome["attack"]) / "results.json").read_text()) for outcome in (one_process, first)]
    assert without(results[0]["rows"]) == without(results[1]["rows"])
    adversarial = [np.load(Path(outcome["attack"]) / "adversarial.npy") for outcome in (one_process, first)]
    assert adversarial[0].shape == (30, 1, 8, 8) and np.array_equal(*adversarial)
    assert not Path(second["attack"]).exists() and second["wrote"] == []


def test_smoothing_certificates_on_two_ranks_are_the_one_process_records(one_process, two_ranks):
    single, sharded = (json.loads(Path(outcome["certify"]).read_text()) for outcome in (one_process, two_ranks[0]))
    assert [record["index"] for record in sharded["per_image"]] == list(range(6))
    assert without(sharded["per_image"]) == without(single["per_image"])
    assert without(sharded["summary"]) == without(single["summary"])
    assert not Path(two_ranks[1]["certify"]).exists()


def test_gan_metrics_on_two_ranks_equal_one_process_exactly(one_process, two_ranks):
    for rank in two_ranks:
        assert rank["figures"] == one_process["figures"]
        assert torch.equal(rank["features"], one_process["features"])
    assert one_process["figures"]["fid"] > 0 and one_process["figures"]["kid"] != 0


def test_shadow_i_is_trained_by_rank_i_mod_2_as_one_process_trains_it(one_process, two_ranks):
    assert one_process["trained"] == ["shadow-000", "shadow-001", "shadow-002"]
    assert [rank["trained"] for rank in two_ranks] == [["shadow-000", "shadow-002"], ["shadow-001"]]
    for rank in two_ranks:
        for mine, reference in zip(rank["shadows"], one_process["shadows"]):
            assert all(torch.equal(a, b) for a, b in zip(mine, reference))


def test_chunk_seeds_and_the_random_stream_do_not_depend_on_the_chunks_before():
    """Chunk 0 keeps the seed and the global stream where it stood, a later chunk starts from its own seed, and
    after the chunks the stream goes on from where the last chunk left it."""
    assert chunk_seed(7, 0) == 7 and len({chunk_seed(7, 1), chunk_seed(7, 2), 7}) == 3
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    draws = map_seeded_chunks(context("cpu"), lambda rows, index: torch.rand(1), 5, 2, seed=3,
                              device=torch.device("cpu"))
    following = torch.rand(1)
    assert torch.equal(draws[0], expected) and not torch.equal(draws[1], draws[2])
    torch.manual_seed(chunk_seed(3, 2))
    assert torch.equal(draws[2], torch.rand(1)) and torch.equal(following, torch.rand(1))
