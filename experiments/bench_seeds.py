"""What a seed stack buys: S seeds trained one after another against the same S as one stack,
side by side in one process, at the default preset's protocol (`make bench-seeds`).

Both sides train exactly `steps` updates per seed (one validation check, at the end, so no
run stops early) and include what a sweep pays: building the models, tracing and XLA
compilation, the validation and test passes, writing records. The one-by-one times for
S = 1, 3, ... are the running total after the first S seeds of one pass over the largest S.

`bench_rebuild` (`make bench-rebuild`) times what the bench above cannot show, because there
every seed trains the same number of updates: one real seed stack at the default protocol,
whose seeds stop apart, trained twice side by side, never rebuilt and rebuilt from its open
seeds as a sweep does (`batched.COMPACT_AT`).

Where the time goes: `update_ms` times the compiled update alone, after warm-up, for a stack
of S seeds (for one-by-one rows: S times that of a stack of one). Their ratio is what
stacking buys in arithmetic; the rest of the wall-time ratio is compilation and per-run
costs, paid once per stack instead of once per seed.
"""

import dataclasses
import tempfile
import time

import numpy as np
import pandas as pd

from datasets import TASKS
from experiments.config import RunConfig
from experiments.presets import FAST
from experiments.records import write_table

MODES = ("one-by-one", "batched")


def update_seconds(cfg, n_seeds, repeats=10, rounds=5):
    """Seconds per compiled update of a stack of `n_seeds` seeds of `cfg`, after warm-up: the
    fastest of `rounds` rounds of `repeats` updates (the same update timed twice in one process
    differed by 25 % with a single round)."""
    from experiments.batched import SeedStack, stack_train_step
    from experiments.data import TRAIN, data_seed, seed_everything
    from experiments.model import build_model

    models = []
    for s in range(n_seeds):
        seed_everything(s)
        models.append(build_model(dataclasses.replace(cfg, seed=s)))
    step = stack_train_step(SeedStack(models), cfg)
    data = [TASKS[cfg.task](cfg.gap, cfg.batch_size, data_seed(s, TRAIN, 0)) for s in range(n_seeds)]
    x, y = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    step(x, y).numpy()  # trace and compile
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            losses = step(x, y)
        losses.numpy()
        times.append((time.perf_counter() - start) / repeats)
    return min(times)


def bench_seeds(models=("rnn", "lstm", "gru"), gaps=(80,), seeds=(1, 3, 10), steps=100):
    """Rows: cell, gap, seeds, mode ("one-by-one" or "batched"), steps, wall_s, update_ms."""
    from experiments.batched import train_batched
    from experiments.train import train

    rows = []
    for model in models:
        for gap in gaps:
            base = RunConfig(model=model, gap=gap, budget=steps * 64, eval_every=steps, **FAST)
            cfgs = [dataclasses.replace(base, seed=s) for s in range(max(seeds))]
            with tempfile.TemporaryDirectory() as tmp:
                start, alone = time.perf_counter(), {}
                for n, cfg in enumerate(cfgs, 1):
                    train(cfg, f"{tmp}/alone")
                    alone[n] = time.perf_counter() - start
                one_update = update_seconds(base, 1)
                for n in seeds:
                    start = time.perf_counter()
                    records = train_batched(cfgs[:n], f"{tmp}/stack{n}")
                    stacked = time.perf_counter() - start
                    assert all(r["status"] in ("ok", "diverged") for r in records), [r.get("error") for r in records]
                    update = update_seconds(base, n)
                    common = {"cell": model, "gap": gap, "seeds": n, "steps": steps}
                    rows += [{**common, "mode": "one-by-one", "wall_s": round(alone[n], 1), "update_ms": round(1e3 * n * one_update, 2)},
                             {**common, "mode": "batched", "wall_s": round(stacked, 1), "update_ms": round(1e3 * update, 2)}]
                    print(f"{model} gap {gap}, {n} seeds: one by one {alone[n]:.1f} s, batched {stacked:.1f} s "
                          f"({alone[n] / stacked:.2f}x); one update {1e3 * n * one_update:.1f} ms against {1e3 * update:.1f} ms "
                          f"({n * one_update / update:.2f}x)", flush=True)
    return pd.DataFrame(rows)


def bench_rebuild(model="lstm", gap=28, n_seeds=10, **overrides):
    """One stack of seeds 0..n_seeds-1 at the default protocol (with `overrides`, RunConfig
    fields), trained never rebuilt and then rebuilt as a sweep does, in one process. Returns a
    dict: cell, gap, seeds, the sequences each seed trained on, both wall times, and whether the
    records agree (they should, bit for bit)."""
    from experiments import batched

    cfgs = [RunConfig(model=model, gap=gap, seed=s, **{**FAST, **overrides}) for s in range(n_seeds)]
    wall, outcomes, default = {}, {}, batched.COMPACT_AT
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, share in (("never rebuilt", 0.0), ("rebuilt", default)):
                batched.COMPACT_AT = share
                start = time.perf_counter()
                records = batched.train_batched(cfgs, f"{tmp}/{share}")
                wall[name] = round(time.perf_counter() - start, 1)
                outcomes[name] = [(r["sequences_seen"], r["test_accuracy"], r["history"]) for r in records]
                print(f"{model} gap {gap}, {n_seeds} seeds, {name}: {wall[name]} s", flush=True)
    finally:
        batched.COMPACT_AT = default
    return {"cell": model, "gap": gap, "seeds": n_seeds, "sequences": [o[0] for o in outcomes["rebuilt"]],
            "never_rebuilt_s": wall["never rebuilt"], "rebuilt_s": wall["rebuilt"],
            "same_records": outcomes["never rebuilt"] == outcomes["rebuilt"], "compact_at": default}


def rebuild_markdown(row):
    return "\n".join([
        "# A seed stack rebuilt from its open seeds", "",
        f"`make bench-rebuild`: {row['cell']} at gap {row['gap']}, seeds 0-{row['seeds'] - 1}, the default protocol, one "
        "stack trained twice side by side in one process: never rebuilt, and rebuilt from the seeds still training once "
        f"they are at most {row['compact_at']:g} of it, as a sweep does. Sequences each seed trained on: "
        f"{', '.join(f'{n:,}' for n in row['sequences'])}.", "",
        "| never rebuilt (s) | rebuilt (s) | speedup | identical records |", "|---|---|---|---|",
        f"| {row['never_rebuilt_s']} | {row['rebuilt_s']} | {row['never_rebuilt_s'] / row['rebuilt_s']:.2f}x | "
        f"{'yes' if row['same_records'] else 'no'} |", ""])


def markdown(table):
    lines = ["# Seed stacks against one run at a time", "",
             "`make bench-seeds`: the same seeds of one configuration trained one after another and as one seed stack, "
             "side by side in one process, at the default protocol (H = 64, batch 64, fused path under XLA), each seed "
             "exactly the same number of updates. Wall times include model building, compilation, validation, test and "
             "records; speedup = one by one / batched. Update: one compiled update alone, after warm-up (one by one: "
             "seeds x the update of one seed), which is what stacking buys in arithmetic; the rest of the wall-time "
             "speedup is compilation and per-run costs, paid once per stack.", "",
             "| cell | gap | seeds | updates per seed | one by one (s) | batched (s) | speedup | update one by one (ms) "
             "| update batched (ms) | update speedup |", "|---|---|---|---|---|---|---|---|---|---|"]
    wide = table.pivot_table(index=["cell", "gap", "seeds", "steps"], columns="mode", values=["wall_s", "update_ms"], sort=False)
    for (cell, gap, seeds, steps), r in wide.iterrows():
        wall, update = r["wall_s"], r["update_ms"]
        lines.append(f"| {cell} | {gap} | {seeds} | {steps} | {wall['one-by-one']} | {wall['batched']} "
                     f"| {wall['one-by-one'] / wall['batched']:.2f}x | {update['one-by-one']} | {update['batched']} "
                     f"| {update['one-by-one'] / update['batched']:.2f}x |")
    return "\n".join(lines) + "\n"


def write(table, results):
    return write_table(results, "bench_seeds", table, markdown(table))
