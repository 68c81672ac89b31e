"""The other way into seed stacks, measured: `jax.vmap` over a stateless train step on Keras'
JAX backend, against this suite's stacked weights on TensorFlow (`make bench-vmap`).

Issue 12 names two ways to train S seeds as one model: stacked weights (S, D, G*H) with
batched matmuls in `keras.ops` (what `experiments/batched.py` does, on TensorFlow + XLA), or
Keras' JAX backend with `jax.vmap` over a stateless train step, to be picked by measurement.
This bench times one compiled update, after warm-up, at the default protocol (H = 64, batch 64,
the fused whole-sequence path) for the four combinations:

- TensorFlow, a stack of S (`bench_seeds.update_seconds`) and S x a stack of one;
- JAX, `jax.jit(jax.vmap(step))` over S seeds and S calls of `jax.jit(step)`, where `step` is
  `model.stateless_call` and `optimizer.stateless_apply` (Adam with clipnorm: under vmap each
  seed's clipping sees only its own gradients), the same layers and initial weights as the
  suite builds (`model.build_model`).

Each timing runs in a process of its own (the backend is chosen per process, and one
process's compilations do not warm another's), one after another, so run it with nothing
else on the CPU. It also checks that the vmapped update is the same computation: each seed's
first loss through the vmapped step equals its loss alone (`first_loss_diff`).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from experiments.records import write_table

ROUTES = (("tensorflow", "stack"), ("tensorflow", "one-by-one"), ("jax", "vmap"), ("jax", "one-by-one"))


def _timed(fn, repeats=10, rounds=5):
    """Seconds per call of `fn` (which returns something to block on): the fastest of `rounds`
    rounds of `repeats` calls, after one warm-up (compilation) call."""
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        jax.block_until_ready(out)
        times.append((time.perf_counter() - start) / repeats)
    return min(times)


def jax_update(cell, gap, n_seeds, mode):
    """Run on the JAX backend: {"update_ms", "first_loss_diff"} for `n_seeds` seeds of `cell` at
    `gap` (the default protocol), vmapped (`mode` "vmap") or one jitted call per seed."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from datasets import TASKS
    from experiments.config import RunConfig
    from experiments.data import TRAIN, data_seed, seed_everything
    from experiments.model import build_model
    from experiments.presets import FAST

    cfg = RunConfig(model=cell, task="fluent", gap=gap, **FAST)
    models = []
    for s in range(n_seeds):  # each seed's initial weights, drawn as its run alone draws them
        seed_everything(s)
        models.append(build_model(dataclasses.replace(cfg, seed=s)))
    model, optimizer = models[0], models[0].optimizer  # one set of layers and one optimizer, used statelessly
    optimizer.build(model.trainable_variables)

    def step(trainable, non_trainable, opt_vars, x, y):
        def loss_fn(trainable, non_trainable):
            pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return model.loss(y, pred), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return trainable, non_trainable, opt_vars, loss

    def stacked(arrays):
        return [jnp.stack(a) for a in zip(*arrays)]

    state = (stacked([[v.value for v in m.trainable_variables] for m in models]),
             stacked([[v.value for v in m.non_trainable_variables] for m in models]) if model.non_trainable_variables else [],
             [jnp.stack([v.value] * n_seeds) for v in optimizer.variables])
    data = [TASKS[cfg.task](gap, cfg.batch_size, data_seed(s, TRAIN, 0)) for s in range(n_seeds)]
    x, y = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])

    def seed(i):
        return (*([a[i] for a in part] for part in state), x[i], y[i])

    alone, seeds = jax.jit(step), [seed(i) for i in range(n_seeds)]  # sliced once, not in the timed loop
    if mode != "vmap":
        return {"update_ms": round(_timed(lambda: [alone(*args) for args in seeds]) * 1e3, 2), "first_loss_diff": None}
    vmapped = jax.jit(jax.vmap(step))
    first_alone = [float(alone(*args)[-1]) for args in seeds]
    first_vmapped = [float(v) for v in vmapped(*state, x, y)[-1]]
    seconds = _timed(lambda: vmapped(*state, x, y))
    return {"update_ms": round(seconds * 1e3, 2), "first_loss_diff": max(abs(a - b) for a, b in zip(first_alone, first_vmapped))}


def tensorflow_update(cell, gap, n_seeds, mode):
    """Run on TensorFlow: {"update_ms"} of a stack of `n_seeds` ("stack") or `n_seeds` x a stack of one."""
    from experiments.bench_seeds import update_seconds
    from experiments.config import RunConfig
    from experiments.presets import FAST

    cfg = RunConfig(model=cell, task="fluent", gap=gap, **FAST)
    seconds = update_seconds(cfg, n_seeds) if mode == "stack" else n_seeds * update_seconds(cfg, 1)
    return {"update_ms": round(seconds * 1e3, 2), "first_loss_diff": None}


def _in_process(backend, cell, gap, n_seeds, mode):
    """One timing in a fresh process on `backend`; its JSON result."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-m", "experiments.bench_vmap", backend, cell, str(gap), str(n_seeds), mode],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_vmap(cells=("lstm", "gru"), gap=80, n_seeds=10, rounds=2, routes=ROUTES):
    """Rows: cell, gap, seeds, backend, mode, round, update_ms, per_seed_ms, first_loss_diff."""
    rows = []
    for r in range(rounds):  # the routes interleaved, so a drift in the machine's speed hits all of them
        for cell in cells:
            for backend, mode in routes:
                result = _in_process(backend, cell, gap, n_seeds, mode)
                rows.append({"cell": cell, "gap": gap, "seeds": n_seeds, "backend": backend, "mode": mode, "round": r,
                             **result, "per_seed_ms": round(result["update_ms"] / n_seeds, 2)})
                print(f"{cell} {backend} {mode}: {result['update_ms']} ms", file=sys.stderr)
    return pd.DataFrame(rows)


def markdown(table):
    best = table.groupby(["cell", "backend", "mode"], sort=False)["update_ms"].min()
    lines = ["# Seed stacks two ways: stacked weights on TensorFlow against jax.vmap on JAX", "",
             "`make bench-vmap`: one compiled update of S seeds at the default protocol (H = 64, batch 64, the fused "
             "path; gap {gap}), after warm-up, the fastest of {rounds} interleaved rounds, each in a fresh process. "
             "One by one: S calls of one seed's update. Against the TensorFlow one-by-one update, lower is better; "
             "issue 12's target for 10 seeds is 0.5x in wall time.".format(gap=table["gap"].iloc[0], rounds=table["round"].nunique()), "",
             "| cell | seeds | backend | mode | update (ms) | per seed (ms) | x TensorFlow one by one | first losses, vmapped - alone |",
             "|---|---|---|---|---|---|---|---|"]
    for (cell, backend, mode), ms in best.items():
        base = best[(cell, "tensorflow", "one-by-one")]
        diffs = table[(table["cell"] == cell) & (table["backend"] == backend) & (table["mode"] == mode)]["first_loss_diff"].dropna()
        check = f"{diffs.max():.1e}" if mode == "vmap" and len(diffs) else ""
        lines.append(f"| {cell} | {table['seeds'].iloc[0]} | {backend} | {mode} | {ms} | {ms / table['seeds'].iloc[0]:.2f} "
                     f"| {ms / base:.2f} | {check} |")
    return "\n".join(lines) + "\n"


def write(table, results):
    return write_table(results, "bench_vmap", table, markdown(table))


if __name__ == "__main__":  # one timing, in the process `_in_process` started
    backend, cell, gap, n_seeds, mode = sys.argv[1:]
    from experiments.backend import keras

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    run = jax_update if backend == "jax" else tensorflow_update
    print(json.dumps(run(cell, int(gap), int(n_seeds), mode)))
