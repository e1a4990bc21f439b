"""`advlab privacy report RUN [--beside RUN2 ...]`: one page for everything the privacy attacks found (issue 17,
part 5).

Gathers the records the attacks wrote under RUN/privacy/ (advlab.reports.privacy_records) into
RUN/privacy/privacy.json with stable keys -- ``membership``, ``inversion``, ``extraction``, ``dp`` -- plus, under
``beside``, the membership figures and DP record of other runs to compare with (the DP-SGD twin beside the
standard model is the table users ask for), and rewrites RUN's report, whose Privacy section shows the tables
and pictures. Writes nothing outside RUN/privacy/ but the report files.
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.core.checkpoints import atomic_write_bytes
from advlab.core.errors import AdvlabError
from advlab.pipelines.train_classifier import classifier_config
from advlab.reports.privacy_records import PRIVACY, has_privacy_results, privacy_record
from advlab.reports.render import write_report

RECORD = "privacy.json"


def beside_record(run: Path) -> dict:
    """What another run contributes to the comparison: its membership figures and DP record."""
    classifier_config(run)
    record = privacy_record(run)
    if not record["membership"]:
        raise AdvlabError(f"{run} has no membership results to put beside: run advlab privacy membership {run} first")
    return {"membership": record["membership"], "dp": record["dp"]}


def privacy_report(run: str | Path, beside: list[str | Path] = ()) -> Path:
    """Write RUN/privacy/privacy.json (and RUN's report); returns the JSON's path."""
    root = Path(run)
    classifier_config(root)  # a classifier run, or one clear error
    if not has_privacy_results(root):
        raise AdvlabError(f"{root} has no privacy results yet: run advlab privacy membership|invert|extract {root} "
                          "(or train it with advlab defend dp-sgd) first")
    record = privacy_record(root)
    if beside:
        record["beside"] = {str(other): beside_record(Path(other)) for other in beside}
    path = root / PRIVACY / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    write_report(root)
    return path


__all__ = ["privacy_report"]
