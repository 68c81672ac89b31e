import hashlib
import pathlib
import subprocess
import sys

import pytest

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
def quick_results(tmp_path_factory):
    """The quick preset swept, evaluated and plotted into a scratch folder through the CLI."""
    results = tmp_path_factory.mktemp("quick")
    for command in (["sweep", "preset=quick"], ["evaluate"], ["plot"]):
        out = cli(*command, f"results={results}")
        assert out.returncode == 0, out.stderr
    return results
