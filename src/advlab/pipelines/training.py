"""Parts every training loop shares (GAN, translation, super-resolution): warnings, Ctrl-C, resuming under torchrun."""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from advlab.core.checkpoints import list_checkpoints
from advlab.core.config import from_mapping, load_yaml
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.runs import RunDir


def warn(message: str) -> None:
    print(f"advlab: warning: {message}", file=sys.stderr)


def check_world_size(checkpoint, dist: Distributed) -> None:
    """Refuse to resume under another number of processes than the checkpoint was made with."""
    saved = int(checkpoint.meta.get("world_size", 1))
    if saved != dist.world_size:
        raise AdvlabError(f"{checkpoint.path} was made by {saved} process(es) and this run has {dist.world_size}; "
                          f"resume it with --nproc-per-node {saved} (the minibatches are cut per process)")


def last_good_checkpoint(checkpoints: Path) -> str:
    """Words for the newest checkpoint in `checkpoints`, for a message after a loss went NaN."""
    saved = list_checkpoints(checkpoints)
    return f"the last good checkpoint is {saved[-1][1].with_suffix('.safetensors')}" if saved else \
        "no checkpoint was saved yet"


@contextmanager
def stop_on_interrupt():
    """Turn Ctrl-C into a flag checked between iterations (main thread only)."""
    hit = []
    previous = None
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield lambda: bool(hit)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
def stored_config(run_dir: str | Path, cls: type, belongs: Callable[[dict], bool], command: str, what: str,
                  not_this: str, steps: int | None = None):
    """The config an `advlab COMMAND train` run stored (for --resume and the verbs that load the run back), as `cls`
    with `out` set to the run and `steps` raised if given; an AdvlabError when the folder holds no config.yaml or
    `belongs(values)` says it is another kind of run: "not a `what` run", and `not_this` (what its config lacks)."""
    run = RunDir(Path(run_dir))
    if not run.config.exists():
        raise AdvlabError(f"{run.root} has no config.yaml; is it an advlab {command} run?")
    values = load_yaml(run.config)
    if not isinstance(values, dict) or not belongs(values):
        raise AdvlabError(f"{run.root} is not a {what} run (advlab {command} train); {not_this}")
    config = dataclasses.replace(from_mapping(cls, values, source=str(run.config)), out=str(run.root))
    return config if steps is None else dataclasses.replace(config, steps=steps)


