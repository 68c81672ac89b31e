"""Why gated cells remember: gradient flow, length generalisation, learning speed, and what
the unsolved runs still carry.

Each analysis reads `RESULTS/summary.csv` and the saved models, writes a CSV of exactly what
it plots, and draws one figure under `RESULTS/figures/`. Bengio, Simard & Frasconi 1994 is
the reference point: if the gradient that reaches the key decays geometrically with the
distance, gradient descent cannot learn to keep the key.
"""

import dataclasses
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets import TASKS
from datasets.fluent import FIRST_FILLER as FLUENT_LEAD
from datasets.fluent_distractors import PAD_ID as DISTRACTORS_PAD
from experiments.checks import UsageError
from experiments.config import RunConfig
from experiments.inspect_gates import inspect as inspect_gates
from experiments.records import model_path, write_csv, write_text
from experiments.summary import read_summary
from experiments.tables import THRESHOLD, markdown_table


def save_analysis(rows, results, name, plot, ok=None, held=None):
    """Write the rows as RESULTS/<name>.csv, draw them as RESULTS/figures/<name>, return the table.

    `ok` (ok_runs' rows) names the task: where RESULTS holds several, the files are
    <name>_<task>, so that one task's analysis never overwrites another's. `held`, a
    function of the table returning markdown, is written beside them as <name>_held.md.
    """
    name = output_name(results, name, ok)
    table = pd.DataFrame(rows)
    write_csv(f"{results}/{name}.csv", table)
    plot(table, f"{results}/figures/{name}")
    if held is not None:
        write_text(f"{results}/{name}_held.md", held(table))
    return table


def seed_stacks(results, runs):
    """The RunConfigs of summary rows `runs`, grouped into seed stacks (`batched.stack_key`):
    the seeds of one configuration, scored together where the cell allows."""
    from experiments.batched import stack_key

    groups = {}
    for _, run in runs.iterrows():
        cfg = config_of(results, run)
        groups.setdefault(stack_key(cfg), []).append(cfg)
    return list(groups.values())


def output_name(results, name, ok=None):
    """<name>, or <name>_<task> where RESULTS/summary.csv has ok runs of several tasks."""
    if ok is None or ok.empty:
        return name
    summary = read_summary(results)
    several = summary.loc[summary["status"] == "ok", "task"].nunique() > 1
    return f"{name}_{ok['task'].iloc[0]}" if several else name


def ok_runs(results, task=None, only=None):
    """The ok runs of one task: `task`, or the summary's only task.

    `only` names the tasks an analysis can handle; any other task is refused in one line.
    """
    summary = read_summary(results)
    ok = summary[summary["status"] == "ok"]
    tasks = sorted(ok["task"].unique())
    if task is None:
        if len(tasks) > 1:
            raise UsageError(f"{results}/summary.csv has runs of several tasks ({', '.join(tasks)}); name one with task=NAME")
        task = tasks[0] if tasks else "fluent"
    if only and task not in only:
        raise UsageError(f"this analysis handles the {', '.join(only)} task only, received task={task!r}")
    ok = ok[ok["task"] == task]
    if ok.empty:
        raise UsageError(f"no successful {task!r} runs in {results}/summary.csv; tasks there: {', '.join(tasks) or 'none'}")
    return ok


# ---------------------------------------------------------------- gradient flow


def input_gradient_norms(model, x, y):
    """||d loss / d e_t|| for every step t, averaged over the batch: shape (T,).

    e_t is the embedded input at step t, the cell's x_t. The model is Embedding -> RNN ->
    Dense, so the embedding output is where the gradient reaches the inputs.
    """
    import tensorflow as tf

    from experiments.backend import keras

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


def gradient_flow(results, gap=None, n=256, task=None):
    """Gradient norm versus distance to the output, at initialisation and after training.

    `gap` defaults to the longest gap every row of the summary was run at. For every ok run at `gap`: the trained model as saved, and the same config rebuilt
    untrained with the same seed (its initial weights). Rows: model, init_label, seed,
    stage ("initialisation" or "trained"), distance (steps from input to output), grad_norm.
    """
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed, seed_everything
    from experiments.model import build_model

    # The gradient is taken at the embedding output with a classification loss: token tasks
    # with one answer per sequence. The fluent task is the one the analysis is drawn for.
    ok = ok_runs(results, task, only=("fluent",))
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
                             "stage": stage, "distance": T - 1 - t, "grad_norm": float(g)})
        keras.backend.clear_session()
    return save_analysis(rows, results, "gradient_flow", plot_gradient_flow, ok)


def record_of(results, run):
    """The record of a summary row, as written by training."""
    import json

    from experiments.records import record_path

    return json.loads(record_path(results, run["run_id"]).read_text())


def config_of(results, run):
    """The RunConfig of a summary row, read back from its record (the CSV loses types)."""
    return RunConfig.from_dict(record_of(results, run)["config"])


GRADIENT_FLOOR = 1e-30  # a gradient below this is gone for training; drawn at the floor, not off the axis


def plot_gradient_flow(table, out):
    """A panel per initialisation, a line per (cell, stage): the median over seeds of each
    seed's mean gradient norm, the band the middle half of the seeds (interquartile range).
    Medians rather than means on a log axis: one seed whose gradient vanished (to 0 or 1e-40)
    would otherwise pull a whole line down by tens of decades."""
    import matplotlib
    import matplotlib.pyplot as plt

    from experiments.plot import cell_palette, layout, panel_order, save_figure  # matplotlib: only to draw

    inits = panel_order(table["init_label"])
    palette = cell_palette(table["model"])
    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 4.2), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        rows = table[(table["init_label"] == init) & (table["distance"] > 0)]
        for (model, stage), line in rows.groupby(["model", "stage"], sort=True):
            by = line.groupby("distance")["grad_norm"]
            median, low, high = (s.clip(lower=GRADIENT_FLOOR) for s in (by.median(), by.quantile(0.25), by.quantile(0.75)))
            ax.plot(median.index, median, color=palette[model], linestyle="-" if stage == "initialisation" else "--",
                    label=f"{model}, {stage} ({line['seed'].nunique()} seeds)")
            ax.fill_between(median.index, low, high, color=palette[model], alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(GRADIENT_FLOOR / 10, None)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(init, fontsize=9)
        ax.set_xlabel("distance from input step to output (steps, log)")
        ax.set_ylabel("||d loss / d x_t||, mean over the batch (log)")
        ax.legend(fontsize=7)
    layout(fig, f"Gradient reaching each input step, gap {table['gap'].iloc[0]}: median over seeds, band = middle half of "
                f"the seeds; below {GRADIENT_FLOOR:.0e} drawn at that floor")
    save_figure(fig, out)


# ------------------------------------------------------- length generalisation


GENERALISATION_FACTORS = (0.25, 0.5, 1, 2, 4)
FACTOR_NAMES = {0.25: "g/4", 0.5: "g/2", 1: "solved g", 2: "2g", 4: "4g"}


def generalisation_gaps(gap, min_gap=1):
    """g/4, g/2, g, 2g, 4g, no repeats, leaving out those below the task's `min_gap` (selective
    copying needs at least 10 scattered positions, so a model trained at 10 is tested at 10-40)."""
    return sorted(g for g in {max(1, int(gap * f)) for f in GENERALISATION_FACTORS} if g >= min_gap)


def generalisation_held(table, threshold=THRESHOLD, by_gap=False):
    """Of the models that solved the gap g they were trained at, how many also solve g/4 .. 4g.

    `table` has length_generalisation's rows. A model solves a gap when its test accuracy there
    is at least `threshold`; the factor of a test gap is test_gap / train_gap rounded to a
    power of 2 (g/4 of g = 5 is gap 1). Counts pool every training gap of a row, so short
    gaps weigh as much as long ones; `by_gap` keeps one row per training gap instead, to see
    where a pooled difference lives. Rows: model, init_label (and train_gap), then "k of n"
    per factor.
    """
    t = table.assign(factor=2.0 ** np.round(np.log2(table["test_gap"] / table["train_gap"])),
                     solved=table["test_accuracy"] >= threshold)
    own = t[t["factor"] == 1].set_index(["model", "init_label", "train_gap", "seed"])["solved"].rename("own")
    t = t.join(own, on=["model", "init_label", "train_gap", "seed"])
    grouped = t[t["own"]].groupby(["model", "init_label", *(["train_gap"] if by_gap else []), "factor"])["solved"]
    counts = (grouped.sum().astype(int).astype(str) + " of " + grouped.size().astype(str)).unstack("factor")
    counts = counts.reindex(columns=list(GENERALISATION_FACTORS)).rename(columns=FACTOR_NAMES)
    return counts.reset_index().rename_axis(columns=None)


def length_generalisation(results, task=None):
    """Every ok model evaluated at gaps g/4 .. 4g around the gap g it was trained at.

    At the training gap it sees exactly the sequences `make evaluate` scored it on (same
    seed stream and size, and seed stacks as there), so the diagonal equals `test_accuracy`
    in the summary. The seeds of one configuration are scored as one seed stack where the
    cell allows (`batched.stacked_predictor`): one XLA compilation per configuration and
    test gap, not per model and test gap. A score already in RESULTS/scores.json under the
    same model file, test set and code (`experiments/score_cache.py`, evaluate's diagonal
    included) is reused, and a configuration whose every score is there loads no model.
    Rows: model, init_label, seed, train_gap, test_gap, test_accuracy.
    """
    from experiments import score_cache
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed
    from experiments.evaluate import score_tests, seed_stack_predictor

    ok = ok_runs(results, task)
    cache, code = score_cache.load(results), score_cache.code_digest()
    rows = []
    bar = tqdm(total=len(ok), desc="generalisation", unit="model", file=sys.stderr)
    for cfgs in seed_stacks(results, ok):
        task_, models, predict, new = TASKS[cfgs[0].task], None, None, {}
        for gap in generalisation_gaps(cfgs[0].gap, task_.min_gap):
            other = None if gap == cfgs[0].gap else gap  # a group's runs share their gap; score_cache names the own one None
            names = [score_cache.entry(cfg.run_id, other) for cfg in cfgs]
            keys = [score_cache.run_key(model_path(results, cfg.run_id), cfg.n_test, code, other) for cfg in cfgs]
            hits = [cache.get(name) for name in names]
            if all(hit is not None and hit[0] == key for hit, key in zip(hits, keys)):
                accuracies = [hit[1] for hit in hits]
            else:
                if models is None:
                    models = [keras.saving.load_model(model_path(results, cfg.run_id)) for cfg in cfgs]
                    predict = seed_stack_predictor(models, cfgs[0])
                scored = score_tests(models, task_, [task_(gap, cfg.n_test, data_seed(cfg.seed, EVAL)) for cfg in cfgs], predict)
                accuracies = [acc for acc, _ in scored]
                new.update({name: (key, *score) for name, key, score in zip(names, keys, scored)})
            rows += [{"task": cfg.task, "model": cfg.model, "init_label": cfg.init_label, "seed": cfg.seed, "train_gap": cfg.gap,
                      "test_gap": gap, "test_accuracy": accuracy} for cfg, accuracy in zip(cfgs, accuracies)]
        if new:
            score_cache.save(results, new)
        bar.update(len(cfgs))
        keras.backend.clear_session()
    bar.close()
    held = lambda table: (f"Models that solved their training gap g (test accuracy >= {THRESHOLD}), and how many of them "
                          f"also solve g/4 .. 4g, pooled over training gaps (`make generalisation`):\n\n"
                          + markdown_table(generalisation_held(table))
                          + "\nThe same, per training gap g:\n\n" + markdown_table(generalisation_held(table, by_gap=True)))
    return save_analysis(rows, results, "length_generalisation", plot_length_generalisation, ok, held)


def plot_length_generalisation(table, out):
    task = table["task"].iloc[0]
    plot_heatmaps(table, out, "test_gap", "test gap",
                  f"Length generalisation on {task}: mean test accuracy over seeds (chance {TASKS[task].chance:.3g})")


def plot_heatmaps(table, out, column, xlabel, title):
    """A heatmap per (model, init_label): mean test_accuracy over seeds, train_gap down, `column` across."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from experiments.plot import layout, save_figure  # matplotlib: only to draw

    groups = list(table.groupby(["model", "init_label"]))
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax, ((model, init), part) in zip(axes.ravel(), groups):
        grid = part.pivot_table(index="train_gap", columns=column, values="test_accuracy", aggfunc="mean")
        sns.heatmap(grid, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f", annot_kws={"fontsize": 5}, cbar=False, ax=ax)
        ax.set_title(f"{model}: {init}", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("train gap")
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    layout(fig, title)
    save_figure(fig, out)


# ------------------------------------------------------------------ key shift

# The token a key shift puts before every sequence: one that no answer depends on and that the
# task's own samples contain there. fluent_distractors left-pads, so its padding; fluent and
# fluent_moving (whose padding follows the query) have none there, so their first filler ("the",
# the same id in both). Kept here, not in datasets/: the generators stay as trained.
LEAD_TOKENS = {"fluent": FLUENT_LEAD, "fluent_distractors": DISTRACTORS_PAD, "fluent_moving": FLUENT_LEAD}
KEY_SHIFTS = (0, 1, 2, 4, 8, 16, 32)


def shifted(x, shift, token):
    """x (n, T) token ids with `shift` columns of `token` put before it: (n, shift + T).

    Every position, the key's and the query's included, moves `shift` steps later; the gap
    between them and the answer stay as they were.
    """
    return np.concatenate([np.full((x.shape[0], shift), token, dtype=x.dtype), x], axis=1)


def key_shift(results, task=None, shifts=KEY_SHIFTS):
    """Every model that solved its training gap g, tested at g with the sequence moved later.

    In `fluent` the key is always the first token and in `fluent_distractors` it always sits
    at index PREFIX + 1 (the task left-pads), so a model may find it by its absolute index
    instead of by what it is or what precedes it; length generalisation never moves it, so
    it cannot tell the two apart. In `fluent_moving` it sits at index 1 to PREFIX + 1, so a
    shift past PREFIX puts it where no training sample had it. Here each test sequence gets `shift` lead tokens
    (LEAD_TOKENS) before it: same samples, same gap, the key `shift` steps later. A model
    that reads the key by content keeps its accuracy; one that reads a fixed index falls
    to chance. Only models whose summary test accuracy is at least THRESHOLD are tested (a
    failed model has nothing to lose), on the test sets `make evaluate` used (EVAL seed
    stream, the run's n_test), so shift 0 equals the summary's score; the solved seeds of a
    configuration are scored as one seed stack. Rows: task, model, init_label, seed,
    train_gap, shift, test_accuracy; also RESULTS/key_shift[_task]_held.md.
    """
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed
    from experiments.evaluate import score_tests, seed_stack_predictor

    ok = ok_runs(results, task, only=tuple(LEAD_TOKENS))
    solved = ok[ok["test_accuracy"] >= THRESHOLD]
    if solved.empty:
        raise UsageError(f"no {ok['task'].iloc[0]!r} run in {results}/summary.csv reached test accuracy {THRESHOLD}; nothing to shift")
    task_name = solved["task"].iloc[0]
    token, rows = LEAD_TOKENS[task_name], []
    bar = tqdm(total=len(solved), desc="key shift", unit="model", file=sys.stderr)
    for cfgs in seed_stacks(results, solved):
        task_ = TASKS[cfgs[0].task]
        models = [keras.saving.load_model(model_path(results, cfg.run_id)) for cfg in cfgs]
        predict = seed_stack_predictor(models, cfgs[0])
        tests = [task_(cfg.gap, cfg.n_test, data_seed(cfg.seed, EVAL)) for cfg in cfgs]
        for shift in shifts:
            # a sequence task's targets move with its inputs, the lead steps asking nothing
            moved = [(shifted(x, shift, token), shifted(y, shift, task_.blank) if task_.output == "sequence" else y)
                     for x, y in tests]
            scored = score_tests(models, task_, moved, predict)
            rows += [{"task": cfg.task, "model": cfg.model, "init_label": cfg.init_label, "seed": cfg.seed, "train_gap": cfg.gap,
                      "shift": shift, "test_accuracy": accuracy} for cfg, (accuracy, _) in zip(cfgs, scored)]
        bar.update(len(cfgs))
        keras.backend.clear_session()
    bar.close()
    held = lambda table: (f"Models that solved their training gap g (test accuracy >= {THRESHOLD}), tested at g with the key moved "
                          f"later by `shift` lead tokens (`make key-shift`): how many still reach {THRESHOLD}, and their mean "
                          f"test accuracy (chance {TASKS[task_name].chance:.3g}):\n\n" + markdown_table(key_shift_held(table)))
    return save_analysis(rows, results, "key_shift", plot_key_shift, ok, held)


def key_shift_held(table, threshold=THRESHOLD):
    """Per model, init_label and train_gap: "k of n (mean a)" at each shift, k the models at or above `threshold`."""
    grouped = table.assign(solved=table["test_accuracy"] >= threshold).groupby(["model", "init_label", "train_gap", "shift"])
    cells = (grouped["solved"].sum().astype(int).astype(str) + " of " + grouped.size().astype(str)
             + " (" + grouped["test_accuracy"].mean().map("{:.2f}".format) + ")")
    held = cells.unstack("shift")
    return held.rename(columns=lambda s: f"shift {s}").reset_index().rename_axis(columns=None)


def plot_key_shift(table, out):
    task = table["task"].iloc[0]
    plot_heatmaps(table, out, "shift", "lead tokens before the sequence (the key moves this many steps later)",
                  f"Key shift on {task}: mean test accuracy at the training gap (chance {TASKS[task].chance:.3g})")


# ------------------------------------------------------------- learning speed


def learning_speed(results, task=None):
    """Training sequences until 99 % validation accuracy versus gap, unsolved runs censored.

    An unsolved run is drawn as a hollow marker at its budget with an upward arrow: it
    needed more than the budget, not the budget. Rows are the summary's own.
    """
    ok = ok_runs(results, task)
    columns = ["task", "model", "init_label", "gap", "seed", "solved", "sequences_seen", "budget"]
    return save_analysis(ok[columns].to_dict("records"), results, "sequences_to_solve", plot_learning_speed, ok)


def plot_learning_speed(ok, out):
    import matplotlib
    import matplotlib.pyplot as plt

    from experiments.plot import cell_palette, layout, panel_order, save_figure  # matplotlib: only to draw

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
                       edgecolors=palette[model], marker="^", s=40)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(init, fontsize=9)
        gaps = sorted(ok["gap"].unique())
        ax.set_xticks(gaps, [str(g) for g in gaps], fontsize=8)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("gap (log)")
        ax.set_ylabel("sequences to 99 % val. accuracy (log)")
        ax.legend(fontsize=7, title="hollow ^: unsolved within budget", title_fontsize=7)
    layout(fig, f"Learning speed on {ok['task'].iloc[0]}: unsolved runs are censored at the budget, not dropped")
    save_figure(fig, out)


# ------------------------------------------------------- what unsolved runs carry


def class_coverage(predicted, y, n_classes):
    """(classes predicted at all, classes right) of class predictions against labels, both (n,).

    A class is right when at least `tables.THRESHOLD` of its sequences are predicted as it.
    A run that predicts k classes, each right, has kept enough of the key to tell k groups of
    classes apart (log2 k bits) and merged the rest into them.
    """
    right = sum(np.mean(predicted[y == c] == c) >= THRESHOLD for c in range(n_classes) if np.any(y == c))
    return len(np.unique(predicted)), int(right)


def last_gain(history, n_classes):
    """Training sequences at the last validation check where accuracy stood at least half a
    class, 1/(2 n_classes), above the level of the gain before (the first level: chance,
    1/n_classes); 0 if it never did. `history`: a record's list of {"sequences",
    "val_accuracy", ...}.

    The fluent task is learnt a group of languages at a time, in steps of 1/8: a run whose last
    gain came near the end of its budget was still learning when the budget ran out, one whose
    last gain came long before had settled where it was. A dip and its recovery are no gain.
    """
    level, when = 1 / n_classes, 0
    for point in history:
        if point["val_accuracy"] >= level + 1 / (2 * n_classes):
            level, when = point["val_accuracy"], point["sequences"]
    return when


def unsolved_runs(results, task=None):
    """For every ok run below the threshold on a task with one class per sequence: how many
    classes it predicts and how many it gets right, on evaluate's fresh test set.

    Rows: task, model, init_label, gap, seed, test_accuracy, n_classes, classes_predicted,
    classes_right, sequences_seen, last_gain_sequences (`last_gain`: when its validation
    accuracy last rose by half a class or more). Chance predicts one class (or spreads its
    answers); a run stuck at 2 of 8 classes, each right, carries one bit of a three-bit key.
    """
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed

    ok = ok_runs(results, task)
    task_ = TASKS[ok["task"].iloc[0]]
    if task_.output != "class":
        raise UsageError(f"unsolved-runs needs a task with one class per sequence; {ok['task'].iloc[0]!r} has output {task_.output!r}")
    rows = []
    failed = ok[ok["test_accuracy"] < THRESHOLD]
    for _, run in tqdm(list(failed.iterrows()), desc="unsolved runs", unit="model", file=sys.stderr):
        record = record_of(results, run)
        cfg = RunConfig.from_dict(record["config"])
        x, y = task_(cfg.gap, cfg.n_test, data_seed(cfg.seed, EVAL))
        predicted = keras.saving.load_model(model_path(results, cfg.run_id)).predict(x, batch_size=512, verbose=0).argmax(-1)
        keras.backend.clear_session()
        shown, right = class_coverage(predicted, y, task_.n_classes)
        rows.append({"task": cfg.task, "model": cfg.model, "init_label": cfg.init_label, "gap": cfg.gap, "seed": cfg.seed,
                     "test_accuracy": run["test_accuracy"], "n_classes": task_.n_classes, "classes_predicted": shown, "classes_right": right,
                     "sequences_seen": record["sequences_seen"], "last_gain_sequences": last_gain(record["history"], task_.n_classes)})
    columns = ["task", "model", "init_label", "gap", "seed", "test_accuracy", "n_classes", "classes_predicted", "classes_right",
               "sequences_seen", "last_gain_sequences"]
    return save_analysis(pd.DataFrame(rows, columns=columns), results, "unsolved_runs", plot_unsolved_runs, ok)


def plot_unsolved_runs(table, out):
    import matplotlib.pyplot as plt
    import seaborn as sns

    from experiments.plot import layout, save_figure

    fig, ax = plt.subplots(figsize=(7, 4.4))
    if len(table):
        table = table.assign(row=table["model"] + ", " + table["init_label"]).sort_values(["row", "gap"])
        sns.stripplot(data=table, x="gap", y="classes_right", hue="row", dodge=True, jitter=0.15, ax=ax, size=4)
        ax.set_ylim(-0.5, table["n_classes"].max() + 0.5)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    ax.set_xlabel("gap")
    ax.set_ylabel("classes right (of n)")
    layout(fig, "Unsolved runs: how many classes each still gets right (one dot per seed)")
    save_figure(fig, out)


# ------------------------------------------------------------- the registry


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One analysis: `run(results, **keys)` writes RESULTS/<name>.csv and figures/<name>.{png,pdf}."""

    name: str  # file stem of its CSV and figure
    run: Callable
    keys: tuple  # the keys its command takes
    int_keys: tuple  # those of them that are positive integers
    usage: str
    help: str
    title: str  # its section of REPORT.md
    caption: str


# Command name -> analysis. Each becomes a command (cli.py), a make target that `make analyse`
# runs (checked by tests/test_cli.py) and a section of the report.
ANALYSES = {
    "gradients": Analysis("gradient_flow", gradient_flow, ("gap", "n", "task"), ("gap", "n"), "[gap=N n=256]",
                          "gradient norm versus distance, initial and trained (gap: the longest every cell ran)",
                          "Gradient flow", "`make gradients`: norm of the loss gradient reaching each input step, at initialisation and after training."),
    "generalisation": Analysis("length_generalisation", length_generalisation, ("task",), (), "[task=T]",
                               "models trained at gap g tested at g/4 .. 4g", "Length generalisation",
                               "`make generalisation`: models trained at one gap, tested at g/4 .. 4g."),
    "learning-speed": Analysis("sequences_to_solve", learning_speed, ("task",), (), "[task=T]",
                               "training sequences to solve versus gap, unsolved runs censored", "Learning speed",
                               "`make learning-speed`: training sequences to 99 % validation accuracy; hollow triangles never got there."),
    "unsolved-runs": Analysis("unsolved_runs", unsolved_runs, ("task",), (), "[task=T]",
                              "what each unsolved run still carries: classes it predicts and gets right",
                              "What the unsolved runs carry", "`make unsolved-runs`: for each run below the threshold, the classes it still gets right."),
    "inspect": Analysis("gates", inspect_gates, ("n", "runs"), ("n",), "[n=512 runs=RUN_ID[,RUN_ID]]",
                        "gates and states of trained rnn, gru, lstm over one sequence: a solved and a failed run each",
                        "Watching the gates work", "`make inspect`: the units that carry the key, their memory and keep gate over one test sequence."),
}

