"""Adding a layer is one class and one registry line: a toy cell defined here, outside
layers/, runs through a sweep, the evaluation and the plot with no other edit."""

import json

import keras
import pandas as pd
from keras import ops

from experiments import presets
from experiments.evaluate import evaluate
from experiments.plot import plot_accuracy
from experiments.sweep import sweep
from layers import CELLS


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
