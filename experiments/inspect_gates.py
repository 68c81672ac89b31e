"""Watching the gates work: the gates and states of trained cells over one fluent sequence.

The seed notes walk through the LSTM one gate at a time; this draws those gates on trained
models, a run that solved its gap beside one that did not, for the vanilla RNN, the GRU and
the LSTM under Keras' default initialisation (`make inspect`).

Which units to show: the ones that carry the key. Over 512 test sequences, each unit's memory
at the query step (the LSTM's cell state c, the GRU's and RNN's state h) is split by the key;
a unit's score is the share of its variance that the key explains (eta squared, the R^2 of a
one-way ANOVA). The figure shows the KEEP units with the highest score, and the table all
that it draws, so the figure can be checked against the weights (tests/test_analysis.py).
"""

import numpy as np

from datasets import TASKS
from experiments.records import model_path

KEEP = 3  # units shown per run
MEMORY = {"lstm": "cell", "gru": "h", "rnn": "h"}  # what carries the key in each cell
KEEP_GATE = {"lstm": "forget", "gru": "update"}  # the gate that decides how much of it survives a step


def step_by_step(model, x):
    """Run `model`'s cell one step at a time on token sequences x (B, T): {name: (T, B, H)}
    for every quantity its `gates` names. Only cells whose own class defines `gates`."""
    from experiments.backend import keras
    from layers.base import RNN

    embed = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    cell = next(layer for layer in model.layers if isinstance(layer, RNN)).cell
    if "gates" not in vars(type(cell)):
        raise ValueError(f"{type(cell).__name__} does not name its gates (a `gates` method of its own)")
    inputs = embed(x)
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    states = [np.zeros((x.shape[0], size), "float32") for size in sizes]
    trace = {}
    for t in range(x.shape[1]):
        step = {k: np.asarray(v) for k, v in cell.gates(inputs[:, t], states).items()}
        states = [step["h"], step["cell"]] if "cell" in step else [step["h"]]
        for name, value in step.items():
            trace.setdefault(name, []).append(value)
    return {name: np.stack(values) for name, values in trace.items()}


def key_units(memory, keys, n_keys):
    """Units ordered by eta squared of their final memory (B, H) grouped by key: (order, scores)."""
    total = memory.var(axis=0) + 1e-12
    means = np.stack([memory[keys == k].mean(axis=0) for k in range(n_keys) if np.any(keys == k)])
    weights = np.array([np.mean(keys == k) for k in range(n_keys) if np.any(keys == k)])
    between = (weights[:, None] * (means - memory.mean(axis=0)) ** 2).sum(axis=0)
    scores = between / total
    return np.argsort(-scores), scores


def pick_runs(summary):
    """Per cell (rnn, gru, lstm; Keras' default initialisation): a solved and a failed fluent
    run at the largest gap where its seeds split, the lowest seed of each. Where no gap splits
    (a small sweep), its solved run at the largest gap and its failed run at the smallest, or
    whichever of the two exists."""
    chosen = []
    default = summary[(summary["task"] == "fluent") & (summary["init_label"] == "orthogonal recurrent") & (summary["status"] == "ok")]
    for model in ("rnn", "gru", "lstm"):
        rows = default[default["model"] == model].assign(solved=lambda d: d["test_accuracy"] >= 0.9).sort_values(["gap", "seed"])
        if rows.empty:
            continue
        split = rows.groupby("gap")["solved"].agg(lambda s: s.any() and not s.all())
        if split.any():
            rows = rows[rows["gap"] == split[split].index.max()]
        solved, failed = rows[rows["solved"]], rows[~rows["solved"]]
        if not solved.empty:
            chosen.append(solved[solved["gap"] == solved["gap"].max()].iloc[0])
        if not failed.empty:
            chosen.append(failed.iloc[0])
    return chosen


def named_runs(summary, runs):
    """The summary rows of the run ids in `runs` (comma-separated), each a fluent rnn, gru or
    lstm run with a model; UsageError naming the first id that is not."""
    from experiments.checks import UsageError

    ok = summary[(summary["task"] == "fluent") & summary["model"].isin(list(MEMORY)) & (summary["status"] == "ok")].set_index("run_id", drop=False)
    chosen = []
    for run_id in str(runs).split(","):
        if run_id not in ok.index:
            known = run_id in set(summary["run_id"])
            raise UsageError(f"run {run_id!r} {'is not a fluent ' + '/'.join(MEMORY) + ' run with a model' if known else 'is not in the summary'}; "
                             f"runs=ID[,ID] takes run ids of such runs (RESULTS/summary.csv, column run_id)")
        chosen.append(ok.loc[run_id])
    return chosen


def inspect(results, n=512, runs=None):
    """Rows: run_id, model, gap, seed, outcome, unit, rank, eta2, step, quantity, value — for
    the first test sequence, the KEEP key-carrying units of each chosen run: `runs` (run ids,
    comma-separated; the figure draws one solved and one failed run per cell), or by default
    `pick_runs`'."""
    from experiments.analysis import config_of, save_analysis
    from experiments.backend import keras
    from experiments.checks import UsageError
    from experiments.data import EVAL, data_seed
    from experiments.summary import read_summary

    summary = read_summary(results)
    runs = named_runs(summary, runs) if runs else pick_runs(summary)
    if not runs:
        raise UsageError(f"no fluent rnn, gru or lstm run under Keras' default initialisation in {results}/summary.csv")
    rows = []
    for run in runs:
        cfg = config_of(results, run)
        x, y = TASKS[cfg.task](cfg.gap, n, data_seed(cfg.seed, EVAL))
        trace = step_by_step(keras.saving.load_model(model_path(results, cfg.run_id)), x)
        order, scores = key_units(trace[MEMORY[cfg.model]][-1], y, TASKS[cfg.task].n_classes)
        outcome = "solved" if run["test_accuracy"] >= 0.9 else "failed"
        for rank, unit in enumerate(order[:KEEP]):
            for name, values in trace.items():
                rows += [{"run_id": cfg.run_id, "model": cfg.model, "gap": cfg.gap, "seed": cfg.seed, "outcome": outcome,
                          "test_accuracy": run["test_accuracy"], "unit": int(unit), "rank": rank, "eta2": float(scores[unit]),
                          "step": t, "quantity": name, "value": float(values[t, 0, unit])} for t in range(values.shape[0])]
        keras.backend.clear_session()
    return save_analysis(rows, results, "gates", plot_gates)


def plot_gates(table, out):
    import matplotlib.pyplot as plt

    from experiments.plot import layout, save_figure

    runs = table.drop_duplicates("run_id")
    models = list(dict.fromkeys(runs["model"]))
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 2.8 * len(models)), squeeze=False, sharex="row")
    for r, model in enumerate(models):
        for c, outcome in enumerate(("solved", "failed")):
            ax = axes[r][c]
            run = runs[(runs["model"] == model) & (runs["outcome"] == outcome)]
            if run.empty:
                ax.axis("off")
                continue
            run = run.iloc[0]
            rows = table[table["run_id"] == run["run_id"]]
            for _, unit_rows in rows.groupby("rank"):
                memory = unit_rows[unit_rows["quantity"] == MEMORY[model]]
                line, = ax.plot(memory["step"], memory["value"], lw=1.2,
                                label=f"unit {int(memory['unit'].iloc[0])} {MEMORY[model]} (eta2 {memory['eta2'].iloc[0]:.2f})")
                if model in KEEP_GATE:
                    gate = unit_rows[unit_rows["quantity"] == KEEP_GATE[model]]
                    ax.plot(gate["step"], gate["value"], lw=0.8, ls="--", color=line.get_color(),
                            label=f"unit {int(gate['unit'].iloc[0])} {KEEP_GATE[model]} gate")
            ax.axvline(0, color="grey", lw=0.6)
            ax.set_title(f"{model} gap {run['gap']} seed {run['seed']}: {outcome} (test accuracy {run['test_accuracy']:.2f})", fontsize=9)
            ax.set_xlabel("step (0: the key)")
            ax.legend(fontsize=6, ncol=2)
    layout(fig, "The units that carry the key, over one test sequence: memory (solid) and the gate that keeps it (dashed)",
           "Units: the 3 whose memory at the query (LSTM: cell state; GRU, RNN: state) the key explains best (eta squared over 512 sequences).")
    save_figure(fig, out)
