"""Success rates, reach and `make compare` on hand-made summaries whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from conftest import cli

from experiments import stats
from experiments.compare import compare, markdown


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
