"""Adding a layer is one class and one registry line: a toy cell defined here, outside
layers/, runs through a sweep, the evaluation and the plot with no other edit."""

import json
import os
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest
from conftest import ROOT
from keras import ops

from experiments import presets
from experiments.evaluate import evaluate
from experiments.plot import plot_accuracy
from experiments.sweep import sweep
from layers import CELLS
from layers.base import Cell

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`


@keras.saving.register_keras_serializable(package="tests")
class LeakyIntegratorCell(keras.layers.Layer):
    """h_t = a * h_{t-1} + (1 - a) * tanh(x_t W): the smallest cell with a memory knob."""

    def __init__(self, units, leak=0.9, **kwargs):
        super().__init__(**kwargs)
        self.units, self.leak = units, leak
        self.state_size = self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        h = self.leak * states[0] + (1 - self.leak) * ops.tanh(ops.matmul(inputs, self.kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "leak": self.leak}


def test_a_new_cell_runs_through_sweep_evaluate_and_plot(tmp_path, monkeypatch):
    monkeypatch.setitem(CELLS, "leaky", LeakyIntegratorCell)  # the one registry line
    configs = presets.expand("quick", models=("leaky", "rnn"), gaps=(3,))
    assert [c.model for c in configs] == ["leaky", "rnn"]
    counts = sweep(configs, tmp_path, executor="local", progress=False)
    assert counts == {"done": 2, "diverged": 0, "errors": 0, "claimed": 0, "skipped": 0}
    record = json.loads((tmp_path / "runs" / f"{configs[0].run_id}.json").read_text())
    assert record["status"] == "ok" and record["config"]["model"] == "leaky"
    summary = evaluate(tmp_path, progress=False)
    assert set(summary["model"]) == {"leaky", "rnn"}
    assert summary.loc[summary["model"] == "leaky", "test_accuracy"].between(0, 1).all()
    paths = plot_accuracy(tmp_path)
    assert all((tmp_path / "figures" / name).stat().st_size > 10_000 for name in ("accuracy_vs_gap.png", "accuracy_vs_gap.pdf"))
    assert paths[0].endswith("accuracy_vs_gap.png")
    assert list(pd.read_csv(tmp_path / "summary.csv")["model"]).count("leaky") == 1


PLUGIN = '''
import keras
from keras import ops

from layers import CELLS
from layers.base import Cell


@keras.saving.register_keras_serializable(package="plugin")
class HalfLeakCell(keras.layers.Layer):
    """h_t = h_{t-1} / 2 + tanh(x_t W) / 2."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        h = 0.5 * states[0] + 0.5 * ops.tanh(ops.matmul(inputs, self.kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


CELLS["half_leak"] = HalfLeakCell
'''


@pytest.mark.slow
def test_a_cell_from_outside_the_repository_sweeps_in_worker_processes(tmp_path):
    """A plugin module in a folder of the user's, named on the command line, reaches the
    process executor's workers; the installed `memory-gap` command is used as a user would."""
    import shutil
    import subprocess

    (tmp_path / "mycells.py").write_text(PLUGIN)
    command = shutil.which("memory-gap", path=str(Path(sys.executable).parent)) or None
    base = [command] if command else [sys.executable, "-m", "experiments"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = "" if command else str(ROOT)  # the installed command needs no path to the repository
    out = subprocess.run(base + ["sweep", "preset=quick", "models=half_leak", "gaps=2,3", "executor=process",
                                 "plugins=mycells", "results=out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "2 run now" in out.stdout
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*.json")]
    assert len(records) == 2 and {r["status"] for r in records} == {"ok"} and {r["config"]["model"] for r in records} == {"half_leak"}
    out = subprocess.run(base + ["evaluate", "results=out", "plugins=mycells"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    bad = subprocess.run(base + ["presets", "plugins=nowhere_module"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: cannot import plugin 'nowhere_module': No module named 'nowhere_module'"]


EXTENSIONS = '''
import pandas as pd

from experiments import analysis, sweep


def serial_runs(todo, results, finished, retry, workers=None):
    """An executor: every unit of runs in this process, the longest gap first."""
    for unit in sorted(todo, key=lambda u: -u[0].gap):
        for status in sweep.run_unit(unit, results, retry):
            finished(status)


def count_runs(results, task=None):
    """An analysis: runs per cell, as a table and a bar chart."""
    import matplotlib.pyplot as plt

    from experiments.plot import layout, save_figure

    table = analysis.read_summary(results).groupby("model").size().rename("runs").reset_index()
    table.to_csv(f"{results}/run_counts.csv", index=False)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(table["model"], table["runs"])
    layout(fig, "Runs per cell")
    save_figure(fig, f"{results}/figures/run_counts")


sweep.EXECUTORS["serial"] = serial_runs
analysis.ANALYSES["count-runs"] = analysis.Analysis("run_counts", count_runs, ("task",), (), "", "runs per cell", "Runs per cell", "runs per cell")
'''


@pytest.mark.slow
def test_an_executor_and_an_analysis_from_outside_are_one_function_and_one_line(tmp_path):
    """Through make: `make sweep EXECUTOR=serial` and the report's new section, from a plugin."""
    import subprocess

    (tmp_path / "myext.py").write_text(EXTENSIONS)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    env["MEMORY_GAP_PLUGINS"] = "myext"
    env["PYTHONPATH"] = str(tmp_path)
    results = tmp_path / "out"
    for target in (["sweep", "PRESET=quick", "MODELS=rnn", "GAPS=2,3", "EXECUTOR=serial"], ["evaluate"], ["report"]):
        out = subprocess.run(["make", "--no-print-directory", "-s", *target, f"RESULTS={results}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "experiments", "count-runs", f"results={results}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (results / "run_counts.csv").read_text().splitlines()[1] == "rnn,2"
    subprocess.run(["make", "--no-print-directory", "-s", "report", f"RESULTS={results}"], cwd=ROOT, env=env, check=True, capture_output=True)
    assert "![Runs per cell](figures/run_counts.png)" in (results / "REPORT.md").read_text()


@keras.saving.register_keras_serializable(package="tests")
class CausalMean(keras.layers.Layer):
    """Not a cell: h_t = tanh(mean_{s <= t} x_s W), computed over the whole sequence at once.

    The shape of a non-recurrent model (attention): it enters the registry through the
    `sequence_layer` classmethod instead of being wrapped in `keras.layers.RNN`.
    """

    def __init__(self, units, return_sequences=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.return_sequences = units, return_sequences

    @classmethod
    def sequence_layer(cls, units, options, return_sequences=False, fused=True):
        return cls(units, return_sequences=return_sequences, **options)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, x):  # (B, T, D) -> (B, T, H) or (B, H)
        steps = ops.cast(ops.arange(1, ops.shape(x)[1] + 1), x.dtype)[None, :, None]
        h = ops.tanh(ops.cumsum(ops.matmul(x, self.kernel), axis=1) / steps)
        return h if self.return_sequences else h[:, -1]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}


@pytest.mark.parametrize("task", ["fluent", "copy"])  # one output per sequence, and one per step
def test_a_model_that_is_not_a_cell_trains_through_the_same_registry(tmp_path, monkeypatch, task):
    """The model seam: a whole-sequence layer is one class and one line, like a cell."""
    from experiments.config import RunConfig
    from experiments.model import build_model
    from experiments.train import train

    monkeypatch.setitem(CELLS, "causal_mean", CausalMean)
    cfg = RunConfig(model="causal_mean", task=task, gap=4, units=8, budget=640, eval_every=5, n_val=64, n_test=64)
    model = build_model(cfg)
    assert any(isinstance(layer, CausalMean) for layer in model.layers) and not any(isinstance(layer, keras.layers.RNN) for layer in model.layers)
    record = train(cfg, tmp_path)
    assert record["status"] == "ok" and 0 <= record["test_accuracy"] <= 1
    loaded = keras.saving.load_model(tmp_path / record["model_file"])
    assert any(isinstance(layer, CausalMean) for layer in loaded.layers)


@keras.saving.register_keras_serializable(package="tests")
class InputGatedCell(Cell):
    """A minGRU-like cell: its gate reads the input only, h_t = z_t * h_{t-1} + (1 - z_t) * g_t."""

    n_gates = 2

    def call(self, inputs, states):
        z, g = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 2, axis=-1)
        z = ops.sigmoid(z)
        h = z * states[0] + (1 - z) * g
        return h, [h]


def test_a_cell_without_recurrent_weights_gets_none_and_no_option_to_initialise_them(monkeypatch):
    cell = InputGatedCell(4)
    cell.build((None, 3))
    assert [w.name for w in cell.weights] == ["kernel", "bias"]
    assert "recurrent_initializer" not in cell.get_config()
    with pytest.raises(ValueError, match="recurrent_initializer"):  # Keras' own unknown-argument error
        InputGatedCell(4, recurrent_initializer="identity")
    # The default preset's identity grid does not apply to it: no runs that compute the same thing twice.
    monkeypatch.setitem(CELLS, "input_gated", InputGatedCell)
    configs = presets.expand("first_look", models=("input_gated",))
    assert {c.recurrent_init for c in configs} == {"orthogonal"} and len(configs) == len(presets.GAPS) * len(presets.SEEDS)
    assert {c.init_label for c in configs} == {"default"}  # no recurrent matrix, so none named
