"""The attack budgets of a robustness evaluation beside AutoAttack's, so a report never borrows its name.

AutoAttack's standard version (Croce & Hein 2020, sec. 4; ``set_version('standard')`` in their autoattack.py,
Linf and L2): APGD-CE 100 steps with 1 restart, APGD-T 100 steps on 9 target classes, FAB-T on 9 target
classes, Square 5,000 queries. Its ``rand`` version, for randomised models: APGD-CE and APGD-DLR with EOT over
20 draws, the gradients averaged over the draws.

The budgets read are ``record["budget"]`` of RUN/robustness.json when the record has one -- ``{"name": "fast" or
"standard", ...}`` with settings either flat (``steps``, ``restarts``, ``targets``, ``queries``, ``eot_draws``)
or per member (``{"apgd-t": {"steps": 100, "targets": 9}, ...}``, also under ``"members"``; AutoAttack's own
names ``n_iter``, ``n_restarts``, ``n_target_classes``, ``n_queries``, ``eot_iter`` are understood), with EOT's
averaging as ``eot_average`` (or ``{"eot": {"draws": 20, "average": "gradients"}}``) -- and
``record["options"]`` otherwise (older records). A setting below AutoAttack's, or a member of its ensemble that
did not run, makes the budget lighter, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

KEYS = ("steps", "restarts", "targets", "queries", "eot_draws")
ALIASES = {"n_iter": "steps", "iterations": "steps", "iters": "steps", "n_restarts": "restarts",
           "n_target_classes": "targets", "target_classes": "targets", "n_queries": "queries",
           "eot_iter": "eot_draws", "draws": "eot_draws"}
STANDARD = {  # AutoAttack's standard version, Linf and L2
    "apgd-ce": {"steps": 100, "restarts": 1},
    "apgd-t": {"steps": 100, "targets": 9},
    "fab-t": {"targets": 9},
    "square": {"queries": 5000},
}
RAND = {"eot_draws": 20, "average": "gradients"}  # AutoAttack's rand version (APGD-CE, APGD-DLR)
TITLES = {"apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "apgd-dlr": "APGD-DLR", "fab-t": "FAB-T", "square": "Square",
          "bpda-apgd-ce": "BPDA+APGD-CE", "eot": "EOT (randomised model)", "pgd": "PGD", "fgsm": "FGSM",
          "transfer": "transfer"}
STANDARD_TEXT = ("APGD-CE 100 steps, APGD-T 100 steps on 9 target classes, FAB-T on 9 target classes, "
                 "Square 5,000 queries; for a randomised model (its rand version) APGD-CE and APGD-DLR with EOT "
                 "over 20 draws, averaging the gradients")
HEAD = ["member", "this run", "AutoAttack (standard)", "compared"]
UNITS = {"steps": "steps", "restarts": "restart(s)", "targets": "target classes", "queries": "queries",
         "eot_draws": "draws"}


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


def _member_key(name) -> str:
    return str(name).lower().replace("_", "-")


def _settings(mapping) -> dict:
    """A settings mapping with AutoAttack's names turned into advlab's."""
    if not isinstance(mapping, dict):
        return {}
    return {ALIASES.get(key, key): value for key, value in mapping.items()}


def _per_member(budget: dict) -> dict[str, dict]:
    nested = budget.get("members") if isinstance(budget.get("members"), dict) else {}
    found = {_member_key(k): _settings(v) for k, v in {**budget, **nested}.items() if isinstance(v, dict)}
    return {name: settings for name, settings in found.items() if name != "members"}


def budget_settings(record: dict) -> tuple[str, dict, dict[str, dict]]:
    """(name, settings shared by every member, settings per member) of a record; the name is "" when the
    record does not name its budget."""
    options = record.get("options") or {}
    budget = record.get("budget")
    base = {key: options[key] for key in KEYS if key in options}
    if not isinstance(budget, dict):
        return str(budget or options.get("budget") or ""), base, {}
    flat = _settings({k: v for k, v in budget.items() if not isinstance(v, dict)})
    name = str(budget.get("name") or options.get("budget") or "")
    return name, {**base, **{k: flat[k] for k in (*KEYS, "eot_average") if k in flat}}, _per_member(budget)


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _describe(name: str, settings: dict) -> str:
    parts = []
    if "steps" in settings:
        parts.append(f"{_count(settings['steps'])} steps")
    if "restarts" in settings and name in ("apgd-ce", "bpda-apgd-ce", "pgd"):
        parts.append(f"{_count(settings['restarts'])} restart(s)")
    if "targets" in settings and name in ("apgd-t", "fab-t"):
        parts.append(f"{_count(settings['targets'])} target classes")
    if "queries" in settings and name == "square":
        parts.append(f"{_count(settings['queries'])} queries")
    known = {"steps", "restarts", "targets", "queries", "eot_draws", "average", "eot_average"}
    parts += [f"{key} {_count(value)}" for key, value in settings.items() if key not in known]
    return ", ".join(parts) or "—"


def _below(settings: dict, standard: dict, caps: dict) -> list[str]:
    """The settings below AutoAttack's ("50 steps (AutoAttack: 100)"); a setting not recorded counts as below."""
    short = []
    for key, wanted in standard.items():
        wanted = min(wanted, caps.get(key, wanted))
        have = settings.get(key)
        if not isinstance(have, int | float) or have < wanted:
            shown = _describe_one(key, have) if have is not None else f"{UNITS[key]} not recorded"
            short.append(f"{shown} (AutoAttack: {_count(wanted)})")
    return short


def _describe_one(key: str, value) -> str:
    return f"{_count(value)} {UNITS[key]}"


def budgets(record: dict) -> Budgets:
    """The Budgets table of a robustness record (see the module docstring)."""
    name, shared, members = budget_settings(record)
    ran = set(record.get("attacks") or {}) | set((record.get("ensemble") or {}).get("members") or [])
    classes = (record.get("model") or {}).get("classes")
    caps = {"targets": classes - 1} if isinstance(classes, int) and classes > 1 else {}
    rows, lighter = [], []
    for member, standard in STANDARD.items():
        title, wanted = TITLES[member], _describe(member, {k: min(v, caps.get(k, v)) for k, v in standard.items()})
        if member == "apgd-t" and member not in ran and "apgd-dlr" in ran:
            rows.append([title, "not run: APGD-DLR in its place (targeted DLR needs 4 classes)", wanted, "—"])
        elif member not in ran:
            rows.append([title, "not run", wanted, "lighter: not run"])
            lighter.append(f"{title} not run")
        else:
            settings = {**{k: v for k, v in shared.items() if k in standard}, **members.get(member, {})}
            short = _below(settings, standard, caps)
            rows.append([title, _describe(member, settings), wanted,
                         "lighter: " + ", ".join(short) if short else "as strong"])
            lighter += [f"{title} " + ", ".join(short)] if short else []
    for member in sorted(ran - set(STANDARD) - {"fgsm", "pgd", "transfer"}):
        settings = {**{k: v for k, v in shared.items() if k in ("steps", "restarts")}, **members.get(member, {})}
        role = "in place of APGD-T" if member == "apgd-dlr" else "an addition"
        rows.append([TITLES.get(member, member), _describe(member, settings), "—", role])
    rows.append(_eot_row(record, shared, members, lighter))
    return Budgets(name, rows, lighter)


def _eot_row(record: dict, shared: dict, members: dict[str, dict], lighter: list[str]) -> list[str]:
    settings = {**shared, **{k: v for k, v in members.get("apgd-ce", {}).items() if k == "eot_draws"},
                **members.get("eot", {})}
    draws = settings.get("eot_draws")
    average = settings.get("average") or settings.get("eot_average")
    if average is None and not isinstance(record.get("budget"), dict):
        average = "logits"  # records from before the budget key: ExpectedLogits averaged the logits
    randomized = bool((record.get("adaptive") or {}).get("eot") or (record.get("model") or {}).get("randomized"))
    used = f"{_count(draws)} draws" if draws is not None else "draws not recorded"
    used += f", averaging the {average}" if average else ", averaging not recorded"
    wanted = f"{RAND['eot_draws']} draws, averaging the {RAND['average']} (rand version)"
    if not randomized:
        return [TITLES["eot"], "not needed: the model is deterministic", wanted, "—"]
    short = []
    if not isinstance(draws, int | float) or draws < RAND["eot_draws"]:
        short.append(f"{used.split(',')[0]} (AutoAttack: {RAND['eot_draws']})")
    if average is not None and average != RAND["average"]:  # an unrecorded averaging is shown, not judged
        short.append(f"averaging the {average} (AutoAttack: the {RAND['average']})")
    if short:
        lighter.append("EOT " + ", ".join(short))
    return [TITLES["eot"], used, wanted, "lighter: " + ", ".join(short) if short else "as strong"]


__all__ = ["HEAD", "RAND", "STANDARD", "STANDARD_TEXT", "Budgets", "budget_settings", "budgets"]
