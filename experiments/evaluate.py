"""Reload every saved model, score it on a fresh test set, and write the summaries:
RESULTS/summary.csv (one row per run), critical_gaps.csv and summary.md (a table per cell)."""

import dataclasses
import sys

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets import TASKS
from experiments import score_cache
from experiments.checks import UsageError
from experiments.config import FIELDS, RunConfig
from experiments.records import model_path, outcome, read_records, runs_dir, write_csv, write_text
from experiments.stats import reaches, separations_markdown, success_markdown, success_rates
from experiments.tables import accuracy_markdown, critical_gaps
from experiments.tuning import side_table

# The columns every summary starts with; the rest of the config follows.
LEAD = ["model", "init_label", "task", "gap", "seed", "test_accuracy", "chance_accuracy",
        "sequences_seen", "solved", "seconds", "status"]


def summary_row(record, test_accuracy, test_loss):
    cfg = RunConfig.from_dict(record["config"])  # records older than a field get its default
    row = {**dataclasses.asdict(cfg), "run_id": record["run_id"], "init_label": cfg.init_label}
    row.update(
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        record_test_accuracy=record.get("test_accuracy", np.nan),
        chance_accuracy=record.get("chance_accuracy", np.nan),
        baseline_loss=record.get("baseline_loss", np.nan),
        val_accuracy=record.get("val_accuracy", np.nan),  # what `tuning` selects a learning rate on
        sequences_seen=record.get("sequences_seen", np.nan),
        solved=record.get("solved", False),
        seconds=record.get("seconds", np.nan),
        status=outcome(record),
        error=record.get("error"),
    )
    return row


# Fields that name a row of the tables (or follow from one) rather than a training protocol.
ROW_FIELDS = ("model", "task", "gap", "seed", "recurrent_init", "forget_bias", "chrono_tmax", "options", "train_blanks")  # train_blanks: in init_label


def label_variants(table):
    """Keep runs trained under different protocols in different rows.

    Tables and figures group by (task, cell, initialisation). Where a folder mixes protocols
    (a quick sweep and a full-budget `make train`, say), every protocol field that differs
    is written into the row's label, "orthogonal recurrent [budget=3200, units=16]", and
    into a `variant` column, so no line or critical gap averages two protocols.
    """
    varying = [f for f in FIELDS if f not in ROW_FIELDS and table[f].astype(str).nunique() > 1]
    table = table.copy()
    table["variant"] = [", ".join(f"{f}={row[f]}" for f in varying) for _, row in table.iterrows()] if varying else ""
    if varying:
        table["init_label"] = table["init_label"] + " [" + table["variant"] + "]"
    return table


def capacity(cfg):
    """(trainable parameters of the whole model, numbers the cell carries from step to step)."""
    from experiments.backend import keras
    from experiments.model import build_model
    from layers.base import carried

    model = build_model(cfg)
    state = carried(next(layer for layer in model.layers if hasattr(layer, "cell") or hasattr(layer, "carried")))
    params = model.count_params()
    keras.backend.clear_session()
    return params, state


def with_capacity(rows, table):
    """`rows` (one per task, cell, initialisation) with the parameter count and state size of
    the row's model, so that rows are compared at a stated capacity (Zoology and MAD's habit)."""
    rows = rows.copy()
    first = table.drop_duplicates(["task", "model", "init_label"]).set_index(["task", "model", "init_label"], drop=False)
    sizes = [capacity(RunConfig.from_dict({f: _plain(first.loc[key][f]) for f in FIELDS}))
             for key in zip(rows["task"], rows["model"], rows["init_label"])]
    rows["params"], rows["state_size"] = [p for p, _ in sizes], [s for _, s in sizes]
    return rows


def _plain(value):
    """A summary cell back to the type RunConfig expects (NaN -> None, numpy -> Python)."""
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def summary_markdown(table, left_out=0, reach_rows=None):
    """summary.md: success counts and reach first (the headline), each row at its best learning rate
    where the folder's runs differ only in that (`tuning`), then mean accuracy and critical gap."""
    reach_rows = with_capacity(reaches(table), table) if reach_rows is None else reach_rows
    pairs = ""
    if len(reach_rows) > 1:
        pairs = ("\n## Which rows separate\n\n" + separations_markdown(reach_rows) + "\nEvery pair of rows of one task, the "
                 "farther reach first. 'A reaches farther' only where the two 95 % reach intervals do not overlap (an end "
                 "censored beyond the gaps run counts as unbounded); otherwise the two are indistinguishable under this "
                 "protocol.\n")
    return ("## Success rate and reach\n\n" + success_markdown(table, reach_rows=reach_rows) + pairs + side_table(table)
            + "\n## Mean accuracy and critical gap\n\n" + accuracy_markdown(table, left_out=left_out))


def seed_stack_predictor(models, cfg):
    """`batched.stacked_predictor` for two or more models of `cfg`'s configuration (its seeds);
    None for one, which `score_tests` then scores alone. Reuse it across test sets: it
    compiles once per sequence length."""
    from experiments.batched import stacked_predictor

    return stacked_predictor(models, cfg.units, cfg.jit_compile) if len(models) > 1 else None


def score_tests(models, task, tests, predict=None):
    """[(accuracy, loss)] of each model on its own test set (x, y), by the task's definitions:
    through `predict`, the models' `batched.stacked_predictor`, when given (one compiled pass
    for a seed stack), else one model at a time (`model.scores`)."""
    from experiments.model import scores

    if predict is None:
        return [scores(model, task, x, y) for model, (x, y) in zip(models, tests)]
    preds = predict(np.stack([x for x, _ in tests]))
    return [(task.score(pred, y), task.loss(pred, y)) for pred, (_, y) in zip(preds, tests)]


def evaluate(results, n_test=None, progress=True, stacked=True, rescore=False):
    """Score every ok run's saved model on a fresh test set; write and return the summary.

    The fresh set comes from a seed stream that training never touched (EVAL), with
    `n_test` sequences (default: the run's own n_test). Diverged runs stay in the summary
    with no accuracy and count as unsolved. Left out, each named on stderr: unreadable or
    malformed records, and ok runs whose saved model is missing or unreadable (the next
    sweep retrains those). Errors (RESULTS/errors/) are not results and never appear.
    With `stacked`, the seeds of one configuration are scored as one seed stack
    (`batched.stacked_predictor`: one compilation per configuration instead of per model).
    A run whose model file, test set size and code are unchanged since an earlier evaluate
    keeps that evaluate's score (RESULTS/scores.json, `experiments/score_cache.py`) unless
    `rescore`; only the rest are loaded and scored.
    """
    records, problems = read_records(results)  # first: a bad folder is refused before TensorFlow loads (seconds)
    from experiments.backend import keras
    from experiments.batched import stack_key
    from experiments.data import EVAL, data_seed

    rows, left_out = [], [f"{path}: {reason}" for path, reason in problems]
    scored = {}  # run_id -> (accuracy, loss) on the fresh test set
    groups = {}  # the ok runs to score, by configuration without the seed: one seed stack where the cell allows
    cached, code, keys = {} if rescore else score_cache.load(results), score_cache.code_digest(), {}
    for record in records:
        if outcome(record) == "ok":
            cfg = RunConfig.from_dict(record["config"])
            path = model_path(results, record["run_id"])
            if path.exists():
                keys[record["run_id"]] = key = score_cache.run_key(path, n_test or cfg.n_test, code)
                hit = cached.get(record["run_id"])
                if hit is not None and hit[0] == key:
                    scored[record["run_id"]] = hit[1:]
                    continue
            groups.setdefault(stack_key(cfg, stacked), []).append((record, cfg))
    if progress and scored:
        print(f"evaluate: {len(scored)} runs keep their score from {results}/{score_cache.NAME} (unchanged model, test set and code); "
              f"{sum(map(len, groups.values()))} to score", file=sys.stderr)
    bar = tqdm(total=sum(map(len, groups.values())), unit="model", disable=not progress, file=sys.stderr, desc="evaluate")
    for group in groups.values():
        models, tests = [], []
        for record, cfg in group:
            path = model_path(results, record["run_id"])
            try:
                model = keras.saving.load_model(path)
            except Exception as err:  # a missing or damaged file: Keras raises several kinds
                left_out.append(f"{path}: model {'missing' if not path.exists() else 'unreadable'} ({type(err).__name__}); the next sweep retrains it")
                bar.update()
                continue
            models.append((record, cfg, model))
            tests.append(TASKS[cfg.task](cfg.gap, n_test or cfg.n_test, data_seed(cfg.seed, EVAL)))
        loaded = [m for _, _, m in models]
        for (record, _, _), score in zip(models, score_tests(loaded, group[0][1].task_spec, tests, seed_stack_predictor(loaded, group[0][1]))):
            scored[record["run_id"]] = score
        bar.update(len(models))
        keras.backend.clear_session()  # one graph per group would otherwise accumulate
        # After every group, so an interrupted evaluate keeps what it scored (a save is milliseconds).
        score_cache.save(results, {run_id: (keys[run_id], *scored[run_id]) for run_id in (r["run_id"] for r, _, _ in models)})
    bar.close()
    for record in records:
        kind = outcome(record)
        if kind == "error" or (kind == "ok" and record["run_id"] not in scored):
            continue  # an error from before errors left runs/ (retried by the next sweep), or a model left out above
        acc, loss = scored.get(record["run_id"], (np.nan, np.nan))
        rows.append(summary_row(record, acc, loss))
    for line in left_out:
        print(f"warning: left out {line}", file=sys.stderr)
    if not rows:
        raise UsageError(f"no usable runs in {runs_dir(results)}: {len(left_out)} left out (see the warnings above)")
    table = pd.DataFrame(rows)
    rest = [c for c in FIELDS if c not in LEAD] + ["test_loss", "val_accuracy", "baseline_loss", "record_test_accuracy", "error", "run_id"]
    table = label_variants(table[LEAD + rest]).sort_values(["task", "model", "init_label", "gap", "seed"], ignore_index=True)
    write_csv(f"{results}/summary.csv", table)
    crit = critical_gaps(table)
    write_csv(f"{results}/critical_gaps.csv", crit)
    write_csv(f"{results}/success_rates.csv", success_rates(table))
    reach_rows = with_capacity(reaches(table), table)
    write_csv(f"{results}/reaches.csv", reach_rows)
    write_text(f"{results}/summary.md", summary_markdown(table, left_out=len(left_out), reach_rows=reach_rows))
    table.attrs["left_out"] = len(left_out)
    return table
