"""The attack budgets of a robustness evaluation beside AutoAttack's, so a report never borrows its name.

AutoAttack's standard version (Croce & Hein 2020, sec. 4; ``set_version('standard')`` in their autoattack.py,
Linf and L2): APGD-CE 100 steps with 1 restart, APGD-T 100 steps on 9 target classes, FAB-T on 9 target
classes, Square 5,000 queries. Its ``rand`` version, for randomised models: APGD-CE and APGD-DLR with EOT over
20 draws, the gradients averaged over the draws.

The budgets read are ``record["budget"]`` of RUN/robustness.json (``{"name", "changed", "members": {member:
{"steps", "restarts", "targets", "queries"}}, "eot": {"draws", "average"} or None}``, written by
advlab.pipelines.security.robustness), and for records written before it the shared ``record["options"]``, whose EOT
averaged the logits. A setting below AutoAttack's, or a member of its ensemble that did not run, makes the budget
lighter, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

STANDARD = {  # AutoAttack's standard version, Linf and L2
    "apgd-ce": {"steps": 100, "restarts": 1},
    "apgd-t": {"steps": 100, "targets": 9},
    "fab-t": {"targets": 9},
    "square": {"queries": 5000},
}
RAND = {"draws": 20, "average": "gradients"}  # AutoAttack's rand version (APGD-CE, APGD-DLR)
TITLES = {"apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "apgd-dlr": "APGD-DLR", "fab-t": "FAB-T", "square": "Square",
          "bpda-apgd-ce": "BPDA+APGD-CE", "eot": "EOT (randomised model)", "pgd": "PGD", "fgsm": "FGSM",
          "transfer": "transfer"}
STANDARD_TEXT = ("APGD-CE 100 steps, APGD-T 100 steps on 9 target classes, FAB-T on 9 target classes, "
                 "Square 5,000 queries; for a randomised model (its rand version) APGD-CE and APGD-DLR with EOT "
                 "over 20 draws, averaging the gradients")
HEAD = ["member", "this run", "AutoAttack (standard)", "compared"]
UNITS = {"steps": "steps", "restarts": "restart(s)", "targets": "target classes", "queries": "queries"}
SHARED = {"apgd-ce": ("steps", "restarts"), "bpda-apgd-ce": ("steps", "restarts"), "apgd-t": ("steps", "targets"),
          "apgd-dlr": ("steps",), "square": ("queries",)}  # what an older record's options gave each member


@dataclass
class Budgets:
    """The budget table of a record: its name, rows, what is lighter than AutoAttack's, and one line."""

    name: str
    rows: list[list[str]]
    lighter: list[str]

    @property
    def label(self) -> str:
        return f"The budget '{self.name}'" if self.name else "The budget"

    @property
    def verdict(self) -> str:
        if self.lighter:
            return (f"{self.label} is lighter than AutoAttack's standard version: {'; '.join(self.lighter)}. "
                    "AutoAttack at its full budget may break images this evaluation did not, so the robust "
                    "accuracy here can be higher than AutoAttack's would be")
        return f"{self.label} is at least AutoAttack's standard version ({STANDARD_TEXT})"


def budget_settings(record: dict) -> tuple[str, dict[str, dict], dict | None]:
    """(name, settings per member, EOT) of a record; the name is "" for a record from before ``budget``."""
    budget = record.get("budget")
    if isinstance(budget, dict):
        return str(budget.get("name", "")), budget.get("members", {}), budget.get("eot")
    options = record.get("options") or {}
    members = {name: {key: options[key] for key in keys if key in options} for name, keys in SHARED.items()}
    randomized = (record.get("adaptive") or {}).get("eot")
    return "", members, {"draws": options.get("eot_draws"), "average": "logits"} if randomized else None


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _describe(settings: dict) -> str:
    return ", ".join(f"{_count(value)} {UNITS[key]}" for key, value in settings.items() if key in UNITS) or "—"


def _below(settings: dict, standard: dict, caps: dict) -> list[str]:
    """The settings below AutoAttack's ("50 steps (AutoAttack: 100)"); a setting not recorded counts as below."""
    short = []
    for key, wanted in standard.items():
        wanted, have = min(wanted, caps.get(key, wanted)), settings.get(key)
        if not isinstance(have, int | float) or have < wanted:
            shown = f"{_count(have)} {UNITS[key]}" if have is not None else f"{UNITS[key]} not recorded"
            short.append(f"{shown} (AutoAttack: {_count(wanted)})")
    return short


def budgets(record: dict) -> Budgets:
    """The Budgets table of a robustness record (see the module docstring)."""
    name, members, eot = budget_settings(record)
    ran = set(record.get("attacks") or {}) | set((record.get("ensemble") or {}).get("members") or [])
    classes = (record.get("model") or {}).get("classes")
    caps = {"targets": classes - 1} if isinstance(classes, int) and classes > 1 else {}
    rows, lighter = [], []
    for member, standard in STANDARD.items():
        title, wanted = TITLES[member], _describe({k: min(v, caps.get(k, v)) for k, v in standard.items()})
        if member == "apgd-t" and member not in ran and "apgd-dlr" in ran:
            rows.append([title, "not run: APGD-DLR in its place (targeted DLR needs 4 classes)", wanted, "—"])
        elif member not in ran:
            rows.append([title, "not run", wanted, "lighter: not run"])
            lighter.append(f"{title} not run")
        else:
            settings = members.get(member, {})
            short = _below(settings, standard, caps)
            rows.append([title, _describe(settings), wanted, "lighter: " + ", ".join(short) if short else "as strong"])
            lighter += [f"{title} " + ", ".join(short)] if short else []
    for member in sorted(ran - set(STANDARD) - {"fgsm", "pgd", "transfer"}):
        role = "in place of APGD-T" if member == "apgd-dlr" else "an addition"
        rows.append([TITLES.get(member, member), _describe(members.get(member, {})), "—", role])
    rows.append(_eot_row(eot, lighter))
    return Budgets(name, rows, lighter)


def _eot_row(eot: dict | None, lighter: list[str]) -> list[str]:
    wanted = f"{RAND['draws']} draws, averaging the {RAND['average']} (rand version)"
    if eot is None:
        return [TITLES["eot"], "not needed: the model is deterministic", wanted, "—"]
    draws, average = eot.get("draws"), eot.get("average")
    short = [f"{_count(draws)} draws (AutoAttack: {RAND['draws']})"] if not (draws or 0) >= RAND["draws"] else []
    if average != RAND["average"]:
        short.append(f"averaging the {average} (AutoAttack: the {RAND['average']})")
    lighter += ["EOT " + ", ".join(short)] if short else []
    return [TITLES["eot"], f"{_count(draws)} draws, averaging the {average}", wanted,
            "lighter: " + ", ".join(short) if short else "as strong"]


__all__ = ["HEAD", "RAND", "STANDARD", "STANDARD_TEXT", "Budgets", "budget_settings", "budgets"]
