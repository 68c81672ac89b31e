"""Each row at its best learning rate: the fair-comparison side table (Zoology's and MAD's habit).

A fixed learning rate can favour one cell: an early prototype's LSTM at gap 30 went from 0.26
at 3e-3 to 0.87 at 1e-3. So the `lr_grid` preset trains every headline row at several rates,
and this module picks, for each (task, cell, initialisation, gap), the rate whose seeds
reached the highest mean **validation** accuracy (each run's last check; a diverged run
counts at chance), and reports that rate's **test** outcomes: selection and score never use
the same sequences. Ties go to the rate listed first in the grid's order (the smaller one).
"""

from experiments.stats import reach_interval, reach_text, reaches, success_rates
from experiments.tables import KEYS

TUNED = "learning_rate"


def base_label(table):
    """The row label without the '[learning_rate=...]' that `evaluate.label_variants` adds."""
    return table["init_label"].str.replace(r" \[.*\]$", "", regex=True)


def tunable(table):
    """Whether the runs of `table` differ in learning rate and in nothing else that names a protocol."""
    return TUNED in table and table[TUNED].nunique() > 1 and set(table["variant"].str.split(", ").explode().str.split("=").str[0]) == {TUNED}


def best_rates(table):
    """One row per (task, model, base init, gap): the chosen rate and every rate's mean validation accuracy."""
    rows = table[table["status"].isin(["ok", "diverged"])].copy()
    rows["init_label"] = base_label(rows)
    rows["val"] = rows["val_accuracy"].where(rows["status"] == "ok", rows["chance_accuracy"]).fillna(rows["chance_accuracy"])
    means = rows.groupby(KEYS + ["gap", TUNED])["val"].mean().reset_index()
    chosen = means.sort_values(KEYS + ["gap", TUNED]).loc[lambda m: m.groupby(KEYS + ["gap"])["val"].idxmax()]
    return chosen.rename(columns={"val": "mean_val_accuracy"}).reset_index(drop=True)


def at_best_rate(table):
    """`table`'s runs at each point's chosen rate, labelled without the rate (`base_label`)."""
    rows = table.copy()
    rows["init_label"] = base_label(rows)
    return rows.merge(best_rates(table)[KEYS + ["gap", TUNED]], on=KEYS + ["gap", TUNED])


def tuning_markdown(table):
    """Markdown: per row, the chosen rate and successes at each gap, its reach at the best rate
    beside its reach at each fixed rate, and the ranking of rows by reach under each."""
    best, chosen = at_best_rate(table), best_rates(table)
    rates = success_rates(best).set_index(KEYS + ["gap"])
    gaps = sorted(chosen["gap"].unique())
    fixed_rates = sorted(table[TUNED].unique())
    fixed = {lr: reaches(table[table[TUNED] == lr].assign(init_label=lambda t: base_label(t))).set_index(KEYS) for lr in fixed_rates}
    tuned = reaches(best).set_index(KEYS)
    lines = ["| " + " | ".join(KEYS) + " | " + " | ".join(f"{g}" for g in gaps) + " | reach, best lr | "
             + " | ".join(f"reach, lr {lr:g}" for lr in fixed_rates) + " |",
             "|" + "---|" * (len(KEYS) + len(gaps) + 1 + len(fixed_rates))]
    for key, part in chosen.groupby(KEYS):
        by_gap = part.set_index("gap")
        cells = [f"{rates.loc[(*key, g), 'successes']}/{rates.loc[(*key, g), 'n']} @ {by_gap.loc[g, TUNED]:g}" if g in by_gap.index else "" for g in gaps]
        others = [reach_text(fixed[lr].loc[key]) if key in fixed[lr].index else "" for lr in fixed_rates]
        lines.append(f"| {' | '.join(map(str, key))} | {' | '.join(cells)} | {reach_text(tuned.loc[key])} | {' | '.join(others)} |")
    lines += ["", f"Each point: seeds solved / seeds run at the learning rate (of {', '.join(f'{lr:g}' for lr in fixed_rates)}) whose seeds "
              "had the highest mean validation accuracy there; scored on the test set. Reach as in the main table."]
    for name, reach_rows in [("best lr", tuned)] + [(f"lr {lr:g}", fixed[lr]) for lr in fixed_rates]:
        lines.append(f"- Ranking at {name}: {ranking(reach_rows)}")
    return "\n".join(lines) + "\n"


def ranking(reach_rows):
    """Rows ordered by reach, farthest first, with '>' between rows whose intervals separate
    and '~' between rows whose intervals overlap (the README's rule for 'reaches farther')."""
    rows = sorted(reach_rows.iterrows(), key=lambda kv: -kv[1]["reach"])
    text = ""
    for i, (key, row) in enumerate(rows):
        name = " ".join(str(k) for k in key[1:])
        if i:
            prev_low, _ = reach_interval(rows[i - 1][1])
            _, high = reach_interval(row)
            text += " > " if high < prev_low else " ~ "
        text += f"{name} ({reach_text(row)})"
    return text


def side_table(table):
    """The tuned section of summary.md for a folder whose runs differ only in learning rate, else ''."""
    if "variant" not in table or not tunable(table):
        return ""
    return "\n## At the best learning rate\n\n" + tuning_markdown(table)

