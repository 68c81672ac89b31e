"""Accuracy versus gap, one line per (cell, initialisation), drawn from RESULTS/summary.csv alone."""

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from experiments.config import UsageError  # noqa: E402
from experiments.records import atomic_write  # noqa: E402


def read_summary(results):
    path = f"{results}/summary.csv"
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"no summary at {path}: run `make evaluate RESULTS={results}` first") from None
    if table.empty:
        raise UsageError(f"{path} has no rows")
    return table


def protocol(table):
    """One line describing the training protocol shared by the runs in `table`."""

    def shared(key):
        values = table[key].unique()
        return values[0] if len(values) == 1 else "varies"

    seeds = table.groupby(["model", "init_label", "task", "gap"])["seed"].nunique().max()
    return (
        f"Protocol: H={shared('units')} units, embedding {shared('embed_dim')}, Adam lr {shared('learning_rate')}, "
        f"clipnorm {shared('clipnorm')}, batch {shared('batch_size')}, at most {shared('budget')} training "
        f"sequences, early stop at validation accuracy {shared('target_accuracy')}; "
        f"mean of {seeds} seeds, band = min to max"
    )


def plot_accuracy(results, out=None):
    """Write RESULTS/figures/accuracy_vs_gap.{png,pdf}: one panel per task, log gap axis.

    Each line is the mean test accuracy over seeds of one (cell, initialisation); the band
    spans the lowest to the highest seed; the dashed line is chance. Failed runs are left
    out of the lines and counted in the panel title.
    """
    table = read_summary(results)
    ok = table[table["status"] == "ok"]
    if ok.empty:
        raise UsageError(f"every run in {results}/summary.csv failed; nothing to plot")
    tasks = list(dict.fromkeys(ok["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = ok[ok["task"] == task]
        sns.lineplot(
            data=rows, x="gap", y="test_accuracy", hue="model", style="init_label",
            estimator="mean", errorbar=("pi", 100), markers=True, dashes=True, ax=ax,
        )  # fmt: skip
        ax.axhline(rows["chance_accuracy"].iloc[0], color="grey", linestyle="--", linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("gap (distractor steps between the key and the query)")
        ax.set_ylabel("test accuracy (fresh test set)")
        n_failed = int(((table["task"] == task) & (table["status"] != "ok")).sum())
        ax.set_title(f"task: {task}" + (f"  ({n_failed} failed runs not shown)" if n_failed else ""))
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("How far back can each cell carry the key?", fontsize=12)
    fig.text(0.5, 0.005, protocol(ok), ha="center", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out = out or f"{results}/figures/accuracy_vs_gap"
    for ext in ("png", "pdf"):
        atomic_write(f"{out}.{ext}", lambda tmp: fig.savefig(tmp, dpi=130))
    plt.close(fig)
    return [f"{out}.png", f"{out}.pdf"]
