"""Shadow models of a classifier run, trained as classifier runs of their own and reused between attacks.

Shokri et al. 2017 (sec. IV-B) train shadow models that imitate the target; Carlini et al. 2022 (LiRA,
sec. 4.1) train them on random halves of a data pool so that every example has models trained with it
(IN) and without it (OUT). Here the pool is every row of the target's data (its training and held-out
rows), the recipe is the target's own (its config, ``out`` replaced and the seed varied), and the halves
come from advlab.privacy.membership.shadows.paired_membership: shadows 2k and 2k + 1 train on
complementary halves, so each example is IN exactly half of an even number of shadows, and the halves of
shadows 0..S-1 do not depend on how many more are asked for later.

Every shadow is an ordinary classifier run (split kind "given": its IN rows train it, its OUT rows are its
held-out rows) under the target's own folder::

    RUN/privacy/shadows/shadow-000/   config.yaml, checkpoints/, metrics.jsonl, summary.json
    RUN/privacy/shadows/shadow-001/   ...

A shadow run that finished with the same recipe and the same rows is loaded, not retrained; asking for more
shadows trains only the new ones. ``workers`` > 1 trains the missing shadows in parallel worker processes
(multiprocessing "spawn", one torch thread each); seeded training makes their weights the same either way.
Under torchrun the ranks are the workers: shadow i is trained by rank i mod N, as an ordinary one-process run
(``train_classifier(local=True)``, written by the rank that trains it), and every rank waits for all of them
before loading the set.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from advlab.core.distributed import Distributed, context
from advlab.core.errors import AdvlabError
from advlab.data import TensorData
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import (
    classifier_config,
    classifier_record,
    load_classifier,
    run_split,
    train_classifier,
)
from advlab.privacy.membership.shadows import ShadowSet, paired_membership

SHADOWS_FOLDER = Path("privacy") / "shadows"
# config fields that say where and how fast a run trains, not what it learns: a shadow differing only in
# these is the same shadow
RECIPE_FREE = ("out", "device", "threads", "tensorboard")


@dataclass
class ShadowModels:
    """The trained shadows of a run: `shadow_set.models[s]` was trained on the data rows
    `pool[shadow_set.members[s]]`; `trained` of them were trained by this call, `reused` loaded."""

    shadow_set: ShadowSet
    pool: Tensor  # (N,) int64: pool index -> row of the target's data
    trained: int
    reused: int
    seconds: float  # wall time of the training (0 when every shadow was reused)
    workers: int

    @property
    def shadows_per_minute(self) -> float | None:
        """Shadows trained per minute of wall time; None when none was trained."""
        return 60.0 * self.trained / self.seconds if self.trained and self.seconds > 0 else None

    def record(self) -> dict:
        """The training figures as plain JSON values."""
        per_minute = self.shadows_per_minute
        return {"shadows": len(self.shadow_set), "trained": self.trained, "reused": self.reused,
                "seconds": round(self.seconds, 3), "workers": self.workers,
                "shadows_per_minute": None if per_minute is None else round(per_minute, 3)}


def shadow_dir(run: str | Path, index: int) -> Path:
    """RUN/privacy/shadows/shadow-NNN."""
    return Path(run) / SHADOWS_FOLDER / f"shadow-{index:03d}"


def shadow_seed(seed: int, index: int) -> int:
    """The training seed of shadow `index` of a shadow set drawn with `seed` (distinct for every shadow)."""
    return 1_000 * seed + index + 1


def data_pool(train_rows: Tensor, held_out_rows: Tensor) -> Tensor:
    """The shadows' pool: every row of the target's data, training and held-out rows, in row order."""
    return torch.cat([train_rows, held_out_rows]).sort().values


def shadow_config(target: ClassifierTrainConfig, out: Path, seed: int, device: str,
                  threads: int | None) -> ClassifierTrainConfig:
    """The target's recipe for one shadow: its config with `out`, the seed and the device replaced, and the
    threads where given (None: the target's)."""
    threads = target.threads if threads is None else threads
    return dataclasses.replace(target, out=str(out), seed=seed, device=device, threads=threads, tensorboard=False)


def recipe(config: ClassifierTrainConfig) -> dict:
    """What a config trains, without where and how fast (RECIPE_FREE)."""
    return {key: value for key, value in dataclasses.asdict(config).items() if key not in RECIPE_FREE}


def is_trained_shadow(config: ClassifierTrainConfig, in_rows: Tensor, out_rows: Tensor) -> bool:
    """True when `config.out` holds a finished run of the same recipe trained on `in_rows`, held out `out_rows`."""
    out = Path(config.out)
    if not (out / "summary.json").is_file():
        return False
    try:
        found = classifier_config(out)
        split = classifier_record(out)[1].get("split", {})
    except AdvlabError:
        return False
    return (recipe(found) == recipe(config) and split.get("train_rows") == in_rows.tolist()
            and split.get("test_rows") == out_rows.tolist())


def train_shadow(config: ClassifierTrainConfig, in_rows: Tensor, out_rows: Tensor, local: bool = False) -> str:
    """Train one shadow run (replacing whatever stale shadow run is in `config.out`); its directory. `local`: in
    this process alone, though it is one rank of a torchrun job."""
    train_classifier(config, overwrite=True, progress=False, report=False, rows=(in_rows, out_rows),
                     **({"local": True} if local else {}))
    return config.out


def train_shadows_in_turn(jobs: list[tuple], bar: tqdm, local: bool = False) -> None:
    for job in jobs:
        train_shadow(*job, local=local)
        bar.update(1)


def train_shadows_in_workers(jobs: list[tuple], workers: int, bar: tqdm) -> None:
    """The jobs in `workers` spawned processes (each job's config sets one torch thread)."""
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for future in as_completed([pool.submit(train_shadow, *job) for job in jobs]):
                future.result()
                bar.update(1)
    except BrokenProcessPool as error:
        raise AdvlabError(f"a shadow-training worker process died ({error}); the shadows finished so far are kept: "
                          "run again with --workers 1 (a script that starts workers needs "
                          "if __name__ == '__main__':)") from None


def check_shadow_request(shadows: int, workers: int) -> None:
    if shadows < 1:
        raise AdvlabError(f"--shadows must be at least 1, got {shadows}")
    if workers < 1:
        raise AdvlabError(f"--workers must be at least 1, got {workers}")


def shadow_models(run: str | Path, shadows: int, seed: int = 0, workers: int = 1, device: str = "auto",
                  threads: int | None = None, progress: bool = True,
                  split: tuple[TensorData, tuple[Tensor, Tensor]] | None = None,
                  ctx: Distributed | None = None) -> ShadowModels:
    """`shadows` shadow models of the classifier run `run`, trained where missing, loaded in eval mode on `device`.

    `split` is run_split(run) when the caller has it already. With `workers` > 1 the missing shadows train in
    parallel processes, one torch thread each; otherwise in this process with `threads` torch threads. Under
    torchrun (`ctx`, default the process's context) every rank calls this, trains the missing shadows whose
    index is its rank modulo the number of processes (in this process: the ranks are the workers) and returns
    the whole set once every shadow is trained.
    """
    check_shadow_request(shadows, workers)
    ctx = context(device) if ctx is None else ctx
    workers = 1 if ctx.active else workers
    target = classifier_config(run)
    _, (train_rows, held_out_rows) = run_split(run) if split is None else split
    pool = data_pool(train_rows, held_out_rows)
    members = paired_membership(shadows, len(pool), seed)
    configs = [shadow_config(target, shadow_dir(run, index), shadow_seed(seed, index), device,
                             1 if workers > 1 else threads) for index in range(shadows)]
    jobs = [(config, pool[row], pool[~row]) for config, row in zip(configs, members)]
    # rank 0's view of what is missing, before any rank starts replacing a stale shadow
    missing = ctx.broadcast_object([index for index, job in enumerate(jobs) if not is_trained_shadow(*job)])
    mine = [jobs[index] for index in missing if index % ctx.world_size == ctx.rank]
    start = time.perf_counter()
    train_missing(mine, workers, progress and ctx.is_main, shadows - len(missing), local=ctx.active)
    ctx.barrier()  # every shadow is trained before any rank loads the set
    seconds = time.perf_counter() - start if missing else 0.0
    seconds = max(ctx.all_gather_objects(seconds))
    models = [load_classifier(config.out, ctx.device(device))[0] for config in configs]
    return ShadowModels(ShadowSet(models, members), pool, len(missing), shadows - len(missing), seconds,
                        ctx.world_size if ctx.active else min(workers, max(len(missing), 1)))


def train_missing(jobs: list[tuple], workers: int, progress: bool, reused: int, local: bool = False) -> float:
    """Train the missing shadows under one progress bar (`local`: each in this process alone, one rank of a
    torchrun job); the wall time in seconds."""
    if not jobs:
        return 0.0
    bar = tqdm(total=len(jobs), disable=not progress, unit="shadow", dynamic_ncols=True, file=sys.stderr,
               desc=f"shadow models ({reused} reused)" if reused else "shadow models")
    start = time.perf_counter()
    try:
        if workers > 1 and len(jobs) > 1:
            train_shadows_in_workers(jobs, min(workers, len(jobs)), bar)
        else:
            train_shadows_in_turn(jobs, bar, local)
    finally:
        bar.close()
    return time.perf_counter() - start


__all__ = ["SHADOWS_FOLDER", "ShadowModels", "data_pool", "shadow_dir", "shadow_models", "shadow_seed"]
