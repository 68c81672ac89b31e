"""Reload every saved model, score it on a fresh test set, and write the summaries:
RESULTS/summary.csv (one row per run), critical_gaps.csv and summary.md (a table per cell)."""

import dataclasses
import sys

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets import TASKS
from experiments.config import FIELDS, RunConfig, UsageError
from experiments.records import load_records, model_path, write_csv, write_text
from experiments.tables import accuracy_markdown, critical_gaps

# The columns every summary starts with; the rest of the config follows.
LEAD = ["model", "init_label", "task", "gap", "seed", "test_accuracy", "chance_accuracy",
        "sequences_seen", "solved", "seconds", "status"]  # fmt: skip


def summary_row(record, test_accuracy, test_loss):
    cfg = RunConfig.from_dict(record["config"])  # records older than a field get its default
    row = {**dataclasses.asdict(cfg), "run_id": record["run_id"], "init_label": cfg.init_label}
    row.update(
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        record_test_accuracy=record.get("test_accuracy", np.nan),
        chance_accuracy=record.get("chance_accuracy", np.nan),
        baseline_loss=record.get("baseline_loss", np.nan),
        sequences_seen=record.get("sequences_seen", np.nan),
        solved=record.get("solved", False),
        seconds=record.get("seconds", np.nan),
        status=record["status"],
        error=record.get("error"),
    )
    return row


def evaluate(results, n_test=None, progress=True):
    """Score every ok run's saved model on a fresh test set; write and return the summary.

    The fresh set comes from a seed stream that training never touched (EVAL), with
    `n_test` sequences (default: the run's own n_test). Failed runs stay in the summary
    with status "failed" and no accuracy, so they are counted, not hidden.
    """
    import keras

    from experiments.train import EVAL, data_seed, scores

    records = load_records(results)
    missing = [r["run_id"] for r in records if r["status"] == "ok" and not model_path(results, r["run_id"]).exists()]
    if missing:
        raise UsageError(f"saved model missing for {len(missing)} run(s), e.g. {model_path(results, missing[0])}; rerun the sweep to retrain them")
    rows = []
    for record in tqdm(records, unit="model", disable=not progress, file=sys.stderr, desc="evaluate"):
        acc = loss = np.nan
        if record["status"] == "ok":
            cfg = RunConfig.from_dict(record["config"])
            model = keras.saving.load_model(model_path(results, record["run_id"]))
            x, y = TASKS[cfg.task](cfg.gap, n_test or cfg.n_test, data_seed(cfg.seed, EVAL))
            acc, loss = scores(model, TASKS[cfg.task], x, y)
            keras.backend.clear_session()  # one graph per model would otherwise accumulate
        rows.append(summary_row(record, acc, loss))
    table = pd.DataFrame(rows)
    rest = [c for c in FIELDS if c not in LEAD] + ["test_loss", "baseline_loss", "record_test_accuracy", "error", "run_id"]
    table = table[LEAD + rest].sort_values(["task", "model", "init_label", "gap", "seed"], ignore_index=True)
    write_csv(f"{results}/summary.csv", table)
    crit = critical_gaps(table)
    write_csv(f"{results}/critical_gaps.csv", crit)
    markdown = accuracy_markdown(table)
    write_text(f"{results}/summary.md", markdown)
    return table
