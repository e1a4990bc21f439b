"""Reading a run directory for its report: config.yaml, metrics.jsonl and the summary, read once.

A run directory (DESIGN.md) holds ``config.yaml``, ``metrics.jsonl`` (``train`` and ``eval`` records) and
optionally ``summary.json``; everything else a report shows (samples, plots, evaluations, attacks, ...) the
report sections (``advlab.reports.sections``) find for themselves. A run whose config has ``epochs`` and
``test_fraction`` is a classifier run (advlab classifier train); any other is a GAN run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from advlab.core.errors import AdvlabError


@dataclass
class Run:
    """A run directory as the report sections see it; ``config`` and ``summary`` are the raw mappings."""

    root: Path
    name: str
    config: dict
    records: list[dict]
    summary: dict
    kind: str = "gan"  # or "classifier", or one of GAME_LOOP_KINDS


def _parse_record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def read_json_object(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing or unreadable (a report shows what it can)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_metrics(run_dir) -> list[dict]:
    """Records of ``run_dir/metrics.jsonl`` in file order; blank lines are skipped.

    A corrupt line raises AdvlabError naming its line number, except a corrupt last line
    (a run killed mid-write), which is dropped silently.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise AdvlabError(f"{run_dir}: no metrics.jsonl here; is this a run directory?")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records = []
    for n, line in numbered:
        record = _parse_record(line)
        if record is None and n == numbered[-1][0]:
            break
        if record is None:
            raise AdvlabError(f"{path}: line {n} is not a JSON object: {line[:60]!r}")
        records.append(record)
    return records


def _run_dir(run_dir) -> Path:
    path = Path(run_dir).resolve()
    if not path.is_dir():
        raise AdvlabError(f"{run_dir}: no such run directory")
    return path


def read_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise AdvlabError(f"{run_dir}: no config.yaml here; is this a run directory?")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as err:
        raise AdvlabError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(config, dict | None):
        raise AdvlabError(f"{path}: expected a mapping of options, got {type(config).__name__}")
    return config or {}


def _last(records: list[dict], kind: str) -> dict:
    return next((r for r in reversed(records) if r.get("kind", "train") == kind), {})


def read_summary(run_dir: Path, records: list[dict]) -> dict:
    """summary.json if present, else the last train record plus the last eval's other keys."""
    path = run_dir / "summary.json"
    if not path.is_file():
        train, last_eval = _last(records, "train"), _last(records, "eval")
        merged = {**train, **{k: v for k, v in last_eval.items() if k not in train}}
        return {k: v for k, v in merged.items() if k != "kind"}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdvlabError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(summary, dict):
        raise AdvlabError(f"{path}: expected a JSON object, got {type(summary).__name__}")
    return summary


def is_classifier_config(config: dict) -> bool:
    """Does a run's config.yaml describe a classifier run (advlab classifier train)?"""
    return "epochs" in config and "test_fraction" in config


def is_translation_config(config: dict) -> bool:
    """Does a run's config.yaml describe an image-to-image run (advlab translate train, advlab superres train)?"""
    return config.get("game") in ("pix2pix", "cyclegan") or \
        (config.get("model") in ("srresnet", "srgan") and "scale" in config)


# runs of advlab.pipelines.game_loop: comparison grids or piano rolls as their samples, one loss plot per series
GAME_LOOP_KINDS = ("translation", "music", "text2image", "audio")


def is_music_config(config: dict) -> bool:
    """Does a run's config.yaml describe a MidiNet run (advlab music train)?"""
    return "previous_layers" in config and "bars" in config and ("corpus" in config or "data" in config)


def is_text2image_config(config: dict) -> bool:
    """Does a run's config.yaml describe a GAN-INT-CLS run (advlab text2image train)?"""
    return "int_beta" in config and "cls_weight" in config and "method" in config


def is_audio_config(config: dict) -> bool:
    """Does a run's config.yaml describe a speech model's run (advlab audio train)?"""
    return "n_mels" in config and "sample_rate" in config and "data" in config


def run_kind(config: dict) -> str:
    if is_classifier_config(config):
        return "classifier"
    if is_translation_config(config):
        return "translation"
    if is_music_config(config):
        return "music"
    if is_audio_config(config):
        return "audio"
    return "text2image" if is_text2image_config(config) else "gan"


def read_run(run_dir) -> Run:
    """Check and read a run directory. Raises AdvlabError for a directory without config.yaml or
    metrics.jsonl, or with a corrupt one."""
    root = _run_dir(run_dir)
    config, records = read_config(root), read_metrics(root)
    return Run(root, root.name, config, records, read_summary(root, records), run_kind(config))


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return "null" if value is None else str(value)


def flat_rows(mapping: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(key, formatted value) rows; nested mappings flatten to dotted keys."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            rows += flat_rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", format_value(value)))
    return rows
