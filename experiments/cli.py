"""Command line: `python -m experiments COMMAND key=value ...` (or `memory-gap ...`), the layer the Makefile calls.

Commands are found in `COMMANDS`, filled by the `@command` decorator below: the name, the keys
it takes, one line of help and whether it writes into the results folder. That one registry
drives the parsing, `--help`, and (checked by tests/test_cli.py) the Makefile's targets.
Adding a command is one decorated function here; an analysis is one entry in
`analysis.ANALYSES`, which also becomes a command and a section of the report.

Every command takes results=DIR (default: results) and plugins=MODULE[,MODULE] (cells and
tasks defined outside the repository; see experiments/plugins.py). Bad input ends with one
line on stderr naming the bad value and what is allowed, exit code 2, and nothing written.
"""

import dataclasses
import signal
import sys
import threading
from collections.abc import Callable

from experiments.checks import Failed, UsageError, check_bool, check_choice, check_int, check_keys
from experiments.config import RunConfig
from experiments.records import error_path, errors_dir
from experiments.sweep import Terminated, check_writable


@dataclasses.dataclass(frozen=True)
class Command:
    run: Callable  # run(results, **args)
    keys: tuple | None  # the keys it takes besides results= and plugins=; None: it checks them itself
    help: str
    usage: str = ""
    writes_results: bool = False  # reads a results folder and writes into it: checked writable first


COMMANDS = {}


def command(name, keys=(), help="", usage="", writes_results=False):
    """Register `fn(results, **args)` as the command `name`."""

    def register(fn):
        COMMANDS[name] = Command(fn, keys, help, usage, writes_results)
        return fn

    return register


def usage():
    lines = [__doc__.split("\n\n")[0], "", "Commands:"]
    for name, cmd in COMMANDS.items():
        lines.append(f"    {name:<16} {cmd.usage + '  ' if cmd.usage else ''}{cmd.help}")
    return "\n".join(lines + ["", __doc__.split("\n\n")[-1].strip()])


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


def gather_options(args):
    """`option.NAME=VALUE` keys (a cell's own options) gathered into one `options` dict."""
    options = {k.removeprefix("option."): args.pop(k) for k in [k for k in args if k.startswith("option.")]}
    if options:
        args["options"] = options
    return args


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
            print(usage())
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


def _terminate(signum, frame):
    raise Terminated()


def run(name, args):
    from experiments import plugins

    plugins.load(as_tuple(args.pop("plugins")) if args.get("plugins") else ())
    _register_analyses()  # again: a plugin may have added one
    check_choice("command", name, COMMANDS)
    cmd = COMMANDS[name]
    results = args.pop("results", "results")
    if results is None or str(results).strip() == "":
        raise UsageError("results= is empty; name a results folder (default: results)")
    results = str(results)
    if cmd.keys is not None:
        check_keys(args, cmd.keys, what=f"{name} key")
    if cmd.writes_results:
        check_writable(results, create=False)  # before any work: a read-only folder fails now, not after it
    cmd.run(results, **args)


@command("train", keys=None, usage="model=lstm task=fluent gap=50 seed=0 [field=value ... option.NAME=value]",
         help="train one run: the default preset's protocol unless a RunConfig field says otherwise")
def train_command(results, **args):
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


@command("sweep", keys=None, usage="preset=default [models=rnn,lstm gaps=5,50 seeds=0,1 executor=process retry=failed seeds_per_model=10 reuse=DIR field=value]",
         help="train every run of a preset not recorded yet (copying those another folder, reuse=DIR, holds); the seeds of a configuration as one seed stack")
def sweep_command(results, preset="default", executor="process", retry=None, seeds_per_model=None, reuse=None, **args):
    from experiments.presets import GRID_AXES, expand
    from experiments.sweep import SEEDS_PER_MODEL, sweep

    if retry is not None:
        check_choice("retry", retry, ("failed",))
    overrides = {k: as_tuple(v) if k in GRID_AXES else v for k, v in gather_options(args).items()}
    counts = sweep(expand(preset, **overrides), results, executor=executor, retry=retry == "failed",
                   seeds_per_model=SEEDS_PER_MODEL if seeds_per_model is None else seeds_per_model,
                   reuse=None if reuse is None else str(reuse))
    print(f"sweep {preset}: {counts['done']} run now ({counts['diverged']} diverged), {counts['skipped']} skipped "
          f"as already recorded, {counts['claimed']} left to another sweep")
    if counts["errors"]:
        raise Failed(f"{counts['errors']} run(s) stopped by an error and recorded no result; "
                     f"details in {errors_dir(results)}/; rerun the sweep to retry them")


@command("evaluate", keys=("n_test", "rescore"), usage="[n_test=N rescore=true]", writes_results=True,
         help="score every saved model on a fresh test set: summary.csv, summary.md, success rates, reaches")
def evaluate_command(results, n_test=None, rescore=False):
    from experiments.evaluate import evaluate

    table = evaluate(results, n_test=check_int("n_test", n_test, 1) if n_test is not None else None,
                     rescore=check_bool("rescore", rescore))
    print(f"wrote {results}/summary.csv: {len(table)} runs, {int((table['status'] == 'diverged').sum())} diverged, "
          f"{table.attrs['left_out']} left out as unreadable")


@command("plot", keys=("panels",), usage="[panels=init|task]", writes_results=True,
         help="figures/success_vs_gap and accuracy_vs_gap.{png,pdf} from summary.csv; a panel per (task, initialisation), or per task")
def plot_command(results, panels="init"):
    from experiments.plot import plot_accuracy, plot_success

    for path in plot_success(results, panels=panels) + plot_accuracy(results, panels=panels):
        print(f"wrote {path}")


@command("papers-sweep", keys=("paper", "executor", "retry"), usage="[paper=arjovsky_adding executor=process retry=failed]",
         help="sweep each paper's preset (or one) into RESULTS/papers/<preset>/, skipping runs recorded")
def papers_sweep_command(results, paper=None, executor="process", retry=None):
    from experiments.presets import PAPER_PRESETS

    names = as_tuple(paper) if paper is not None else PAPER_PRESETS
    for name in names:
        check_choice("paper", name, PAPER_PRESETS)
    for name in names:
        sweep_command(f"{results}/papers/{name}", preset=name, executor=executor, retry=retry)


@command("papers", keys=("paper",), usage="[paper=arjovsky_adding]", writes_results=True,
         help="learning curves beside each paper's numbers: RESULTS/papers/<preset>/figures/learning_curves, papers/papers.md")
def papers_command(results, paper=None):
    from experiments.papers import papers

    for path in papers(results, as_tuple(paper) if paper is not None else None):
        print(f"wrote {path}")


@command("key-shift", keys=("task", "shifts"), usage="[task=fluent_distractors shifts=0,1,2,4,8,16,32]", writes_results=True,
         help="models that solved gap g, tested at g with the key moved later: found by content, or by its index?")
def key_shift_command(results, task=None, shifts=None):
    from experiments.analysis import KEY_SHIFTS, key_shift

    shifts = KEY_SHIFTS if shifts is None else tuple(sorted({check_int("shifts", s, 0) for s in as_tuple(shifts)}))
    key_shift(results, task=task, shifts=shifts)
    print(f"wrote {results}/key_shift*.csv, key_shift*_held.md and figures/key_shift*.png")


@command("report", writes_results=True, help="RESULTS/REPORT.md from everything in RESULTS")
def report_command(results):
    from experiments.report import report

    print(f"wrote {report(results)}")


@command("compare", keys=("other",), usage="other=DIR",
         help="success counts and reaches of RESULTS beside DIR's (Fisher's exact test per point); also saved as DIR/compare.md")
def compare_command(results, other=None):
    if other is None or str(other).strip() == "":
        raise UsageError("compare needs other=DIR, the results folder to set beside results=DIR")
    from experiments.compare import compare, markdown, same_runs
    from experiments.records import write_text

    text = markdown(*compare(results, str(other)), results, other, same_runs(results, str(other)))
    print(text)
    # beside the rerun it describes, so that a check folder carries its own verdict
    write_text(f"{other}/compare.md", text + "\n")
    print(f"wrote {other}/compare.md", file=sys.stderr)


@command("show-data", keys=("task", "gap", "n", "seed"), usage="task=fluent gap=5 [n=4 seed=0]", help="print readable samples of a task")
def show_data(results=None, task="fluent", gap=5, n=4, seed=0):
    from datasets import TASKS

    check_choice("task", task, TASKS)
    spec = TASKS[task]
    try:
        x, y = spec(gap, n, seed)
    except ValueError as err:  # the generator names the bad argument and its bound
        raise UsageError(str(err)) from None
    print(f"task {task}: gap = {spec.gap_meaning}; chance accuracy {spec.chance:.3f}; x {x.shape}, y {y.shape}")
    for row, target in zip(x, y):
        print("  " + spec.decode(row, target))


@command("presets", help="list the presets and how many runs each has")
def presets_command(results):
    from experiments.presets import PRESETS, expand

    for name in PRESETS:
        print(f"{name}: {len(expand(name))} runs")


@command("bench", keys=("quick", "cells"), usage="[quick=1 cells=rnn,lstm,gru]",
         help="time custom cells against Keras and PyTorch: RESULTS/bench.csv")
def bench_command(results, quick=None, cells=None):
    from experiments.bench import bench, markdown
    from layers import CELLS
    from layers.base import is_cell

    quick = bool(quick)
    recurrent = {name: entry for name, entry in CELLS.items() if is_cell(entry)}  # the bench times cells in keras.layers.RNN
    cells = as_tuple(cells or (("rnn", "lstm", "gru") if quick else tuple(recurrent)))
    for cell in cells:
        check_choice("cell", cell, recurrent)
    print(markdown(bench(cells, repeats=3 if quick else 10, warmup=1 if quick else 2, out=f"{results}/bench")))


@command("bench-executors", keys=("executors", "n_runs"), usage="[executors=local,process,ray n_runs=8]",
         help="time one small sweep per executor")
def bench_executors_command(results, executors=("local", "process"), n_runs=8):
    from experiments.bench_executors import EXECUTORS, bench_executors

    executors = as_tuple(executors)
    for executor in executors:
        check_choice("executor", executor, EXECUTORS)
    bench_executors(executors, check_int("n_runs", n_runs, 1))


@command("bench-rebuild", keys=("model", "gap", "seeds"), usage="[model=lstm gap=28 seeds=10]", writes_results=True,
         help="time one seed stack never rebuilt against rebuilt from its open seeds: RESULTS/bench_rebuild.md")
def bench_rebuild_command(results, model="lstm", gap=28, seeds=10):
    from experiments.bench_seeds import bench_rebuild, rebuild_markdown
    from experiments.config import cell_registry
    from experiments.records import write_text

    check_choice("model", model, cell_registry())
    row = bench_rebuild(model, check_int("gap", gap, 1), check_int("seeds", seeds, 2))
    write_text(f"{results}/bench_rebuild.md", rebuild_markdown(row))
    print(f"wrote {results}/bench_rebuild.md")


@command("bench-vmap", keys=("models", "gap", "seeds", "rounds"), usage="[models=lstm,gru gap=80 seeds=10 rounds=2]",
         writes_results=True, help="time a seed stack's update on TensorFlow against jax.vmap on JAX: RESULTS/bench_vmap.{csv,md}")
def bench_vmap_command(results, models=("lstm", "gru"), gap=80, seeds=10, rounds=2):
    import importlib.util

    from experiments.bench_vmap import bench_vmap, write
    from experiments.config import cell_registry

    models = as_tuple(models)
    for model in models:
        check_choice("model", model, cell_registry())
    if importlib.util.find_spec("jax") is None:
        raise UsageError("bench-vmap needs JAX, an optional extra: run make bench-extras first")
    table = bench_vmap(models, check_int("gap", gap, 1), check_int("seeds", seeds, 1), check_int("rounds", rounds, 1))
    for path in write(table, results):
        print(f"wrote {path}")


@command("bench-seeds", keys=("models", "gaps", "seeds", "steps"), usage="[models=rnn,lstm,gru gaps=80 seeds=1,3,10 steps=100]",
         writes_results=True, help="time S seeds one by one against one seed stack: RESULTS/bench_seeds.{csv,md}")
def bench_seeds_command(results, models=("rnn", "lstm", "gru"), gaps=(80,), seeds=(1, 3, 10), steps=100):
    from experiments.bench_seeds import bench_seeds, write
    from experiments.config import cell_registry

    models, gaps = as_tuple(models), as_tuple(gaps)
    for model in models:
        check_choice("model", model, cell_registry())
    for gap in gaps:
        check_int("gap", gap, 1)
    seeds = sorted({check_int("seeds", n, 1) for n in as_tuple(seeds)})
    table = bench_seeds(models, gaps, tuple(seeds), check_int("steps", steps, 1))
    for path in write(table, results):
        print(f"wrote {path}")


def _register_analyses():
    """Each analysis of `analysis.ANALYSES` is a command of its own name."""
    from experiments.analysis import ANALYSES

    for name, analysis in ANALYSES.items():
        if name in COMMANDS:
            continue

        def run_analysis(results, _analysis=analysis, **args):
            for key in _analysis.int_keys:
                if args.get(key) is not None:
                    args[key] = check_int(key, args[key], 1)
            _analysis.run(results, **args)
            print(f"wrote {results}/{_analysis.name}.csv and {results}/figures/{_analysis.name}.png")

        command(name, keys=analysis.keys, usage=analysis.usage, help=analysis.help, writes_results=True)(run_analysis)


_register_analyses()


def train_config(args):
    """The RunConfig `train` trains: the default preset's run unless a field says otherwise."""
    from experiments.presets import PROTOCOL

    return RunConfig.from_dict({**PROTOCOL, **gather_options(args)})


__all__ = ["COMMANDS", "command", "main"]
