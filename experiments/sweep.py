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
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from experiments import checkpoints, plugins
from experiments.checks import Failed, UsageError, check_choice, check_int
from experiments.records import (
    atomic_write,
    claim,
    claim_is_stale,
    claim_path,
    error_path,
    model_path,
    needs_run,
    outcome,
    record_path,
    recorded_outcome,
    release,
    runs_dir,
)

ROOT = Path(__file__).resolve().parents[1]
# Seeds of one configuration trained as one seed stack (experiments/batched.py); 1 turns it off.
SEEDS_PER_MODEL = 10
# The share of the memory available when a sweep plans its stacks that those stacks may use
# together: each of the `workers` stacks gets its part (`batched.stack_size`); the rest is the
# processes' own. Available, not total: a second sweep on the machine (its stacks resident)
# then plans smaller stacks instead of both planning for all of RAM, which is how the
# headline rerun was killed beside the `long` sweep on 2026-12-04. The budget is read once,
# when the sweep starts: a sweep started earlier does not shrink when a later one grows.
STACK_MEMORY_SHARE = 0.6


def stack_memory(workers):
    """Bytes one seed stack may use while `workers` stacks train at once, out of the memory
    this machine has available now (`psutil.virtual_memory().available`)."""
    import psutil

    return STACK_MEMORY_SHARE * psutil.virtual_memory().available / max(workers, 1)


def pending(configs, results, retry=False):
    """The configs a sweep must train: no usable record yet, an error to retry, a missing or
    unreadable model; with `retry`, diverged runs too (see `records.needs_run`)."""
    return [c for c in configs if needs_run(recorded_outcome(results, c.run_id), retry)]


def check_writable(results, create=True):
    """Create RESULTS if needed and prove a file can be written there, or say why in one line.

    With `create=False` a missing folder passes: the command's own check names what is
    missing (no runs, no summary) without creating anything.
    """
    if os.path.exists(results) and not os.path.isdir(results):
        raise UsageError(f"results folder {str(results)!r} is a file, not a folder; name a folder")
    if not create and not os.path.exists(results):
        return
    try:
        os.makedirs(results, exist_ok=True)
        probe = os.path.join(results, ".write-test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as err:
        raise UsageError(f"results folder {str(results)!r} is not writable: {err.strerror}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster scheduler sends), handled like Ctrl-C but without waiting for
    the runs in flight: they are lost and retrained by the next sweep."""


def _die_with_parent():
    """End this worker as soon as the process that started it is gone.

    A killed sweep (SIGKILL, SIGTERM) would otherwise leave its workers, re-parented to PID 1,
    training the queued runs and then idling at about 750 MB each. A thread that watches the
    parent's PID works on every platform and whatever thread started the worker (Linux's
    PR_SET_PDEATHSIG fires when the starting *thread* ends, not the process).
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def _worker_init(ignore_sigint=False):
    """One intra-op and one inter-op thread per worker: N workers on N cores, no oversubscription.

    Process-pool workers ignore Ctrl-C: the parent handles it, cancels the queued runs, and
    lets the runs in flight finish and write their records.
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with_parent()
    from experiments import plugins

    plugins.load()  # the cells and tasks the parent loaded, named in the inherited environment
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already set in this worker (a Ray worker runs many tasks)


def run_unit(unit, results, retry=False):
    """Claim, train and release a unit of runs (one config's seeds, or one run); return one
    outcome per run: its result's, "claimed" (held by another sweep, or recorded by one since
    this sweep started) or "error". Never raises. The runs claimed train as one seed stack
    (`experiments/batched.py`) when there are two or more, else alone."""
    statuses, mine = {}, []
    try:
        for cfg in unit:
            if not claim(results, cfg.run_id):
                statuses[cfg.run_id] = "claimed"
            elif not needs_run(recorded_outcome(results, cfg.run_id), retry):  # another sweep finished it meanwhile
                release(results, cfg.run_id)
                statuses[cfg.run_id] = "claimed"
            else:
                mine.append(cfg)
        try:
            if len(mine) > 1:
                from experiments.batched import train_batched

                records = train_batched(mine, results)
            else:
                from experiments.train import train

                records = [train(cfg, results) for cfg in mine]
            statuses.update({r["run_id"]: outcome(r) for r in records})
        finally:
            for cfg in mine:
                release(results, cfg.run_id)
    except Exception:  # e.g. the disk filled up before the claim could be written
        pass
    return [statuses.get(cfg.run_id, "error") for cfg in unit]


def _run_in_ray_worker(unit, results, retry=False):
    from experiments import quiet_tensorflow

    quiet_tensorflow()  # in a fresh worker
    _worker_init()
    return run_unit(unit, results, retry)


def units(configs, seeds_per_model=SEEDS_PER_MODEL, memory=None, saved=()):
    """The configs grouped into units of work: the seeds of one configuration, up to
    `seeds_per_model` at a time and as many as fit in `memory` bytes (`batched.stack_size`;
    None: no limit), where they can train as one seed stack; single runs otherwise.
    `saved`: run-id tuples of checkpointed units (`checkpoints.saved_units`), kept as they
    were where all their runs are to train, so that an interrupted stack resumes."""
    from experiments.batched import stack_key, stack_size

    by_id = {cfg.run_id: cfg for cfg in configs}
    chunks, resumed = [], set()
    for ids in saved:
        if all(i in by_id for i in ids) and not resumed.intersection(ids):
            chunks.append(tuple(by_id[i] for i in ids))
            resumed.update(ids)
    groups = {}
    for cfg in configs:
        if cfg.run_id not in resumed:
            groups.setdefault(stack_key(cfg, seeds_per_model > 1), []).append(cfg)
    for group in groups.values():
        size = seeds_per_model
        if memory is not None and len(group) > 1:
            try:
                size = stack_size(group[0], seeds_per_model, memory)
            except Exception:  # the task itself fails (a broken plugin, a full disk): training records that error
                pass
        chunks += [tuple(group[i:i + size]) for i in range(0, len(group), size)]
    return chunks


def check_ray_address(address):
    """Fail fast, in one line, when RAY_ADDRESS is malformed or names a host:port where nothing listens."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        raise UsageError(f"RAY_ADDRESS={address!r} has no port; expected host:port (e.g. 127.0.0.1:6379) or auto")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as err:
        raise UsageError(f"RAY_ADDRESS={address!r} is unreachable ({err.strerror or err}); unset it to start a local Ray instance") from None


def _local_runs(todo, results, finished, retry, workers=None):
    for unit in todo:
        for status in run_unit(unit, results, retry):
            finished(status)


def _ray_runs(todo, results, finished, retry, workers=None):
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
            runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), os.getcwd()]), "TF_CPP_MIN_LOG_LEVEL": "3",
                                      plugins.ENV: os.environ.get(plugins.ENV, "")}},
        )
    except Exception as err:  # ConnectionError, RuntimeError or AuthenticationError, by Ray version and cause
        text = " ".join(str(err).split())[:300]
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE") != "token":
            # `ray start` enables token authentication by default since Ray 2.52; a driver without
            # the token is refused, and Ray's own error does not always say so.
            hint = ("; if the cluster uses token authentication (the default of `ray start`), set RAY_AUTH_MODE=token "
                    "and give this machine the cluster's token (~/.ray/auth_token or RAY_AUTH_TOKEN): README, 'Ray on a cluster'")
        raise UsageError(f"cannot connect to Ray at RAY_ADDRESS={address!r}: {text}{hint}") from None
    try:
        task = ray.remote(num_cpus=1)(_run_in_ray_worker)
        pending_refs = [task.remote(unit, results, retry) for unit in todo]
        while pending_refs:
            done, pending_refs = ray.wait(pending_refs, num_returns=1)
            for status in ray.get(done[0]):
                finished(status)
    except KeyboardInterrupt:
        for ref in pending_refs:
            ray.cancel(ref)
        raise
    finally:
        ray.shutdown()


def _process_runs(todo, results, finished, retry, workers=None):
    if len(todo) <= 1:  # starting a worker (a TensorFlow import) costs more than it saves
        return _local_runs(todo, results, finished, retry)
    workers = workers or min(os.cpu_count() or 1, len(todo))
    # spawn, not fork: forking a process that has TensorFlow's thread pools is unsafe.
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(True,))
    try:
        futures = [pool.submit(run_unit, unit, results, retry) for unit in todo]
        for future in cf.as_completed(futures):
            for status in future.result():
                finished(status)
    except Terminated:
        # No waiting: end the workers now (their runs in flight are retried next time).
        processes = list((pool._processes or {}).values())  # no public handle before Python 3.14's terminate_workers
        for process in processes:
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except KeyboardInterrupt:
        print("\ninterrupted: cancelling queued runs, letting the runs in flight finish", file=sys.stderr)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except cf.process.BrokenProcessPool:
        # A worker died without a Python exception: in practice the out-of-memory killer. The
        # pool then ends every worker; the runs in flight leave stale claims, taken over next time.
        pool.shutdown(wait=False, cancel_futures=True)
        raise Failed("a sweep worker process was killed (out of memory? see `dmesg`); the runs in flight were not recorded "
                     "and the rest were cancelled: rerun the same command to continue, with SEEDS_PER_MODEL=N for smaller "
                     "seed stacks or EXECUTOR=local for one worker") from None
    pool.shutdown(wait=True)


def reuse_results(configs, results, source):
    """Copy into `results` the result of every config that `source` holds and `results` lacks:
    its model, then its record (the record last, so a crash leaves no record without its
    model). A run id is a hash of the whole config, so an equal id is the same run. Errors and
    ok records without a model are not results and are not copied. The scores `source` holds
    for the copied runs (its scores.json, at every test gap) come too: a score's key hashes the
    model's bytes, the test set and the code, not the folder, so `make evaluate` here reuses
    exactly those whose key still matches. Returns how many runs."""
    from experiments import score_cache

    source = Path(source)
    copied = []
    copy = lambda src, dst: atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
    for cfg in configs:
        if recorded_outcome(source, cfg.run_id) in ("ok", "diverged") and needs_run(recorded_outcome(results, cfg.run_id)):
            if model_path(source, cfg.run_id).exists():
                copy(model_path(source, cfg.run_id), model_path(results, cfg.run_id))
            copy(record_path(source, cfg.run_id), record_path(results, cfg.run_id))
            copied.append(cfg.run_id)
    ours = score_cache.of_runs(score_cache.load(source), copied)
    if ours:
        score_cache.save(results, ours)
    return len(copied)


def stacks_description(todo):
    """The progress bar's label for these units: '418 runs as 42 seed stacks, 2 alone'; None
    when nothing stacks. A run trains alone where its cell has no whole-sequence path or its
    configuration's last seeds did not fit in a stack (`stack_memory`)."""
    stacks = [u for u in todo if len(u) > 1]
    alone = len(todo) - len(stacks)
    if not stacks:
        return None
    return f"{sum(map(len, stacks))} runs as {len(stacks)} seed stack{'s' if len(stacks) > 1 else ''}" + (f", {alone} alone" if alone else "")


def sweep(configs, results, executor="process", workers=None, progress=True, retry=False, seeds_per_model=SEEDS_PER_MODEL,
          reuse=None):
    """Train every config of `configs` that has no result in `results` yet; return counts.

    Returns a dict: `done` (runs trained now, to a result), `diverged` (of those, the runs
    whose loss became non-finite: a result that counts as unsolved), `errors` (runs stopped
    by an error: no result, retried by the next sweep; see RESULTS/errors/), `claimed`
    (held by another sweep into the same folder), `skipped` (results already there). With
    `retry`, recorded diverged runs (and records from before diverged and errors were told
    apart) are trained again. Ctrl-C cancels the runs not yet started and lets those in
    flight finish; SIGTERM cancels both. A result is always on disk, so rerunning the same
    sweep continues where it stopped. The seeds of one configuration train together as one
    seed stack, up to `seeds_per_model` at a time and as many as fit in memory beside the
    other workers' stacks (`stack_memory`), where the cell allows (`batched.stackable`).
    With `reuse` (another results folder), the results it already holds for these runs are
    copied in first instead of trained again (`reuse_results`).
    """
    check_choice("executor", executor, EXECUTORS)
    if reuse is not None and not runs_dir(reuse).is_dir():
        raise UsageError(f"reuse={reuse}: no runs/ folder there to copy results from")
    if executor == "ray" and os.environ.get("RAY_ADDRESS"):
        check_ray_address(os.environ["RAY_ADDRESS"])
    results = str(Path(results).resolve())  # workers may run elsewhere: give them an absolute path
    check_writable(results)
    if reuse is not None:
        copied = reuse_results(configs, results, reuse)
        print(f"sweep: {copied} results copied from {reuse} (the same run ids), not trained again", file=sys.stderr)
    recorded = {c.run_id: recorded_outcome(results, c.run_id) for c in configs}  # each record read once
    todo = [c for c in configs if needs_run(recorded[c.run_id], retry)]
    diverged_before = sum(kind == "diverged" for kind in recorded.values())
    to_retry = sum(error_path(results, c.run_id).exists() for c in todo)
    held = sum(claim_path(results, c.run_id).exists() and not claim_is_stale(claim_path(results, c.run_id)) for c in todo)
    counts = {"done": 0, "diverged": 0, "errors": 0, "claimed": 0, "skipped": len(configs) - len(todo)}
    extras = [f"{diverged_before} of the recorded runs diverged (retry=failed trains them again)" if diverged_before and not retry else "",
              f"{to_retry} to retry after an error (see {Path(results) / 'errors'})" if to_retry else "",
              f"{held} claimed by another sweep now" if held else ""]
    print(f"sweep: {len(configs)} runs, {counts['skipped']} already recorded and skipped, {len(todo)} to run"
          + "".join(f"; {e}" for e in extras if e), file=sys.stderr)
    n_workers = 1 if executor == "local" else workers or os.cpu_count() or 1
    saved = checkpoints.saved_units(results)
    todo = units(todo, check_int("seeds_per_model", seeds_per_model, 1), stack_memory(n_workers), saved)
    desc = stacks_description(todo)
    resuming = sum(tuple(c.run_id for c in u) in saved for u in todo)
    if resuming:
        print(f"sweep: {resuming} of them resume from a checkpoint in {Path(results) / 'checkpoints'}", file=sys.stderr)
    bar = tqdm(total=len(configs), initial=counts["skipped"], unit="run", desc=desc, disable=not progress, file=sys.stderr)

    def finished(status):
        if status in ("ok", "diverged"):
            counts["done"] += 1
        counts["diverged"] += status == "diverged"
        counts["errors"] += status == "error"
        counts["claimed"] += status == "claimed"
        bar.set_postfix({k: v for k, v in counts.items() if v or k == "done"})
        bar.update()

    try:
        EXECUTORS[executor](todo, results, finished, retry, workers)
    finally:
        bar.close()
    return counts


# Name -> runner(todo, results, finished, retry, workers): trains every config of `todo` (via
# `_run`, which claims, trains and releases) and calls `finished(outcome)` once per config.
# A new executor is one such function and one line here.
EXECUTORS = {"local": _local_runs, "process": _process_runs, "ray": _ray_runs}
