"""Reading and writing run records: one JSON file per run in RESULTS/runs/, written atomically;
what a record means (a result, or an error to retry), and claims that keep two sweeps apart."""

import json
import math
import os
import socket
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from experiments.checks import UsageError


def runs_dir(results):
    return Path(results) / "runs"


def record_path(results, run_id):
    return runs_dir(results) / f"{run_id}.json"


def model_path(results, run_id):
    return Path(results) / "models" / f"{run_id}.keras"


def atomic_write(path, write):
    """Call `write(tmp_path)`, then rename onto `path`: a crash leaves the old file or none.

    The temporary file sits in the same folder (a rename is atomic only within a file
    system) and keeps the suffix, because Keras infers the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, data):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")

    atomic_write(path, write)


def write_text(path, text):
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_csv(path, table):
    """A pandas table as CSV, without its index."""
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def write_table(results, name, table, text):
    """RESULTS/name.csv (the table) and RESULTS/name.md (its markdown `text`); their paths."""
    paths = [f"{results}/{name}.csv", f"{results}/{name}.md"]
    write_csv(paths[0], table)
    write_text(paths[1], text)
    return paths


# ------------------------------------------------------------------ what a record means
#
# A record in RESULTS/runs/ is a result: the run trained to the end of its protocol ("ok",
# solved or not) or its loss became non-finite ("diverged", a scientific outcome that counts
# as unsolved). What *stopped* a run (an I/O error, a bug) is no result: it goes to
# RESULTS/errors/<run_id>.json, is never counted or drawn, and the next sweep retries it.
# Records written before this distinction say "failed" for both; their error text tells
# which (a divergence raised FloatingPointError).
RESULT_STATUSES = ("ok", "diverged")


def errors_dir(results):
    return Path(results) / "errors"


def error_path(results, run_id):
    return errors_dir(results) / f"{run_id}.json"


def outcome(record):
    """'ok', 'diverged' (a result that counts as unsolved) or 'error' (no result: retry it)."""
    status = record["status"]
    if status == "failed":  # written before diverged and errors were told apart
        return "diverged" if str(record.get("error", "")).startswith("FloatingPointError") else "error"
    return status


def check_record(record):
    """Raise ValueError naming what is wrong with a parsed record (without importing Keras)."""
    from experiments.config import check_values

    if not isinstance(record, dict) or "config" not in record or "status" not in record:
        raise ValueError("not a run record (no config or status)")
    if not isinstance(record["config"], dict):
        raise ValueError(f"config is not a mapping: {record['config']!r}")
    check_values(record["config"])  # UsageError (a ValueError) names the bad field
    if record["status"] not in RESULT_STATUSES + ("failed",):
        raise ValueError(f"unknown status {record['status']!r}; allowed: {', '.join(RESULT_STATUSES)}")
    if record["status"] == "ok":
        for key in ("test_accuracy", "sequences_seen"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= (1 if key == "test_accuracy" else math.inf):
                raise ValueError(f"{key} must be a number{' in [0, 1]' if key == 'test_accuracy' else ' >= 0'}, received {key}={value!r}")


def read_record(path):
    """The record at `path`, checked; ValueError or OSError if it cannot be used."""
    record = json.loads(Path(path).read_text())
    check_record(record)
    return record


def read_records(results):
    """(records, problems): every usable record in RESULTS/runs/ sorted by run id, and
    (path, reason) for every file left out. Hidden files are the temporary files of writes
    that a crash interrupted (see `atomic_write`): never records, so not read."""
    folder = runs_dir(results)
    if not folder.is_dir():
        raise UsageError(f"no runs in {str(results)!r}: {folder} does not exist (run `make sweep` or `make train` first)")
    records, problems = [], []
    for path in sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")):
        try:
            records.append(read_record(path))
        except (ValueError, OSError) as err:
            problems.append((path, str(err)))
    return records, problems


def load_records(results, warn=True):
    """The usable records of `read_records`; each file left out is named on stderr."""
    records, problems = read_records(results)
    if warn:
        for path, reason in problems:
            print(f"warning: left out unreadable record {path}: {reason}", file=sys.stderr)
    if not records:
        raise UsageError(f"no readable run records in {runs_dir(results)}")
    return records


def model_readable(results, run_id):
    """Whether the saved model exists and is a whole .keras archive (a zip), checked cheaply."""
    return zipfile.is_zipfile(model_path(results, run_id))


def recorded_outcome(results, run_id):
    """What RESULTS holds for `run_id`: "ok", "diverged", "error", "no model" (ok, but its
    model is missing or unreadable) or None (no usable record)."""
    try:
        record = read_record(record_path(results, run_id))
    except (ValueError, OSError):
        return None
    kind = outcome(record)
    return "no model" if kind == "ok" and not model_readable(results, run_id) else kind


def needs_run(kind, retry=False):
    """Whether a sweep must (re)train a run whose `recorded_outcome` is `kind`: no usable
    record, a record of an error, or an ok record whose model is missing or unreadable;
    with `retry`, diverged runs too."""
    return kind in (None, "error", "no model") or (retry and kind == "diverged")


# ------------------------------------------------------------------ claims
#
# Two sweeps into one folder (two terminals, Ray workers on a shared disk) must not train the
# same run twice: a run is claimed by creating RESULTS/claims/<run_id>.json exclusively
# (O_EXCL: atomic, also on NFS v3+) just before it trains, and released when it ends. A claim
# whose process is gone (same host) or that is older than CLAIM_TIMEOUT is stale.
CLAIM_TIMEOUT = 24 * 3600  # seconds; the longest run of any preset takes well under an hour here


def claim_path(results, run_id):
    return Path(results) / "claims" / f"{run_id}.json"


def claim_is_stale(path, now=None):
    try:
        claim = json.loads(Path(path).read_text())
        host, pid, started = claim["host"], int(claim["pid"]), float(claim["started"])
    except (ValueError, OSError, KeyError, TypeError):
        return True  # unreadable: its writer died mid-write
    if (now or time.time()) - started > CLAIM_TIMEOUT:
        return True
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
    return False


def claim(results, run_id):
    """Claim `run_id` for this process; False if a live claim is held elsewhere."""
    path = claim_path(results, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()})
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not claim_is_stale(path):
                return False
            # Move the stale claim aside under a unique name rather than delete it: of two
            # processes taking it at once, only one rename succeeds.
            aside = path.with_name(f".stale.{os.getpid()}.{path.name}")
            try:
                os.replace(path, aside)
                aside.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(body)
        return True
    return False


def release(results, run_id):
    claim_path(results, run_id).unlink(missing_ok=True)
