"""Reading and writing run records: one JSON file per run in RESULTS/runs/, written atomically."""

import json
import os
import sys
import tempfile
from pathlib import Path

from experiments.config import UsageError


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


def load_records(results, warn=True):
    """Every readable record in RESULTS/runs/, sorted by run id.

    A file that does not parse, or lacks a config, is reported by name on stderr and left
    out, never silently counted. Hidden files are the temporary files of writes that a
    crash interrupted (see `atomic_write`): never records, so not read.
    """
    folder = runs_dir(results)
    if not folder.is_dir():
        raise UsageError(f"no runs in {results!r}: {folder} does not exist (run `make sweep` or `make train` first)")
    records = []
    for path in sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")):
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict) or "config" not in record or "status" not in record:
                raise ValueError("not a run record")
        except (ValueError, OSError) as err:
            if warn:
                print(f"warning: skipping unreadable record {path}: {err}", file=sys.stderr)
            continue
        records.append(record)
    if not records:
        raise UsageError(f"no readable run records in {folder}")
    return records
