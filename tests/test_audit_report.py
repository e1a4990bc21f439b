"""The audit report (issue 22): RUN/audit/report.html and report.md from hand-made audit.json records -- a full
classifier audit with every verdict, a GAN audit with its two cells, an interrupted one -- and the run report's
Security audit section (the audits' own tests make real records)."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.reports.audit_report import check_audit, value_text, write_audit_report
from advlab.reports.render import write_report
from tests.helpers import cli_classifier_run

CLASSIFIER_ORDER = ["evasion", "backdoor", "availability", "membership", "extraction", "inversion"]


def picture(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((30, 40, 3), 180, dtype=np.uint8)).save(path)
    return path.as_posix()


def evidence(audit_dir: Path, relative: str) -> str:
    path = audit_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return relative


def cell(figure, value, verdict, threshold, row, column, evidence=None, seconds=1.5, details=None, reason=None):
    return {"figure": figure, "value": value, "verdict": verdict, "threshold": threshold, "evidence": evidence,
            "seconds": seconds, "details": details or {}, "reason": reason, "row": row, "column": column}


def classifier_cells(audit_dir: Path) -> dict:
    picture(audit_dir / "subject/robustness/accuracy_vs_eps.png")
    return {
        "evasion": cell("worst-case robust accuracy at eps 0.1", 0.4321, "pass", "pass when >= 40% (worst case)",
                        "test data", "integrity", evidence(audit_dir, "subject/robustness/robustness.html"), 61.2,
                        {"eps": {"0.05": 0.61, "0.1": 0.4321}, "checks": {"passed": 5, "failed": 0},
                         "pictures": [["robust accuracy vs eps", "subject/robustness/accuracy_vs_eps.png"]]}),
        "backdoor": cell("Neural Cleanse anomaly index", 3.71, "fail", "pass when <= 2 (Wang et al. 2019)",
                         "training data", "integrity",
                         evidence(audit_dir, "subject/detect/neural-cleanse/detection.json"), 40.0,
                         {"flagged class": 7, "spectral": {"flagged": 52, "tpr": 0.81}}),
        "availability": cell("fall of clean accuracy at 20% label flips", None, "not measured",
                             "pass when the fall is <= 10 points", "training data", "availability",
                             reason="--model-only: the training data is not at hand"),
        "membership": cell("LiRA TPR at 0.1% FPR", 0.0042, "pass", "pass when <= 1%", "test data", "privacy",
                           evidence(audit_dir, "subject/privacy/membership/lira/membership.json"), 120.0,
                           {"auc": 0.553, "shadows": 8}),
        "extraction": cell("extraction fidelity at 1,000 queries", 0.917, "fail", "pass when <= 80%", "test data",
                           "privacy", evidence(audit_dir, "subject/privacy/extraction/knockoff/extraction.json"), 30.0),
        "inversion": cell("inversion attack accuracy", 0.12, "pass", "pass when <= 30%", "test data", "privacy",
                          evidence(audit_dir, "subject/privacy/inversion/mi-face/inversion.json"), 12.0),
    }


def audit_record(run: Path, kind: str, order: list[str], cells: dict, complete: bool = True) -> dict:
    return {"format": "advlab-audit/1", "run": str(run.resolve()), "kind": kind, "budget": "quick",
            "settings": {"eps": [0.05, 0.1], "pgd_steps": 10, "shadows": 8, "queries": 1000}, "model_only": False,
            "seed": 0, "order": order, "cells": cells, "seconds": round(sum(c["seconds"] for c in cells.values()), 2),
            "complete": complete, "started": "2026-12-05T21:30:00Z"}


@pytest.fixture
def classifier_audit(tmp_path):
    audit_dir = tmp_path / "clf" / "audit"
    record = audit_record(tmp_path / "clf", "classifier", CLASSIFIER_ORDER, classifier_cells(audit_dir))
    return audit_dir, record, write_audit_report(audit_dir, record)


@pytest.fixture
def gan_audit(tmp_path):
    audit_dir = tmp_path / "gan" / "audit"
    picture(audit_dir / "gan/roc.png")
    picture(audit_dir / "gan/copies.png")
    cells = {
        "membership": cell("highest AUC among the attacks", 0.58, "pass", "pass when <= 60%", "test data", "privacy",
                           evidence(audit_dir, "gan/membership.json"), 20.0,
                           {"logan": {"auc": 0.52, "tpr_at_0.1%_fpr": 0.0}, "gan_leaks_black_box": {"auc": 0.58},
                            "pictures": [["ROC curves", "gan/roc.png"]]}),
        "memorisation": cell("copy share", 0.45, "fail", "pass when <= 5%", "test data", "privacy",
                             evidence(audit_dir, "gan/memorisation.json"), 8.0,
                             {"birthday": {"support": 70, "batch": 20},
                              "pictures": [["copies beside their training images", "gan/copies.png"]]}),
    }
    record = audit_record(audit_dir.parent, "gan", ["membership", "memorisation"], cells)
    return audit_dir, record, write_audit_report(audit_dir, record)


class Anchors(HTMLParser):
    """The ids, links and image sources of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.srcs = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.srcs.append(attrs["src"])


def parsed(page: Path) -> Anchors:
    anchors = Anchors()
    anchors.feed(page.read_text())
    return anchors


def table_cells(html: str) -> list[list[str]]:
    """The seed's table as rows of cell HTML (header row first)."""
    table = re.search(r'<table class="seed">(.*?)</table>', html, re.S).group(1)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def md_table_rows(md: str) -> list[list[str]]:
    first = md.index("| attacker can touch |")
    lines = md[first:].split("\n\n")[0].splitlines()
    return [[part.strip() for part in line.strip("|").split(" | ")] for line in lines]


# ---------------------------------------------------------------------- the table first, every cell in its place


def test_seed_table_comes_first_in_both_files(classifier_audit):
    _, _, paths = classifier_audit
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    body = html[html.index("<body>"):]
    assert body.index('<table class="seed">') == body.index("<table")
    assert body.index('<table class="seed">') < body.index("<h2")
    tables = [n for n, line in enumerate(md.splitlines()) if line.startswith("|")]
    assert md.splitlines()[tables[0]].startswith("| attacker can touch | integrity | availability | privacy")
    assert md.index("| attacker can touch |") < md.index("\n## ")


def test_every_cell_in_its_table_position(classifier_audit):
    _, _, paths = classifier_audit
    rows = table_cells(paths["html"].read_text())
    assert [re.sub("<[^>]+>", "", x) for x in rows[0]] == ["attacker can touch", "integrity", "availability",
                                                         "privacy / confidentiality"]
    test, training = rows[1], rows[2]
    assert "test data" in test[0] and "training data" in training[0]
    assert 'href="#evasion"' in test[1] and "43.2%" in test[1]
    assert test[2] == "—"  # nothing of the taxonomy there
    for name in ("membership", "extraction", "inversion"):
        assert f'href="#{name}"' in test[3]
    assert test[3].index("#membership") < test[3].index("#extraction") < test[3].index("#inversion")
    assert 'href="#backdoor"' in training[1] and "3.71" in training[1]
    assert 'href="#availability"' in training[2]
    assert training[3] == "—"
    md = md_table_rows(paths["markdown"].read_text())
    assert md[2][0] == "test data" and "(#evasion)" in md[2][1] and md[2][2] == "—"
    assert all(f"(#{name})" in md[2][3] for name in ("membership", "extraction", "inversion"))
    assert "(#backdoor)" in md[3][1] and "(#availability)" in md[3][2] and md[3][3] == "—"


def test_verdict_badges_and_colours(classifier_audit):
    _, record, paths = classifier_audit
    html = paths["html"].read_text()
    rows = table_cells(html)
    assert '<span class="badge pass">pass</span>' in rows[1][1]  # evasion
    assert '<span class="badge fail">fail</span>' in rows[2][1]  # backdoor
    assert '<span class="badge unmeasured">not measured</span>' in rows[2][2]  # availability
    colours = dict(re.findall(r"\.badge\.(pass|fail|unmeasured)\{background:(#[0-9a-f]{6})\}", html))
    assert colours == {"pass": "#2e7d32", "fail": "#c62828", "unmeasured": "#757575"}
    count = {verdict: sum(c["verdict"] == verdict for c in record["cells"].values())
             for verdict in ("pass", "fail", "not measured")}
    for verdict, css in (("pass", "pass"), ("fail", "fail"), ("not measured", "unmeasured")):
        assert len(re.findall(f'<div class="entry {css}">', html)) == count[verdict]
    md = paths["markdown"].read_text()
    assert "[evasion](#evasion) **PASS**" in md and "[backdoor](#backdoor) **FAIL**" in md
    assert "[availability](#availability) **NOT MEASURED**" in md


def test_links_resolve_to_existing_files_and_sections(classifier_audit, gan_audit):
    for audit_dir, record, paths in (classifier_audit, gan_audit):
        page = parsed(paths["html"])
        for href in page.hrefs + page.srcs:
            if href.startswith("#"):
                assert href[1:] in page.ids, href
            else:
                assert (audit_dir / unquote(href)).is_file(), href
        evidence_links = {unquote(h) for h in page.hrefs if not h.startswith("#")}
        assert {c["evidence"] for c in record["cells"].values() if c["evidence"]} <= evidence_links
        md = paths["markdown"].read_text()
        for target in re.findall(r"\]\(([^)#][^)]*)\)", md):
            assert (audit_dir / unquote(target)).is_file(), target
        assert set(record["cells"]) <= page.ids


def test_not_measured_shows_its_reason(classifier_audit):
    _, _, paths = classifier_audit
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    availability = table_cells(html)[2][2]
    assert "not measured: --model-only: the training data is not at hand" in availability
    assert "—" in availability  # no value, never a silent zero
    assert "0.0%" not in availability
    assert "not measured: --model-only: the training data is not at hand" in md
    section = html[html.index('<section id="availability">'):]
    assert "<th>reason</th><td>--model-only: the training data is not at hand</td>" in section[:section.index(
        "</section>")]


def test_values_read_as_their_figures(classifier_audit, gan_audit):
    assert value_text("worst-case robust accuracy", 0.4321) == "43.2%"
    assert value_text("LiRA TPR at 0.1% FPR", 0.0042) == "0.42%"
    assert value_text("highest AUC among the attacks", 0.58) == "58.0%"
    assert value_text("Neural Cleanse anomaly index", 3.71) == "3.71"
    assert value_text("queries", 10000.0) == "10,000"
    assert value_text("anything", None) == "—"
    _, _, paths = gan_audit
    rows = table_cells(paths["html"].read_text())
    assert "58.0%" in rows[1][3] and "45.0%" in rows[1][3]
    assert rows[1][1] == rows[1][2] == rows[2][1] == rows[2][2] == rows[2][3] == "—"


def test_sections_show_details_and_pictures(classifier_audit, gan_audit):
    _, _, paths = classifier_audit
    html = paths["html"].read_text()
    evasion = html[html.index('<section id="evasion">'):]
    evasion = evasion[:evasion.index("</section>")]
    assert "<td>eps.0.1</td><td>0.4321</td>" in evasion  # nested details flattened to dotted keys
    assert "<td>checks.passed</td><td>5</td>" in evasion
    assert "<td>pictures" not in evasion  # the pictures are shown, not listed as a detail
    assert 'src="subject/robustness/accuracy_vs_eps.png"' in evasion
    assert '<div class="samples"><figure><a href="subject/robustness/accuracy_vs_eps.png">' in evasion  # 40 px wide
    _, _, paths = gan_audit
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    assert 'src="gan/roc.png"' in html and 'src="gan/copies.png"' in html
    assert "![ROC curves](gan/roc.png)" in md and "| birthday.support | 70 |" in md


def test_budget_settings_and_wall_times_under_the_table(classifier_audit):
    _, record, paths = classifier_audit
    html = paths["html"].read_text()
    after = html[html.index("</table>"):]
    assert "<td>pgd_steps</td><td>10</td>" in after and "<th>model only</th><td>no</td>" in after
    assert "<th>total wall time</th><td>4 min 25 s</td>" in after  # 264.7 s
    assert "<td>1.0 min" not in after and "1 min 01 s" in after  # evasion's 61.2 s
    assert "The audit is complete: 6 cells" in html


# ---------------------------------------------------------------------- an interrupted audit


def test_incomplete_audit_names_missing_cells(tmp_path):
    audit_dir = tmp_path / "clf" / "audit"
    cells = classifier_cells(audit_dir)
    done = {name: cells[name] for name in ("evasion", "backdoor")}
    record = audit_record(tmp_path / "clf", "classifier", CLASSIFIER_ORDER, done, complete=False)
    paths = write_audit_report(audit_dir, record)
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    missing = "missing cells: availability, membership, extraction, inversion"
    assert missing in html and missing in md
    assert "The audit is complete" not in html
    rows = table_cells(html)
    assert '<span class="badge missing">missing</span>' in rows[2][2]  # availability keeps its place
    assert rows[1][3].count("badge missing") == 3
    assert '<section id="evasion">' in html and '<section id="availability">' not in html
    page = parsed(paths["html"])
    assert all(href[1:] in page.ids for href in page.hrefs if href.startswith("#"))


def test_incomplete_audit_without_order_uses_the_kinds_cells(tmp_path):
    record = {"kind": "gan", "cells": {}, "complete": False, "budget": "quick"}
    paths = write_audit_report(tmp_path / "audit", record)
    assert "missing cells: membership, memorisation" in paths["markdown"].read_text()


# ---------------------------------------------------------------------- bad records


@pytest.mark.parametrize("record, words", [
    ([1, 2], "expected a JSON object, got list"),
    ({"cells": []}, "'cells' must map cell names to records"),
    ({"cells": {"evasion": 3}}, "cell 'evasion' is not a JSON object"),
    ({"cells": {"evasion": {"verdict": "maybe", "row": "test data", "column": "integrity"}}},
     "cell 'evasion' has verdict 'maybe'; expected one of pass, fail, not measured"),
    ({"cells": {"evasion": {"verdict": "pass", "row": "model", "column": "integrity", "value": 1}}},
     "cell 'evasion' has row 'model'"),
    ({"cells": {"evasion": {"verdict": "pass", "row": "test data", "column": "integrity", "value": "high"}}},
     "cell 'evasion' has value 'high'; expected a number or null"),
])
def test_bad_records_give_one_line(tmp_path, record, words):
    with pytest.raises(AdvlabError, match=re.escape(words)) as error:
        write_audit_report(tmp_path / "audit", record)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "audit" / "report.html").exists()


def test_inserted_text_is_escaped(tmp_path):
    bad = cell("<script>x</script> accuracy", 0.5, "pass", "a | b <b>", "test data", "integrity",
               evidence="../../outside.json")
    paths = write_audit_report(tmp_path / "audit", check_audit({"kind": "classifier", "cells": {"evasion": bad}}))
    html, md = paths["html"].read_text(), paths["markdown"].read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "../../outside.json (missing)" in html  # a link that would leave RUN/audit/ is not followed
    assert "a \\| b &lt;b&gt;" in md


# ---------------------------------------------------------------------- the run report's section


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    return cli_classifier_run(tmp_path_factory.mktemp("audit-run") / "clf", ["--data", "digits", "--epochs", "1"])


def test_run_report_has_the_audit_section_only_with_audit_json(classifier_run):
    run = Path(classifier_run)
    html_path, md_path = write_report(run)
    assert "Security audit" not in html_path.read_text() and "Security audit" not in md_path.read_text()
    audit_dir = run / "audit"
    record = audit_record(run, "classifier", CLASSIFIER_ORDER, classifier_cells(audit_dir))
    (audit_dir / "audit.json").write_text(json.dumps(record))
    write_audit_report(audit_dir, record)
    html_path, md_path = write_report(run)
    html, md = html_path.read_text(), md_path.read_text()
    assert "<h2>Security audit</h2>" in html and "## Security audit" in md
    assert html.index("<h2>Summary</h2>") < html.index("<h2>Security audit</h2>") < html.index("<h2>Configuration")
    section = html[html.index("<h2>Security audit</h2>"):]
    assert 'href="audit/report.html"' in section and 'href="audit/report.html#backdoor"' in section
    assert '<span class="badge fail">fail</span>' in section and "Budget quick" in section
    assert "threshold:" not in section[:section.index("</table>")]  # compact: value, verdict and reason only
    assert "not measured: --model-only: the training data is not at hand" in section
    assert "[Full audit report](audit/report.md)" in md and "(audit/report.md#evasion) **PASS**" in md
    for href in parsed(html_path).hrefs:
        if not href.startswith("#"):
            assert (run / unquote(href.split("#")[0])).is_file(), href
    (audit_dir / "audit.json").write_text("{not json")
    html_path, _ = write_report(run)
    assert "Cannot show the audit:" in html_path.read_text() and "not valid JSON" in html_path.read_text()
    (audit_dir / "audit.json").unlink()
