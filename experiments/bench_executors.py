"""How much faster is a sweep with EXECUTOR=process than with EXECUTOR=local on this machine?

Runs the same small sweep (the default protocol's sizes, a fixed number of steps) once per
executor, side by side in one invocation, each into its own scratch folder, and prints the
wall time of each and its speed-up over `local`. Start-up costs (worker spawn, TensorFlow
import, Ray start) are included on purpose: a user pays them too.
"""

import os
import tempfile
import time

from experiments.config import RunConfig
from experiments.sweep import EXECUTORS, sweep


def bench_configs(n_runs):
    # target_accuracy 1.0 and one validation check: every run does exactly its 50 steps.
    models = ("lstm", "gru")
    return [RunConfig(model=models[i % 2], gap=40, seed=i // 2, budget=3200, eval_every=50, target_accuracy=1.0,
                      n_val=256, n_test=256) for i in range(n_runs)]


def bench_executors(executors=("local", "process"), n_runs=8):
    configs = bench_configs(n_runs)
    seconds = {}
    for executor in executors:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            sweep(configs, folder, executor=executor, progress=False)
            seconds[executor] = time.perf_counter() - start
    print(f"{n_runs} runs (lstm/gru, gap 40, 64 units, 50 steps each) on {os.cpu_count()} cores:")
    for executor, s in seconds.items():
        print(f"  {executor:8s} {s:7.1f} s   speed-up over local x{seconds[executors[0]] / s:.2f}")
    return seconds


__all__ = ["EXECUTORS", "bench_executors"]
