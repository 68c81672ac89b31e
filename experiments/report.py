"""RESULTS/REPORT.md: every figure, the critical-gap table, the protocol, versions and hardware,
rebuilt from the files in RESULTS alone."""

import json
from pathlib import Path

import pandas as pd

from experiments.analysis import ANALYSES
from experiments.evaluate import summary_markdown
from experiments.records import load_records, write_text
from experiments.stats import CAP, FLOOR, MIN_SEEDS, protocol_gaps, success_rates
from experiments.summary import protocol, read_summary

PLOTS = [("success_vs_gap", "Success rate versus gap", "`make plot`: fraction of seeds solved, Wilson 95 % band, reach dotted."),
         ("accuracy_vs_gap", "Accuracy versus gap", "`make plot`: test accuracy on a fresh test set, mean over seeds, band = seed range.")]


def figures():
    """The figures of `make plot`, then one section per analysis, in the registry's order (plugins' too)."""
    return PLOTS + [(a.name, a.title, a.caption) for a in ANALYSES.values()]


def per_task(folder, name, suffix):
    """The files <name><suffix> and <name>_<task><suffix> (`analysis.output_name`'s names in a
    folder of several tasks) that exist in `folder`, in task order."""
    from datasets import TASKS

    paths = [folder / f"{name}{suffix}"] + [folder / f"{name}_{task}{suffix}" for task in sorted(TASKS)]
    return [path for path in paths if path.exists()]


def report(results):
    """Write RESULTS/REPORT.md and return its path."""
    results = Path(results)
    summary = read_summary(results)
    records = load_records(results, warn=False)
    lines = ["# Report", "", f"Rebuilt by `make report RESULTS={results}` from `{results}/` alone.", ""]
    lines += ["## Protocol", "", protocol(summary[summary["status"] == "ok"]) + ".", ""]
    lines += ["## Success, reach and accuracy", ""]
    lines += [f"{len(summary)} runs: " + ", ".join(f"{n} {s}" for s, n in summary["status"].value_counts().items()) + ".", ""]
    reach_path = results / "reaches.csv"  # written by evaluate, with each row's capacity
    reach_rows = pd.read_csv(reach_path) if reach_path.exists() else None
    lines += [summary_markdown(summary, reach_rows=reach_rows).replace("## ", "### "), ""]
    lacking = protocol_gaps(success_rates(summary))
    lines += ["### Against the headline protocol", "",
              f"At least {MIN_SEEDS} seeds per point, each row followed to a success rate of {FLOOR:.0%} or less (or gap {CAP}), "
              "gaps at most sqrt 2 apart in each transition (`stats.protocol_gaps`): "
              + ("met." if not lacking else f"{len(lacking)} shortfalls:"), ""]
    lines += [f"- {line}" for line in lacking] + ([""] if lacking else [])
    for name, title, caption in figures():
        drawn = per_task(results / "figures", name, ".png")
        if drawn:
            lines += [f"## {title}", ""] + [f"![{title}](figures/{png.name})\n" for png in drawn] + [caption, ""]
        else:
            lines += [f"## {title}", "", f"Not drawn yet: {caption.split(':')[0]}.", ""]
    gradients = next(iter(per_task(results, "gradient_flow", ".csv")), None)
    if gradients is not None:
        lines += ["### Gradient at the key relative to the last input step", "",
                  "||d loss / d x_key|| / ||d loss / d x_last|| at the initial weights and after training, median over seeds.", "",
                  gradient_ratio_markdown(pd.read_csv(gradients)), ""]
    versions = sorted({json.dumps(r["versions"], sort_keys=True) for r in records})
    machines = sorted({json.dumps(r.get("machine", {}), sort_keys=True) for r in records})
    lines += ["## Software and hardware", "", "Package versions recorded by the runs:", ""]
    lines += [f"- `{v}`" for v in versions]
    lines += ["", "Machines the runs trained on:", ""] + [f"- `{m}`" for m in machines]
    lines += ["", "## Cost", "", cost_markdown(summary), ""]
    path = results / "REPORT.md"
    write_text(path, "\n".join(lines))
    return path


def cost_markdown(summary):
    """Training wall time per row of the table, from the runs' own `seconds`.

    A seed stack's record holds its share (the stack's wall time / its seeds), so the sum is
    the time the stacks took. It is process time on a shared machine: halved, it is what 2
    cores would take if every process had one to itself; processes that shared a core, and
    paused sweeps, make it an overstatement. Evaluation and analyses are not included.
    """
    rows = summary.groupby(["task", "model", "init_label"], sort=True).agg(runs=("seconds", "size"), hours=("seconds", lambda s: s.sum() / 3600),
                                                                       longest=("seconds", "max"))
    lines = ["| task | model | initialisation | runs | training hours (one process) | longest run's share (min) |", "|---|---|---|---|---|---|"]
    lines += [f"| {t} | {m} | {i} | {int(r.runs)} | {r.hours:.2f} | {r.longest / 60:.1f} |" for (t, m, i), r in rows.iterrows()]
    total = summary["seconds"].sum() / 3600
    lines += ["", f"In all {len(summary)} runs, {total:.1f} hours of training summed over the runs' own wall times: about "
              f"{total / 2:.1f} hours on 2 cores if every process had a core to itself. Runs that shared the cores with more "
              "processes than cores (other sweeps, evaluations) took longer than alone, and a paused sweep's runs count the "
              "pause, so this overstates a from-scratch sweep; the machine's speed also varies from day to day. An "
              "estimate, not a benchmark."]
    return "\n".join(lines)


def gradient_ratio_markdown(table):
    """||grad at the key|| / ||grad at the last step||, median over seeds, per cell and stage."""
    far = table[table["distance"] == table["distance"].max()].set_index(["model", "init_label", "stage", "seed"])["grad_norm"]
    near = table[table["distance"] == 0].set_index(["model", "init_label", "stage", "seed"])["grad_norm"]
    ratio = (far / near).groupby(level=["model", "init_label", "stage"]).median().unstack("stage")
    lines = ["| cell | initialisation | " + " | ".join(f"ratio, {stage}" for stage in ratio.columns) + " |",
             "|---|---|" + "---|" * len(ratio.columns)]
    for (model, init), row in ratio.iterrows():
        lines.append(f"| {model} | {init} | " + " | ".join(f"{v:.1e}" for v in row) + " |")
    return "\n".join(lines)
