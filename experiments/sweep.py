"""Run many configs: skip those already recorded, fan the rest out, never lose finished work.

Executors:
    local    one run after another in this process.
    process  one worker process per core (the default), TensorFlow limited to one thread
             each, so workers do not fight over cores.
"""

import concurrent.futures as cf
import multiprocessing
import os
import sys

from tqdm import tqdm

from experiments.config import UsageError, check_choice
from experiments.records import record_path

EXECUTORS = ("local", "process")


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


def _worker_init():
    # One intra-op and one inter-op thread per worker: N workers on N cores, no oversubscription.
    os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _run(cfg, results):
    from experiments.train import train

    record = train(cfg, results)
    return record["status"]


def sweep(configs, results, executor="process", workers=None, progress=True):
    """Run every config of `configs` that has no record in `results`; return counts.

    Returns a dict with the numbers of runs `done` now, `skipped` (already recorded) and
    `failed` (recorded with status "failed"). Ctrl-C cancels the runs not yet started; a
    finished run is always on disk, so rerunning the same sweep continues where it stopped.
    """
    check_choice("executor", executor, EXECUTORS)
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
        if executor == "local" or len(todo) <= 1:
            for cfg in todo:
                finished(_run(cfg, results))
        else:
            workers = workers or min(os.cpu_count() or 1, len(todo))
            # spawn, not fork: forking a process that has TensorFlow's thread pools is unsafe.
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
                futures = [pool.submit(_run, cfg, results) for cfg in todo]
                try:
                    for future in cf.as_completed(futures):
                        finished(future.result())
                except KeyboardInterrupt:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return counts
