"""The scores `evaluate` has already computed, so a rerun re-scores only what changed.

Scoring a saved model is a pure function of the model file's bytes, the fresh test set
(task code, gap, n_test, the EVAL seed stream) and the code that runs the model (the cells,
the model builder, the backend and its version). Re-scoring 590 headline models costs tens
of minutes on a 2-core machine, mostly the long-gap ones, so adding one cell or finishing a
sweep would otherwise pay for every model again. RESULTS/scores.json keeps, per run id, the
key those inputs hash to and the two scores; `evaluate` reuses an entry only when the key is
the same now, and `make evaluate ARGS=rescore=true` ignores the file.

The code digest is deliberately coarse: any edit to a file under layers/ or datasets/, to the
experiments modules that build, feed or run a model, or to the file of a cell or task
registered from outside the repository, invalidates every entry. Stale scores are worse than
slow ones.
"""

import hashlib
import inspect
import json
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
        h.update(path.read_bytes())
    return h.hexdigest()


def run_key(model_file, n_test, code):
    """What one run's score depends on: its model file's bytes, the test set size and the code."""
    h = hashlib.sha256(Path(model_file).read_bytes())
    h.update(f"n_test {n_test} code {code}".encode())
    return h.hexdigest()


def load(results):
    """{run_id: (key, test_accuracy, test_loss)}; a missing or unreadable file is an empty cache."""
    try:
        data = json.loads((Path(results) / NAME).read_text())
        return {run_id: (key, float(acc), float(loss)) for run_id, (key, acc, loss) in data.items()}
    except (OSError, ValueError, TypeError):
        return {}


def save(results, entries):
    """Write {run_id: (key, test_accuracy, test_loss)} atomically (JSON keeps floats exact)."""
    write_json(Path(results) / NAME, {run_id: [key, float(acc), float(loss)] for run_id, (key, acc, loss) in entries.items()})
