"""The pipeline end to end on the quick preset, determinism, and the bad-input table."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, cli, snapshot

from datasets import TASKS
from experiments import presets
from experiments.checks import UsageError
from experiments.config import RunConfig
from experiments.evaluate import evaluate
from experiments.train import train
from layers import CELLS

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`

QUICK = dict(units=8, budget=640, eval_every=10, n_val=64, n_test=128)


def test_pipeline_writes_records_models_summary_and_figure(quick_results):
    configs = presets.expand("quick")
    records = [json.loads((quick_results / "runs" / f"{c.run_id}.json").read_text()) for c in configs]
    assert len(records) == 6 and all(r["status"] == "ok" for r in records)
    for record, cfg in zip(records, configs):
        assert record["config"] == RunConfig.from_dict(record["config"]).__dict__ == cfg.__dict__
        assert record["chance_accuracy"] == pytest.approx(1 / 8)
        assert 0 <= record["test_accuracy"] <= 1
        assert 0 < record["sequences_seen"] <= cfg.budget and record["sequences_seen"] % cfg.batch_size == 0
        assert record["solved"] == (record["history"][-1]["val_accuracy"] >= cfg.target_accuracy)
        assert record["versions"]["keras"].startswith("3.")
        assert (quick_results / "models" / f"{cfg.run_id}.keras").stat().st_size > 0
    summary = pd.read_csv(quick_results / "summary.csv")
    required = ["model", "task", "gap", "seed", "test_accuracy", "chance_accuracy", "sequences_seen", "seconds"]
    assert set(required) <= set(summary.columns)
    assert sorted(summary["run_id"]) == sorted(c.run_id for c in configs)
    assert summary["test_accuracy"].between(0, 1).all()
    # 50 steps at gaps 2 and 4 are enough to learn: well above chance (1/8) on average.
    assert summary["test_accuracy"].mean() > 0.5, summary[["model", "gap", "test_accuracy"]]
    for name in ("accuracy_vs_gap", "success_vs_gap"):
        for ext in ("png", "pdf"):
            assert (quick_results / "figures" / f"{name}.{ext}").stat().st_size > 10_000


def test_a_panel_of_many_cells_widens_and_keeps_its_legend_outside(quick_results, tmp_path):
    """Ten lines in one panel (the LSTM family) would hide the curves under the legend."""
    import matplotlib.image

    from experiments.plot import plot_success

    summary = pd.read_csv(quick_results / "summary.csv")
    many = pd.concat([summary[summary["model"] == "lstm"].assign(model=f"lstm_{i}") for i in range(5)])
    widths = {}
    for name, table in (("few", summary), ("many", many)):
        (tmp_path / name).mkdir()
        table.to_csv(tmp_path / name / "summary.csv", index=False)
        png = plot_success(tmp_path / name)[0]
        widths[name] = matplotlib.image.imread(png).shape[1]
    assert widths["few"] == round(4.6 * 130) and widths["many"] == round(7.2 * 130)  # one panel each, 130 dpi


def test_panels_by_task_put_every_row_of_a_task_in_one_panel(quick_results, tmp_path, monkeypatch):
    """post2015's cells do not share initialisations: one panel per task, each (cell,
    initialisation) a line in its cell's colour, a cell's second initialisation dashed."""
    from experiments import plot

    summary = pd.read_csv(quick_results / "summary.csv")
    chrono = summary[summary["model"] == "lstm"].assign(init_label="orthogonal recurrent, chrono forget bias")
    (tmp_path / "r").mkdir()
    pd.concat([summary, chrono]).to_csv(tmp_path / "r" / "summary.csv", index=False)
    figures = {}
    monkeypatch.setattr(plot, "save_figure", lambda fig, out: figures.setdefault(out.rsplit("/", 1)[-1], fig) and [out])

    plot.plot_success(tmp_path / "r", panels="task")
    plot.plot_accuracy(tmp_path / "r", panels="task")
    by_init = len(plot.panel_keys(pd.concat([summary, chrono]), "init"))
    for name, fig in figures.items():
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert [ax.get_title() for ax in panels] == ["fluent"], name  # one task, one panel (by init: 2)
        # "lstm, orthogonal recurrent (1 seeds)" in the success figure, without the count in the other
        lines = {line.get_label().split(" (")[0]: line for line in panels[0].get_lines() if "," in line.get_label()}
        assert set(lines) == {f"{m}, orthogonal recurrent" for m in ("rnn", "lstm", "gru")} | {"lstm, orthogonal recurrent, chrono forget bias"}, name
        default, chrono = lines["lstm, orthogonal recurrent"], lines["lstm, orthogonal recurrent, chrono forget bias"]
        assert default.get_color() == chrono.get_color() and (default.get_linestyle(), chrono.get_linestyle()) == ("-", "--"), name
    assert by_init == 2
    with pytest.raises(UsageError, match="unknown panels 'rows'; allowed: init, task"):
        plot.plot_success(tmp_path / "r", panels="rows")


def test_rerun_skips_recorded_runs_and_changes_nothing(quick_results, tmp_path):
    results = tmp_path / "r"  # a copy: other workers' tests read quick_results meanwhile
    shutil.copytree(quick_results, results)
    before = snapshot(results / "runs")
    out = cli("sweep", "preset=quick", f"results={results}", "executor=local")
    assert out.returncode == 0, out.stderr
    assert "6 already recorded and skipped, 0 to run" in out.stderr
    assert snapshot(results / "runs") == before


def test_evaluate_matches_training_time_scores(quick_results):
    """The reloaded model scores within sampling noise of the model that was trained."""
    summary = pd.read_csv(quick_results / "summary.csv")
    gap = (summary["test_accuracy"] - summary["record_test_accuracy"]).abs()
    assert (gap < 0.15).all(), summary[["run_id", "test_accuracy", "record_test_accuracy"]]


@pytest.mark.parametrize("fast", [{}, presets.FAST], ids=["step", "fused-xla"])
def test_same_config_and_seed_give_identical_records(tmp_path, fast):
    cfg = RunConfig(model="lstm", gap=3, seed=5, **QUICK, **fast)
    a, b = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    for key in ("test_accuracy", "final_loss", "sequences_seen", "history"):
        assert a[key] == b[key]
    other = train(RunConfig(model="lstm", gap=3, seed=6, **QUICK, **fast), tmp_path / "c")
    assert other["history"] != a["history"]


@pytest.mark.parametrize("fast", [{}, presets.FAST], ids=["step", "fused-xla"])
def test_a_shared_compiled_model_trains_exactly_as_a_fresh_one(tmp_path, fast):
    """Runs differing in seed and gap reuse one compiled model; the record must not know it."""
    from experiments import model as model_module

    first = RunConfig(model="gru", gap=3, seed=1, forget_bias="chrono", **QUICK, **fast)
    second = RunConfig(model="gru", gap=4, seed=2, forget_bias="chrono", **QUICK, **fast)
    model_module._compiled.clear()
    alone = train(second, tmp_path / "alone")
    model_module._compiled.clear()
    train(first, tmp_path / "shared")
    shared = train(second, tmp_path / "shared")
    assert len(model_module._compiled) == 1  # the second run did reuse the first one's model
    for key in ("test_accuracy", "final_loss", "sequences_seen", "history"):
        assert shared[key] == alone[key]
    # the saved model is the run's own: chrono_tmax follows the second run's gap, not the first's
    saved = json.loads(zipfile.ZipFile(tmp_path / "shared" / "models" / f"{second.run_id}.keras").read("config.json"))
    assert '"chrono_tmax": 6' in json.dumps(saved)


def test_a_shared_model_is_not_reused_where_the_gap_changes_the_cell():
    """IndRNN's bound follows the run's length: the model of gap 3 must not train gap 50."""
    from experiments import model as model_module

    model_module._compiled.clear()
    short, _ = model_module.reusable_model(RunConfig(model="indrnn", gap=3, **QUICK))
    reused, _ = model_module.reusable_model(RunConfig(model="indrnn", gap=4, seed=1, **QUICK))
    longer, _ = model_module.reusable_model(RunConfig(model="indrnn", gap=50, **QUICK))
    assert longer is not short and longer.layers[1].cell.bound == pytest.approx(2 ** (1 / 52))
    assert reused is not short  # gap 4 is another length too
    model_module._compiled.clear()
    gru, _ = model_module.reusable_model(RunConfig(model="gru", gap=3, forget_bias="chrono", **QUICK))
    gru.optimizer.build(gru.trainable_variables)  # as training leaves it
    assert model_module.reusable_model(RunConfig(model="gru", gap=9, forget_bias="chrono", **QUICK))[0] is gru  # T_max: weights only


def test_every_optimizer_name_a_config_accepts_is_one_the_model_builds():
    """config.py validates names without importing Keras; model.py builds them: one list each."""
    from experiments import config, model

    assert set(config.OPTIMIZERS) == set(model.OPTIMIZERS)


def test_xla_is_on_when_asked_despite_op_determinism():
    from experiments.data import seed_everything
    from experiments.model import build_model

    seed_everything(0)
    assert build_model(RunConfig(jit_compile=True, **QUICK)).jit_compile is True
    assert build_model(RunConfig(**QUICK)).jit_compile is False


def test_corrupt_record_is_reported_and_skipped(quick_results, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(quick_results, results)
    (results / "runs" / "broken.json").write_text('{"config": ')
    table = evaluate(results, progress=False)
    assert len(table) == 6
    assert "broken.json" in capsys.readouterr().err


def test_presets_expand_as_documented():
    first = presets.expand("first_look")
    assert len(first) == 126 and len({c.run_id for c in first}) == 126
    assert sorted({c.gap for c in first}) == list(presets.GAPS) and presets.GAPS[0] == 5 and presets.GAPS[-1] >= 300
    labels = {(c.model, c.init_label) for c in first}
    chrono = "orthogonal recurrent, chrono forget bias"
    assert labels == {("rnn", "orthogonal recurrent"), ("rnn", "identity recurrent"), ("lstm", "orthogonal recurrent"),
                      ("gru", "orthogonal recurrent"), ("lstm", chrono), ("gru", chrono)}
    only_rnn = presets.expand("first_look", models=("rnn",), seeds=(0,))
    assert {c.init_label for c in only_rnn} == {"orthogonal recurrent", "identity recurrent"} and len(only_rnn) == 14
    # The headline: the same rows, 10 seeds at every point, every first-look run among them
    # (so its records are reused), the chrono rows out to 2560.
    default = presets.expand("default")
    assert len(default) == 590 and {c.run_id for c in first} <= {c.run_id for c in default}
    assert {(c.model, c.init_label) for c in default} == labels
    points = pd.DataFrame([(c.model, c.init_label, c.gap, c.seed) for c in default], columns=["m", "i", "g", "s"])
    assert (points.groupby(["m", "i", "g"])["s"].nunique() == 10).all()
    assert max(c.gap for c in default if c.init_label == chrono) == 2560


def test_every_preset_expands():
    """`make presets` lists them all: no grid may hold a run its task or cell refuses."""
    sizes = {name: len(presets.expand(name)) for name in presets.PRESETS}
    assert all(sizes.values())
    full = presets.expand("full")
    assert {c.model for c in full} == set(CELLS) and {c.task for c in full} == set(TASKS)
    assert min(c.gap for c in full if c.task == "selective_copy") == 10  # its shortest; gap 5 skipped for it only


def test_chrono_tmax_follows_the_gap():
    assert RunConfig(model="lstm", gap=40, forget_bias="chrono").cell_kwargs()["chrono_tmax"] == 42
    with pytest.raises(UsageError, match="forget_bias='chrono' does not apply to model 'rnn'"):
        RunConfig(model="rnn", forget_bias="chrono")


# The bad-input table: (CLI arguments, text the one error line must contain).
BAD_INPUT = [
    (["train", "model=lstmm"], f"unknown model 'lstmm'; allowed: {', '.join(CELLS)}"),
    (["train", "task=adding", "gap=1"], "gap must be an integer >= 2 for task 'adding', received gap=1"),
    (["train", "optimizer=sgd"], "unknown optimizer 'sgd'; allowed: adam, rmsprop, rmsprop_primed, rmsprop_torch"),
    (["train", "fused=yes"], "fused must be true or false, received fused='yes'"),
    (["train", "jit_compile=1"], "jit_compile must be true or false, received jit_compile=1"),
    (["train", "early_stop=maybe"], "early_stop must be true or false, received early_stop='maybe'"),
    (["train", "train_blanks=no"], "train_blanks must be true or false, received train_blanks='no'"),
    (["train", "train_blanks=false"],
     "train_blanks=False applies to a task with an output per step (copy, fluent_moving, selective_copy, associative_recall), received task='fluent'"),
    (["train", "chrono_tmax=50"], "chrono_tmax=50 needs forget_bias='chrono'"),
    (["train", "momentum=0.9"], "momentum=0.9 needs optimizer=rmsprop or rmsprop_torch, received optimizer=None"),
    (["train", "optimizer=rmsprop", "momentum=1"], "momentum must be in [0, 1), received momentum=1"),
    (["train", "option.kernel_initializer=he"], "model 'lstm': unknown kernel_initializer 'he'; allowed: glorot_uniform, glorot_per_gate"),
    (["train", "task=french"], f"unknown task 'french'; allowed: {', '.join(TASKS)}"),
    (["sweep", "preset=huge"], f"unknown preset 'huge'; allowed: {', '.join(presets.PRESETS)}"),
    (["train", "gap=0"], "gap must be an integer >= 1, received gap=0"),
    (["train", "gap=-5"], "gap must be an integer >= 1, received gap=-5"),
    (["train", "gap=2.5"], "gap must be an integer >= 1, received gap=2.5"),
    (["sweep", "preset=quick", "seeds=0,x"], "seed must be an integer >= 0, received seed='x'"),
    (["train", "units=0"], "units must be an integer >= 1, received units=0"),
    (["train", "learning_rate=0"], "learning_rate must be a number > 0, received learning_rate=0"),
    (["train", "learning_rate=-1e-3"], "learning_rate must be a number > 0"),
    (["train", "gpa=5"], "unknown config key 'gpa' (did you mean 'gap'?)"),
    (["sweep", "preset=quick", "modles=rnn"], "unknown sweep key 'modles' (did you mean 'models'?)"),
    (["sweep", "preset=quick", "executor=cloud"], "unknown executor 'cloud'; allowed: local, process, ray"),
    (["train", "forget_bias=two"], "unknown forget_bias 'two'; allowed: zero, one, chrono"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["train", "gap"], "expected key=value, received 'gap'"),
    (["sweep", "preset=quick", "seeds=1.5"], "seed must be an integer >= 0, received seed=1.5"),
    (["sweep", "preset=quick", "units=-4"], "units must be an integer >= 1, received units=-4"),
    (["sweep", "preset=quick", "reuse={missing}"], "no runs/ folder there to copy results from"),
    (["gradients", "gap=7"], "no runs at gap=7"),
    (["papers", "paper=bai_adding"], "no records of paper 'bai_adding' under"),
    (["key-shift", "shifts=0,-1"], "shifts must be an integer >= 0, received shifts=-1"),
    (["key-shift", "task=adding"], "this analysis handles the fluent, fluent_distractors, fluent_moving task only, received task='adding'"),
    (["report", "results={missing}"], "no summary at"),
    (["show-data", "task=fluent", "gap=0"], "gap must be an integer >= 1"),
    (["show-data", "task=temporal_order", "gap=3"], "gap must be an integer >= 5, received gap=3"),
    (["show-data", "task=fluent", "n=0"], "n must be an integer >= 1, received n=0"),
    (["plot", "results={empty}"], "no summary at"),
    (["evaluate", "results={empty}"], "runs"),
    (["evaluate", "results={missing}"], "does not exist"),
    (["evaluate", "rescore=maybe"], "rescore must be true or false, received rescore='maybe'"),
    (["plot", "results={missing}"], "no summary at"),
    (["plot", "results={a_file}"], "is a file, not a folder"),
    (["evaluate", "results={a_file}"], "is a file, not a folder"),
    (["train", "results={unwritable}"], "is not writable"),
    (["sweep", "preset=quick", "results={unwritable}"], "is not writable"),
]


MAKE_TARGETS = {"train", "sweep", "evaluate", "plot", "show-data", "gradients", "report"}


def make_invocation(args, results):
    """The same bad input through make: `make TARGET RESULTS=... ARGS='k=v ...'`, or None."""
    command, pairs = args[0], args[1:]
    if command not in MAKE_TARGETS or any("=" not in p for p in pairs):
        return None  # no make target to misuse, or make always builds key=value pairs
    rest = [p for p in pairs if not p.startswith("results=")]
    results = next((p.split("=", 1)[1] for p in pairs if p.startswith("results=")), results)
    return ["make", "--no-print-directory", "-s", command, f"RESULTS={results}", f"ARGS={' '.join(rest)}"]


def in_process(args):
    """`python -m experiments ARGS` without a new interpreter: `cli.main` with its output
    captured, as a CompletedProcess. An exception that escapes main becomes exit 1 with its
    traceback on stderr, as the interpreter would print it."""
    import contextlib
    import io
    import signal
    import traceback

    from experiments.cli import main

    out, err, handler = io.StringIO(), io.StringIO(), signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        signal.signal(signal.SIGTERM, handler)  # main installs its own for a scheduler's stop
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def bad_input_runs(quick_results, tmp_path_factory):
    """Every bad input, through the Python entry point and through make.

    Through Python: the first case as a real `python -m experiments` process, the rest by
    calling `cli.main` in this process (`in_process`): the same parser and the same error
    path, without 4-8 s of interpreter and TensorFlow start-up each (this fixture took 66 s
    of a 9-minute CI run with a process per case). Through make, always real processes, 4 at
    a time: each target's first bad input and every bad RESULTS.
    Returns ({(case, via): CompletedProcess}, folders, snapshots before, snapshots after).
    """
    import concurrent.futures as cf

    tmp = tmp_path_factory.mktemp("bad")
    folders = {"empty": tmp / "empty", "missing": tmp / "missing"}
    folders["empty"].mkdir()
    (tmp / "a_file").write_text("not a folder")
    folders["unwritable"] = tmp / "a_file" / "results"  # cannot be created, even by root
    folders["a_file"] = tmp / "a_file"
    watched = [quick_results, folders["empty"]]
    before = [snapshot(f) for f in watched]
    jobs, through_make = {}, set()
    for i, (args, _) in enumerate(BAD_INPUT):
        args = [a.format(**folders) for a in args]
        has_results = any(a.startswith("results=") for a in args)
        jobs[(i, "python")] = [sys.executable, "-m", "experiments", *args] + ([] if has_results else [f"results={quick_results}"])
        make = make_invocation(args, quick_results)
        # Through make: each target's first bad input, and every bad RESULTS (make passes it
        # apart from ARGS); the rest reach the same parser, already tested through Python.
        if make and (args[0] not in through_make or has_results):
            jobs[(i, "make")] = make
            through_make.add(args[0])
    # As from a user's shell: no make variables inherited from the `make test` that runs pytest.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    run = lambda cmd: subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    processes = {key: cmd for key, cmd in jobs.items() if key[1] == "make" or key[0] == 0}
    with cf.ThreadPoolExecutor(4) as pool:
        running = {key: pool.submit(run, cmd) for key, cmd in processes.items()}
        outs = {key: in_process(cmd[3:]) for key, cmd in jobs.items() if key not in processes}  # meanwhile, here
        outs.update({key: future.result() for key, future in running.items()})
    return outs, folders, before, [snapshot(f) for f in watched]


@pytest.mark.parametrize("via", ["python", "make"])
@pytest.mark.parametrize("case", range(len(BAD_INPUT)), ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, via, bad_input_runs):
    outs, folders, before, after = bad_input_runs
    if (case, via) not in outs:
        pytest.skip("no make target takes this input, or its target is tested through make with another")
    out, message = outs[(case, via)], BAD_INPUT[case][1]
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    # make adds its own "make: *** [...] Error 2" after our line; nothing else may appear
    assert len(errors) == 1 and message in errors[0], out.stderr
    assert all(re.match(r"make(\[\d+\])?: \*\*\* ", line) for line in lines if line not in errors), out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert after == before
    assert not folders["missing"].exists()


def test_every_task_runs_through_the_pipeline(tmp_path):
    for command in (["sweep", "preset=quick_tasks", "executor=local"], ["evaluate"], ["plot"]):
        out = cli(*command, f"results={tmp_path}")
        assert out.returncode == 0, out.stderr
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("task")
    assert set(summary.index) == {"adding", "copy", "temporal_order", "fluent_distractors", "fluent_moving", "selective_copy"}
    assert summary.loc["adding", "baseline_loss"] == pytest.approx(1 / 6)
    assert summary.loc["copy", "baseline_loss"] == pytest.approx(10 * np.log(8) / 26)
    assert summary.loc["temporal_order", "chance_accuracy"] == 0.25
    assert summary.loc["selective_copy", "baseline_loss"] == pytest.approx(10 * np.log(8) / 21)
    assert summary.loc["fluent_distractors", "chance_accuracy"] == 0.125
    assert summary.loc["fluent_moving", "baseline_loss"] == pytest.approx(np.log(8))  # its answer alone is trained
    assert summary["test_loss"].notna().all() and summary["test_accuracy"].between(0, 1).all()
    # temporal order at T = 6 is learnt in 50 steps; the others need more than a smoke budget
    assert summary.loc["temporal_order", "test_accuracy"] > 0.5
    assert (tmp_path / "figures" / "accuracy_vs_gap.png").stat().st_size > 10_000


def test_run_ids_of_committed_records_stay_valid(quick_results, tmp_path):
    """Fields added later leave earlier run ids alone, and old records still evaluate."""
    # the id of results/lstm_family/runs/lstm-fluent-gap10-seed0-1ade179a47.json, recorded
    # before `optimizer`, `chrono_tmax`, `fused` and `jit_compile` existed: it must stay valid
    assert RunConfig(model="lstm", gap=10, seed=0).run_id == "lstm-fluent-gap10-seed0-1ade179a47"
    assert RunConfig(model="lstm", gap=10, seed=0, optimizer="rmsprop").run_id != "lstm-fluent-gap10-seed0-1ade179a47"
    results = tmp_path / "old"
    shutil.copytree(quick_results, results)
    for path in (results / "runs").glob("*.json"):
        record = json.loads(path.read_text())
        for late in ("optimizer", "chrono_tmax", "fused", "jit_compile"):
            record["config"].pop(late, None)
        path.write_text(json.dumps(record))
    table = evaluate(results, progress=False)
    assert len(table) == 6 and table["optimizer"].isna().all() and table["test_accuracy"].notna().all()


def test_a_cells_own_options_reach_it_through_the_config_and_its_id():
    from experiments.config import RunConfig

    plain = RunConfig(model="indrnn", gap=8)
    bounded = RunConfig(model="indrnn", gap=8, options={"recurrent_max": 1.5})
    assert bounded.options == (("recurrent_max", 1.5),) and plain.options is None
    assert bounded.run_id != plain.run_id and bounded.cell_kwargs()["recurrent_max"] == 1.5
    assert bounded.init_label == "recurrent_max=1.5" and plain.init_label == "default"  # IndRNN: no recurrent matrix to name
    assert RunConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(bounded)))) == bounded  # a record round-trips
    clock = RunConfig(model="clockwork_rnn", options={"periods": [1, 4]})
    assert clock.options == (("periods", (1, 4)),) and clock.init_label == "orthogonal recurrent, periods=1,4"
    for options, match in [({"periods": (1, 2)}, "model 'indrnn' has no option 'periods'; its options: recurrent_max"),
                           ({"forget_bias": "one"}, "set forget_bias= instead"),
                           ({"recurrent_max": [1, [2]]}, "takes numbers, names or a list of them")]:
        with pytest.raises(ValueError, match=re.escape(match)):
            RunConfig(model="indrnn", options=options)
    # A bad option value is refused when the config is made, by the cell's own check: before a
    # sweep starts or an error record is written, not when the run builds its model.
    for model, options, match in [("lstm", {"kernel_initializer": "he"}, "model 'lstm': unknown kernel_initializer 'he'; allowed: glorot_uniform, glorot_per_gate"),
                                  ("attention", {"positions": "rope"}, "model 'attention': positions must be one of learned, alibi, received positions='rope'"),
                                  ("clockwork_rnn", {"periods": (4, 1)}, "periods must be non-decreasing positive integers")]:
        with pytest.raises(UsageError, match=re.escape(match)):
            RunConfig(model=model, options=options)


def test_options_on_the_command_line(tmp_path):
    out = cli("train", "model=indrnn", "gap=3", "units=4", "budget=128", "eval_every=2", "n_val=32", "n_test=32",
              "option.recurrent_max=1.2", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["config"]["options"] == [["recurrent_max", 1.2]]
    bad = cli("train", "model=lstm", "gap=3", "option.periods=1,2", f"results={tmp_path}")
    assert bad.returncode == 2 and "model 'lstm' has no option 'periods'" in bad.stderr and "Traceback" not in bad.stderr


def test_every_model_states_its_capacity():
    """The capacity columns of the tables exist for every entry of CELLS, cells or not: the
    parameter count of the whole model, and what its sequence layer carries between steps."""
    from experiments.evaluate import capacity
    from layers import CELLS

    sizes = {name: capacity(RunConfig(model=name, units=8)) for name in CELLS}
    assert all(params > 0 for params, _ in sizes.values())
    assert sizes["lstm"][1] == 16 and sizes["gru"][1] == 8 and sizes["lru"][1] == 16  # (h, c); h; Re and Im of x
    assert sizes["exprnn"][1] == 8 and sizes["attention"][1] == "16 per step seen"  # one block's keys and values


def test_train_blanks_sets_a_sequence_tasks_loss_its_label_and_its_id():
    """`train_blanks=False` trains a sequence task's answers alone: the compiled loss, the
    record's baseline and the row label follow, the id changes, and the task default does not."""
    from experiments.model import build_model

    default = RunConfig(model="rnn", task="selective_copy", gap=12, units=8)
    answers = dataclasses.replace(default, train_blanks=False)
    assert default.run_id != answers.run_id and default.task_spec is TASKS["selective_copy"]
    assert answers.init_label == "orthogonal recurrent, answers only" and default.init_label == "orthogonal recurrent"
    assert answers.task_spec.answers_only and not TASKS["selective_copy"].answers_only
    assert answers.task_spec.baseline_loss(12) == pytest.approx(np.log(8))  # a uniform guess at each answer
    x, y = TASKS["selective_copy"](12, 32, 0)
    logits = np.random.default_rng(1).normal(size=(*y.shape, TASKS["selective_copy"].n_classes)).astype("float32")
    compiled = float(build_model(answers).loss(y, logits))
    assert compiled == pytest.approx(answers.task_spec.loss(logits, y), rel=1e-5)
    assert compiled != pytest.approx(TASKS["selective_copy"].loss(logits, y), rel=1e-2)  # the blanks would count
    from experiments.evaluate import label_variants  # the label already names the loss: no "[train_blanks=...]" suffix

    rows = pd.DataFrame([{**dataclasses.asdict(c), "init_label": c.init_label} for c in (default, answers)])
    assert list(label_variants(rows)["init_label"]) == ["orthogonal recurrent", "orthogonal recurrent, answers only"]
    # The preset trains selective copying and associative recall on their answers alone, and nothing else changes.
    post = presets.expand("post2015")
    assert {c.train_blanks for c in post if c.task in presets.POST_ANSWERS_ONLY} == {False}
    assert {c.train_blanks for c in post if c.task not in presets.POST_ANSWERS_ONLY} == {None}
    # A sweep of some of its tasks keeps each grid's own runs on them; other tasks replace the preset's.
    some = presets.expand("post2015", tasks=("selective_copy", "fluent"), gaps=(10,))
    assert {(c.task, c.train_blanks) for c in some} == {("selective_copy", False), ("fluent", None)} and len(some) == 2 * 12 * 5
    assert {c.task for c in presets.expand("default", tasks=("adding",))} == {"adding"}
    with pytest.raises(UsageError, match="tasks not in preset 'post2015': adding"):
        presets.expand("post2015", tasks=("fluent", "adding"))
