"""Command line: `python -m experiments COMMAND key=value ...`, the layer the Makefile calls.

Commands:
    train      model=lstm task=fluent gap=50 seed=0 [any RunConfig field=value]
    sweep      preset=default [models=rnn,lstm gaps=5,50 seeds=0,1 executor=process field=value]
    evaluate   [n_test=N]
    plot
    show-data  task=fluent gap=5 [n=4 seed=0]
    presets    list the presets and how many runs each has
    bench-executors  [executors=local,process,ray n_runs=8] time one small sweep per executor
    gradients  [gap=160] gradient norm versus distance, at initialisation and trained
    generalisation   models trained at gap g tested at g/4 .. 4g
    learning-speed   training sequences to solve versus gap
    report     RESULTS/REPORT.md from everything in RESULTS
    bench      [quick=1 cells=rnn,lstm,gru] time custom cells against Keras and PyTorch: RESULTS/bench.csv

Every command takes results=DIR (default: results). Bad input ends with one line on stderr
naming the bad value and what is allowed, exit code 2, and nothing written.
"""

import sys

from experiments.config import RunConfig, UsageError, check_choice, check_int, check_keys

COMMANDS = ("train", "sweep", "evaluate", "plot", "show-data", "presets", "bench-executors",
            "gradients", "generalisation", "learning-speed", "report", "bench")  # fmt: skip


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
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(__doc__)
            return 0
        run(argv[0], parse_args(argv[1:]))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are saved; rerun the same command to continue", file=sys.stderr)
        return 130
    return 0


def run(command, args):
    check_choice("command", command, COMMANDS)
    results = str(args.pop("results", "results"))
    if command == "train":
        from experiments.sweep import check_writable

        cfg = RunConfig.from_dict(args)
        check_writable(results)
        from experiments.train import train

        record = train(cfg, results)
        print(f"{record['run_id']}: {record['status']}", end="")
        if record["status"] == "ok":
            print(f", test accuracy {record['test_accuracy']:.3f} (chance {record['chance_accuracy']:.3f}), "
                  f"{record['sequences_seen']} sequences, {record['seconds']} s")  # fmt: skip
        else:
            print(f": {record['error']}")
    elif command == "sweep":
        from experiments.presets import GRID_AXES, expand
        from experiments.sweep import sweep

        preset = args.pop("preset", "default")
        executor = args.pop("executor", "process")
        overrides = {k: as_tuple(v) if k in GRID_AXES else v for k, v in args.items()}
        configs = expand(preset, **overrides)
        counts = sweep(configs, results, executor=executor)
        print(f"sweep {preset}: {counts['done']} run now ({counts['failed']} failed), {counts['skipped']} skipped as already recorded")
    elif command == "evaluate":
        check_keys(args, ("n_test",), what="evaluate key")
        from experiments.evaluate import evaluate

        table = evaluate(results, n_test=check_int("n_test", args["n_test"], 1) if "n_test" in args else None)
        print(f"wrote {results}/summary.csv: {len(table)} runs, {int((table['status'] != 'ok').sum())} failed")
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

        check_keys(args, ("gap", "n"), what="gradients key")
        gradient_flow(results, gap=check_int("gap", args.get("gap", 160), 1), n=check_int("n", args.get("n", 256), 1))
        print(f"wrote {results}/gradient_flow.csv and {results}/figures/gradient_flow.png")
    elif command == "generalisation":
        from experiments.analysis import length_generalisation

        check_keys(args, (), what="generalisation key")
        length_generalisation(results)
        print(f"wrote {results}/length_generalisation.csv and {results}/figures/length_generalisation.png")
    elif command == "learning-speed":
        from experiments.analysis import learning_speed

        check_keys(args, (), what="learning-speed key")
        learning_speed(results)
        print(f"wrote {results}/figures/sequences_to_solve.png")
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
