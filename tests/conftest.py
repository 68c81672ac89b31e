import hashlib
import pathlib
import shutil
import subprocess
import sys

import pytest
from filelock import FileLock

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments import quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # before any test file imports keras, so TensorFlow's start-up notes stay hidden


def cli(*args, cwd=ROOT):
    """`python -m experiments ARGS` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def snapshot(folder):
    """Path -> content hash of every file under folder: to prove nothing was changed."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory, worker_id):
    """The quick preset swept, evaluated and plotted into a scratch folder through the CLI.

    Built once per test session, not once per pytest-xdist worker: the first worker to ask
    builds it under a file lock in the folder the workers share, the others wait and reuse it
    (the pattern of pytest-xdist's docs). It took 30 s alone and about 100 s per worker with
    two workers contending (experiments/PERF_NOTES.md, session 10). Tests read it; a test
    that writes works on a copy.
    """
    if worker_id == "master":  # no xdist: nothing to share
        return build_quick(tmp_path_factory.mktemp("quick"))
    shared = tmp_path_factory.getbasetemp().parent  # this session's, above every worker's own
    results = shared / "quick"
    with FileLock(str(shared / "quick.lock")):
        if not results.exists():
            # built aside and renamed when complete: a worker that failed halfway leaves no
            # folder that the next one would take for a finished one
            shutil.rmtree(shared / "quick.partial", ignore_errors=True)
            build_quick(shared / "quick.partial")
            (shared / "quick.partial").rename(results)
    return results


def build_quick(results):
    for command in (["sweep", "preset=quick"], ["evaluate"], ["plot"]):
        out = cli(*command, f"results={results}")
        assert out.returncode == 0, out.stderr
    return results
