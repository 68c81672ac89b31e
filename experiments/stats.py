"""Success rates with intervals, and how far each row reaches, from a summary.

A run is *solved* when its test accuracy (on the fresh test set of `make evaluate`) is at
least `tables.THRESHOLD` (0.9, for every task); a diverged run is unsolved, never dropped.

- Per point (task, cell, initialisation, gap): successes k of n seeds and a Wilson 95 %
  interval (scipy's `binomtest(...).proportion_ci(method="wilson")`). Wilson, not the normal
  approximation: with 10 seeds and rates near 0 or 1 the normal interval leaves [0, 1].
- Per row: the **reach**, the gap at which the success probability crosses 50 %, from a
  logistic fit of solved ~ log2(gap) over all of the row's runs, with a 95 % percentile
  bootstrap interval over seeds (scipy.stats.bootstrap; a resample draws whole seeds, since
  one seed's runs at different gaps share its initial weights and data stream).

The fit has a weak Gaussian prior on the slope (sd 10 per doubling). Rows are often
perfectly separated (every seed solves up to g, none beyond); the plain maximum-likelihood
slope is then infinite and the crossing undefined; the prior keeps it finite and puts the
crossing between the last gap solved and the first failed, while barely moving a fit that
the data determine. A reach beyond the largest gap run (or before the smallest) cannot be
measured: it is reported as censored (`reach_censored` = "above" or "below").
"""

import functools
import math

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from experiments.tables import KEYS, THRESHOLD, results_only

CONFIDENCE = 0.95
SLOPE_PRIOR_SD = 10.0  # per doubling of the gap; see the module docstring
N_BOOTSTRAP = 1000


def solved(summary):
    """The rows that are results, with a boolean `success` column (diverged: False)."""
    rows = results_only(summary)
    rows["success"] = rows["test_accuracy"] >= THRESHOLD  # NaN compares False: unsolved
    return rows


def wilson(k, n):
    """(low, high) of the Wilson 95 % interval for k successes in n trials."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def success_rates(summary, keys=KEYS):
    """One row per point: keys, gap, successes, n, rate, ci_low, ci_high."""
    rows = []
    for key, group in solved(summary).groupby(keys + ["gap"]):
        k, n = int(group["success"].sum()), len(group)
        low, high = wilson(k, n)
        rows.append({**dict(zip(keys + ["gap"], key)), "successes": k, "n": n, "rate": k / n, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=keys + ["gap", "successes", "n", "rate", "ci_low", "ci_high"])


@functools.lru_cache(maxsize=65536)
def fit_crossing(log_gaps, successes, trials):
    """log2 of the gap where the fitted success probability is 1/2 (may lie outside the data).

    Arguments are tuples per gap (hashable: bootstrap resamples repeat the same counts
    often, and each fit is then made once).
    """
    x, k, n = (np.asarray(v, float) for v in (log_gaps, successes, trials))
    if k.sum() == n.sum():
        return np.inf
    if k.sum() == 0:
        return -np.inf
    centre = (x * n).sum() / n.sum()
    u = x - centre

    def loss(theta):  # negative log posterior of p = sigmoid(a + b u), and its gradient
        z = theta[0] + theta[1] * u
        value = -(k * special.log_expit(z) + (n - k) * special.log_expit(-z)).sum() + 0.5 * (theta[1] / SLOPE_PRIOR_SD) ** 2
        residual = n * special.expit(z) - k
        return value, np.array([residual.sum(), (residual * u).sum() + theta[1] / SLOPE_PRIOR_SD**2])

    a, b = optimize.minimize(loss, x0=np.array([0.0, -1.0]), jac=True, method="BFGS").x
    if b >= 0:  # success does not fall with the gap: no crossing to speak of
        return np.inf if a > 0 else -np.inf
    return centre - a / b


def grid_bracket(group):
    """(log2 low, log2 high): the last gap whose success rate is >= 1/2 before the first gap
    below it. The gaps run bound how finely any fit can place the crossing."""
    rate = group.groupby("gap")["success"].mean().sort_index()
    below = rate[rate < 0.5]
    if below.empty:
        return np.log2(rate.index[-1]), np.inf
    first = below.index[0]
    above = rate[(rate.index < first)]
    return (np.log2(above.index[-1]) if not above.empty else -np.inf), np.log2(first)


def reach(group):
    """Reach of one row (a summary slice with `success`): dict of reach, its interval, censoring.

    Gaps are in steps. The interval is the seed bootstrap's, widened to at least the bracket
    of gaps run around the crossing (`grid_bracket`): with separated data every resample
    gives the same crossing, and a zero-width interval would claim a precision the grid of
    gaps does not have. A crossing outside the gaps run is censored at that end.
    """
    seeds = sorted(group["seed"].unique())
    gaps = sorted(group["gap"].unique())
    counts = np.zeros((len(seeds), len(gaps), 2))  # per seed and gap: (successes, runs)
    for row in group.itertuples():
        counts[seeds.index(row.seed), gaps.index(row.gap)] += (row.success, 1)
    log_gaps = tuple(np.log2(gaps))
    lo, hi = log_gaps[0], log_gaps[-1]

    def crossing(seed_index):
        k, n = counts[np.atleast_1d(seed_index).astype(int)].sum(axis=0).T
        return float(np.clip(fit_crossing(log_gaps, tuple(k), tuple(n)), lo - 1, hi + 1))

    point = crossing(np.arange(len(seeds)))
    censored = "above" if point > hi else "below" if point < lo else ""
    ci = [np.nan, np.nan]
    if len(seeds) > 1:
        boot = stats.bootstrap((np.arange(len(seeds)),), crossing, n_resamples=N_BOOTSTRAP, method="percentile",
                               confidence_level=CONFIDENCE, vectorized=False, random_state=0)
        bracket = grid_bracket(group)
        ci = [min(boot.confidence_interval.low, bracket[0]), max(boot.confidence_interval.high, bracket[1])]
    clip = lambda v: round(float(2 ** np.clip(v, lo, hi)), 6)
    return {"reach": clip(point), "reach_low": clip(ci[0]) if not np.isnan(ci[0]) else np.nan,
            "reach_high": clip(ci[1]) if not np.isnan(ci[1]) else np.nan, "reach_censored": censored,
            "low_censored": bool(ci[0] < lo), "high_censored": bool(ci[1] > hi), "seeds": len(seeds)}


def reaches(summary, keys=KEYS):
    """One row per (task, cell, initialisation): reach with its bootstrap interval and censoring."""
    rows = [{**dict(zip(keys, key)), **reach(group)} for key, group in solved(summary).groupby(keys)]
    return pd.DataFrame(rows)


def reach_text(row):
    """'160 (113-226)', '> 2560', '< 5', with '>' / '<' on a censored interval end."""
    if row.reach_censored == "above":
        return f"> {row.reach:.0f}"
    if row.reach_censored == "below":
        return f"< {row.reach:.0f}"
    if np.isnan(row.reach_low):
        return f"{row.reach:.0f}"
    low = f"<{row.reach_low:.0f}" if row.low_censored else f"{row.reach_low:.0f}"
    high = f">{row.reach_high:.0f}" if row.high_censored else f"{row.reach_high:.0f}"
    return f"{row.reach:.0f} ({low}-{high})"


def reach_interval(row):
    """(low, high) of a reach row's 95 % interval, a censored end made unbounded: a reach
    "> 113" from gaps that stop at 113 says nothing against 176."""
    low = -np.inf if row.low_censored or row.reach_censored == "below" else row.reach_low
    high = np.inf if row.high_censored or row.reach_censored == "above" else row.reach_high
    return low, high


def intervals_overlap(a_low, a_high, b_low, b_high):
    """Whether two closed intervals share a point (NaN ends count as unbounded)."""
    a_low, b_low = (-np.inf if np.isnan(v) else v for v in (a_low, b_low))
    a_high, b_high = (np.inf if np.isnan(v) else v for v in (a_high, b_high))
    return bool(a_low <= b_high and b_low <= a_high)


def separations(reach_rows, keys=KEYS):
    """Every pair of rows of one task, farther-reaching first: whether their reach intervals
    separate. The README says "A reaches farther than B" only where they do (`reach_interval`:
    a censored end is unbounded, so a row beyond the gaps run separates only from rows whose
    interval ends below the largest gap). Columns: task, a, a_reach, b, b_reach, separated."""
    rows = []
    label = lambda r: ", ".join(str(getattr(r, k)) for k in keys[1:])
    for task, part in reach_rows.groupby(keys[0], sort=True):
        ordered = sorted(part.itertuples(), key=lambda r: (-r.reach, label(r)))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                rows.append({keys[0]: task, "a": label(a), "a_reach": reach_text(a), "b": label(b), "b_reach": reach_text(b),
                             "separated": not intervals_overlap(*reach_interval(a), *reach_interval(b))})
    return pd.DataFrame(rows, columns=[keys[0], "a", "a_reach", "b", "b_reach", "separated"])


def separations_markdown(reach_rows, keys=KEYS):
    """The pairs of `separations` as a table: 'A reaches farther' where A's interval lies above
    B's, 'indistinguishable' where they overlap."""
    table = separations(reach_rows, keys)
    lines = [f"| {keys[0]} | A | reach A | B | reach B | A vs B |", "|---|---|---|---|---|---|"]
    lines += [f"| {r[keys[0]]} | {r.a} | {r.a_reach} | {r.b} | {r.b_reach} | {'A reaches farther' if r.separated else 'indistinguishable'} |"
              for _, r in table.iterrows()]
    return "\n".join(lines) + "\n"


def success_markdown(summary, keys=KEYS, reach_rows=None):
    """Markdown: successes/n per gap for each row, then its reach with the 95 % interval, and
    its parameter count and state size where `reach_rows` has them (see evaluate.with_capacity)."""
    rates = success_rates(summary, keys)
    reach_rows = (reaches(summary, keys) if reach_rows is None else reach_rows).set_index(keys)
    capacity = "params" in reach_rows.columns
    gaps = sorted(rates["gap"].unique())
    extra = " params | state size |" if capacity else ""
    lines = ["| " + " | ".join(keys) + " | " + " | ".join(f"{g}" for g in gaps) + " | reach (95 % CI) |" + extra,
             "|" + "---|" * (len(keys) + len(gaps) + 1 + 2 * capacity)]
    for key, part in rates.groupby(keys):
        by_gap = part.set_index("gap")
        cells = [f"{by_gap.loc[g, 'successes']}/{by_gap.loc[g, 'n']}" if g in by_gap.index else "" for g in gaps]
        row = reach_rows.loc[key]
        sizes = f" {row.params:,} | {row.state_size} |" if capacity else ""
        lines.append(f"| {' | '.join(map(str, key))} | {' | '.join(cells)} | {reach_text(row)} |{sizes}")
    lines += ["", f"Seeds solved / seeds run at each gap (solved: test accuracy >= {THRESHOLD}; a diverged run is unsolved). "
              f"Reach: the gap where a logistic fit in log2(gap) crosses 50 % success, with a {CONFIDENCE:.0%} bootstrap "
              "interval over seeds, widened to the gaps run on either side of the crossing; '>' or '<' where it lies "
              "beyond the gaps run." + (" Params: trainable parameters of the whole model; state size: numbers carried "
              "from step to step." if capacity else "")]
    return "\n".join(lines) + "\n"


# What the headline protocol asks of every (cell, initialisation) row (README, "The headline
# sweep"): enough seeds at every gap, the row followed until it fails (or to the cap), and
# gaps at most sqrt(2) apart where the success rate is in transition.
MIN_SEEDS, FLOOR, CAP, TRANSITION = 10, 0.2, 2560, (0.1, 0.9)
STEP = math.sqrt(2) * 1.02  # 2 % for whole-number gaps: 57 / 40 = 1.425


def protocol_gaps(rates, keys=KEYS):
    """Everything a success-rate table still lacks to meet the headline protocol, one line each.

    `rates`: `success_rates`' table. Empty when every row has >= MIN_SEEDS seeds at each gap,
    reaches a success rate <= FLOOR (or gap CAP), and has no two neighbouring gaps more than
    sqrt(2) apart where either one's rate lies strictly within TRANSITION.
    """
    problems = []
    for key, row in rates.groupby(keys, sort=True):
        name = " ".join(map(str, key))
        row = row.sort_values("gap")
        problems += [f"{name}: gap {g} has {n} seeds (< {MIN_SEEDS})" for g, n in zip(row["gap"], row["n"]) if n < MIN_SEEDS]
        if not (row["rate"] <= FLOOR).any() and row["gap"].max() < CAP:
            problems.append(f"{name}: never at or below {FLOOR:.0%} success, and stops at gap {row['gap'].max()} < {CAP}")
        points = list(zip(row["gap"], row["rate"]))
        for (g1, r1), (g2, r2) in zip(points, points[1:]):
            inside = any(TRANSITION[0] < r < TRANSITION[1] for r in (r1, r2))
            if inside and g2 / g1 > STEP:
                problems.append(f"{name}: gaps {g1} and {g2} are {g2 / g1:.2f}x apart in the transition (at most sqrt 2)")
    return problems
