"""Accuracy versus gap, one line per (cell, initialisation), drawn from RESULTS/summary.csv alone."""

import textwrap

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt
import seaborn as sns

from experiments.checks import UsageError
from experiments.records import atomic_write
from experiments.summary import protocol, read_summary


def cell_palette(models):
    """A colour per cell, the same in every panel and figure drawn from one table."""
    models = list(dict.fromkeys(models))
    return dict(zip(models, sns.color_palette("tab10" if len(models) <= 10 else "husl", len(models))))


def panel_order(labels):
    """Keras' defaults first (no forget-bias override), then the other initialisations."""
    return sorted(set(labels), key=lambda label: (label != "orthogonal recurrent", "forget bias" in label, label))


PANELS = ("init", "task")  # a panel per (task, initialisation), or one per task with every row in it


def panel_inits(rows, panels):
    """The initialisations that get a panel of their own; [None]: one panel holds them all."""
    if panels not in PANELS:
        raise UsageError(f"unknown panels {panels!r}; allowed: {', '.join(PANELS)}")
    return [None] if panels == "task" else panel_order(rows["init_label"])


def panel_keys(rows, panels):
    """The panels of a figure, as (task, init_label or None)."""
    return [(t, i) for t in dict.fromkeys(rows["task"]) for i in panel_inits(rows[rows["task"] == t], panels)]


def in_panel(rows, task, init):
    return rows[(rows["task"] == task) & ((rows["init_label"] == init) if init is not None else True)]


def line_styles(rows):
    """Per (model, init_label): a line style, solid for each cell's first initialisation (in
    `panel_order`), dashed, dotted and dash-dotted for its others, so that one panel can hold
    a cell under several initialisations in the cell's one colour."""
    styles = ("-", "--", ":", "-.")
    return {(model, init): styles[k % len(styles)]
            for model, part in rows.groupby("model", sort=False)
            for k, init in enumerate(panel_order(part["init_label"]))}


def plot_accuracy(results, out=None, panels="init"):
    """Write RESULTS/figures/accuracy_vs_gap.{png,pdf}: a panel per (task, initialisation).

    Rows are tasks, columns initialisations, because which cell remembers longest depends
    on the initialisation. Each line is the mean test accuracy over seeds of one cell; the
    band spans the lowest to the highest seed; the dashed line is chance. A regression task
    gets a second row with the test mean squared error and its input-blind baseline. Failed
    runs are left out of the lines and counted in the panel title. A cell keeps its colour
    everywhere. `panels="task"`: one column, every (cell, initialisation) in it, the
    initialisation as the line's style (for folders such as post2015, whose cells do not share
    initialisations).
    """
    from datasets import TASKS

    table = read_summary(results)
    ok = table[table["status"] == "ok"]
    if ok.empty:
        raise UsageError(f"every run in {results}/summary.csv failed; nothing to plot")
    tasks = list(dict.fromkeys(ok["task"]))
    # (task, metric) per row: accuracy for every task, and MSE too where the task regresses.
    rows = [(t, "test_accuracy") for t in tasks]
    rows += [(t, "test_loss") for t in tasks if t in TASKS and TASKS[t].output == "value"]
    inits = panel_inits(ok, panels)
    palette, styles = cell_palette(ok["model"]), line_styles(ok)
    width = 4.6 if inits != [None] else 7.2  # one column: room for the legend on its right
    fig, axes = plt.subplots(len(rows), len(inits), figsize=(width * len(inits), 4.0 * len(rows) + 0.8), squeeze=False)
    for r, (task, metric) in enumerate(rows):
        mse = metric == "test_loss"
        for col, init in enumerate(inits):
            ax = axes[r][col]
            part = in_panel(ok, task, init)
            failed = in_panel(table, task, init)
            failed = failed[failed["status"] != "ok"]
            ax.set_title(f"{task}" + (f": {init}" if init is not None else "")
                         + (f"\n({len(failed)} failed runs not shown)" if len(failed) else ""), fontsize=9)
            reference = ok[ok["task"] == task]["baseline_loss" if mse else "chance_accuracy"].iloc[0]
            ax.axhline(reference, color="grey", linestyle="--", linewidth=1, label="predict 1 (baseline)" if mse else "chance")
            if init is not None and not part.empty:
                sns.lineplot(data=part, x="gap", y=metric, hue="model", palette=palette, estimator="mean",
                             errorbar=("pi", 100), marker="o", ax=ax)
            for (model, label), line in part.groupby(["model", "init_label"], sort=True) if init is None else ():
                # what the seaborn call above draws (mean, band from lowest to highest seed), by hand
                # so that each line keeps its own style in the legend too
                stats = line.groupby("gap")[metric].agg(["mean", "min", "max"]).reset_index()
                ax.plot(stats["gap"], stats["mean"], marker="o", color=palette[model], linestyle=styles[(model, label)],
                        label=f"{model}, {label}")
                ax.fill_between(stats["gap"], stats["min"], stats["max"], color=palette[model], alpha=0.2, linewidth=0)
            if init is None:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
            else:
                ax.legend(fontsize=8, loc="upper left" if mse else "lower left", title=None)
            gaps = sorted(ok[ok["task"] == task]["gap"].unique())
            ax.set_xscale("log")
            ax.set_xticks(gaps, [str(g) for g in gaps], fontsize=8)
            ax.minorticks_off()
            if mse:
                ax.set_yscale("log")
            else:
                ax.set_ylim(0, 1.02)
            ax.set_xlabel("gap (log scale)", fontsize=8)
            ax.set_ylabel(("test mean squared error (log)" if mse else "test accuracy (fresh test set)") if col == 0 else "")
    layout(fig, "How far back can each cell carry the key?", protocol(ok) + "; line = mean over seeds, band = lowest to highest seed")
    return save_figure(fig, out or f"{results}/figures/accuracy_vs_gap")


def plot_success(results, out=None, panels="init"):
    """Write RESULTS/figures/success_vs_gap.{png,pdf}: the headline figure.

    A panel per (task, initialisation); a line per cell: the fraction of seeds that solved
    the gap (test accuracy >= 0.9; diverged runs unsolved), the band its Wilson 95 %
    interval, and a dotted vertical line at the cell's reach where it lies inside the gaps
    run. The counts and reaches are those of summary.md (experiments/stats.py).
    `panels="task"`: a panel per task, each (cell, initialisation) a line in the cell's
    colour, its initialisation the line's style (`line_styles`).
    """
    from experiments.stats import reaches, success_rates
    from experiments.tables import THRESHOLD

    table = read_summary(results)
    rates, reach_rows = success_rates(table), reaches(table)
    if rates.empty:
        raise UsageError(f"no results in {results}/summary.csv; nothing to plot")
    keys = panel_keys(rates, panels)
    palette, styles = cell_palette(rates["model"]), line_styles(rates)
    # More than 4 lines in a panel (the LSTM family's 10) would bury the curves under the
    # legend: then each panel is wider and keeps its legend outside, on its right.
    crowded = max(len(in_panel(rates, task, init).groupby(["model", "init_label"])) for task, init in keys) > 4
    fig, axes = plt.subplots(1, len(keys), figsize=((7.2 if crowded else 4.6) * len(keys), 4.2), squeeze=False)
    for ax, (task, init) in zip(axes[0], keys):
        part = in_panel(rates, task, init)
        for (model, label), line in part.groupby(["model", "init_label"], sort=True):
            colour, style = palette[model], styles[(model, label)] if init is None else "-"
            n = f"{line['n'].min()}" if line["n"].min() == line["n"].max() else f"{line['n'].min()}-{line['n'].max()}"
            name = model if init is not None else f"{model}, {label}"
            ax.plot(line["gap"], line["rate"], marker="o", color=colour, linestyle=style, label=f"{name} ({n} seeds)")
            ax.fill_between(line["gap"], line["ci_low"], line["ci_high"], color=colour, alpha=0.15, linewidth=0)
            r = in_panel(reach_rows, task, label)
            r = r[r["model"] == model]
            if not r.empty and r["reach_censored"].iloc[0] == "":
                ax.axvline(r["reach"].iloc[0], color=colour, linestyle=":", linewidth=1.2)
        gaps = sorted(part["gap"].unique())
        ax.set_xscale("log")
        ax.set_xticks(gaps, [str(g) for g in gaps], fontsize=7, rotation=45)
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(f"{task}: {init}" if init is not None else task, fontsize=9)
        ax.set_xlabel("gap (log scale)", fontsize=8)
        ax.set_ylabel(f"fraction of seeds solved (test acc. >= {THRESHOLD})" if ax is axes[0][0] else "")
        if crowded:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        else:
            ax.legend(fontsize=7, loc="lower left")
    caption = (protocol(table[table["status"].isin(["ok", "diverged"])]) + "; band = Wilson 95 % interval; "
               "dotted line = reach (logistic fit crosses 50 %), where it lies within the gaps run")
    layout(fig, "How far back can each cell carry the key? Success rate over seeds", caption)
    return save_figure(fig, out or f"{results}/figures/success_vs_gap")


def layout(fig, title, caption="", title_size=11, caption_size=8):
    """Title on top and caption below, both wrapped to the figure's width, with room kept for
    them, so that nothing is clipped and the caption never overlaps the axes' labels."""
    width, height = fig.get_size_inches()
    wrap = lambda text, size: textwrap.wrap(text, max(20, int(width * 72 / (0.55 * size)))) if text else []
    title_lines, caption_lines = wrap(title, title_size), wrap(caption, caption_size)
    top = 1 - (len(title_lines) * 1.3 * title_size / 72 + 0.08) / height
    bottom = (len(caption_lines) * 1.4 * caption_size / 72 + 0.1) / height if caption_lines else 0
    fig.suptitle("\n".join(title_lines), fontsize=title_size, y=1 - 0.05 / height, va="top")
    if caption_lines:
        fig.text(0.5, 0.05 / height, "\n".join(caption_lines), ha="center", va="bottom", fontsize=caption_size)
    fig.tight_layout(rect=(0, bottom, 1, top))


def save_figure(fig, out):
    """Write `out`.png and `out`.pdf atomically, close the figure, return the paths."""
    # No creation date in the PDF, so that a rerun gives back the committed file byte for byte.
    metadata = {"png": None, "pdf": {"CreationDate": None}}
    paths = [f"{out}.{ext}" for ext in metadata]
    for ext, path in zip(metadata, paths):
        atomic_write(path, lambda tmp, meta=metadata[ext]: fig.savefig(tmp, dpi=130, metadata=meta))
    plt.close(fig)
    return paths
