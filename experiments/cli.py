"""Command line: `python -m experiments COMMAND key=value ...`, the layer the Makefile calls.

Commands:
    train      model=lstm task=fluent gap=50 seed=0 [any RunConfig field=value]; the default
               preset's protocol (whole-sequence path under XLA) unless a field says otherwise
    sweep      preset=default [models=rnn,lstm gaps=5,50 seeds=0,1 executor=process retry=failed field=value]
    evaluate   [n_test=N]
    plot
    show-data  task=fluent gap=5 [n=4 seed=0]
    presets    list the presets and how many runs each has
    bench-executors  [executors=local,process,ray n_runs=8] time one small sweep per executor
    gradients  [gap=N] gradient norm versus distance, at initialisation and trained
               (default: the longest gap every cell was run at)
    generalisation   models trained at gap g tested at g/4 .. 4g
    learning-speed   training sequences to solve versus gap
    report     RESULTS/REPORT.md from everything in RESULTS
    compare    other=DIR  success counts and reaches of RESULTS beside DIR's (Fisher's exact test per point)
    bench      [quick=1 cells=rnn,lstm,gru] time custom cells against Keras and PyTorch: RESULTS/bench.csv

Every command takes results=DIR (default: results) and plugins=MODULE[,MODULE] (cells and
tasks defined outside the repository; see experiments/plugins.py). Bad input ends with one line on stderr
naming the bad value and what is allowed, exit code 2, and nothing written.
"""

import signal
import sys
import threading

from experiments.config import RunConfig, UsageError, check_choice, check_int, check_keys
from experiments.records import error_path, errors_dir
from experiments.sweep import Terminated, check_writable

COMMANDS = ("train", "sweep", "evaluate", "plot", "show-data", "presets", "bench-executors",
            "gradients", "generalisation", "learning-speed", "report", "bench", "compare")


# Commands that read a results folder and write their tables and figures into it.
WRITES_RESULTS = ("evaluate", "plot", "gradients", "generalisation", "learning-speed", "report")


def parse_value(text):
    """'5' -> 5, '3e-3' -> 0.003, 'none' -> None, 'true' -> True, '5,10' -> (5, 10), else the string."""
    if "," in text:
        return tuple(parse_value(t) for t in text.split(",") if t)
    if text.lower() in ("none", "null", ""):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_args(argv):
    values = {}
    for arg in argv:
        key, sep, text = arg.partition("=")
        if not sep:
            raise UsageError(f"expected key=value, received {arg!r}")
        values[key.strip()] = parse_value(text.strip())
    return values


def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)  # a scheduler's stop: handled like Ctrl-C
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(__doc__)
            return 0
        run(argv[0], parse_args(argv[1:]))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        print(f"{what}: finished runs are saved; rerun the same command to continue", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except Failed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


class Failed(Exception):
    """The command ran but some of its work did not: exit 1 with this line."""


def _terminate(signum, frame):
    raise Terminated()


def run(command, args):
    check_choice("command", command, COMMANDS)
    from experiments import plugins

    plugins.load(as_tuple(args.pop("plugins")) if args.get("plugins") else ())
    results = args.pop("results", "results")
    if results is None or str(results).strip() == "":
        raise UsageError("results= is empty; name a results folder (default: results)")
    results = str(results)
    if command in WRITES_RESULTS:
        check_writable(results, create=False)  # before any work: a read-only folder fails now, not after it
    if command == "train":
        cfg = train_config(args)
        check_writable(results)
        from experiments.train import train

        record = train(cfg, results)
        print(f"{record['run_id']}: {record['status']}", end="")
        if record["status"] == "ok":
            print(f", test accuracy {record['test_accuracy']:.3f} (chance {record['chance_accuracy']:.3f}), "
                  f"{record['sequences_seen']} sequences, {record['seconds']} s")
        else:
            print(f": {record['error']}")
        if record["status"] == "error":
            raise Failed(f"run {record['run_id']} stopped by an error, no result recorded; details in {error_path(results, record['run_id'])}")
    elif command == "sweep":
        from experiments.presets import GRID_AXES, expand
        from experiments.sweep import sweep

        preset = args.pop("preset", "default")
        executor = args.pop("executor", "process")
        retry = args.pop("retry", None)
        if retry is not None:
            check_choice("retry", retry, ("failed",))
        overrides = {k: as_tuple(v) if k in GRID_AXES else v for k, v in args.items()}
        configs = expand(preset, **overrides)
        counts = sweep(configs, results, executor=executor, retry=retry == "failed")
        print(f"sweep {preset}: {counts['done']} run now ({counts['diverged']} diverged), {counts['skipped']} skipped "
              f"as already recorded, {counts['claimed']} left to another sweep")
        if counts["errors"]:
            raise Failed(f"{counts['errors']} run(s) stopped by an error and recorded no result; "
                         f"details in {errors_dir(results)}/; rerun the sweep to retry them")
    elif command == "evaluate":
        check_keys(args, ("n_test",), what="evaluate key")
        from experiments.evaluate import evaluate

        table = evaluate(results, n_test=check_int("n_test", args["n_test"], 1) if "n_test" in args else None)
        print(f"wrote {results}/summary.csv: {len(table)} runs, {int((table['status'] == 'diverged').sum())} diverged, "
              f"{table.attrs['left_out']} left out as unreadable")
    elif command == "plot":
        check_keys(args, (), what="plot key")
        from experiments.plot import plot_accuracy

        for path in plot_accuracy(results):
            print(f"wrote {path}")
    elif command == "show-data":
        show_data(**args)
    elif command == "bench-executors":
        from experiments.bench_executors import EXECUTORS, bench_executors

        check_keys(args, ("executors", "n_runs"), what="bench-executors key")
        executors = as_tuple(args.get("executors", ("local", "process")))
        for executor in executors:
            check_choice("executor", executor, EXECUTORS)
        bench_executors(executors, check_int("n_runs", args.get("n_runs", 8), 1))
    elif command == "gradients":
        from experiments.analysis import gradient_flow

        check_keys(args, ("gap", "n", "task"), what="gradients key")
        gap = check_int("gap", args["gap"], 1) if args.get("gap") is not None else None
        gradient_flow(results, gap=gap, n=check_int("n", args.get("n", 256), 1), task=args.get("task"))
        print(f"wrote {results}/gradient_flow.csv and {results}/figures/gradient_flow.png")
    elif command == "generalisation":
        from experiments.analysis import length_generalisation

        check_keys(args, ("task",), what="generalisation key")
        length_generalisation(results, task=args.get("task"))
        print(f"wrote {results}/length_generalisation.csv and {results}/figures/length_generalisation.png")
    elif command == "learning-speed":
        from experiments.analysis import learning_speed

        check_keys(args, ("task",), what="learning-speed key")
        learning_speed(results, task=args.get("task"))
        print(f"wrote {results}/sequences_to_solve.csv and {results}/figures/sequences_to_solve.png")
    elif command == "compare":
        check_keys(args, ("other",), what="compare key")
        other = args.get("other")
        if other is None or str(other).strip() == "":
            raise UsageError("compare needs other=DIR, the results folder to set beside results=DIR")
        from experiments.compare import compare, markdown

        print(markdown(*compare(results, str(other)), results, other))
    elif command == "report":
        from experiments.report import report

        check_keys(args, (), what="report key")
        print(f"wrote {report(results)}")
    elif command == "bench":
        from experiments.bench import bench, markdown
        from layers import CELLS

        check_keys(args, ("quick", "cells"), what="bench key")
        quick = bool(args.get("quick"))
        cells = as_tuple(args.get("cells", ("rnn", "lstm", "gru") if quick else tuple(CELLS)))
        for cell in cells:
            check_choice("cell", cell, CELLS)
        table = bench(cells, repeats=3 if quick else 10, warmup=1 if quick else 2, out=f"{results}/bench")
        print(markdown(table))
    elif command == "presets":
        from experiments.presets import PRESETS, expand

        for name in PRESETS:
            print(f"{name}: {len(expand(name))} runs")


def train_config(args):
    """The RunConfig `train` trains: the default preset's run unless a field says otherwise."""
    from experiments.presets import PROTOCOL

    return RunConfig.from_dict({**PROTOCOL, **args})


def show_data(task="fluent", gap=5, n=4, seed=0, **extra):
    from datasets import TASKS

    check_keys(extra, ("task", "gap", "n", "seed"), what="show-data key")
    check_choice("task", task, TASKS)
    spec = TASKS[task]
    try:
        x, y = spec(gap, n, seed)
    except ValueError as err:  # the generator names the bad argument and its bound
        raise UsageError(str(err)) from None
    print(f"task {task}: gap = {spec.gap_meaning}; chance accuracy {spec.chance:.3f}; x {x.shape}, y {y.shape}")
    for row, target in zip(x, y):
        print("  " + spec.decode(row, target))


__all__ = ["main"]
