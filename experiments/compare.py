"""Set two results folders side by side: does a rerun agree with the committed results?

Per point (task, cell, initialisation, gap) run in both: the two success counts and whether
they are compatible by Fisher's exact test at 5 %. Fisher, not overlapping Wilson intervals:
it is a test of the one question asked (could both counts come from one success
probability?), exact at the 3-10 seeds a point has, whereas two 95 % intervals can overlap
while the difference is significant, so "overlap" is a looser rule with no stated level.
Per row: both reaches and whether their 95 % intervals overlap (see `stats.reach`; a censored
end, "> 113" from gaps that stop at 113, is unbounded). Runs both folders hold under the same
run id (the same config and seed: a retraining) are also set side by side one by one: how
many got another test accuracy and how many flipped between solved and unsolved.
"""

import pandas as pd
from scipy import stats as scipy_stats

from experiments.stats import intervals_overlap, reach_interval, reach_text, reaches, solved, success_rates
from experiments.summary import read_summary
from experiments.tables import KEYS

ALPHA = 0.05


def compare(a, b):
    """(points, rows): the per-point and per-row comparison tables of folders `a` and `b`."""
    summaries = [read_summary(a), read_summary(b)]
    rates = [success_rates(s).set_index(KEYS + ["gap"]) for s in summaries]
    shared = rates[0].index.intersection(rates[1].index)
    points = []
    for key in shared:
        (k1, n1), (k2, n2) = ((int(r.loc[key, "successes"]), int(r.loc[key, "n"])) for r in rates)
        p = scipy_stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
        points.append({**dict(zip(KEYS + ["gap"], key)), "a": f"{k1}/{n1}", "b": f"{k2}/{n2}", "fisher_p": p, "agree": p >= ALPHA})
    reach_tables = [reaches(s).set_index(KEYS) for s in summaries]
    rows = []
    for key in reach_tables[0].index.intersection(reach_tables[1].index):
        ra, rb = (t.loc[key] for t in reach_tables)
        rows.append({**dict(zip(KEYS, key)), "a": reach_text(ra), "b": reach_text(rb),
                     "agree": intervals_overlap(*reach_interval(ra), *reach_interval(rb))})
    return pd.DataFrame(points), pd.DataFrame(rows)


def same_runs(a, b):
    """The runs of folders `a` and `b` with the same run id, one row each: run_id, accuracy_a,
    accuracy_b, flipped (solved in one folder and not in the other; a diverged run is unsolved)."""
    tables = [solved(read_summary(folder)) for folder in (a, b)]
    if any("run_id" not in table for table in tables):
        return pd.DataFrame(columns=["run_id", "accuracy_a", "accuracy_b", "flipped"])
    both = tables[0].merge(tables[1], on="run_id", suffixes=("_a", "_b"))
    return pd.DataFrame({"run_id": both["run_id"], "accuracy_a": both["test_accuracy_a"], "accuracy_b": both["test_accuracy_b"],
                         "flipped": both["success_a"] != both["success_b"]})


def same_runs_markdown(runs):
    """How far a retraining of the same runs moved them, and the runs that flipped."""
    if runs.empty:
        return []
    a, b = runs["accuracy_a"].astype(float), runs["accuracy_b"].astype(float)
    moved = (a - b).abs().where(a.notna() == b.notna(), float("inf")).fillna(0.0)  # diverged in one only: moved
    lines = [f"Same runs: {len(runs)} run ids are in both; {int((moved > 0).sum())} got another test accuracy "
             f"({int((moved > 0.01).sum())} by more than 0.01), {int(runs['flipped'].sum())} flipped between solved and unsolved.", ""]
    if runs["flipped"].any():
        lines += ["| run | accuracy a | accuracy b |", "|---|---|---|"]
        lines += [f"| {r.run_id} | {r.accuracy_a:.3f} | {r.accuracy_b:.3f} |" for r in runs[runs["flipped"]].sort_values("run_id").itertuples()]
        lines += [""]
    return lines


def markdown(points, rows, a, b, runs=None):
    """The report `make compare` prints: disagreements first, then the same runs one by one
    (`same_runs`, where given), then the closing line."""
    lines = [f"# {a} (a) against {b} (b)", "", f"Points: successes/seeds in each; agree = Fisher's exact p >= {ALPHA}.", ""]
    if not points.empty:
        shown = points.sort_values(["agree", "fisher_p"])
        lines += ["| " + " | ".join(KEYS) + " | gap | a | b | Fisher p | agree |", "|" + "---|" * (len(KEYS) + 5)]
        lines += [f"| {' | '.join(str(r[k]) for k in KEYS)} | {r['gap']} | {r['a']} | {r['b']} | {r['fisher_p']:.3f} | "
                  f"{'yes' if r['agree'] else '**no**'} |" for _, r in shown.iterrows()]
    lines += ["", "Reaches (95 % intervals); agree = the intervals overlap.", ""]
    if not rows.empty:
        lines += ["| " + " | ".join(KEYS) + " | reach a | reach b | agree |", "|" + "---|" * (len(KEYS) + 3)]
        lines += [f"| {' | '.join(str(r[k]) for k in KEYS)} | {r['a']} | {r['b']} | {'yes' if r['agree'] else '**no**'} |"
                  for _, r in rows.iterrows()]
    lines += [""] + same_runs_markdown(runs if runs is not None else pd.DataFrame())
    n_points, n_rows = len(points), len(rows)
    agree_points = int(points["agree"].sum()) if n_points else 0
    agree_rows = int(rows["agree"].sum()) if n_rows else 0
    lines += [f"compare: {agree_points} of {n_points} points agree, {agree_rows} of {n_rows} reaches agree"]
    return "\n".join(lines)
