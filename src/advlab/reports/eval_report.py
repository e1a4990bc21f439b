"""What a run's report shows of `advlab gan evaluate` (RUN/eval/eval.json and its pictures).

A table with one row per figure — the generator's value and, where it has one, the yardstick of real data
against itself (``real_fid``: two disjoint halves of the real sample; ``real_inception_score``, ``real_modes``,
``real_kl``: the real sample itself) — the birthday estimates, and the evaluation's plots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from advlab.core.errors import AdvlabError

EVAL_FILE = Path("eval") / "eval.json"
HEAD = ("metric", "generator", "real data")
YARDSTICKS = {"fid": "real_fid", "inception_score": "real_inception_score", "modes": "real_modes", "kl": "real_kl"}
FOLDED = {"kid_std", "inception_score_std", "kid_subset", *YARDSTICKS.values()}
BIRTHDAY_HEAD = ("space", "support estimate", "95% interval", "rule of thumb s²", "batch sizes: duplicates/trials")


@dataclass
class EvalView:
    """An evaluation, ready to render: a description line, tables and (caption, path) figures."""

    description: str
    rows: list[list[str]]
    birthday_rows: list[list[str]]
    figures: list[tuple[str, Path]]


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _value(figures: dict, key: str) -> str:
    """A figure, with its ± std where one exists."""
    text = _number(figures[key])
    std = figures.get(f"{key}_std")
    return f"{text} ± {_number(std)}" if std is not None else text


def _rows(figures: dict) -> list[list[str]]:
    return [[key, _value(figures, key), _number(figures.get(YARDSTICKS[key])) if key in YARDSTICKS else ""]
            for key in figures if key not in FOLDED and not key.startswith("support")]


def _birthday_rows(birthday: dict) -> list[list[str]]:
    rows = []
    for space, found in birthday.items():
        ladder = ", ".join(f"{s}: {d}/{found['trials']}" for s, d in zip(found["batch_sizes"], found["duplicates"]))
        rows.append([space, _number(found["support"]), f"[{_number(found['low'])}, {_number(found['high'])}]",
                     _number(found["rule_of_thumb"]), ladder])
    return rows


def read_evaluation(run_dir: Path) -> EvalView | None:
    """The run's latest `advlab gan evaluate`, or None when it has none."""
    path = Path(run_dir) / EVAL_FILE
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
        description = (f"step {content['step']}, {content['n']} generated and {content['real_samples']} real "
                       f"samples, features: {content['features']}, seed {content['seed']}")
        figures = [(caption, path.parent / name) for caption, name in content.get("plots", {}).items()
                   if (path.parent / name).is_file()]
        return EvalView(description, _rows(content["figures"]), _birthday_rows(content.get("birthday") or {}),
                        figures)
    except (ValueError, KeyError, TypeError) as error:
        raise AdvlabError(f"{path} is not a readable evaluation ({error}); run advlab gan evaluate again") from None
