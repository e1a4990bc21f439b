"""Reports lead with the answer: the report sections (advlab.reports.sections), their order, the folded
configuration, honest applies(), the robustness report's budgets beside AutoAttack's, and no import cycles."""

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import torch
from test_attack_report import classifier_run
from test_reports import html_images, make_run, md_images
from test_reports_audio import audio_run

from advlab.reports import save_image_grid, write_combined_report, write_report
from advlab.reports.budgets import budgets
from advlab.reports.reading import read_run
from advlab.reports.robustness_report import write_robustness_report
from advlab.reports.sections import SECTIONS
from advlab.reports.sections.base import Section, sections_for

REPORTS = Path(__file__).resolve().parents[1] / "src" / "advlab" / "reports"


# ---------------------------------------------------------------------- fixtures


def robustness_record(options=None, budget=None, members=("apgd-ce", "apgd-t", "square"), randomized=False,
                      classes=10, warning=None) -> dict:
    """A small robustness record with the keys advlab.pipelines.security.robustness writes."""
    eps = ["0.1", "0.2"]
    attacks = ["fgsm", "pgd", *members, "transfer"]
    record = {
        "format": "advlab-robustness/1",
        "model": {"class": "SmallCNN", "randomized": randomized, "preprocessed": False, "transform": None,
                  "classes": classes},
        "options": {"eps": [0.1, 0.2], "norm": "linf", "n": 20, "steps": 50, "restarts": 1, "queries": 1000,
                    "targets": 3, "eot_draws": 8, "check_images": 20, "seed": 0, **(options or {})},
        "n": 20, "eps": eps, "norm": "linf", "clean_accuracy": 0.9,
        "robust_accuracy": {"0.1": 0.5, "0.2": 0.1},
        "per_attack": {name: {"0.1": 0.6, "0.2": 0.2} for name in attacks},
        "ensemble": {"members": list(members), "accuracy": {"0.1": 0.5, "0.2": 0.1}},
        "attacks": {name: {"kind": "white-box", "title": name.upper()} for name in attacks},
        "adaptive": {"eot": randomized, "eot_draws": 8 if randomized else None, "bpda": False},
        "checks": [{"name": "accuracy_falls_with_eps", "passed": warning is None, "evidence": "curves fall"}],
        "warning": warning,
        "probes": {"landscape": {"t": [0, 0.1, 0.2], "gradient": [1.0, 1.5, 2.0], "random": [[1.0, 1.0, 1.1]],
                                 "norm": "linf", "n": 20},
                   "gradients": {"norms": [0.1, 0.2, 0.3, 0.0]}},
        "notes": [], "seconds": {"total": 1.5},
    }
    if budget is not None:
        record["budget"] = budget
    return record


def gan_run_with_everything(root: Path) -> Path:
    """A GAN run with snapshots, final samples and an `advlab gan evaluate` result."""
    run = make_run(root, "gan")
    save_image_grid(torch.rand(4, 1, 8, 8), run / "samples" / "final.png")
    (run / "eval").mkdir()
    (run / "eval" / "eval.json").write_text(json.dumps({
        "step": 500, "n": 100, "real_samples": 100, "features": "points", "seed": 0,
        "figures": {"fid": 1.5, "real_fid": 0.1, "modes": 8, "total_modes": 8}}))
    return run


def certified(run: Path) -> None:
    sigma = run / "smoothing" / "sigma-0.25"
    sigma.mkdir(parents=True)
    (sigma / "certify.json").write_text(json.dumps({"options": {"n": 100}, "summary": {
        "images": 10, "abstains": 1, "certified_accuracy": {"0": 0.9, "0.25": 0.7}}}))


def evaluated(run: Path, record: dict | None = None) -> dict:
    """RUN/robustness.json and the robustness report beside it, as `advlab robustness` leaves them."""
    record = record or robustness_record()
    (run / "robustness.json").write_text(json.dumps(record))
    write_robustness_report(run, record)
    return record


def headings(text: str, level: int) -> list[str]:
    return re.findall(rf"<h{level}>(.*?)</h{level}>", text)


def md_headings(text: str, level: int) -> list[str]:
    return re.findall(rf"^{'#' * level} (.*)$", text, flags=re.M)


# ---------------------------------------------------------------------- the order: the answer first


def test_a_gan_report_opens_with_its_pictures_and_ends_with_the_folded_configuration(tmp_path):
    run = gan_run_with_everything(tmp_path)
    page, md = write_report(run)
    text, md_text = page.read_text(), md.read_text()
    assert headings(text, 2) == md_headings(md_text, 2) == [
        "Final samples", "Summary", "Evaluation", "Samples over time", "Training curves", "Configuration"]
    # the first thing under the run's name is the final picture; the configuration comes after every picture
    assert html_images(page)[0] == run / "samples" / "final.png" == md_images(md)[0]
    assert text.index("<img") < text.index("<h2>Summary</h2>") < text.index("<h2>Configuration</h2>")
    assert text.rindex("<img") < text.index("<h2>Configuration</h2>")
    assert md_text.index("![") < md_text.index("## Configuration") and md_text.rindex("![") < md_text.index(
        "## Configuration")
    # HTML: the whole options table sits inside the <details> that closes the section
    fold = re.search(r"<h2>Configuration</h2>\s*<details><summary>(.*?)</summary>(.*?)</details>\s*</section>",
                     text, flags=re.S)
    assert fold and fold.group(1) == "9 options (click to show)"
    for option in ("<td>data</td><td>ring8</td>", "<td>lr_d</td><td>0.0002</td>", "&lt;script&gt;"):
        assert option in fold.group(2) and text.count(option) == 1
    # Markdown: the same raw <details>, the table inside it with blank lines around, at the very end
    tail = md_text[md_text.index("## Configuration"):]
    assert re.fullmatch(r"## Configuration\n\n<details><summary>9 options \(click to show\)</summary>\n\n"
                        r"\| option \| value \|\n(\|.*\|\n)+\n</details>\n", tail)
    assert "| notes | a \\| b |" in tail and "&lt;script&gt;" in tail


def test_a_classifier_report_leads_with_robustness_and_attacks(tmp_path):
    run = classifier_run(tmp_path, attacks=("pgd",))
    evaluated(run)
    certified(run)
    page, md = write_report(run)
    text, md_text = page.read_text(), md.read_text()
    order = ["Summary", "Robustness", "Randomized smoothing", "Attacks", "Training curves", "Configuration"]
    assert headings(text, 2) == md_headings(md_text, 2) == order
    assert html_images(page)[0] == run / "robustness" / "accuracy_vs_eps.png" == md_images(md)[0]
    assert text.index("attacks/pgd/grid.png") < text.index("plots/accuracy.png") < text.index("<details>")


def test_the_demo_page_opens_with_a_picture_per_run_and_folds_the_options(tmp_path):
    gan = gan_run_with_everything(tmp_path / "runs")
    plain = make_run(tmp_path / "runs", "plain", samples=())  # no pictures yet: its losses stand for it
    clf = classifier_run(tmp_path / "runs", attacks=("pgd",))
    page, md = write_combined_report(tmp_path / "out", [gan, plain, clf], title="demo")
    text, md_text = page.read_text(), md.read_text()
    glance = [gan / "samples" / "final.png", plain / "plots" / "losses.png", clf / "attacks" / "pgd" / "grid.png"]
    assert [p.resolve() for p in html_images(page)[:3]] == glance == [p.resolve() for p in md_images(md)[:3]]
    first_table = text.index("<table>")
    assert text.index("<img") < first_table and re.match(
        r'<table><tr><th>metric</th><th><a href="#gan">gan</a></th>', text[first_table:])
    # the options that differ are folded under the summary figures, before the first run's section
    fold = re.search(r"<details><summary>Options that differ between the runs \((\d+);.*?</summary>(.*?)</details>",
                     text, flags=re.S)
    assert fold and fold.start() < text.index("<section") and "<th>data</th>" in fold.group(2)
    assert md_text.index("<details><summary>Options that differ") < md_text.index("\n## gan")
    # every run's own configuration is the last part of its section, folded
    sections = text.split("<section")[1:]
    assert all(re.search(r"<h3>Configuration</h3>\s*<details>.*</details>\s*</section>", s, flags=re.S)
               for s in sections)


# ---------------------------------------------------------------------- applies() is honest


def by_title() -> dict[str, Section]:
    return {section.title: section for section in SECTIONS}


def test_every_section_applies_exactly_where_its_result_is(tmp_path):
    bare = make_run(tmp_path, "bare", samples=(), summary=False)
    rich = gan_run_with_everything(tmp_path)
    clf = classifier_run(tmp_path, attacks=())
    attacked = classifier_run(tmp_path, name="attacked", attacks=("fgsm",))
    evaluated(attacked)
    certified(attacked)
    poisoned = classifier_run(tmp_path, name="poisoned", attacks=())
    (poisoned / "poison.json").write_text(json.dumps({"attack": "badnets", "target": 0, "rate": 0.05, "poisons": 3,
                                                       "train_size": 60, "clean_accuracy": 0.9,
                                                       "attack_success_rate": 0.95}))
    private = classifier_run(tmp_path, name="private", attacks=())
    (private / "privacy" / "membership").mkdir(parents=True)
    (private / "privacy" / "membership" / "membership.json").write_text(json.dumps(
        {"members": 30, "non_members": 30, "shadows": 0,
         "attacks": {"loss": {"auc": 0.6, "tpr_at_0.1%_fpr": 0.0, "tpr_at_1%_fpr": 0.1, "seconds": 0.1}}}))
    upscaled = classifier_run(tmp_path, name="upscaled", attacks=())  # the section looks at eval/superres.json alone
    (upscaled / "eval").mkdir()
    (upscaled / "eval" / "superres.json").write_text(json.dumps(
        {"bicubic": {"psnr": 27.6, "ssim": 0.77, "feature_distance": 0.012, "per_image": []},
         "srresnet": {"psnr": 28.3, "ssim": 0.79, "feature_distance": 0.011, "per_image": []}}))
    melodic = classifier_run(tmp_path, name="melodic", attacks=())  # the section looks at eval/music.json alone
    (melodic / "eval").mkdir()
    (melodic / "eval" / "music.json").write_text(json.dumps(
        {"n": 4, "bars": 8, "seed": 0, "sources": {"generated": {"rest_rate": 0.1}, "held_out": {"rest_rate": 0.08}},
         "copies": {"generated": {"exact_copies": 0.1}}}))
    from advlab.pipelines.text2image.configs import Text2ImageTrainConfig

    captioned = make_run(tmp_path, "captioned", samples=(500,), config=dataclasses.asdict(Text2ImageTrainConfig()))
    (captioned / "eval").mkdir()
    (captioned / "eval" / "text2image.json").write_text(json.dumps(
        {"samples": 100, "step": 500, "seed": 0,
         "attributes": {"colour": {"samples": 0.7, "real": 1.0, "chance": 0.14}},
         "r_precision": {"samples": 0.6, "real": 0.9, "candidates": 100}}))
    spoken = audio_run(tmp_path, name="spoken")  # a speech run with an audio attack (test_reports_audio)
    audited = classifier_run(tmp_path, name="audited", attacks=())  # the section looks at audit/audit.json alone
    (audited / "audit").mkdir()
    (audited / "audit" / "audit.json").write_text(json.dumps(
        {"kind": "classifier", "budget": "quick", "order": ["evasion"], "complete": True, "cells": {"evasion": {
            "figure": "worst-case robust accuracy", "value": 0.4, "verdict": "pass", "threshold": ">= 30%",
            "row": "test data", "column": "integrity"}}}))
    expected = {
        spoken: {"Summary", "Speech recognition on held-out utterances", "Audio attacks", "Samples over time",
                 "Training curves", "Configuration"},
        bare: {"Summary", "Samples over time", "Training curves", "Configuration"},
        captioned: {"Summary", "Text to image: samples for held-out captions", "Samples over time", "Training curves",
                    "Configuration"},
        melodic: {"Summary", "Melodies against the corpus", "Training curves", "Configuration"},
        upscaled: {"Summary", "Super-resolution on held-out photographs", "Training curves", "Configuration"},
        rich: {"Final samples", "Summary", "Evaluation", "Samples over time", "Training curves", "Configuration"},
        clf: {"Summary", "Training curves", "Configuration"},
        attacked: {"Summary", "Robustness", "Randomized smoothing", "Attacks", "Training curves", "Configuration"},
        poisoned: {"Summary", "Poisoning", "Training curves", "Configuration"},
        private: {"Summary", "Privacy", "Training curves", "Configuration"},
        audited: {"Summary", "Security audit", "Training curves", "Configuration"},
    }
    for root, titles in expected.items():
        run = read_run(root)
        assert {section.title for section in sections_for(run)} == titles, root.name
        page, md = write_report(root)
        shown = set(headings(page.read_text(), 2))
        assert shown == titles == set(md_headings(md.read_text(), 2)), root.name  # applies <=> rendered
    assert set(by_title()) == set().union(*expected.values())  # every registered section was exercised


def test_applies_looks_at_the_files_not_at_the_kind_of_run(tmp_path):
    sections, run = by_title(), make_run(tmp_path, "gan", samples=())
    assert not sections["Final samples"].applies(read_run(run))
    save_image_grid(torch.rand(1, 1, 8, 8), run / "samples" / "final.png")
    assert sections["Final samples"].applies(read_run(run))
    (run / "attacks" / "pgd").mkdir(parents=True)  # an attack that has not finished has no results.json
    assert not sections["Attacks"].applies(read_run(run))
    (run / "smoothing" / "sigma-1").mkdir(parents=True)
    (run / "smoothing" / "sigma-1" / "certify.json").write_text("{broken")  # unreadable: nothing to show
    assert not sections["Randomized smoothing"].applies(read_run(run))
    certified(run)
    assert sections["Randomized smoothing"].applies(read_run(run))
    assert "<h2>Randomized smoothing</h2>" in write_report(run)[0].read_text()


# ---------------------------------------------------------------------- budgets


def test_default_options_are_named_lighter_than_autoattack(tmp_path):
    record = robustness_record()
    found = budgets(record)
    assert found.lighter == ["APGD-CE 50 steps (AutoAttack: 100)",
                             "APGD-T 50 steps (AutoAttack: 100), 3 target classes (AutoAttack: 9)",
                             "FAB-T not run", "Square 1,000 queries (AutoAttack: 5,000)"]
    assert "lighter than AutoAttack's standard version" in found.verdict
    files = write_robustness_report(tmp_path, record)
    page, md = files["html"].read_text(), files["markdown"].read_text()
    # the budgets follow the headline figure and its table, before the checks
    assert (page.index('src="accuracy_vs_eps.png"') < page.index("<h2>Budgets</h2>")
            < page.index("<h2>Sanity checks</h2>"))
    assert md.index("![robust accuracy vs eps]") < md.index("## Budgets") < md.index("## Sanity checks")
    assert "| APGD-CE | 50 steps, 1 restart(s) | 100 steps, 1 restart(s) | lighter: 50 steps (AutoAttack: 100) |" in md
    assert "| FAB-T | not run | 9 target classes | lighter: not run |" in md
    assert "**The budget is lighter than AutoAttack" in md and '<p class="lighter">The budget is lighter' in page


def test_a_standard_budget_record_is_at_least_autoattack():
    standard = {"apgd-ce": {"steps": 100, "restarts": 1}, "apgd-t": {"steps": 100, "targets": 9},
                "fab-t": {"steps": 100, "targets": 9}, "square": {"queries": 5000}}
    members = ("apgd-ce", "apgd-t", "fab-t", "square")
    # the record's budget wins over its (lighter) options
    found = budgets(robustness_record(budget={"name": "standard", "members": standard, "eot": None},
                                      members=members))
    assert found.lighter == [] and found.name == "standard"
    assert found.verdict.startswith("The budget 'standard' is at least AutoAttack's standard version")
    # a record naming a 'fast' budget with lighter settings says which
    fast = budgets(robustness_record(budget={"name": "fast", "members": {**standard, "square": {"queries": 500}},
                                             "eot": None}, members=members))
    assert fast.name == "fast" and fast.verdict.startswith("The budget 'fast' is lighter")
    assert fast.lighter == ["Square 500 queries (AutoAttack: 5,000)"]


def test_target_classes_are_capped_by_the_classes_and_dlr_stands_in_for_three():
    capped = {"apgd-ce": {"steps": 100, "restarts": 1}, "apgd-t": {"steps": 100, "targets": 3},
              "fab-t": {"steps": 100, "targets": 3}, "square": {"queries": 5000}}
    four = budgets(robustness_record(budget={"name": "standard", "members": capped, "eot": None}, classes=4,
                                     members=("apgd-ce", "apgd-t", "fab-t", "square")))
    assert four.lighter == []  # 3 targets are all a 4-class model has
    three = budgets(robustness_record(classes=3, members=("apgd-ce", "apgd-dlr", "square")))
    assert not any(item.startswith("APGD-T") for item in three.lighter)
    rows = {row[0]: row for row in three.rows}
    assert rows["APGD-T"][1].startswith("not run: APGD-DLR in its place") and rows["APGD-T"][3] == "—"
    assert rows["APGD-DLR"] == ["APGD-DLR", "50 steps", "—", "in place of APGD-T"]


def test_eot_is_judged_only_for_a_randomised_model():
    deterministic = budgets(robustness_record())
    assert not any(item.startswith("EOT") for item in deterministic.lighter)
    noisy = budgets(robustness_record(randomized=True))
    assert "EOT 8 draws (AutoAttack: 20), averaging the logits (AutoAttack: the gradients)" in noisy.lighter
    strong = budgets(robustness_record(randomized=True, budget={"name": "standard", "members": {},
                                                                 "eot": {"draws": 20, "average": "gradients"}}))
    assert not any(item.startswith("EOT") for item in strong.lighter)
    assert ["EOT (randomised model)", "20 draws, averaging the gradients"] == [
        row[:2] for row in strong.rows if row[0].startswith("EOT")][0]


def test_the_run_report_states_the_budget(tmp_path):
    run = classifier_run(tmp_path, attacks=())
    evaluated(run)
    text, md_text = (path.read_text() for path in write_report(run))
    for body in (text, md_text):
        assert "The budget is lighter than AutoAttack" in body and "FAB-T not run" in body


# ---------------------------------------------------------------------- no import cycles


def reports_modules() -> dict[str, Path]:
    """Every module of advlab.reports by its dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(REPORTS.rglob("*.py")):
        name = "advlab.reports." + ".".join(path.relative_to(REPORTS).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imported_reports_modules(path: Path, known: dict[str, Path]) -> set[str]:
    """Every advlab.reports module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advlab.reports"):
            for alias in node.names:  # `from advlab.reports import sections` imports a module, not a name
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("advlab.reports")}
    return found


def test_reports_modules_import_each_other_without_a_cycle():
    known = reports_modules()
    graph = {name: imported_reports_modules(path, known) for name, path in known.items()}
    assert graph["advlab.reports.markup"] == set()  # the Markdown/HTML helpers import no other reports module

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for child in graph.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    assert [name for name in graph if name in reach(name)] == []
    assert "advlab.reports.render" not in reach("advlab.reports.robustness_report")
    assert {"advlab.reports.render", "advlab.reports.robustness_report"} <= reach("advlab.reports")


def test_every_reports_module_imports_first_in_a_fresh_interpreter():
    """Each module imported first (the package's modules dropped from sys.modules in between), as a script
    that starts with it would; an import cycle fails here with 'partially initialized module'."""
    script = ("import importlib, sys\n"
              f"for name in {sorted(reports_modules())!r}:\n"
              "    for loaded in [m for m in sys.modules if m.startswith('advlab.reports')]:\n"
              "        del sys.modules[loaded]\n"
              "    importlib.import_module(name)\n"
              "from advlab.reports.render import _md_smoothing, _md_table, smoothing_summary  # older names\n"
              "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_run_kind_tells_the_game_loop_runs_apart():
    from advlab.pipelines.music.configs import MusicTrainConfig
    from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
    from advlab.pipelines.translation.configs import SuperresTrainConfig, TranslateTrainConfig
    from advlab.reports.reading import GAME_LOOP_KINDS, run_kind

    kinds = {cls.__name__: run_kind(dataclasses.asdict(cls())) for cls in
             (MusicTrainConfig, Text2ImageTrainConfig, TranslateTrainConfig, SuperresTrainConfig)}
    assert kinds == {"MusicTrainConfig": "music", "Text2ImageTrainConfig": "text2image",
                     "TranslateTrainConfig": "translation", "SuperresTrainConfig": "translation"}
    assert set(kinds.values()) <= set(GAME_LOOP_KINDS)
    assert run_kind({"data": "ring8", "loss": "nonsaturating", "steps": 10}) == "gan"
