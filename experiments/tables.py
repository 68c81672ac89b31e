"""Tables drawn from the summary: mean accuracy per gap, and the critical gap of each cell."""

import numpy as np
import pandas as pd

THRESHOLD = 0.9  # "remembers at this gap": mean test accuracy at least this
KEYS = ["task", "model", "init_label"]


def critical_gap(acc_by_gap):
    """Largest gap g such that accuracy >= THRESHOLD at every gap <= g; 0 if none."""
    best = 0
    for gap, acc in sorted(acc_by_gap.items()):
        if not acc >= THRESHOLD:
            break
        best = gap
    return best


def critical_gaps(summary):
    """One row per (task, model, init): the critical gap of the seed mean, and of each seed."""
    ok = summary[summary["status"] == "ok"]
    rows = []
    for key, group in ok.groupby(KEYS):
        mean = group.groupby("gap")["test_accuracy"].mean()
        per_seed = [critical_gap(g.set_index("gap")["test_accuracy"].to_dict()) for _, g in group.groupby("seed")]
        rows.append({**dict(zip(KEYS, key)), "critical_gap": critical_gap(mean.to_dict()),
                     "seed_min": min(per_seed), "seed_max": max(per_seed), "seeds": len(per_seed),
                     "largest_gap_run": int(group["gap"].max())})  # fmt: skip
    return pd.DataFrame(rows)


def accuracy_markdown(summary):
    """Markdown: mean test accuracy (over seeds) per gap, with the critical gap column."""
    ok = summary[summary["status"] == "ok"]
    table = ok.pivot_table(index=KEYS, columns="gap", values="test_accuracy", aggfunc="mean")
    crit = critical_gaps(summary).set_index(KEYS)
    gaps = list(table.columns)
    lines = ["| task | cell | initialisation | " + " | ".join(f"gap {g}" for g in gaps) + " | critical gap (seed range) |",
             "|---|---|---|" + "---|" * (len(gaps) + 1)]  # fmt: skip
    for key, row in table.iterrows():
        c = crit.loc[key]
        cells = " | ".join("" if np.isnan(v) else f"{v:.2f}" for v in row)
        at_least = ">= " if c.critical_gap == c.largest_gap_run else ""  # solved the largest gap run: the limit lies beyond
        lines.append(f"| {' | '.join(map(str, key))} | {cells} | {at_least}{c.critical_gap} ({c.seed_min}-{c.seed_max}) |")
    failed = int((summary["status"] != "ok").sum())
    lines.append("")
    lines.append(f"Mean test accuracy over seeds; critical gap = largest gap up to which the mean stays >= {THRESHOLD}. "
                 f"{len(summary)} runs, {failed} failed (not in the means).")  # fmt: skip
    return "\n".join(lines) + "\n"
