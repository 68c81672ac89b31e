"""The analyses check their data, not only that a file exists."""

import shutil

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import generalisation_gaps, gradient_flow, input_gradient_norms, learning_speed, length_generalisation
from experiments.config import RunConfig
from experiments.report import report

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`


@pytest.fixture(scope="module")
def analysed(quick_results, tmp_path_factory):
    results = tmp_path_factory.mktemp("analysed") / "r"
    shutil.copytree(quick_results, results)
    return results


def test_gradient_table_has_one_row_per_cell_stage_seed_and_distance(analysed):
    table = gradient_flow(analysed, gap=4, n=32)
    summary = pd.read_csv(analysed / "summary.csv")
    runs = summary[(summary["gap"] == 4) & (summary["status"] == "ok")]
    assert len(table) == len(runs) * 2 * (4 + 2)
    assert not table.duplicated(["model", "init_label", "seed", "stage", "distance"]).any()
    assert set(table["distance"]) == set(range(6)) and set(table["stage"]) == {"initialisation", "trained"}
    assert (table["grad_norm"] > 0).all() and np.isfinite(table["grad_norm"]).all()
    assert (analysed / "figures" / "gradient_flow.png").stat().st_size > 10_000


def test_input_gradient_norms_match_a_direct_jacobian():
    """The per-step norms equal those of d loss / d embedding taken through the whole model at once."""
    import keras
    import tensorflow as tf

    from experiments.model import build_model

    model = build_model(RunConfig(model="gru", gap=3, units=4))
    x, y = np.array([[0, 9, 10, 11, 40], [3, 12, 13, 14, 40]], "int32"), np.array([0, 3])
    norms = input_gradient_norms(model, x, y)
    emb = tf.Variable(model.layers[0](x))
    with tf.GradientTape() as tape:
        logits = model.layers[2](model.layers[1](emb))
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    direct = np.linalg.norm(tape.gradient(loss, emb).numpy(), axis=-1).mean(axis=0)
    np.testing.assert_allclose(norms, direct, rtol=1e-5)
    assert norms.shape == (5,)


def test_length_generalisation_diagonal_equals_the_summary(analysed):
    table = length_generalisation(analysed)
    summary = pd.read_csv(analysed / "summary.csv").set_index("run_id")
    diagonal = table[table["train_gap"] == table["test_gap"]]
    assert len(diagonal) == len(summary)
    merged = diagonal.merge(summary.reset_index(), left_on=["model", "init_label", "seed", "train_gap"],
                            right_on=["model", "init_label", "seed", "gap"])
    assert len(merged) == len(summary)
    np.testing.assert_array_equal(merged["test_accuracy_x"], merged["test_accuracy_y"])
    assert set(table[table["train_gap"] == 4]["test_gap"]) == set(generalisation_gaps(4)) == {1, 2, 4, 8, 16}
    assert (analysed / "figures" / "length_generalisation.png").stat().st_size > 10_000


def test_learning_speed_and_report(analysed):
    learning_speed(analysed)
    assert (analysed / "figures" / "sequences_to_solve.png").stat().st_size > 10_000
    text = report(analysed).read_text()
    assert "critical gap" in text and "figures/accuracy_vs_gap.png" in text and "figures/sequences_to_solve.png" in text
    summary = pd.read_csv(analysed / "summary.csv")
    assert f"{len(summary)} runs" in text
    assert '"keras": "3.' in text
