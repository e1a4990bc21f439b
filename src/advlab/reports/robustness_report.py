"""The robustness report of `advlab robustness RUN`: RUN/robustness/robustness.md and .html.

What a reviewer needs to trust a robustness claim (Carlini et al. 2019, "On Evaluating Adversarial
Robustness", sec. 6 on reporting), the answer first: a warning when any sanity check failed ("this model
may mask its gradients", naming the checks); the clean accuracy; the curves of robust accuracy vs eps
(``accuracy_vs_eps.png``) and their table, for the worst case, the ensemble as AutoAttack runs it and every
attack alone, with the IBP-certified accuracy below them as a lower bound when interval bounds apply to the model
(``certified``: Gowal et al. 2019; ~0 at real eps unless the model was trained with IBP); the attack budgets
beside AutoAttack's standard version, saying when they are lighter (reports/budgets.py); the loss along the
gradient direction against random directions and the input-gradient norms (``loss_landscape.png``); and every
check with pass/fail and its evidence.

The record rendered is the one ``advlab.pipelines.security.robustness`` writes to RUN/robustness.json.
The HTML is one self-contained page (inline CSS, relative image links) whose inserted strings are
all escaped (reports/markup.py); the Markdown carries the same content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from advlab.core.errors import AdvlabError
from advlab.reports.budgets import HEAD as BUDGET_HEAD
from advlab.reports.budgets import budgets
from advlab.reports.markup import esc, html_page, html_table, md_cell, md_table
from advlab.reports.plots import _figure, _save

REPORT_DIR = "robustness"
RESULT_FILE = "robustness.json"  # the record advlab.pipelines.security.robustness writes into the run directory
WARNING_CSS = (".warning{border:2px solid #b71c1c;background:#ffebee;color:#7f0000;padding:.6em 1em;"
               "margin:1em 0;font-weight:600}.ok{border:2px solid #2e7d32;background:#e8f5e9;padding:.6em 1em;"
               "margin:1em 0}.fail{color:#b71c1c;font-weight:700}.pass{color:#2e7d32;font-weight:700}"
               ".lighter{border-left:4px solid #e65100;background:#fff3e0;padding:.4em .8em;font-weight:600}\n")
COLORS = {"fgsm": "tab:olive", "pgd": "tab:green", "apgd-ce": "tab:blue", "apgd-t": "tab:purple",
          "apgd-dlr": "tab:purple", "square": "tab:orange", "transfer": "tab:brown", "bpda-apgd-ce": "tab:red"}


def percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def title(record: dict, name: str) -> str:
    return record.get("attacks", {}).get(name, {}).get("title", name)


# ---------------------------------------------------------------------- tables


CERTIFIED_HEAD = "IBP-certified (lower bound)"


def certified_accuracy(record: dict) -> dict | None:
    """{eps: IBP-certified accuracy} of a record whose model interval bounds apply to; None otherwise (or older)."""
    certified = record.get("certified") or {}
    return certified.get("accuracy") if certified.get("supported") else None


def certified_note(record: dict) -> str:
    """What the certified column means, or why there is none."""
    certified = record.get("certified")
    if not certified:
        return ""
    if not certified.get("supported"):
        return f"No IBP-certified accuracy: {certified.get('reason', 'not applicable')}."
    return ("IBP-certified: the share of images that interval bound propagation (Gowal et al. 2019) proves no "
            "perturbation within eps can misclassify -- a lower bound of the accuracy under ANY attack, so never above "
            "the worst case. Only an IBP-trained model certifies much; a plainly or PGD-trained one certifies ~0 at "
            "real eps because its interval bounds are loose.")


def accuracy_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """(head, rows): per eps the worst case, the IBP-certified lower bound (when it applies), the ensemble as run
    in order, and each attack alone."""
    attacks = list(record["per_attack"])
    certified = certified_accuracy(record)
    head = ["eps", "worst case", *([CERTIFIED_HEAD] if certified else []), "ensemble",
            *(title(record, name) for name in attacks)]
    rows = [[eps, percent(record["robust_accuracy"][eps]), *([percent(certified[eps])] if certified else []),
             percent(record["ensemble"]["accuracy"][eps]),
             *(percent(record["per_attack"][name][eps]) for name in attacks)] for eps in record["eps"]]
    return head, rows


def checks_table(record: dict) -> tuple[list[str], list[list[str]]]:
    return ["check", "result", "evidence"], [[check["name"].replace("_", " "), "PASS" if check["passed"] else "FAIL",
                                              check["evidence"]] for check in record["checks"]]


def description(record: dict) -> str:
    """One paragraph: what was evaluated, how, and the clean accuracy."""
    options, model = record["options"], record["model"]
    members = " → ".join(title(record, name) for name in record["ensemble"]["members"])
    name = f"{model.get('class')} ({model['transform']})" if model.get("transform") else model.get("class")
    return (f"{name} on the first {record['n']} held-out images, {record['norm']} threat model; "
            f"clean accuracy {percent(record['clean_accuracy'])}. Ensemble (per example, any success counts; "
            f"each member on the images still unbroken): {members}. APGD/PGD {options['steps']} steps x "
            f"{options['restarts']} restart(s), APGD-T {options['targets']} target classes, Square "
            f"{options['queries']} queries; seed {options['seed']}; {record['seconds']['total']:.1f} s. "
            "The worst case counts an image as broken if any attack broke it at that eps or a smaller one.")


# ---------------------------------------------------------------------- plots


def plot_accuracy_vs_eps(record: dict, path) -> Path:
    """Worst case and ensemble (thick) and every attack alone (thin) against eps; clean accuracy at eps 0."""
    fig, axes = _figure(size=(7.5, 4.5))
    ax = axes[0, 0]
    eps = [0.0, *(float(key) for key in record["eps"])]
    clean = record["clean_accuracy"]

    def curve(values: dict) -> list[float]:
        return [clean, *(values[key] for key in record["eps"])]

    ax.plot(eps, curve(record["robust_accuracy"]), marker="s", markersize=7, linewidth=6, color="black", alpha=0.3,
            zorder=1, label="worst case")
    for name, values in record["per_attack"].items():
        ax.plot(eps, curve(values), marker="o", markersize=3, linewidth=1.2, color=COLORS.get(name, "tab:gray"),
                zorder=2, label=title(record, name))
    ax.plot(eps, curve(record["ensemble"]["accuracy"]), linewidth=1.2, linestyle="--", color="black", zorder=3,
            label="ensemble (as run)")
    certified = certified_accuracy(record)
    if certified:
        ax.plot(eps, curve(certified), marker="v", markersize=5, linewidth=1.6, color="tab:cyan", linestyle="-.",
                zorder=3, label="IBP-certified (lower bound)")
    ax.axhline(clean, color="0.6", linestyle=":", linewidth=1.0, label=f"clean {percent(clean)}")
    ax.set(title=f"Robust accuracy vs eps ({record['norm']}, {record['n']} images)", xlabel="eps",
           ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_loss_landscape(record: dict, path) -> Path:
    """Left: mean loss along the gradient direction and random directions. Right: input-gradient norms."""
    landscape, gradients = record["probes"]["landscape"], record["probes"]["gradients"]
    fig, axes = _figure(1, 2, size=(10.0, 4.0))
    left, right = axes[0]
    for index, values in enumerate(landscape["random"]):
        label = "random directions" if index == 0 else None
        left.plot(landscape["t"], values, color="0.55", linewidth=1.0, label=label)
    left.plot(landscape["t"], landscape["gradient"], color="tab:red", linewidth=2.2, label="gradient direction")
    step = "sign of the gradient" if landscape["norm"] == "linf" else "normalised gradient"
    left.set(title=f"Loss along directions ({landscape['n']} images)", xlabel=f"t ({step} x t)",
             ylabel="mean cross-entropy")
    left.grid(alpha=0.3)
    left.legend(loc="best", fontsize=8)
    norms = np.asarray(gradients["norms"], dtype=float)
    logs = np.log10(norms[norms > 0])
    zero = int((norms == 0).sum())
    if logs.size:
        right.hist(logs, bins=30, color="tab:blue", alpha=0.8, label="non-zero")
    if zero:  # log10(0) has no place on the axis: a red bar left of the rest, ticked "0", stands for them
        where = float(np.floor(logs.min())) - 1.5 if logs.size else 0.0
        right.bar([where], [zero], width=0.6, color="tab:red", label=f"exactly zero: {zero} of {norms.size}")
        ticks = [tick for tick in right.get_xticks() if tick > where + 0.7] if logs.size else []
        right.set_xticks([where, *ticks], ["0", *(f"{tick:g}" for tick in ticks)])
        if not logs.size:
            right.set_xlim(where - 2, where + 2)
    right.set(title=f"Input-gradient norms (cross-entropy, {norms.size} images)", ylabel="images",
              xlabel="log10 ||grad||_2" + (" (red bar: norm exactly 0)" if zero else ""))
    right.legend(loc="upper right", fontsize=8)
    right.grid(alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------------- Markdown and HTML


def markdown(record: dict, base: Path, figures: dict[str, Path]) -> str:
    head, rows = accuracy_table(record)
    check_head, check_rows = checks_table(record)
    budget = budgets(record)
    parts = ["# Robustness report"]
    if record.get("warning"):
        parts.append(f"> **Warning: {md_cell(record['warning'])}.**")
    else:
        parts.append("All sanity checks passed.")
    parts += [f"Clean accuracy: **{percent(record['clean_accuracy'])}**",
              "## Robust accuracy vs eps",
              f"![robust accuracy vs eps]({figures['accuracy_vs_eps'].relative_to(base).as_posix()})",
              md_table(head, rows), *([md_cell(certified_note(record))] if certified_note(record) else []),
              "## Budgets", f"**{md_cell(budget.verdict)}.**" if budget.lighter else md_cell(budget.verdict) + ".",
              md_table(BUDGET_HEAD, budget.rows), md_cell(description(record)),
              "## Sanity checks", md_table(check_head, check_rows),
              f"![loss landscape]({figures['loss_landscape'].relative_to(base).as_posix()})"]
    if record.get("notes"):
        parts += ["## Notes", "\n".join(f"- {md_cell(note)}" for note in record["notes"])]
    return "\n\n".join(parts) + "\n"


def html_body(record: dict, base: Path, figures: dict[str, Path]) -> str:
    head, rows = accuracy_table(record)
    check_head, check_rows = checks_table(record)
    budget = budgets(record)
    verdicts = [[name, f'<span class="{verdict.lower()}">{verdict}</span>', esc(evidence)]
                for name, verdict, evidence in check_rows]
    check_html = ('<div class="wide"><table><tr>' + "".join(f"<th>{esc(x)}</th>" for x in check_head) + "</tr>"
                  + "".join(f"<tr><td>{esc(name)}</td><td>{verdict}</td><td>{evidence}</td></tr>"
                            for name, verdict, evidence in verdicts) + "</table></div>")
    banner = (f'<div class="warning">Warning: {esc(record["warning"])}.</div>' if record.get("warning")
              else '<div class="ok">All sanity checks passed.</div>')
    images = {name: esc(path.relative_to(base).as_posix()) for name, path in figures.items()}
    notes = "".join(f"<li>{esc(note)}</li>" for note in record.get("notes", []))
    return "\n".join([
        "<h1>Robustness report</h1>", banner,
        f"<p>Clean accuracy: <strong>{esc(percent(record['clean_accuracy']))}</strong></p>",
        "<h2>Robust accuracy vs eps</h2>",
        f'<figure><img src="{images["accuracy_vs_eps"]}" alt="robust accuracy vs eps"></figure>',
        html_table(head, rows), f"<p>{esc(certified_note(record))}</p>" if certified_note(record) else "",
        "<h2>Budgets</h2>", f'<p class="{"lighter" if budget.lighter else "ok-budget"}">{esc(budget.verdict)}.</p>',
        html_table(BUDGET_HEAD, budget.rows), f'<p class="options">{esc(description(record))}</p>',
        "<h2>Sanity checks</h2>", check_html,
        f'<figure><img src="{images["loss_landscape"]}" alt="loss landscape and gradient norms"></figure>',
        f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "",
    ])


def html_document(record: dict, base: Path, figures: dict[str, Path]) -> str:
    return html_page("Robustness report", html_body(record, base, figures),
                     WARNING_CSS + "figure img{max-width:100%;height:auto}\n")


def write_robustness_report(run_dir, record: dict) -> dict[str, Path]:
    """Write RUN/robustness/{accuracy_vs_eps.png, loss_landscape.png, robustness.md, robustness.html}."""
    out = Path(run_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    figures = {"accuracy_vs_eps": plot_accuracy_vs_eps(record, out / "accuracy_vs_eps.png"),
               "loss_landscape": plot_loss_landscape(record, out / "loss_landscape.png")}
    md, page = out / "robustness.md", out / "robustness.html"
    md.write_text(markdown(record, out, figures), encoding="utf-8")
    page.write_text(html_document(record, out, figures), encoding="utf-8")
    return {**figures, "markdown": md, "html": page}


# ---------------------------------------------------------------------- the run report's section


def robustness_summary(run_dir) -> dict | None:
    """What a run's report shows of RUN/robustness.json: warning, clean accuracy, worst case per eps, the budget
    beside AutoAttack's, the curves' picture and the link to the robustness report."""
    root = Path(run_dir)
    path = root / RESULT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        certified = certified_accuracy(record)
        rows = [[eps, percent(record["robust_accuracy"][eps]), *([percent(certified[eps])] if certified else [])]
                for eps in record["eps"]]
        budget = budgets(record)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise AdvlabError(f"{path}: not a readable robustness record ({error})") from None
    failed = sum(not check.get("passed", True) for check in record.get("checks", []))
    return {"warning": record.get("warning"), "clean": percent(record.get("clean_accuracy")),
            "budget": budget.verdict if budget.lighter else f"{budget.label} is at least AutoAttack's standard version",
            "plot": root / REPORT_DIR / "accuracy_vs_eps.png",
            "norm": record.get("norm"), "rows": rows,
            "head": ["eps", "worst-case robust accuracy", *([CERTIFIED_HEAD] if certified else [])],
            "checks": f"{len(record.get('checks', [])) - failed} of {len(record.get('checks', []))} checks passed",
            "html": root / REPORT_DIR / "robustness.html"}


__all__ = ["RESULT_FILE", "plot_accuracy_vs_eps", "plot_loss_landscape", "robustness_summary",
           "write_robustness_report"]
