"""What a seed stack buys: S seeds trained one after another against the same S as one stack,
side by side in one process, at the default preset's protocol (`make bench-seeds`).

Both sides train exactly `steps` updates per seed (one validation check, at the end, so no
run stops early) and include what a sweep pays: building the models, tracing and XLA
compilation, the validation and test passes, writing records. The ratio is
unbatched time / stacked time: above 1, the stack is faster.
"""

import dataclasses
import tempfile
import time

import pandas as pd

from experiments.config import RunConfig
from experiments.presets import FAST
from experiments.records import write_csv, write_text


def bench_seeds(models=("rnn", "lstm", "gru"), gaps=(40, 320), n_seeds=10, steps=100):
    from experiments.batched import train_batched
    from experiments.train import train

    rows = []
    for model in models:
        for gap in gaps:
            base = RunConfig(model=model, gap=gap, budget=steps * 64, eval_every=steps, **FAST)
            cfgs = [dataclasses.replace(base, seed=s) for s in range(n_seeds)]
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                for cfg in cfgs:
                    train(cfg, f"{tmp}/alone")
                alone = time.perf_counter() - start
                start = time.perf_counter()
                records = train_batched(cfgs, f"{tmp}/stack")
                stacked = time.perf_counter() - start
            assert all(r["status"] in ("ok", "diverged") for r in records), [r.get("error") for r in records]
            rows.append({"model": model, "gap": gap, "seeds": n_seeds, "steps": steps, "one_by_one_s": round(alone, 1),
                         "stacked_s": round(stacked, 1), "speedup": round(alone / stacked, 2)})
            print(f"{model} gap {gap}: {n_seeds} seeds one by one {alone:.1f} s, as one stack {stacked:.1f} s: "
                  f"{alone / stacked:.2f}x", flush=True)
    return pd.DataFrame(rows)


def markdown(table):
    lines = ["# Seed stacks against one run at a time", "",
             "`make bench-seeds`: the same seeds of one configuration trained one after another and as one seed stack, "
             "side by side in one process, at the default protocol (H = 64, batch 64, fused path under XLA), each seed "
             "exactly the same number of updates; times include model building, compilation, validation, test and records. "
             "Speedup = one by one / stacked.", "",
             "| model | gap | seeds | updates per seed | one by one (s) | stacked (s) | speedup |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.model} | {r.gap} | {r.seeds} | {r.steps} | {r.one_by_one_s} | {r.stacked_s} | {r.speedup}x |")
    return "\n".join(lines) + "\n"


def write(table, results):
    write_csv(f"{results}/bench_seeds.csv", table)
    write_text(f"{results}/bench_seeds.md", markdown(table))
    return [f"{results}/bench_seeds.csv", f"{results}/bench_seeds.md"]
