"""What a record means: results (ok, diverged) against errors (retried, never counted), claims
that keep two sweeps apart, broken inputs left out by name, and a sweep that dies with its
workers. Each test failed before the fix it guards."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

from datasets import TASKS
from experiments import presets, records
from experiments.checks import UsageError
from experiments.config import RunConfig
from experiments.evaluate import evaluate
from experiments.sweep import pending, sweep
from experiments.tables import accuracy_markdown, critical_gaps

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`

QUICK = dict(units=8, budget=640, eval_every=10, n_val=64, n_test=128)


def broken_task(monkeypatch, fail_gap, err):
    """Make the fluent task raise `err` at `fail_gap` (a bug or an I/O error mid-run)."""
    original = TASKS["fluent"]

    def fn(gap, n, seed):
        if gap == fail_gap:
            raise err
        return original(gap, n, seed)

    monkeypatch.setitem(TASKS, "fluent", original.__class__(**{**original.__dict__, "fn": fn}))


def test_an_error_is_no_result_and_the_next_sweep_retries_it(tmp_path, monkeypatch):
    configs = [RunConfig(model="rnn", gap=g, **QUICK) for g in (2, 3)]
    broken_task(monkeypatch, 3, OSError(errno.ENOSPC, "No space left on device"))
    counts = sweep(configs, tmp_path, executor="local", progress=False)
    assert counts == {"done": 1, "diverged": 0, "errors": 1, "claimed": 0, "skipped": 0}
    bad = configs[1].run_id
    assert not records.record_path(tmp_path, bad).exists()  # no result recorded
    error = json.loads(records.error_path(tmp_path, bad).read_text())
    assert "No space left on device" in error["error"] and "Traceback" in error["traceback"]
    assert list(evaluate(tmp_path, progress=False)["gap"]) == [2]  # never counted, never drawn
    monkeypatch.undo()  # space freed: the rerun trains the run, and clears its error
    counts = sweep(configs, tmp_path, executor="local", progress=False)
    assert counts == {"done": 1, "diverged": 0, "errors": 0, "claimed": 0, "skipped": 1}
    assert json.loads(records.record_path(tmp_path, bad).read_text())["status"] == "ok"
    assert not records.error_path(tmp_path, bad).exists()


def test_a_sweep_with_errors_exits_1_and_says_where(tmp_path):
    # A results folder whose models/ is a file: every model write fails, as on a full disk.
    (tmp_path / "models").write_text("not a folder")
    out = cli("sweep", "preset=quick", "models=rnn", "gaps=2", "executor=local", f"results={tmp_path}")
    assert out.returncode == 1, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last == f"error: 1 run(s) stopped by an error and recorded no result; details in {tmp_path}/errors/; rerun the sweep to retry them"
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.glob("runs/*.json"))  # no result recorded for the run that errored


def test_a_diverged_run_is_a_result_that_counts_as_unsolved(tmp_path):
    cfg = RunConfig(model="rnn", task="adding", gap=2, learning_rate=1e30, clipnorm=1e30, **QUICK)  # the MSE overflows
    from experiments.train import train

    record = train(cfg, tmp_path)
    assert record["status"] == "diverged" and record["solved"] is False and record["test_accuracy"] is None
    counts = sweep([cfg], tmp_path, executor="local", progress=False)
    assert counts["skipped"] == 1  # a result: not retrained unless asked
    assert sweep([cfg], tmp_path, executor="local", progress=False, retry=True)["diverged"] == 1
    summary = evaluate(tmp_path, progress=False)
    assert list(summary["status"]) == ["diverged"] and summary["test_accuracy"].isna().all()


def summary_rows(accuracies):
    """A hand-made summary: {(gap, seed): accuracy or 'diverged'} for one cell."""
    rows = []
    for (gap, seed), acc in accuracies.items():
        diverged = acc == "diverged"
        rows.append({"task": "fluent", "model": "rnn", "init_label": "orthogonal recurrent", "gap": gap, "seed": seed,
                     "test_accuracy": float("nan") if diverged else acc, "chance_accuracy": 0.125,
                     "status": "diverged" if diverged else "ok"})
    return pd.DataFrame(rows)


def test_a_diverged_seed_stops_the_critical_gap():
    # Before: the diverged seed was dropped, gap 40's mean was 1.0 and the critical gap passed it.
    summary = summary_rows({(20, 0): 1.0, (20, 1): 1.0, (40, 0): 1.0, (40, 1): "diverged", (80, 0): 1.0, (80, 1): 1.0})
    row = critical_gaps(summary).iloc[0]
    assert row.critical_gap == 20 and row.seed_min == 20 and row.seed_max == 80
    assert "1 diverged (counted at chance accuracy" in accuracy_markdown(summary)


def test_a_row_that_fails_at_its_smallest_gap_says_so():
    summary = summary_rows({(5, 0): 0.2, (5, 1): 0.3, (10, 0): 0.1, (10, 1): 0.1})
    assert "| < 5 |" in accuracy_markdown(summary)  # not "0 (0-0)"


def test_a_live_claim_keeps_a_second_sweep_off_the_run(tmp_path, capsys):
    cfg = RunConfig(model="rnn", gap=2, **QUICK)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = records.claim_path(tmp_path, cfg.run_id)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"host": socket.gethostname(), "pid": other.pid, "started": time.time()}))
        counts = sweep([cfg], tmp_path, executor="local", progress=False)
        assert counts["claimed"] == 1 and counts["done"] == 0
        assert "1 claimed by another sweep now" in capsys.readouterr().err
        assert not records.record_path(tmp_path, cfg.run_id).exists()
    finally:
        other.kill()
        other.wait()
    # Its process gone, the claim is stale: the next sweep takes it, trains, and releases it,
    # and its start line does not count it as held (it did before, after a killed sweep).
    counts = sweep([cfg], tmp_path, executor="local", progress=False)
    assert counts["done"] == 1 and not path.exists()
    assert "claimed by another sweep" not in capsys.readouterr().err


def test_claims_are_exclusive_and_expire(tmp_path):
    assert records.claim(tmp_path, "r1") and not records.claim(tmp_path, "r1")
    path = records.claim_path(tmp_path, "r1")
    held = json.loads(path.read_text())
    assert not records.claim_is_stale(path)
    assert records.claim_is_stale(path, now=held["started"] + records.CLAIM_TIMEOUT + 1)
    path.write_text(json.dumps({**held, "host": "elsewhere", "pid": 1}))  # another host: only age decides
    assert not records.claim_is_stale(path)
    records.release(tmp_path, "r1")
    assert records.claim(tmp_path, "r1")


def test_two_sweeps_into_one_folder_train_each_run_once(tmp_path):
    args = ["sweep", "preset=quick", "executor=local", f"results={tmp_path}"]
    procs = [subprocess.Popen([sys.executable, "-m", "experiments", *args], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    trained = [int(out.strip().split(": ")[1].split(" run now")[0]) for out, _ in outs]
    assert sum(trained) == 6, outs  # before: 12, every run trained by both
    assert len(list((tmp_path / "runs").glob("*.json"))) == 6 and not list((tmp_path / "claims").glob("*.json"))


@pytest.fixture
def copied(quick_results, tmp_path):
    results = tmp_path / "r"
    shutil.copytree(quick_results, results)
    return results


def test_broken_records_and_models_are_named_left_out_and_retrained(copied, capsys):
    runs = sorted((copied / "runs").glob("*.json"))
    bad_type = json.loads(runs[0].read_text())
    bad_type["config"]["gap"] = "ten"
    runs[0].write_text(json.dumps(bad_type))
    bad_value = json.loads(runs[1].read_text())
    bad_value["test_accuracy"] = "high"
    runs[1].write_text(json.dumps(bad_value))
    garbage = copied / "models" / f"{runs[2].stem}.keras"
    garbage.write_bytes(b"not a keras file")
    table = evaluate(copied, progress=False)
    err = capsys.readouterr().err
    assert len(table) == 3 and table.attrs["left_out"] == 3
    assert runs[0].name in err and "gap must be an integer" in err
    assert runs[1].name in err and "test_accuracy must be a number in [0, 1], received test_accuracy='high'" in err
    assert str(garbage) in err and "unreadable" in err and "Traceback" not in err
    assert "3 unreadable run(s) left out" in (copied / "summary.md").read_text()
    # The sweep retrains the run whose model is garbage (and the two unreadable records).
    assert {c.run_id for c in pending(presets.expand("quick"), copied)} == {runs[0].stem, runs[1].stem, runs[2].stem}


def test_a_folder_where_every_run_diverged_evaluates(tmp_path):
    cfg = RunConfig(model="rnn", task="adding", gap=2, learning_rate=1e30, clipnorm=1e30, **QUICK)  # the MSE overflows
    sweep([cfg], tmp_path, executor="local", progress=False)
    table = evaluate(tmp_path, progress=False)  # before: KeyError "None of ['task', ...]"
    assert list(table["status"]) == ["diverged"]
    assert "| rnn |" in (tmp_path / "summary.md").read_text()


def test_commands_on_a_read_only_folder_fail_before_any_work(copied):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    os.chmod(copied, 0o555)
    try:
        for command in ("evaluate", "plot", "report", "generalisation"):
            out = cli(command, f"results={copied}")
            assert out.returncode == 2 and out.stderr.strip().splitlines() == [
                f"error: results folder {str(copied)!r} is not writable: Permission denied"], out.stderr
    finally:
        os.chmod(copied, 0o755)


def test_a_read_only_mount_fails_in_one_line(copied, monkeypatch):
    # Root ignores permissions, so a read-only file system is simulated where the probe writes.
    from experiments import cli as cli_module

    real_open = open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".write-test"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    for command in ("evaluate", "plot", "report", "generalisation"):
        assert cli_module.main([command, f"results={copied}"]) == 2


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return False


def wait_until(condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_sweep_ends_its_workers(tmp_path, sig):
    cmd = [sys.executable, "-m", "experiments", "sweep", "preset=quick", "seeds=0,1,2", "executor=process", f"results={tmp_path}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: len(list((tmp_path / "runs").glob("[!.]*.json"))) >= 1, 300)
    workers = [p for p in children(proc.pid) if "multiprocessing" in open(f"/proc/{p}/cmdline").read()]
    assert workers
    proc.send_signal(sig)  # the sweep's process alone, as a scheduler or `kill PID` does
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert err.strip().splitlines()[-1] == "terminated: finished runs are saved; rerun the same command to continue"
        assert "Traceback" not in err
    assert wait_until(lambda: not any(alive(w) for w in workers), 10), "workers outlived the sweep"
    done = len(list((tmp_path / "runs").glob("[!.]*.json")))
    assert done < 18


def test_runs_of_different_protocols_are_never_one_row(tmp_path):
    # Before: one line mixed a quick run and a full-budget run of the same cell and gap.
    for cfg in (RunConfig(model="rnn", gap=2, **QUICK), RunConfig(model="rnn", gap=2, **{**QUICK, "units": 4})):
        sweep([cfg], tmp_path, executor="local", progress=False)
    table = evaluate(tmp_path, progress=False)
    assert sorted(table["init_label"]) == ["orthogonal recurrent [units=4]", "orthogonal recurrent [units=8]"]
    assert len(critical_gaps(table)) == 2
    out = cli("plot", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr


def test_a_ray_address_without_port_is_one_line_and_creates_nothing(tmp_path):
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1"}
    out = subprocess.run([sys.executable, "-m", "experiments", "sweep", "preset=quick", "executor=ray", f"results={tmp_path / 'r'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: RAY_ADDRESS='127.0.0.1' has no port; expected host:port (e.g. 127.0.0.1:6379) or auto"]
    assert not (tmp_path / "r").exists()


def test_a_results_path_with_a_space_reaches_the_command_whole(tmp_path):
    results = tmp_path / "my results"
    out = subprocess.run(["make", "--no-print-directory", "-s", "sweep", "PRESET=quick", "MODELS=rnn", "GAPS=2", "EXECUTOR=local",
                          f"RESULTS={results}"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")})
    assert out.returncode == 0, out.stderr
    assert len(list((results / "runs").glob("*.json"))) == 1


def test_an_empty_results_is_refused(tmp_path):
    out = subprocess.run(["make", "--no-print-directory", "-s", "sweep", "PRESET=quick", "MODELS=rnn", "GAPS=2", "RESULTS="],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")})
    assert out.returncode == 2 and "error: results= is empty; name a results folder" in out.stderr
    assert not (ROOT / "None").exists()


def test_make_sweep_passes_task_and_tasks(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    for var in ("TASK=temporal_order", "TASKS=temporal_order"):
        out = subprocess.run(["make", "-n", "--no-print-directory", "sweep", var], cwd=ROOT, capture_output=True, text=True, env=env)
        assert "tasks=temporal_order" in out.stdout, out.stdout


def test_reading_records_tables_and_figures_never_imports_tensorflow():
    """Records, statistics, comparisons and figures are data: reading them must not cost the
    4-5 s of importing TensorFlow, nor need it installed."""
    code = (
        "import sys\n"
        "from experiments import compare, plot, records, report, stats, summary, tables\n"
        "from experiments.records import load_records\n"
        f"rows = load_records({str(ROOT / 'results')!r})\n"
        "assert rows, 'no committed records'\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'layers') if m in sys.modules)\n"
        "print(len(rows), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1)[1].strip() == "[]", out.stdout


def test_evaluate_rescores_only_what_changed(copied, monkeypatch):
    """A second evaluate reuses every score (no model is loaded) and writes the same summary;
    a changed model file, `rescore`, or changed code each re-score what they must."""
    from experiments import score_cache
    from experiments.backend import keras

    first = evaluate(copied, progress=False, rescore=True)
    loaded = []
    real_load = keras.saving.load_model
    monkeypatch.setattr(keras.saving, "load_model", lambda path, **kw: loaded.append(path) or real_load(path, **kw))
    again = evaluate(copied, progress=False)
    assert loaded == [] and again.equals(first)
    # One model file replaced by another run's (same cell and task): only that run is scored
    # again, and its row now holds the other model's score.
    rows = first[first["status"] == "ok"].reset_index(drop=True)
    a, b = next((x, y) for x, y in zip(rows.itertuples(), rows[1:].itertuples()) if x.model == y.model and x.task == y.task and x.test_accuracy != y.test_accuracy)
    shutil.copy(copied / "models" / f"{b.run_id}.keras", copied / "models" / f"{a.run_id}.keras")
    changed = evaluate(copied, progress=False)
    assert [p.name for p in map(Path, loaded)] == [f"{a.run_id}.keras"]
    assert changed.set_index("run_id").loc[a.run_id, "test_accuracy"] != a.test_accuracy
    loaded.clear()
    evaluate(copied, progress=False, rescore=True)
    assert len(loaded) == len(rows)
    loaded.clear()
    monkeypatch.setattr(score_cache, "code_digest", lambda: "other code")
    evaluate(copied, progress=False)
    assert len(loaded) == len(rows)


def test_the_code_digest_follows_the_cells_source(tmp_path, monkeypatch):
    from experiments import score_cache

    before = score_cache.code_digest()
    assert score_cache.code_digest() == before
    fake = tmp_path / "root"
    shutil.copytree(ROOT / "layers", fake / "layers")
    shutil.copytree(ROOT / "datasets", fake / "datasets")
    shutil.copytree(ROOT / "experiments", fake / "experiments")
    monkeypatch.setattr(score_cache, "ROOT", fake)
    copy = score_cache.code_digest()
    lstm = fake / "layers" / "lstm.py"
    text = lstm.read_text()
    # A comment, a docstring and layout are not code: the scores stay valid.
    doc = text.index('"""') + 3
    lstm.write_text(text[:doc] + "A corrected docstring. " + text[doc:] + "\n\n# an edit\n")
    assert score_cache.code_digest() == copy
    lstm.write_text(text + "\nFORGET_BIAS_EXTRA = 1.0\n")  # code: they do not
    assert score_cache.code_digest() != copy


def test_a_sweep_reuses_another_folders_results_instead_of_training(copied, tmp_path):
    """reuse=DIR copies each run's record and model, byte for byte, and trains nothing; a run
    DIR lacks is still trained; a folder without runs/ is refused before anything is created."""
    from experiments import score_cache

    configs = presets.expand("quick")
    lacking = next(c for c in configs if c.gap == min(x.gap for x in configs))
    (copied / "runs" / f"{lacking.run_id}.json").unlink()
    target = tmp_path / "target"
    counts = sweep(configs, target, executor="local", progress=False, reuse=copied)
    assert counts["done"] == 1 and counts["skipped"] == len(configs) - 1
    for cfg in configs:
        if cfg is not lacking:
            assert (target / "runs" / f"{cfg.run_id}.json").read_bytes() == (copied / "runs" / f"{cfg.run_id}.json").read_bytes()
            assert (target / "models" / f"{cfg.run_id}.keras").read_bytes() == (copied / "models" / f"{cfg.run_id}.keras").read_bytes()
    assert json.loads((target / "runs" / f"{lacking.run_id}.json").read_text())["status"] == "ok"
    # The copied runs' scores come along (and only theirs): evaluate here need not score them again.
    source_scores, target_scores = score_cache.load(copied), score_cache.load(target)
    assert set(target_scores) == set(source_scores) - {lacking.run_id}
    assert all(target_scores[name] == source_scores[name] for name in target_scores)
    with pytest.raises(UsageError, match="reuse=.*no runs/ folder"):
        sweep(configs, tmp_path / "never", executor="local", progress=False, reuse=tmp_path / "nothing")
    assert not (tmp_path / "never").exists()
