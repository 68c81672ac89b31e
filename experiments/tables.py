"""Tables drawn from the summary: mean accuracy per gap, and the critical gap of each cell."""

import numpy as np
import pandas as pd

THRESHOLD = 0.9  # "remembers at this gap": mean test accuracy at least this
KEYS = ["task", "model", "init_label"]


def markdown_table(frame):
    """A DataFrame as a GitHub markdown table: its columns as the header, its index dropped, NaN empty."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def results_only(summary):
    """The rows that are results, with a diverged run's accuracy set to chance.

    A run whose loss became non-finite carries no information about the key: it counts as
    unsolved, at chance accuracy, never dropped (dropping it would let a critical gap pass
    the gap where a seed diverged).
    """
    rows = summary[summary["status"].isin(["ok", "diverged"])].copy()
    diverged = rows["status"] == "diverged"
    rows.loc[diverged, "test_accuracy"] = rows.loc[diverged, "chance_accuracy"]
    return rows


def critical_gap(acc_by_gap):
    """Largest gap g such that accuracy >= THRESHOLD at every gap <= g; 0 if none."""
    best = 0
    for gap, acc in sorted(acc_by_gap.items()):
        if not acc >= THRESHOLD:
            break
        best = gap
    return best


CRITICAL_COLUMNS = KEYS + ["critical_gap", "seed_min", "seed_max", "seeds", "smallest_gap_run", "largest_gap_run"]


def critical_gaps(summary):
    """One row per (task, model, init): the critical gap of the seed mean, and of each seed."""
    rows = []
    for key, group in results_only(summary).groupby(KEYS):
        mean = group.groupby("gap")["test_accuracy"].mean()
        per_seed = [critical_gap(g.set_index("gap")["test_accuracy"].to_dict()) for _, g in group.groupby("seed")]
        rows.append({**dict(zip(KEYS, key)), "critical_gap": critical_gap(mean.to_dict()),
                     "seed_min": min(per_seed), "seed_max": max(per_seed), "seeds": len(per_seed),
                     "smallest_gap_run": int(group["gap"].min()), "largest_gap_run": int(group["gap"].max())})
    return pd.DataFrame(rows, columns=CRITICAL_COLUMNS)


def critical_text(row):
    """'>= 320 (160-320)', '80 (40-160)', or '< 5' when even the smallest gap run failed."""
    if row.critical_gap == 0:
        return f"< {row.smallest_gap_run}"
    at_least = ">= " if row.critical_gap == row.largest_gap_run else ""  # solved the largest gap run: the limit lies beyond
    low = f"< {row.smallest_gap_run}" if row.seed_min == 0 else row.seed_min
    return f"{at_least}{row.critical_gap} ({low}-{row.seed_max})"


def accuracy_markdown(summary, left_out=0):
    """Markdown: mean test accuracy (over seeds) per gap, with the critical gap column."""
    scored = results_only(summary)
    table = scored.pivot_table(index=KEYS, columns="gap", values="test_accuracy", aggfunc="mean")
    crit = critical_gaps(summary).set_index(KEYS)
    gaps = list(table.columns)
    lines = ["| task | cell | initialisation | " + " | ".join(f"gap {g}" for g in gaps) + " | critical gap (seed range) |",
             "|---|---|---|" + "---|" * (len(gaps) + 1)]
    for key, row in table.iterrows():
        cells = " | ".join("" if np.isnan(v) else f"{v:.2f}" for v in row)
        lines.append(f"| {' | '.join(map(str, key))} | {cells} | {critical_text(crit.loc[key])} |")
    diverged = int((summary["status"] == "diverged").sum())
    lines.append("")
    note = (f"Mean test accuracy over seeds; critical gap = largest gap up to which the mean stays >= {THRESHOLD}. "
            f"{len(summary)} runs, {diverged} diverged (counted at chance accuracy, as unsolved)")
    lines.append(note + (f"; {left_out} unreadable run(s) left out (named by `make evaluate`)." if left_out else "."))
    return "\n".join(lines) + "\n"
