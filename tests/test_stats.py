"""Success rates, reach and `make compare` on hand-made summaries whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from conftest import cli

from experiments import stats
from experiments.compare import compare, markdown, same_runs


def summary(rows, model="rnn", init="orthogonal recurrent"):
    """{gap: [accuracy per seed, or 'diverged']} -> a summary table for one row."""
    out = []
    for gap, accs in rows.items():
        for seed, acc in enumerate(accs):
            diverged = acc == "diverged"
            out.append({"task": "fluent", "model": model, "init_label": init, "gap": gap, "seed": seed,
                        "test_accuracy": np.nan if diverged else acc, "chance_accuracy": 0.125,
                        "status": "diverged" if diverged else "ok"})
    return pd.DataFrame(out)


def test_wilson_matches_the_textbook_values():
    # Wilson 95 % for 0/10 is (0, 0.2775) and 5/10 is (0.2366, 0.7634) (Agresti & Coull 1998).
    assert stats.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_success_counts_treat_diverged_runs_as_unsolved():
    table = stats.success_rates(summary({10: [1.0, 0.95, 0.5, "diverged"]}))
    row = table.iloc[0]
    assert (row.successes, row.n, row.rate) == (2, 4, 0.5)
    assert row.ci_low < 0.5 < row.ci_high


def test_reach_of_a_sharp_edge_lies_between_the_gaps_and_its_interval_spans_them():
    s = summary({g: [1.0] * 10 for g in (5, 10, 20, 40)} | {g: [0.1] * 10 for g in (80, 160)})
    r = stats.reaches(s).iloc[0]
    assert 40 < r.reach < 80 and r.reach_censored == ""
    assert r.reach_low <= 40 and r.reach_high >= 80  # no more precise than the grid of gaps
    assert stats.reach_text(r).startswith(f"{r.reach:.0f} (")


def test_reach_moves_with_the_data_and_is_censored_beyond_the_gaps_run():
    early = summary({5: [1.0] * 10, 10: [1.0] * 5 + [0.0] * 5, 20: [0.0] * 10})
    late = summary({5: [1.0] * 10, 10: [1.0] * 10, 20: [1.0] * 9 + [0.0]})
    assert stats.reaches(early).iloc[0].reach == pytest.approx(10, rel=0.15)
    r = stats.reaches(late).iloc[0]
    assert r.reach_censored == "above" and stats.reach_text(r) == "> 20"
    never = stats.reaches(summary({5: [0.0] * 4, 10: [0.0] * 4})).iloc[0]
    assert never.reach_censored == "below" and stats.reach_text(never) == "< 5"


def test_a_censored_reach_overlaps_whatever_lies_beyond_the_gaps_run():
    """'> 20' from gaps that stop at 20 is compatible with a reach of 30 measured farther out,
    and incompatible with one that ends before 20; '< 5' likewise at the other end."""
    beyond = stats.reaches(summary({5: [1.0] * 10, 10: [1.0] * 10, 20: [1.0] * 10})).iloc[0]
    farther = stats.reaches(summary({g: [1.0] * 10 for g in (5, 10, 20)} | {40: [0.0] * 10})).iloc[0]
    short = stats.reaches(summary({5: [1.0] * 10, 10: [0.0] * 10, 20: [0.0] * 10})).iloc[0]
    assert stats.reach_text(beyond) == "> 20" and stats.reach_interval(beyond)[1] == np.inf
    assert stats.intervals_overlap(*stats.reach_interval(beyond), *stats.reach_interval(farther))
    assert not stats.intervals_overlap(*stats.reach_interval(beyond), *stats.reach_interval(short))
    assert not stats.intervals_overlap(*stats.reach_interval(short), *stats.reach_interval(farther))
    never = stats.reaches(summary({5: [0.0] * 4, 10: [0.0] * 4})).iloc[0]
    assert stats.reach_interval(never)[0] == -np.inf


def test_separations_name_a_farther_reach_only_where_the_intervals_part():
    """Three rows with sharp edges at 10-20, 10-20 and 40-80: the first two are
    indistinguishable, the third reaches farther than either, and it is listed first."""
    near = {5: [1.0] * 10, 10: [1.0] * 10, 20: [0.0] * 10, 40: [0.0] * 10, 80: [0.0] * 10}
    far = {5: [1.0] * 10, 10: [1.0] * 10, 20: [1.0] * 10, 40: [1.0] * 10, 80: [0.0] * 10}
    table = pd.concat([summary(near, "rnn"), summary(near, "gru"), summary(far, "lstm")])
    pairs = stats.separations(stats.reaches(table))
    verdict = {(r.a.split(",")[0], r.b.split(",")[0]): r.separated for r in pairs.itertuples()}
    assert verdict == {("lstm", "gru"): True, ("lstm", "rnn"): True, ("gru", "rnn"): False}
    text = stats.separations_markdown(stats.reaches(table))
    assert "| fluent | lstm, orthogonal recurrent |" in text and text.count("A reaches farther") == 2
    assert text.count("indistinguishable") == 1


@pytest.mark.slow
def test_compare_agrees_with_itself_and_flags_a_clear_disagreement(tmp_path):
    good = summary({5: [1.0] * 10, 10: [1.0] * 10, 20: [1.0] * 10, 40: [0.0] * 10})
    bad = summary({5: [1.0] * 10, 10: [0.0] * 10, 20: [0.0] * 10, 40: [0.0] * 10})
    for name, table in (("a", good), ("b", good), ("c", bad)):
        (tmp_path / name).mkdir()
        table.to_csv(tmp_path / name / "summary.csv", index=False)
    points, rows = compare(tmp_path / "a", tmp_path / "b")
    assert points["agree"].all() and rows["agree"].all()
    assert markdown(points, rows, "a", "b").splitlines()[-1] == "compare: 4 of 4 points agree, 1 of 1 reaches agree"
    points, rows = compare(tmp_path / "a", tmp_path / "c")
    assert list(points.sort_values("gap")["agree"]) == [True, False, False, True]  # 10/10 against 0/10 twice
    assert not rows["agree"].any()
    out = cli("compare", f"results={tmp_path / 'a'}", f"other={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr  # a report: exit 0 whatever it finds
    assert out.stdout.strip().splitlines()[-1] == "compare: 2 of 4 points agree, 0 of 1 reaches agree"
    assert (tmp_path / "c" / "compare.md").read_text() == out.stdout  # the same report, kept beside the rerun


def test_compare_sets_the_same_runs_side_by_side_one_by_one(tmp_path):
    committed = summary({40: [1.0, 1.0, 0.5, 0.95], 80: [0.2, 0.2, "diverged", 1.0]})
    rerun = committed.copy()
    rerun.loc[0, "test_accuracy"] = 0.995  # moved a little, still solved
    rerun.loc[2, "test_accuracy"] = 0.91  # 0.5 -> 0.91: flipped to solved
    rerun.loc[6, ["test_accuracy", "status"]] = [0.93, "ok"]  # diverged -> solved: flipped
    for name, table in (("a", committed), ("b", rerun.iloc[:7])):  # b lacks the last run
        (tmp_path / name).mkdir()
        table.assign(run_id=[f"rnn-{g}-{s}" for g, s in zip(table["gap"], table["seed"])]).to_csv(tmp_path / name / "summary.csv", index=False)
    runs = same_runs(tmp_path / "a", tmp_path / "b")
    assert len(runs) == 7 and sorted(runs[runs["flipped"]]["run_id"]) == ["rnn-40-2", "rnn-80-2"]
    lines = markdown(*compare(tmp_path / "a", tmp_path / "b"), "a", "b", runs).splitlines()
    assert "Same runs: 7 run ids are in both; 3 got another test accuracy (2 by more than 0.01), 2 flipped between solved and unsolved." in lines
    assert lines[-1].startswith("compare: ")
    assert same_runs(tmp_path / "a", tmp_path / "a")["flipped"].sum() == 0


@pytest.mark.slow
def test_compare_bad_input_is_one_line_exit_2(tmp_path):
    for args, message in ((["compare"], "compare needs other=DIR"),
                          (["compare", f"other={tmp_path / 'nowhere'}"], "no summary at")):
        out = cli(*args, f"results={tmp_path}")
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_make_train_trains_the_default_presets_run(tmp_path):
    from experiments import presets
    from experiments.cli import parse_args, train_config

    (cfg,) = [c for c in presets.expand("default", models=("lstm",), gaps=(80,), seeds=(1,)) if c.init_label == "orthogonal recurrent"]
    assert train_config(parse_args(["model=lstm", "gap=80", "seed=1"])).run_id == cfg.run_id


def test_protocol_gaps_names_what_a_table_still_lacks():
    from experiments.stats import protocol_gaps

    def rates(rows):
        return pd.DataFrame([{"task": "fluent", "model": m, "init_label": "x", "gap": g, "n": n, "rate": r} for m, g, n, r in rows])

    complete = rates([("a", 20, 10, 1.0), ("a", 28, 10, 0.5), ("a", 40, 10, 0.1), ("a", 80, 10, 0.0),
                      ("b", 1280, 10, 1.0), ("b", 2560, 10, 1.0)])  # b reaches the cap
    assert protocol_gaps(complete) == []
    lacking = rates([("a", 20, 10, 1.0), ("a", 40, 9, 0.5), ("a", 80, 10, 0.3)])
    assert protocol_gaps(lacking) == [
        "fluent a x: gap 40 has 9 seeds (< 10)",
        "fluent a x: never at or below 20% success, and stops at gap 80 < 2560",
        "fluent a x: gaps 20 and 40 are 2.00x apart in the transition (at most sqrt 2)",
        "fluent a x: gaps 40 and 80 are 2.00x apart in the transition (at most sqrt 2)",
    ]


def tuned_summary():
    """Two rows at two learning rates, 5 seeds, gaps 5-320. The LSTM solves up to 80 at 1e-3
    but only up to 20 at 3e-3; the RNN solves up to 40 at 3e-3 and nothing beyond 5 at 1e-3.
    At RNN gap 80 the test set favours 1e-3 but validation favours 3e-3: validation decides."""
    parts = []
    for model, lr, last_solved in (("lstm", 1e-3, 80), ("lstm", 3e-3, 20), ("rnn", 1e-3, 5), ("rnn", 3e-3, 40)):
        rows = summary({g: [1.0 if g <= last_solved else 0.3] * 5 for g in (5, 10, 20, 40, 80, 160, 320)}, model=model)
        rows["val_accuracy"] = rows["test_accuracy"]
        if model == "rnn" and lr == 1e-3:
            rows.loc[rows["gap"] == 80, ["test_accuracy", "val_accuracy"]] = (0.95, 0.2)  # best on test, worst on validation
        rows["learning_rate"], rows["variant"] = lr, f"learning_rate={lr}"
        rows["init_label"] = rows["init_label"] + f" [learning_rate={lr}]"
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def test_best_learning_rate_is_chosen_on_validation_and_scored_on_test():
    from experiments import tuning

    table = tuned_summary()
    chosen = tuning.best_rates(table).set_index(["model", "gap"])["learning_rate"]
    assert chosen["lstm", 80] == 1e-3 and chosen["lstm", 10] == 1e-3  # ties (both solve) go to the first rate
    assert chosen["rnn", 40] == 3e-3 and chosen["rnn", 80] == 3e-3  # validation, not the better test score of 1e-3
    assert chosen["lstm", 320] == 1e-3  # both fail alike: the tie rule again
    text = tuning.side_table(table)
    lstm = next(line for line in text.splitlines() if line.startswith("| fluent | lstm"))
    assert "5/5 @ 0.001" in lstm and lstm.count("0/5") == 2  # solved through 80 at its best rate
    best = stats.reaches(tuning.at_best_rate(table)).set_index("model")
    assert 80 <= best.loc["lstm", "reach"] <= 160 and 40 <= best.loc["rnn", "reach"] <= 80
    assert "Ranking at best lr: lstm orthogonal recurrent" in text and "Ranking at lr 0.003: rnn orthogonal recurrent" in text
    untuned = summary({5: [1.0] * 3, 10: [0.2] * 3}).assign(variant="")
    assert tuning.side_table(untuned) == ""
