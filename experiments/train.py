"""Train one (cell, task, gap, seed) and write its record: the one function every CLI wraps."""

import dataclasses
import math
import os
import platform
import time
import traceback

import keras
import numpy as np

from datasets import TASKS
from experiments.records import atomic_write, error_path, model_path, record_path, write_json
from layers import CELLS
from layers.base import RNN

OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}

# Independent streams of data per seed, so train, validation and test never share a sample.
TRAIN, VAL, TEST, EVAL = 0, 1, 2, 3


def data_seed(seed, stream, chunk=0):
    """An int seed for `np.random.default_rng`, distinct for every (seed, stream, chunk)."""
    return int(np.random.SeedSequence([seed, stream, chunk]).generate_state(1)[0])


def seed_everything(seed):
    """Python, NumPy and Keras seeds, and deterministic TensorFlow kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def build_model(cfg):
    """Input -> RNN(cell, H) -> Dense, shaped by the task, for sequences of any length.

    Token tasks embed first: (B, T) int32 -> (B, T, D). Real-valued tasks feed (B, T, F)
    straight to the cell. One output per sequence: last hidden state (B, H) -> (B, K) logits,
    or (B,) values for regression; one output per step ("sequence"): (B, T, K) logits.
    """
    task = TASKS[cfg.task]
    cell = CELLS[cfg.model](cfg.units, **cfg.cell_kwargs())
    if task.vocab_size:
        layers = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(task.vocab_size, cfg.embed_dim)]
    else:
        layers = [keras.Input(shape=(None, task.n_features))]
    layers.append(RNN(cell, fused=bool(cfg.fused), return_sequences=task.output == "sequence"))
    if task.output == "value":
        layers += [keras.layers.Dense(1), keras.layers.Reshape(())]  # (B, 1) -> (B,), the shape of y
        loss = keras.losses.MeanSquaredError()
    else:
        layers.append(keras.layers.Dense(task.n_classes))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = keras.Sequential(layers, name=cfg.model)
    optimizer = OPTIMIZERS[cfg.optimizer or "adam"](cfg.learning_rate, clipnorm=cfg.clipnorm)
    compile_model(model, optimizer, loss, jit_compile=bool(cfg.jit_compile))
    return model


# Fields that change neither the model nor its compiled functions (the gap changes only the
# sequence length, for which a compiled function keeps one trace per length).
RESET_FIELDS = ("seed", "gap", "budget", "eval_every", "target_accuracy", "n_val", "n_test", "chrono_tmax")
_compiled = {}  # at most one entry: the last model this process trained, by its shared config


def reusable_model(cfg):
    """`build_model(cfg)` as a model whose training functions may already be compiled.

    Tracing and XLA compilation cost 1-3 s per model, as much as a short run trains. Runs
    that differ only in `RESET_FIELDS` (the seeds and gaps of a grid) therefore share one
    model: it gets the initial weights of a fresh `build_model(cfg)` and that model's fresh
    optimizer state, so it trains exactly as the fresh model would (tested bit for bit).
    Returns (model to train, the fresh model, whose config is the run's own).
    """
    fresh = build_model(cfg)
    key = tuple((k, v) for k, v in dataclasses.asdict(cfg).items() if k not in RESET_FIELDS)
    model = _compiled.get(key)
    if model is None:
        _compiled.clear()
        _compiled[key] = fresh
        return fresh, fresh
    model.set_weights(fresh.get_weights())
    fresh.optimizer.build(fresh.trainable_variables)
    for target, initial in zip(model.optimizer.variables, fresh.optimizer.variables, strict=True):
        target.assign(initial)
    return model, fresh


def compile_model(model, optimizer, loss, jit_compile=False):
    """`model.compile`, with XLA when asked even under TensorFlow op determinism.

    Keras refuses XLA whenever op determinism is on, because some XLA GPU kernels are not
    deterministic. On the CPU they are, and the determinism tests retrain XLA runs and
    compare the records bit for bit; so XLA is switched on here past that check.
    """
    model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
    if jit_compile:
        model._jit_compile = True


def scores(model, task, x, y, batch_size=512):
    """(accuracy, loss) of `model` on (x, y), both by the task's own definitions."""
    pred = model.predict(x, batch_size=batch_size, verbose=0)
    return task.score(pred, y), task.loss(pred, y)


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


def train(cfg, results, verbose=0):
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
    """
    task = TASKS[cfg.task]
    start = time.perf_counter()
    record = {
        "run_id": cfg.run_id,
        "config": dataclasses.asdict(cfg),
        "chance_accuracy": task.chance,
        "baseline_loss": task.baseline_loss(cfg.gap) if task.baseline_loss else None,
        "versions": versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    try:
        seed_everything(cfg.seed)
        model, fresh = reusable_model(cfg)
        x_val, y_val = task(cfg.gap, cfg.n_val, data_seed(cfg.seed, VAL))
        steps_total = cfg.budget // cfg.batch_size
        steps, history, loss, val_acc = 0, [], math.nan, 0.0
        while steps < steps_total:
            chunk = min(cfg.eval_every, steps_total - steps)
            x, y = task(cfg.gap, chunk * cfg.batch_size, data_seed(cfg.seed, TRAIN, steps))
            fit = model.fit(x, y, batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=verbose)
            loss = float(fit.history["loss"][-1])
            steps += chunk
            if not math.isfinite(loss):
                break
            val_acc = scores(model, task, x_val, y_val)[0]
            history.append({"sequences": steps * cfg.batch_size, "loss": loss, "val_accuracy": val_acc})
            if val_acc >= cfg.target_accuracy:
                break
        record.update(final_loss=loss, sequences_seen=steps * cfg.batch_size, history=history)
        if not math.isfinite(loss):
            record.update(status="diverged", error=f"training loss became {loss} after {steps} steps",
                          test_accuracy=None, test_loss=None, val_accuracy=None, solved=False)
        else:
            x_test, y_test = task(cfg.gap, cfg.n_test, data_seed(cfg.seed, TEST))
            test_accuracy, test_loss = scores(model, task, x_test, y_test)
            record.update(status="ok", error=None, test_accuracy=test_accuracy, test_loss=test_loss,
                          val_accuracy=val_acc, solved=val_acc >= cfg.target_accuracy,
                          model_file=str(model_path(".", cfg.run_id)))
            # Saved as the run's own model (its config, e.g. chrono_tmax, is the run's), without
            # the optimizer (an uncompiled view of the same layers): a third the size.
            fresh.set_weights(model.get_weights())
            inference = keras.Model(fresh.inputs, fresh.outputs, name=fresh.name)
            atomic_write(model_path(results, cfg.run_id), inference.save)
        record["seconds"] = round(time.perf_counter() - start, 2)
        write_json(record_path(results, cfg.run_id), record)
        error_path(results, cfg.run_id).unlink(missing_ok=True)  # an earlier attempt's error, now superseded
    except Exception as err:  # a run must never take the sweep down with it, nor leave a result
        record.update(status="error", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(),
                      seconds=round(time.perf_counter() - start, 2))
        try:
            write_json(error_path(results, cfg.run_id), record)
        except OSError:
            pass  # the disk that failed the run may refuse this too; the sweep still counts the error
    return record
