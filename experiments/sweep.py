"""Run many configs: skip those already recorded, fan the rest out, never lose finished work.

Executors:
    local    one run after another in this process.
    process  one worker process per core (the default), TensorFlow limited to one thread
             each, so workers do not fight over cores.
    ray      one Ray task per run (one CPU each): a local Ray instance, or the cluster at
             RAY_ADDRESS. Every node must see this repository at the same path and the
             results folder (a shared file system), since workers write records directly.
"""

import concurrent.futures as cf
import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path

from tqdm import tqdm

from experiments.config import UsageError, check_choice
from experiments.records import record_path

EXECUTORS = ("local", "process", "ray")
ROOT = Path(__file__).resolve().parents[1]


def pending(configs, results):
    """The configs whose record does not exist yet (a record is written only when a run ends)."""
    return [c for c in configs if not record_path(results, c.run_id).exists()]


def check_writable(results):
    try:
        os.makedirs(results, exist_ok=True)
        probe = os.path.join(results, ".write-test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as err:
        raise UsageError(f"results folder {results!r} is not writable: {err.strerror}") from None


def _worker_init(ignore_sigint=False):
    """One intra-op and one inter-op thread per worker: N workers on N cores, no oversubscription.

    Process-pool workers ignore Ctrl-C: the parent handles it, cancels the queued runs, and
    lets the runs in flight finish and write their records.
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already set in this worker (a Ray worker runs many tasks)


def _run(cfg, results):
    from experiments.train import train

    record = train(cfg, results)
    return record["status"]


def _run_in_ray_worker(cfg, results):
    import experiments  # noqa: F401  (quiet TensorFlow import in a fresh worker)

    _worker_init()
    return _run(cfg, results)


def check_ray_address(address):
    """Fail fast, in one line, when RAY_ADDRESS names a host:port where nothing listens."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as err:
        raise UsageError(f"RAY_ADDRESS={address!r} is unreachable ({err.strerror or err}); unset it to start a local Ray instance") from None


def _ray_runs(todo, results, finished):
    try:
        import ray
    except ImportError:
        raise UsageError("executor 'ray' needs Ray: pip install ray (it is in requirements.txt)") from None
    address = os.environ.get("RAY_ADDRESS")
    try:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}},
        )
    except ConnectionError as err:
        raise UsageError(f"cannot connect to Ray at RAY_ADDRESS={address!r}: {err}") from None
    try:
        task = ray.remote(num_cpus=1)(_run_in_ray_worker)
        pending_refs = [task.remote(cfg, results) for cfg in todo]
        while pending_refs:
            done, pending_refs = ray.wait(pending_refs, num_returns=1)
            finished(ray.get(done[0]))
    except KeyboardInterrupt:
        for ref in pending_refs:
            ray.cancel(ref)
        raise
    finally:
        ray.shutdown()


def sweep(configs, results, executor="process", workers=None, progress=True):
    """Run every config of `configs` that has no record in `results`; return counts.

    Returns a dict with the numbers of runs `done` now, `skipped` (already recorded) and
    `failed` (recorded with status "failed"). Ctrl-C cancels the runs not yet started; a
    finished run is always on disk, so rerunning the same sweep continues where it stopped.
    """
    check_choice("executor", executor, EXECUTORS)
    if executor == "ray" and os.environ.get("RAY_ADDRESS"):
        check_ray_address(os.environ["RAY_ADDRESS"])
    results = str(Path(results).resolve())  # workers may run elsewhere: give them an absolute path
    check_writable(results)
    todo = pending(configs, results)
    counts = {"done": 0, "skipped": len(configs) - len(todo), "failed": 0}
    print(f"sweep: {len(configs)} runs, {counts['skipped']} already recorded and skipped, {len(todo)} to run", file=sys.stderr)
    bar = tqdm(total=len(configs), initial=counts["skipped"], unit="run", disable=not progress, file=sys.stderr)

    def finished(status):
        counts["done"] += 1
        counts["failed"] += status != "ok"
        bar.set_postfix(done=counts["done"], skipped=counts["skipped"], failed=counts["failed"])
        bar.update()

    try:
        if executor == "ray":
            _ray_runs(todo, results, finished)
        elif executor == "local" or len(todo) <= 1:
            for cfg in todo:
                finished(_run(cfg, results))
        else:
            workers = workers or min(os.cpu_count() or 1, len(todo))
            # spawn, not fork: forking a process that has TensorFlow's thread pools is unsafe.
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(True,)) as pool:
                futures = [pool.submit(_run, cfg, results) for cfg in todo]
                try:
                    for future in cf.as_completed(futures):
                        finished(future.result())
                except KeyboardInterrupt:
                    print("\ninterrupted: cancelling queued runs, letting the runs in flight finish", file=sys.stderr)
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return counts
