"""Sweeps never lose work: kill -9 and Ctrl-C mid-sweep, executors agree, Ray errors are one line."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from experiments import presets
from experiments.sweep import sweep

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`

SWEEP = ["sweep", "preset=quick"]  # 6 runs of about a second
N_RUNS = len(presets.expand("quick"))


def start(args, results):
    """The CLI in its own process group, so a signal reaches it and every worker it started."""
    cmd = [sys.executable, "-m", "experiments", *args, f"results={results}"]
    # SIGINT back to its default in the child: a job started in the background by a
    # non-interactive shell (as CI may be) inherits it ignored, and Python then never raises
    # KeyboardInterrupt, as a user's terminal would.
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_records(results, n, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list((results / "runs").glob("[!.]*.json"))) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {n} records after {timeout} s")


def check_complete(results):
    """Every run of the sweep recorded exactly once, every record parses."""
    expected = {c.run_id for c in presets.expand("quick")}
    files = [p for p in (results / "runs").glob("*.json") if not p.name.startswith(".")]
    ids = [json.loads(p.read_text())["run_id"] for p in files]
    assert sorted(ids) == sorted(expected)
    assert all((results / "models" / f"{i}.keras").exists() for i in ids)


def test_sigkill_mid_sweep_loses_only_runs_in_flight(tmp_path):
    proc = start(SWEEP + ["executor=process"], tmp_path)  # the default executor, workers and all
    wait_for_records(tmp_path, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in (tmp_path / "runs").glob("[!.]*.json")}
    assert 2 <= len(done_before) < N_RUNS
    for path in (tmp_path / "runs").glob("[!.]*.json"):
        json.loads(path.read_text())  # a killed sweep leaves no half-written record
    rerun = start(SWEEP + ["executor=process"], tmp_path)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert f"{len(done_before)} already recorded and skipped, {N_RUNS - len(done_before)} to run" in err
    check_complete(tmp_path)


def test_ctrl_c_stops_cleanly_and_the_rerun_continues(tmp_path):
    proc = start(SWEEP + ["executor=local"], tmp_path)
    wait_for_records(tmp_path, 2, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    rerun = start(SWEEP + ["executor=local"], tmp_path)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    check_complete(tmp_path)


def test_every_executor_writes_the_same_records(tmp_path):
    configs = presets.expand("quick", models=("lstm", "gru"), gaps=(3,))
    records = {}
    for executor in ("local", "process", "ray"):
        counts = sweep(configs, tmp_path / executor, executor=executor, progress=False)
        assert counts == {"done": 2, "diverged": 0, "errors": 0, "claimed": 0, "skipped": 0}
        records[executor] = {
            c.run_id: json.loads((tmp_path / executor / "runs" / f"{c.run_id}.json").read_text()) for c in configs
        }
    for executor in ("process", "ray"):
        for run_id, record in records[executor].items():
            reference = records["local"][run_id]
            assert record["config"] == reference["config"]
            for key in ("test_accuracy", "final_loss", "sequences_seen", "history"):
                assert record[key] == reference[key], (executor, run_id, key)


def test_unreachable_ray_address_is_one_line(tmp_path):
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}  # the discard port on loopback: nothing listens
    out = subprocess.run([sys.executable, "-m", "experiments", *SWEEP, "executor=ray", f"results={tmp_path}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: RAY_ADDRESS='127.0.0.1:9' is unreachable (Connection refused); unset it to start a local Ray instance"
    ]
    assert not os.listdir(tmp_path)
