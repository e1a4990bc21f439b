"""The figure of a model extraction (advlab.pipelines.security.extract_run): the copy's fidelity and accuracy against
the query budget, on a log axis, beside the victim's own accuracy -- the curves of Orekondy et al. 2019
(Knockoff Nets, fig. 4) and Papernot et al. 2017's substitute rounds."""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import NullLocator

from advlab.reports.plots import _figure, _save


def save_fidelity_plot(record: dict, path) -> Path:
    """fidelity.png of an extraction.json record: fidelity, accuracy (and transfer rate) per budget, log x."""
    budgets = sorted(record["budgets"], key=int)
    queries = [int(budget) for budget in budgets]
    fig, axes = _figure(size=(6.4, 4.0))
    ax = axes[0][0]
    for key, label, color in (("fidelity", "fidelity (agrees with the victim)", "tab:blue"),
                              ("accuracy", "copy's held-out accuracy", "tab:orange"),
                              ("transfer_rate", f"transfer rate of PGD at eps {record.get('eps')}", "tab:red")):
        points = [(q, record["budgets"][b][key]) for q, b in zip(queries, budgets)
                  if record["budgets"][b].get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o", color=color, label=label)
    if record.get("victim_accuracy") is not None:
        ax.axhline(record["victim_accuracy"], color="grey", linestyle="--", linewidth=1, label="victim's accuracy")
    ax.set_xscale("log")
    ax.set_xticks(queries, [str(q) for q in queries])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="queries to the victim", ylabel="share of held-out images", ylim=(0, 1.02),
           title=f"{record['method']} extraction (output defense: {record['output_defense']})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center right", fontsize="small")
    return _save(fig, path)


__all__ = ["save_fidelity_plot"]
