"""Why gated cells remember: gradient flow, length generalisation and learning speed.

Each analysis reads `RESULTS/summary.csv` and the saved models, writes a CSV of exactly what
it plots, and draws one figure under `RESULTS/figures/`. Bengio, Simard & Frasconi 1994 is
the reference point: if the gradient that reaches the key decays geometrically with the
distance, gradient descent cannot learn to keep the key.
"""

import sys

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets import TASKS
from experiments.config import RunConfig, UsageError
from experiments.plot import cell_palette, panel_order, read_summary, save_figure
from experiments.records import model_path, write_csv


def save_analysis(rows, results, name, plot):
    """Write the rows as RESULTS/<name>.csv, draw them as RESULTS/figures/<name>, return the table."""
    table = pd.DataFrame(rows)
    write_csv(f"{results}/{name}.csv", table)
    plot(table, f"{results}/figures/{name}")
    return table


def ok_runs(results, task="fluent"):
    summary = read_summary(results)
    ok = summary[(summary["status"] == "ok") & (summary["task"] == task)]
    if ok.empty:
        raise UsageError(f"no successful {task!r} runs in {results}/summary.csv")
    return ok


# ---------------------------------------------------------------- gradient flow


def input_gradient_norms(model, x, y):
    """||d loss / d e_t|| for every step t, averaged over the batch: shape (T,).

    e_t is the embedded input at step t, the cell's x_t. The model is Embedding -> RNN ->
    Dense, so the embedding output is where the gradient reaches the inputs.
    """
    import tensorflow as tf

    import keras

    embed, *rest = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    emb = embed(x)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        h = emb
        for layer in rest:
            h = layer(h)
        loss = loss_fn(y, h) * len(y)  # per-sequence losses summed: each row's gradient is its own
    grad = tape.gradient(loss, emb).numpy()  # (B, T, D)
    return np.linalg.norm(grad, axis=-1).mean(axis=0)


def common_gap(runs):
    """The longest gap that every (model, initialisation) row of `runs` was run at, or None."""
    shared = set.intersection(*(set(g["gap"]) for _, g in runs.groupby(["model", "init_label"])))
    return int(max(shared)) if shared else None


def gradient_flow(results, gap=None, n=256):
    """Gradient norm versus distance to the output, at initialisation and after training.

    `gap` defaults to the longest gap every row of the summary was run at. For every ok run at `gap`: the trained model as saved, and the same config rebuilt
    untrained with the same seed (its initial weights). Rows: model, init_label, seed,
    stage ("initialisation" or "trained"), distance (steps from input to output), grad_norm.
    """
    import keras

    from experiments.train import EVAL, build_model, data_seed, seed_everything

    ok = ok_runs(results)
    gaps = sorted(int(g) for g in ok["gap"].unique())
    if gap is None:
        gap = common_gap(ok)
        if gap is None:
            raise UsageError(f"no gap was run by every cell in {results}/summary.csv; name one with gap=N (gaps there: {gaps})")
    runs = ok[ok["gap"] == gap]
    if runs.empty:
        raise UsageError(f"no runs at gap={gap} in {results}/summary.csv; gaps there: {gaps}")
    rows = []
    for _, run in tqdm(list(runs.iterrows()), desc="gradients", unit="run", file=sys.stderr):
        cfg = config_of(results, run)
        x, y = TASKS[cfg.task](cfg.gap, n, data_seed(cfg.seed, EVAL))
        seed_everything(cfg.seed)
        stages = {"initialisation": build_model(cfg), "trained": keras.saving.load_model(model_path(results, run["run_id"]))}
        for stage, model in stages.items():
            norms = input_gradient_norms(model, x, y)
            T = len(norms)
            for t, g in enumerate(norms):
                rows.append({"model": cfg.model, "init_label": cfg.init_label, "seed": cfg.seed, "gap": gap,
                             "stage": stage, "distance": T - 1 - t, "grad_norm": float(g)})  # fmt: skip
        keras.backend.clear_session()
    return save_analysis(rows, results, "gradient_flow", plot_gradient_flow)


def config_of(results, run):
    """The RunConfig of a summary row, read back from its record (the CSV loses types)."""
    import json

    from experiments.records import record_path

    return RunConfig.from_dict(json.loads(record_path(results, run["run_id"]).read_text())["config"])


def plot_gradient_flow(table, out):
    import matplotlib.pyplot as plt
    import seaborn as sns

    inits = panel_order(table["init_label"])
    palette = cell_palette(table["model"])
    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 4.2), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        rows = table[(table["init_label"] == init) & (table["distance"] > 0)]
        sns.lineplot(data=rows, x="distance", y="grad_norm", hue="model", style="stage", errorbar=("pi", 100),
                     palette=palette, style_order=["initialisation", "trained"], ax=ax)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(init, fontsize=9)
        ax.set_xlabel("distance from input step to output (steps, log)")
        ax.set_ylabel("mean ||d loss / d x_t|| (log)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Gradient reaching each input step, gap {table['gap'].iloc[0]}: mean over batch and seeds, band = seed range", fontsize=10)
    save_figure(fig, out)


# ------------------------------------------------------- length generalisation


def generalisation_gaps(gap):
    """g/4, g/2, g, 2g, 4g (at least 1, no repeats)."""
    return sorted({max(1, int(gap * f)) for f in (0.25, 0.5, 1, 2, 4)})


def length_generalisation(results):
    """Every ok model evaluated at gaps g/4 .. 4g around the gap g it was trained at.

    At the training gap it sees exactly the sequences `make evaluate` scored it on (same
    seed stream and size), so the diagonal equals `test_accuracy` in the summary.
    Rows: model, init_label, seed, train_gap, test_gap, test_accuracy.
    """
    import keras

    from experiments.train import EVAL, data_seed, scores

    ok = ok_runs(results)
    rows = []
    for _, run in tqdm(list(ok.iterrows()), desc="generalisation", unit="model", file=sys.stderr):
        cfg = config_of(results, run)
        model = keras.saving.load_model(model_path(results, run["run_id"]))
        for gap in generalisation_gaps(cfg.gap):
            x, y = TASKS[cfg.task](gap, cfg.n_test, data_seed(cfg.seed, EVAL))
            rows.append({"model": cfg.model, "init_label": cfg.init_label, "seed": cfg.seed, "train_gap": cfg.gap,
                         "test_gap": gap, "test_accuracy": scores(model, TASKS[cfg.task], x, y)[0]})  # fmt: skip
        keras.backend.clear_session()
    return save_analysis(rows, results, "length_generalisation", plot_length_generalisation)


def plot_length_generalisation(table, out):
    import matplotlib.pyplot as plt
    import seaborn as sns

    groups = list(table.groupby(["model", "init_label"]))
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax, ((model, init), part) in zip(axes.ravel(), groups):
        grid = part.pivot_table(index="train_gap", columns="test_gap", values="test_accuracy", aggfunc="mean")
        sns.heatmap(grid, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f", annot_kws={"fontsize": 5}, cbar=False, ax=ax)
        ax.set_title(f"{model}: {init}", fontsize=9)
        ax.set_xlabel("test gap")
        ax.set_ylabel("train gap")
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.suptitle("Length generalisation: mean test accuracy over seeds (chance 0.125)", fontsize=11)
    save_figure(fig, out)


# ------------------------------------------------------------- learning speed


def learning_speed(results):
    """Training sequences until 99 % validation accuracy versus gap, unsolved runs censored.

    An unsolved run is drawn as a hollow marker at its budget with an upward arrow: it
    needed more than the budget, not the budget. Rows are the summary's own.
    """
    import matplotlib.pyplot as plt

    ok = ok_runs(results)
    inits = panel_order(ok["init_label"])
    models = list(dict.fromkeys(ok["model"]))
    palette = cell_palette(models)
    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 4.2), squeeze=False, sharey=True)
    offsets = {m: 1 + 0.06 * (i - (len(models) - 1) / 2) for i, m in enumerate(models)}  # spread seeds' markers
    for ax, init in zip(axes[0], inits):
        rows = ok[ok["init_label"] == init]
        for model, part in rows.groupby("model"):
            solved, unsolved = part[part["solved"]], part[~part["solved"]]
            med = solved.groupby("gap")["sequences_seen"].median()
            ax.plot(med.index, med.values, color=palette[model], label=f"{model} (median of solved)")
            ax.scatter(solved["gap"] * offsets[model], solved["sequences_seen"], color=palette[model], s=14)
            ax.scatter(unsolved["gap"] * offsets[model], unsolved["sequences_seen"], facecolors="none",
                       edgecolors=palette[model], marker="^", s=40)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(init, fontsize=9)
        ax.set_xlabel("gap (log)")
        ax.set_ylabel("training sequences to 99 % validation accuracy (log)")
        ax.legend(fontsize=7, title="hollow ^: unsolved within budget", title_fontsize=7)
    fig.suptitle("Learning speed: unsolved runs are censored at the budget, not dropped", fontsize=10)
    save_figure(fig, f"{results}/figures/sequences_to_solve")
