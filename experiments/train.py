"""Train one (cell, task, gap, seed) and write its record: the one function every CLI wraps."""

import dataclasses
import math
import os
import platform
import time
import traceback

import numpy as np

from experiments import checkpoints
from experiments.backend import keras
from experiments.data import TEST, TRAIN, VAL, data_seed, seed_everything
from experiments.model import reusable_model, scores
from experiments.records import atomic_write, error_path, model_path, record_path, write_json


def versions():
    import pandas
    import tensorflow

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "tensorflow": tensorflow.__version__,
        "pandas": pandas.__version__,
    }


def train(cfg, results, verbose=0, checkpoint_every=None):
    """Train `cfg` from scratch, save its model and record under `results`; return the record.

    Protocol: every step sees a fresh batch of `batch_size` sequences (the training stream
    never repeats); every `eval_every` steps the model is checked on a fixed validation set
    and training stops once validation accuracy >= `target_accuracy` or the budget of
    `budget` sequences is spent. The final model is scored on a test set drawn from a
    different seed stream.

    Outcomes (see `records.outcome`): "ok" (record and model written), "diverged" (the
    training loss became non-finite: recorded, no model, counts as unsolved), "error" (an
    exception stopped the run: no result; the error goes to RESULTS/errors/ and the next
    sweep retries the run).

    Every `checkpoint_every` seconds (default `checkpoints.CHECKPOINT_SECONDS`) the training
    state is saved (`experiments/checkpoints.py`):
    a run stopped midway and started again resumes from there, and its record says at which
    steps (`resumed_at_steps`).
    """
    task = cfg.task_spec
    checkpoint_every = checkpoints.CHECKPOINT_SECONDS if checkpoint_every is None else checkpoint_every
    start = time.perf_counter()
    record = new_record(cfg)
    ckpt = checkpoints.checkpoint_path(results, [cfg.run_id])
    try:
        seed_everything(cfg.seed)
        model, fresh = reusable_model(cfg)
        model.optimizer.build(model.trainable_variables)
        x_val, y_val = task(cfg.gap, cfg.n_val, data_seed(cfg.seed, VAL))
        steps_total = cfg.budget // cfg.batch_size
        steps, history, loss, val_acc = 0, [], math.nan, 0.0
        resumed = checkpoints.load(ckpt, [cfg.run_id])
        if resumed and checkpoints.assign(model.weights + list(model.optimizer.variables), resumed[0]):
            meta = resumed[1]
            steps, history, loss, val_acc = meta["steps"], meta["history"], meta["loss"], meta["val_acc"]
            record["resumed_at_steps"] = meta["resumed_at_steps"] + [steps]
            start -= meta["elapsed"]  # the record's seconds count the training before the interruption too
        saved = time.perf_counter()
        while steps < steps_total:
            chunk = min(cfg.eval_every, steps_total - steps)
            x, y = task(cfg.gap, chunk * cfg.batch_size, data_seed(cfg.seed, TRAIN, steps))
            fit = model.fit(x, y, batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=verbose)
            loss = float(fit.history["loss"][-1])
            steps += chunk
            if not math.isfinite(loss):
                break
            val_acc, val_loss = scores(model, task, x_val, y_val)
            history.append(history_point(cfg, steps, loss, val_acc, val_loss))
            if cfg.stops_at(val_acc):
                break
            if steps < steps_total and time.perf_counter() - saved >= checkpoint_every:
                arrays = [v.numpy() for v in model.weights + list(model.optimizer.variables)]
                meta = {"steps": steps, "history": history, "loss": loss, "val_acc": val_acc,
                        "elapsed": time.perf_counter() - start, "resumed_at_steps": record.get("resumed_at_steps", [])}
                checkpoints.save(ckpt, [cfg.run_id], arrays, meta)
                saved = time.perf_counter()
        conclude(record, cfg, results, model, fresh, history, loss, steps, val_acc, start)
        checkpoints.remove(ckpt)
    except Exception as err:  # a run must never take the sweep down with it, nor leave a result
        record_error(record, cfg, results, err, start)
    return record


def new_record(cfg):
    """What a record says before training: the run's id and config, the task's chance and
    baseline, the versions and the machine."""
    task = cfg.task_spec
    return {
        "run_id": cfg.run_id,
        "config": dataclasses.asdict(cfg),
        "chance_accuracy": task.chance,
        "baseline_loss": task.baseline_loss(cfg.gap) if task.baseline_loss else None,
        "versions": versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }


def history_point(cfg, steps, loss, val_acc, val_loss):
    return {"sequences": steps * cfg.batch_size, "loss": loss, "val_accuracy": val_acc, "val_loss": val_loss}


def conclude(record, cfg, results, model, fresh, history, loss, steps, val_acc, start, share=1, test_scores=None):
    """Fill in the outcome of a trained run, save its model and write its record.

    `model` holds the trained weights and scores the test set; `fresh` is the run's own
    model (its config, e.g. chrono_tmax, is the run's), saved with those weights. `share`:
    how many runs trained together since `start` (a seed stack); each record gets its share.
    `test_scores(x, y) -> (accuracy, loss)` replaces scoring with `model` (a seed stack
    scores all its seeds' test sets in one pass).
    """
    task = cfg.task_spec
    record.update(final_loss=loss, sequences_seen=steps * cfg.batch_size, history=history)
    if not math.isfinite(loss):
        record.update(status="diverged", error=f"training loss became {loss} after {steps} steps",
                      test_accuracy=None, test_loss=None, val_accuracy=None, solved=False)
    else:
        x_test, y_test = task(cfg.gap, cfg.n_test, data_seed(cfg.seed, TEST))
        test_accuracy, test_loss = (test_scores or (lambda x, y: scores(model, task, x, y)))(x_test, y_test)
        record.update(status="ok", error=None, test_accuracy=test_accuracy, test_loss=test_loss,
                      val_accuracy=val_acc, solved=val_acc >= cfg.target_accuracy,
                      model_file=str(model_path(".", cfg.run_id)))
        # Saved without the optimizer (an uncompiled view of the same layers): a third the size.
        if fresh is not model:
            fresh.set_weights(model.get_weights())
        inference = keras.Model(fresh.inputs, fresh.outputs, name=fresh.name)
        atomic_write(model_path(results, cfg.run_id), inference.save)
    record["seconds"] = round((time.perf_counter() - start) / share, 2)
    write_json(record_path(results, cfg.run_id), record)
    error_path(results, cfg.run_id).unlink(missing_ok=True)  # an earlier attempt's error, now superseded


def record_error(record, cfg, results, err, start):
    """An exception stopped the run: no result, the error and its traceback to RESULTS/errors/."""
    record.update(status="error", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(),
                  seconds=round(time.perf_counter() - start, 2))
    try:
        write_json(error_path(results, cfg.run_id), record)
    except OSError:
        pass  # the disk that failed the run may refuse this too; the sweep still counts the error
