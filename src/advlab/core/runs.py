"""Run directories (DESIGN.md): everything a run made, in one place.

    RUN/config.yaml            the resolved config
    RUN/metrics.jsonl          one JSON record per logged step ("kind": "train" | "eval")
    RUN/tensorboard/           TensorBoard events of the same records
    RUN/samples/*.png          samples over time
    RUN/checkpoints/           step-N.safetensors + step-N.json (advlab.core.checkpoints)
    RUN/summary.json           the final figures
    RUN/report.html, report.md
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advlab.core.checkpoints import atomic_write_bytes, list_checkpoints
from advlab.core.errors import AdvlabError


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def has_checkpoints(self) -> bool:
        return bool(list_checkpoints(self.checkpoints))

    def prepare_new(self, overwrite: bool, resumable: bool = True,
                    folders: tuple[str, ...] = ("samples", "checkpoints")) -> None:
        """Create the directory (and `folders` in it) for a new run; refuse to clobber a file, or a
        run unless `overwrite` (and then only an advlab run). `resumable`: say --resume can continue it."""
        if self.root.exists() and not self.root.is_dir():
            raise AdvlabError(f"{self.root} is a file, not a directory; choose another --out")
        if self.root.exists() and any(self.root.iterdir()):
            if not overwrite:
                resume = f"pass --resume {self.root} to continue it, " if resumable else "pass "
                raise AdvlabError(f"{self.root} already holds a run; {resume}--overwrite to replace it, "
                                  "or choose another --out")
            if not self.config.exists():
                raise AdvlabError(f"{self.root} is not empty and is not an advlab run; refusing to overwrite it")
            shutil.rmtree(self.root)
        for path in (self.root, *(self.root / folder for folder in folders)):
            path.mkdir(parents=True, exist_ok=True)

    def write_summary(self, values: dict[str, Any]) -> None:
        atomic_write_bytes(self.summary, json.dumps(values, indent=1).encode())


class MetricsLog:
    """Appends records to metrics.jsonl (and TensorBoard); on resume, drops later records."""

    def __init__(self, run: RunDir, resume_step: int | None = None, tensorboard: bool = True):
        if resume_step is not None:
            truncate_records(run.metrics, resume_step)
        self.file = open(run.metrics, "a")
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

            purge = None if resume_step is None else resume_step + 1
            self.writer = SummaryWriter(str(run.tensorboard), purge_step=purge)

    def write(self, kind: str, step: int, values: dict[str, float]) -> None:
        record = {"kind": kind, "step": step, **{k: clean(v) for k, v in values.items()}}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.writer is not None:
            self.write_tensorboard(kind, step, values)

    def write_tensorboard(self, kind: str, step: int, values: dict[str, float]) -> None:
        """All scalars of one record as a single event (one add_scalar each costs 7x more)."""
        from torch.utils.tensorboard.summary import Summary, scalar

        parts = [scalar(f"{kind}/{key}", value).value[0] for key, value in values.items()
                 if isinstance(value, (int, float)) and math.isfinite(value)]
        self.writer._get_file_writer().add_summary(Summary(value=parts), step)

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def truncate_records(path: Path, last_step: int) -> None:
    """Keep only the records up to `last_step` (a resumed run rewrites what came after)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short when the process was killed
        if record.get("step", 0) <= last_step:
            kept.append(line)
    atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())
