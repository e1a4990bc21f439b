"""Reading what the privacy attacks wrote under RUN/privacy/ into one record with stable keys (issue 17, part 5).

The attacks' pipelines write their own records (advlab.pipelines.security.membership_run, invert_run, extract_run; a
DP-SGD run records ``dp`` in its summary.json); ``privacy_record`` gathers the headline figures of each:

    {"membership": {ATTACK: {"auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"}},
     "inversion":  {METHOD: {"attack_accuracy", "nearest_private_distance"}},
     "extraction": {METHOD: {BUDGET: {"fidelity", "accuracy"}}},
     "dp": {"epsilon", "delta"} or null}

A record that is missing leaves its key empty; one that cannot be read is skipped (a report shows what it can).
``advlab privacy report`` writes the result as RUN/privacy/privacy.json; the report section reads it from here.
"""

from __future__ import annotations

from pathlib import Path

from advlab.reports.reading import read_json_object

PRIVACY = "privacy"
MEMBERSHIP = Path("membership") / "membership.json"
INVERSION = "inversion.json"
EXTRACTION = "extraction.json"
ROC_PICTURE = Path("membership") / "roc.png"
INVERSION_PICTURE = "inverted.png"
EXTRACTION_PICTURE = "fidelity.png"
MEMBERSHIP_KEYS = ("auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr")
INVERSION_KEYS = ("attack_accuracy", "nearest_private_distance")
EXTRACTION_KEYS = ("fidelity", "accuracy")
DP_KEYS = ("epsilon", "delta")


def picked(record: dict, keys: tuple[str, ...]) -> dict:
    """`record`'s values under `keys` (None where one is missing)."""
    return {key: record.get(key) for key in keys}


def membership_figures(folder: Path) -> dict:
    record = read_json_object(folder / MEMBERSHIP) or {}
    attacks = record.get("attacks") if isinstance(record.get("attacks"), dict) else {}
    return {name: picked(figures, MEMBERSHIP_KEYS) for name, figures in attacks.items() if isinstance(figures, dict)}


def method_records(folder: Path, kind: str, name: str) -> dict[str, dict]:
    """{method: record} of RUN/privacy/KIND/METHOD/NAME, by method name."""
    found = {}
    for path in sorted((folder / kind).glob(f"*/{name}")):
        record = read_json_object(path)
        if record is not None:
            found[path.parent.name] = record
    return found


def inversion_figures(folder: Path) -> dict:
    return {method: picked(record, INVERSION_KEYS) for method, record in method_records(folder, "inversion",
                                                                                          INVERSION).items()}


def extraction_figures(folder: Path) -> dict:
    figures = {}
    for method, record in method_records(folder, "extraction", EXTRACTION).items():
        budgets = record.get("budgets") if isinstance(record.get("budgets"), dict) else {}
        figures[method] = {budget: picked(values, EXTRACTION_KEYS) for budget, values in budgets.items()
                           if isinstance(values, dict)}
    return figures


def dp_figures(root: Path) -> dict | None:
    """(epsilon, delta) of a DP-SGD run's summary.json, or None for a run trained without DP."""
    dp = (read_json_object(root / "summary.json") or {}).get("dp")
    return picked(dp, DP_KEYS) if isinstance(dp, dict) else None


def privacy_record(root: Path) -> dict:
    """The headline figures of every privacy attack on the run at `root` (see the module docstring)."""
    folder = Path(root) / PRIVACY
    return {"membership": membership_figures(folder), "inversion": inversion_figures(folder),
            "extraction": extraction_figures(folder), "dp": dp_figures(Path(root))}


def has_privacy_results(root: Path) -> bool:
    """Does the run hold any privacy attack's record (or is it a DP-SGD run)?"""
    record = privacy_record(root)
    return any(record[key] for key in ("membership", "inversion", "extraction")) or record["dp"] is not None


__all__ = ["EXTRACTION_PICTURE", "INVERSION_PICTURE", "PRIVACY", "ROC_PICTURE", "has_privacy_results",
           "method_records", "privacy_record"]
