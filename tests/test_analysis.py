"""The analyses check their data, not only that a file exists."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import cli

from experiments.analysis import (
    class_coverage,
    generalisation_gaps,
    generalisation_held,
    gradient_flow,
    input_gradient_norms,
    key_shift,
    last_gain,
    learning_speed,
    length_generalisation,
    shifted,
    unsolved_runs,
)
from experiments.checks import UsageError
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


def test_length_generalisation_diagonal_equals_the_summary(analysed, monkeypatch):
    (analysed / "scores.json").unlink()  # evaluate's scores: the diagonal must be computed here, not read back
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
    assert "| solved g |" in (analysed / "length_generalisation_held.md").read_text()
    # A second run reuses every score from scores.json: no model is loaded, the table is the same.
    from experiments.backend import keras

    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    pd.testing.assert_frame_equal(length_generalisation(analysed), table)


def test_learning_speed_and_report(analysed):
    learning_speed(analysed)
    assert (analysed / "figures" / "sequences_to_solve.png").stat().st_size > 10_000
    text = report(analysed).read_text()
    assert "critical gap" in text and "figures/accuracy_vs_gap.png" in text and "figures/sequences_to_solve.png" in text
    summary = pd.read_csv(analysed / "summary.csv")
    assert f"{len(summary)} runs" in text
    assert '"keras": "3.' in text
    # The cost section: one row per (task, model, initialisation), hours from the runs' own seconds.
    cost = text.split("## Cost")[1]
    for (task, model, init), group in summary.groupby(["task", "model", "init_label"]):
        assert f"| {task} | {model} | {init} | {len(group)} | {group['seconds'].sum() / 3600:.2f} |" in cost
    assert f"In all {len(summary)} runs, {summary['seconds'].sum() / 3600:.1f} hours of training" in cost


def numpy_cell_trace(model_name, weights, x):
    """The gates of `model_name` over x, from its weights alone: {name: (T, B, H)}."""
    sig = lambda v: 1 / (1 + np.exp(-v))
    table, kernel, recurrent, bias = weights[:4]
    e = table[x]
    B, H = x.shape[0], recurrent.shape[0]
    h, c, out = np.zeros((B, H)), np.zeros((B, H)), {}
    for t in range(x.shape[1]):
        if model_name == "lstm":
            i, f, g, o = np.split(e[:, t] @ kernel + h @ recurrent + bias, 4, axis=-1)
            i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
            c = f * c + i * g
            h = o * np.tanh(c)
            step = {"forget": f, "input": i, "output": o, "cell": c, "h": h}
        else:  # gru, Keras' reset_after form: bias (2, 3H)
            xz, xr, xh = np.split(e[:, t] @ kernel + bias[0], 3, axis=-1)
            uz, ur, uh = np.split(h @ recurrent + bias[1], 3, axis=-1)
            z, r = sig(xz + uz), sig(xr + ur)
            h = z * h + (1 - z) * np.tanh(xh + r * uh)
            step = {"update": z, "reset": r, "h": h}
        for k, v in step.items():
            out.setdefault(k, []).append(v)
    return {k: np.stack(v) for k, v in out.items()}


@pytest.mark.parametrize("model_name", ["lstm", "gru"])
def test_inspected_gates_equal_a_recomputation_from_the_weights(model_name):
    from datasets import TASKS
    from experiments.inspect_gates import step_by_step
    from experiments.model import build_model

    model = build_model(RunConfig(model=model_name, gap=6, units=5))
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(scale=0.4, size=w.shape).astype("float32") for w in model.get_weights()])
    x, _ = TASKS["fluent"](6, 3, 0)
    got = step_by_step(model, x)
    want = numpy_cell_trace(model_name, model.get_weights(), x)
    for name, values in want.items():
        assert got[name].shape == values.shape == (8, 3, 5)
        np.testing.assert_allclose(got[name], values, atol=2e-5, err_msg=name)


def test_key_units_rank_the_unit_that_holds_the_key_first():
    from experiments.inspect_gates import key_units

    rng = np.random.default_rng(1)
    keys = rng.integers(0, 8, size=2000)
    memory = rng.normal(size=(2000, 5))
    memory[:, 3] = keys + 0.1 * rng.normal(size=2000)  # unit 3 is the key, nearly noise-free
    memory[:, 1] += 0.5 * keys  # unit 1 partly
    order, scores = key_units(memory, keys, 8)
    assert list(order[:2]) == [3, 1] and scores[3] > 0.99 and scores[0] < 0.01


def test_inspect_picks_a_solved_and_a_failed_run_at_the_largest_split_gap():
    from experiments.inspect_gates import pick_runs

    rows = []
    for gap, accs in {20: [1.0, 1.0], 28: [1.0, 0.3, 0.95], 40: [0.2, 0.95], 80: [0.1, 0.1]}.items():
        rows += [{"task": "fluent", "model": "gru", "init_label": "orthogonal recurrent", "status": "ok", "gap": gap,
                  "seed": s, "test_accuracy": a} for s, a in enumerate(accs)]
    picked = pick_runs(pd.DataFrame(rows))
    assert [(r["gap"], r["seed"]) for r in picked] == [(40, 1), (40, 0)]
    # no gap splits (a small sweep): the longest solved and the shortest failed run
    unsplit = [r for r in rows if r["gap"] in (20, 80)]
    assert [(r["gap"], r["seed"]) for r in pick_runs(pd.DataFrame(unsplit))] == [(20, 0), (80, 0)]


def test_inspect_draws_a_small_sweep(analysed):
    """The quick sweep has no gap where seeds split: inspect still draws what it has."""
    from experiments.inspect_gates import inspect

    table = inspect(analysed, n=64)
    assert set(table["model"]) <= {"rnn", "gru", "lstm"} and len(table)
    assert (table.groupby("run_id")["unit"].nunique() == 3).all()
    assert (analysed / "figures" / "gates.png").stat().st_size > 10_000


def test_inspect_draws_the_runs_named(analysed):
    """make inspect RUN=id,id draws those runs; an unknown id is refused in one line."""
    from experiments.checks import UsageError
    from experiments.inspect_gates import inspect
    from experiments.summary import read_summary

    summary = read_summary(analysed)
    ids = list(summary[summary["model"] == "gru"]["run_id"][:2])
    table = inspect(analysed, n=64, runs=",".join(ids))
    assert sorted(table["run_id"].unique()) == sorted(ids)
    with pytest.raises(UsageError, match="run 'nope' is not in the summary"):
        inspect(analysed, n=64, runs="nope")


def test_class_coverage_counts_the_classes_a_stuck_run_still_tells_apart():
    y = np.repeat(np.arange(8), 10)
    pairs = np.where(y % 2 == 0, y, y - 1)  # each odd class merged into the even one before it
    assert class_coverage(pairs, y, 8) == (4, 4)
    assert class_coverage(np.zeros_like(y), y, 8) == (1, 1)  # one class always: right for that class only
    assert class_coverage(y, y, 8) == (8, 8)
    noisy = y.copy()
    noisy[:2] = 5  # class 0 now 8 of 10 right: below 0.9
    assert class_coverage(noisy, y, 8) == (8, 7)


def test_last_gain_is_the_last_rise_by_half_a_class_over_the_level_before():
    def history(*accuracies):
        return [{"sequences": 100 * (i + 1), "val_accuracy": a} for i, a in enumerate(accuracies)]

    assert last_gain(history(0.12, 0.14, 0.13), 8) == 0  # never half a class above chance
    assert last_gain(history(0.12, 0.25, 0.26, 0.50, 0.49, 0.52), 8) == 400  # 0.52 is within half a class of 0.50
    assert last_gain(history(0.12, 0.75, 0.40, 0.76, 0.88), 8) == 500  # a dip and its recovery are no gain; 0.88 is
    assert last_gain(history(0.50, 0.55, 0.60, 0.62), 8) == 300  # a slow climb counts once it adds up to half a class
    assert last_gain([], 8) == 0


def test_unsolved_runs_are_every_run_below_the_threshold_recounted_from_its_model(analysed):
    from datasets import TASKS
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed

    table = unsolved_runs(analysed)
    summary = pd.read_csv(analysed / "summary.csv")
    failed = summary[(summary["status"] == "ok") & (summary["test_accuracy"] < 0.9)]
    key = ["model", "init_label", "gap", "seed"]
    assert len(failed) > 0 and sorted(map(tuple, table[key].values)) == sorted(map(tuple, failed[key].values))
    assert ((table["classes_right"] <= table["classes_predicted"]) & (table["classes_predicted"] <= table["n_classes"])).all()
    run = failed.iloc[0]
    x, y = TASKS[run["task"]](int(run["gap"]), int(run["n_test"]), data_seed(int(run["seed"]), EVAL))
    predicted = keras.saving.load_model(analysed / "models" / f"{run['run_id']}.keras").predict(x, verbose=0).argmax(-1)
    row = table[(table["model"] == run["model"]) & (table["gap"] == run["gap"]) & (table["seed"] == run["seed"])].iloc[0]
    right = sum(np.mean(predicted[y == c] == c) >= 0.9 for c in range(8) if (y == c).any())
    assert (row["classes_predicted"], row["classes_right"]) == (len(set(predicted)), right)
    assert abs(np.mean(predicted == y) - run["test_accuracy"]) <= 2 / len(y)
    record = json.loads((analysed / "runs" / f"{run['run_id']}.json").read_text())
    assert row["sequences_seen"] == record["sequences_seen"] and row["last_gain_sequences"] == last_gain(record["history"], 8)
    assert (analysed / "figures" / "unsolved_runs.png").stat().st_size > 5_000


def test_generalisation_leaves_out_the_gaps_a_task_does_not_allow():
    """Selective copying needs gap >= 10: trained at 10, a model is tested at 10, 20 and 40 only
    (scoring it at 2 or 5 would stop the analysis with the task's own error)."""
    from datasets import TASKS

    assert generalisation_gaps(10, TASKS["selective_copy"].min_gap) == [10, 20, 40]
    assert generalisation_gaps(5, TASKS["adding"].min_gap) == [2, 5, 10, 20]
    assert generalisation_gaps(40, TASKS["selective_copy"].min_gap) == [10, 20, 40, 80, 160]
    with pytest.raises(ValueError):
        TASKS["selective_copy"](5, 1, 0)


def test_generalisation_held_counts_only_models_that_solved_their_own_gap():
    rows = []
    # Seed 0 solves gap 8 and holds it at 16 only; seed 1 solves 8 and holds nothing else;
    # seed 2 never solves 8, yet scores 1.0 at 2 and 32: it must not be counted anywhere.
    for seed, scores in ((0, (0.5, 0.2, 0.95, 0.9, 0.1)), (1, (0.3, 0.3, 1.0, 0.89, 0.2)), (2, (1.0, 0.1, 0.5, 0.1, 1.0))):
        rows += [{"model": "lstm", "init_label": "x", "seed": seed, "train_gap": 8, "test_gap": gap, "test_accuracy": acc}
                 for gap, acc in zip(generalisation_gaps(8), scores)]
    # Gap 5: g/4 is gap 1 (ratio 0.2), still the g/4 column.
    rows += [{"model": "rnn", "init_label": "y", "seed": 0, "train_gap": 5, "test_gap": gap, "test_accuracy": acc}
             for gap, acc in zip(generalisation_gaps(5), (1.0, 0.0, 1.0, 0.0, 0.0))]
    held = generalisation_held(pd.DataFrame(rows)).set_index("model")
    assert list(held.columns) == ["init_label", "g/4", "g/2", "solved g", "2g", "4g"]
    assert held.loc["lstm", ["g/4", "g/2", "solved g", "2g", "4g"]].tolist() == ["0 of 2", "0 of 2", "2 of 2", "1 of 2", "0 of 2"]
    assert held.loc["rnn", ["g/4", "g/2", "solved g", "2g", "4g"]].tolist() == ["1 of 1", "0 of 1", "1 of 1", "0 of 1", "0 of 1"]
    # Per training gap: lstm trained at 16 too, where its one solved model also solves 32.
    rows += [{"model": "lstm", "init_label": "x", "seed": 0, "train_gap": 16, "test_gap": gap, "test_accuracy": acc}
             for gap, acc in zip(generalisation_gaps(16), (0.1, 0.1, 0.99, 0.95, 0.1))]
    per_gap = generalisation_held(pd.DataFrame(rows), by_gap=True).set_index(["model", "train_gap"])
    assert per_gap.loc[("lstm", 8), "2g"] == "1 of 2" and per_gap.loc[("lstm", 16), "2g"] == "1 of 1"
    assert generalisation_held(pd.DataFrame(rows)).set_index("model").loc["lstm", "2g"] == "2 of 3"


def test_a_folder_of_several_tasks_gets_one_file_per_task(analysed, tmp_path):
    """With two tasks in RESULTS, task=T writes <name>_<T> and leaves the other task's files alone."""
    results = tmp_path / "two"
    shutil.copytree(analysed, results)
    summary = pd.read_csv(results / "summary.csv")
    pd.concat([summary, summary.assign(task="fluent_distractors")]).to_csv(results / "summary.csv", index=False)
    (results / "reaches.csv").unlink()  # evaluate's, of the one real task; the report does without it
    with pytest.raises(UsageError, match="several tasks"):
        learning_speed(results)
    one = learning_speed(results, task="fluent")
    other = learning_speed(results, task="fluent_distractors")
    assert set(one["task"]) == {"fluent"} and set(other["task"]) == {"fluent_distractors"}
    pd.testing.assert_frame_equal(pd.read_csv(results / "sequences_to_solve_fluent.csv"), one, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(results / "sequences_to_solve_fluent_distractors.csv"), other, check_dtype=False)
    text = report(results).read_text()
    assert "figures/sequences_to_solve_fluent.png" in text and "figures/sequences_to_solve_fluent_distractors.png" in text


def test_shifted_puts_the_lead_token_before_every_sequence():
    x = np.array([[0, 9, 10, 40], [3, 12, 13, 40]], "int32")
    np.testing.assert_array_equal(shifted(x, 0, 8), x)
    out = shifted(x, 3, 8)
    assert out.shape == (2, 7) and out.dtype == x.dtype
    np.testing.assert_array_equal(out[:, :3], 8)
    np.testing.assert_array_equal(out[:, 3:], x)  # the key, the gap and the query, 3 steps later


def test_key_shift_moves_a_sequence_tasks_targets_with_its_inputs(tmp_path):
    """On fluent_moving the answer is due at the query's step, so a shift must move the
    targets too: scored apart, the prediction at the query's new index against the key."""
    from datasets import TASKS
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed

    for command in (["train", "model=lstm", "task=fluent_moving", "gap=4", "seed=0", "units=16", "budget=640",
                     "n_val=128", "n_test=256"], ["evaluate"]):
        assert cli(*command, f"results={tmp_path}").returncode == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    scored = summary["test_accuracy"].item()
    summary.assign(test_accuracy=1.0).to_csv(tmp_path / "summary.csv", index=False)  # key_shift takes solved runs only
    table = key_shift(tmp_path, shifts=(0, 12)).set_index("shift")["test_accuracy"]
    assert table[0] == pytest.approx(scored, abs=1e-9)
    x, y = TASKS["fluent_moving"](4, 256, data_seed(0, EVAL))
    model = keras.saving.load_model(tmp_path / "models" / f"{summary['run_id'].item()}.keras")
    lead = np.full((len(x), 12), 8, "int32")  # "the": 12 more prefix tokens than any training sample had
    pred = model.predict(np.concatenate([lead, x], axis=1), verbose=0).argmax(-1)  # (n, 12 + T)
    query = 12 + np.argmax(y != TASKS["fluent_moving"].blank, axis=1)
    assert table[12] == pytest.approx(np.mean(pred[np.arange(len(x)), query] == y[np.arange(len(x)), query - 12]), abs=1e-9)


def test_key_shift_scores_only_solved_models_and_shift_0_is_the_summary(analysed):
    from datasets import TASKS
    from experiments.backend import keras
    from experiments.data import EVAL, data_seed

    table = key_shift(analysed, shifts=(0, 5))
    summary = pd.read_csv(analysed / "summary.csv")
    solved = summary[(summary["status"] == "ok") & (summary["test_accuracy"] >= 0.9)]
    assert 0 < len(solved) < len(summary)  # the quick preset both solves and fails: the filter is exercised
    assert len(table) == 2 * len(solved) and set(table["shift"]) == {0, 5}
    merged = table[table["shift"] == 0].merge(solved, left_on=["model", "init_label", "seed", "train_gap"],
                                              right_on=["model", "init_label", "seed", "gap"])
    assert len(merged) == len(solved)
    np.testing.assert_array_equal(merged["test_accuracy_x"], merged["test_accuracy_y"])
    # Shift 5, recomputed apart: "the" five times, then the very test set evaluate drew.
    run = solved.iloc[0]
    x, y = TASKS["fluent"](int(run["gap"]), int(run["n_test"]), data_seed(int(run["seed"]), EVAL))
    lead = np.full((len(x), 5), 8, "int32")  # "the", fluent's first filler
    model = keras.saving.load_model(analysed / "models" / f"{run['run_id']}.keras")
    direct = np.mean(model.predict(np.concatenate([lead, x], axis=1), verbose=0).argmax(-1) == y)
    row = table[(table["shift"] == 5) & (table["model"] == run["model"]) & (table["train_gap"] == run["gap"])]
    assert row["test_accuracy"].item() == pytest.approx(direct, abs=1e-6)
    held = (analysed / "key_shift_held.md").read_text()
    assert "| model | init_label | train_gap | shift 0 | shift 5 |" in held
    assert (analysed / "figures" / "key_shift.png").stat().st_size > 10_000
