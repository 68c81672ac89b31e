"""Set two results folders side by side: does a rerun agree with the committed results?

Per point (task, cell, initialisation, gap) run in both: the two success counts and whether
they are compatible by Fisher's exact test at 5 %. Fisher, not overlapping Wilson intervals:
it is a test of the one question asked (could both counts come from one success
probability?), exact at the 3-10 seeds a point has, whereas two 95 % intervals can overlap
while the difference is significant, so "overlap" is a looser rule with no stated level.
Per row: both reaches and whether their 95 % intervals overlap (see `stats.reach`; a censored
end, "> 113" from gaps that stop at 113, is unbounded).
"""

import pandas as pd
from scipy import stats as scipy_stats

from experiments.stats import intervals_overlap, reach_interval, reach_text, reaches, success_rates
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


def markdown(points, rows, a, b):
    """The report `make compare` prints: disagreements first, then the closing line."""
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
    n_points, n_rows = len(points), len(rows)
    agree_points = int(points["agree"].sum()) if n_points else 0
    agree_rows = int(rows["agree"].sum()) if n_rows else 0
    lines += ["", f"compare: {agree_points} of {n_points} points agree, {agree_rows} of {n_rows} reaches agree"]
    return "\n".join(lines)
