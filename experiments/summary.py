"""RESULTS/summary.csv read back, and the protocol of its runs in words: what every figure,
analysis, report and comparison starts from (written by `evaluate`)."""

import pandas as pd

from datasets import TASKS
from experiments.checks import UsageError


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
    """One line describing the training protocol of the runs in `table`, read from their configs.

    A field that differs between runs says so with its values ("lr varies: 0.001, 0.003"),
    so a figure that mixes protocols cannot pass for one protocol.
    """

    def shared_in(frame, key, fmt=str, default=None):
        values = sorted({default if pd.isna(v) else v for v in frame[key]}, key=str) if key in frame else [default]
        return fmt(values[0]) if len(values) == 1 else "varies: " + ", ".join(map(fmt, values))

    def shared(key, fmt=str, default=None):
        return shared_in(table, key, fmt, default)

    embedded = [t for t in table["task"].unique() if t in TASKS and TASKS[t].vocab_size]
    optimizer = shared("optimizer", default="adam").replace("adam", "Adam").replace("rmsprop", "RMSprop")
    path = {"True": "whole-sequence path under XLA", "False": "step loop"}
    fused = shared("fused", fmt=lambda v: path.get(str(v), str(v)), default=False)
    clipping = table.apply(clipping_text, axis=1).to_frame("clipping")
    seeds = table.groupby(["model", "init_label", "task", "gap"])["seed"].nunique()
    n_seeds = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    parts = [f"H={shared('units')} units", f"embedding {shared('embed_dim')}" if embedded else "no embedding (real-valued inputs)",
             f"{optimizer} lr {shared('learning_rate')}", shared_in(clipping, "clipping"), f"batch {shared('batch_size')}",
             f"at most {shared('budget')} training sequences", f"early stop at validation accuracy {shared('target_accuracy')}",
             fused, f"{n_seeds} seed{'s' if n_seeds != '1' else ''} per point"]
    return "Protocol: " + ", ".join(parts)


def clipping_text(row):
    """How a run clipped its gradients, in words, from its config row."""
    clipvalue = row.get("clipvalue")
    if clipvalue is not None and not pd.isna(clipvalue):
        return f"gradients clipped element-wise to +-{clipvalue:g}"
    clipnorm = row.get("clipnorm")
    if clipnorm is None or pd.isna(clipnorm):
        return "no gradient clipping"
    return f"each weight's gradient clipped to norm {clipnorm:g}"
