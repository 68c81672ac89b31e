"""The scores `evaluate` and the length-generalisation analysis have already computed, so a
rerun scores only what changed.

Scoring a saved model is a pure function of the model file's bytes, the fresh test set
(task code, gap, n_test, the EVAL seed stream) and the code that runs the model (the cells,
the model builder, the backend and its version). Re-scoring 590 headline models costs tens
of minutes on a 2-core machine, mostly the long-gap ones, so adding one cell or finishing a
sweep would otherwise pay for every model again, and `make analyse` scores every model at
five gaps more. RESULTS/scores.json keeps, per run id (and per test gap other than the run's
own, `entry`), the key those inputs hash to and the two scores; an entry is reused only when
its key is the same now, and `make evaluate ARGS=rescore=true` ignores the file.

The code digest is deliberately coarse: any edit to the code of a file under layers/ or
datasets/, of the experiments modules that build, feed or run a model, or of the file of a
cell or task registered from outside the repository, invalidates every entry. Stale scores
are worse than slow ones. Comments, docstrings and layout are not code: each file is hashed
as its syntax tree without them (`code_of`), so correcting a docstring keeps the scores.
"""

import ast
import functools
import hashlib
import inspect
import json
import os
from pathlib import Path

from experiments.records import write_json

NAME = "scores.json"
ROOT = Path(__file__).resolve().parent.parent
# Beyond layers/ and datasets/: what builds a model, draws its test set and runs it.
CORE = ("backend.py", "batched.py", "config.py", "data.py", "model.py")


def code_digest():
    """sha256 over the code and versions a score depends on (see the module docstring)."""
    import numpy as np

    from datasets import TASKS
    from experiments.backend import keras
    from experiments.config import cell_registry

    files = {*ROOT.glob("layers/*.py"), *ROOT.glob("datasets/*.py"), *(ROOT / "experiments" / f for f in CORE)}
    for obj in [*cell_registry().values(), *(t.fn for t in TASKS.values())]:
        try:
            files.add(Path(inspect.getfile(obj)).resolve())
        except (TypeError, OSError):  # built in, or defined in a notebook: nothing to read
            pass
    h = hashlib.sha256(f"keras {keras.__version__} backend {keras.backend.backend()} numpy {np.__version__}".encode())
    for path in sorted(files):
        h.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        h.update(code_of(path))
    return h.hexdigest()


def code_of(path):
    """A Python file's syntax tree without docstrings, comments or layout, as bytes.

    Two files that differ only in those run the same, so they hash the same; a file that
    does not parse is hashed as it is.
    """
    text = Path(path).read_text()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text.encode()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


@functools.lru_cache(maxsize=4096)
def _file_hash(path, size, mtime_ns):
    """sha256 of a file's bytes; the size and mtime make a rewritten file a new cache entry."""
    return hashlib.sha256(Path(path).read_bytes())


def run_key(model_file, n_test, code, gap=None):
    """What one score depends on: the model file's bytes, the test set (size, and `gap` when it
    is not the run's own) and the code."""
    stat = os.stat(model_file)
    h = _file_hash(str(model_file), stat.st_size, stat.st_mtime_ns).copy()
    h.update(f"n_test {n_test} code {code}".encode() + (b"" if gap is None else f" gap {gap}".encode()))
    return h.hexdigest()


AT_GAP = " at gap "  # an entry's name: the run id, then this and the test gap where it is not the run's own


def entry(run_id, gap=None):
    """The name of a run's score at its own gap (None), or at another test gap."""
    return run_id if gap is None else f"{run_id}{AT_GAP}{gap}"


def of_runs(cache, run_ids):
    """The entries of `cache` that belong to these runs: each one's own score and its other test gaps'."""
    run_ids = set(run_ids)
    return {name: score for name, score in cache.items() if name.split(AT_GAP)[0] in run_ids}


def load(results):
    """{entry: (key, test_accuracy, test_loss)}; a missing or unreadable file is an empty cache."""
    try:
        data = json.loads((Path(results) / NAME).read_text())
        return {name: (key, float(acc), float(loss)) for name, (key, acc, loss) in data.items()}
    except (OSError, ValueError, TypeError):
        return {}


def save(results, entries):
    """Add {entry: (key, test_accuracy, test_loss)} to the file, atomically (JSON keeps floats
    exact). What is there already is read first, so two writers lose at most a few entries of
    each other's, which only costs scoring them again."""
    merged = {**load(results), **entries}
    write_json(Path(results) / NAME, {name: [key, float(acc), float(loss)] for name, (key, acc, loss) in merged.items()})
