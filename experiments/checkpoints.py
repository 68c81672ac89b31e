"""Training state saved mid-run, so that a run longer than one sitting resumes where it stopped.

A seed stack at gap 1810 or 2560 trains for hours on this machine, and a session, a laptop's
battery or a cluster's time limit can end sooner; without this, everything since the stack
started is lost and trained again. Every few minutes, at a validation check, the trainer
writes RESULTS/checkpoints/<first run id>-x<S>.npz: the weights, the optimizer's state (its
step count included), the number of steps taken and what each seed has recorded so far. A
later sweep that trains the same runs picks it up. Resuming is exact: the training stream
is a pure function of (seed, steps) (`experiments/data.py`) and the optimizer carries its
whole state, so a resumed stack takes the same steps as one that was never stopped
(`tests/test_batched.py` checks the records are identical). The file goes once the records
are written.

The file is plain NumPy (`allow_pickle=False`): arrays `a0, a1, ...` and one JSON string
`meta`, which names the runs it belongs to; a file for other runs, or an unreadable one, is
ignored and, at the next save, replaced.
"""

import io
import json
import sys
from pathlib import Path

import numpy as np

from experiments.records import atomic_write

# Seconds of training between two checkpoints: a save costs well under a second (a stack's
# weights and optimizer state are a few MB), an interruption loses at most this much.
CHECKPOINT_SECONDS = 600


def checkpoint_path(results, run_ids):
    """Where the checkpoint of the runs `run_ids` (one run, or one seed stack's) lives."""
    return Path(results) / "checkpoints" / f"{run_ids[0]}-x{len(run_ids)}.npz"


def save(path, run_ids, arrays, meta):
    """Write `arrays` (a list of numpy arrays) and `meta` (JSON-able) for `run_ids`, atomically."""
    body = {f"a{i}": np.asarray(a) for i, a in enumerate(arrays)}
    body["meta"] = np.array(json.dumps({"run_ids": list(run_ids), "n_arrays": len(arrays), **meta}))

    def write(tmp):
        buffer = io.BytesIO()
        np.savez(buffer, **body)
        Path(tmp).write_bytes(buffer.getvalue())

    atomic_write(path, write)


def load(path, run_ids):
    """(arrays, meta) saved for exactly `run_ids`, or None: no file, another stack's, unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("run_ids") != list(run_ids):
                return None
            arrays = [data[f"a{i}"] for i in range(meta["n_arrays"])]
    except (OSError, ValueError, KeyError) as err:
        print(f"warning: ignoring unreadable checkpoint {path}: {err}", file=sys.stderr)
        return None
    return arrays, meta


def saved_units(results):
    """The run ids of every checkpoint under `results`, one tuple per checkpoint (a stack's
    seeds, in its order): a sweep forms these units first, so that a stack resumes however
    the seeds would be grouped now (another `SEEDS_PER_MODEL`, a machine with more memory)."""
    units = []
    for path in sorted((Path(results) / "checkpoints").glob("*.npz")):
        try:
            with np.load(path, allow_pickle=False) as data:
                units.append(tuple(json.loads(str(data["meta"]))["run_ids"]))
        except (OSError, ValueError, KeyError) as err:
            print(f"warning: ignoring unreadable checkpoint {path}: {err}", file=sys.stderr)
    return units


def assign(variables, arrays):
    """Put `arrays` into `variables` (Keras variables, in order) if every shape fits; else
    touch nothing and return False (a checkpoint of other code or another architecture)."""
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        print("warning: ignoring a checkpoint whose variables do not fit this model (the code changed since?)", file=sys.stderr)
        return False
    for variable, value in zip(variables, arrays):
        variable.assign(value)
    return True


def remove(path):
    Path(path).unlink(missing_ok=True)
