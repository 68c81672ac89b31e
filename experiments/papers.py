"""The papers beside our runs: what each reports, our learning curves at its protocol, and a
table that sets our numbers at the paper's update counts, in the paper's units.

Each paper preset (`presets.PAPER_PRESETS`) is swept into `RESULTS/papers/<preset>/`;
`make papers` reads those records alone and writes, per paper,
`learning_curves.{png,pdf}` and `papers.md` (every paper's table). The published numbers are
read off the papers' figures and text (approximate; see each `Mark`).

How a curve is read. The y value at an update count is the validation loss the run recorded
there (every `eval_every` updates, on a fixed validation set; older records without it fall
back to the training loss of the preceding chunk). A run "leaves the baseline" at the first
update where its validation loss is below 90 % of the input-blind baseline, and "solves" the
task at the first update where it is below `SOLVED` times the baseline.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import TASKS
from experiments.checks import UsageError, check_choice
from experiments.records import load_records, write_text

LEFT = 0.9  # below 90 % of the baseline: the run has left it
SOLVED = 0.01  # below 1 % of the baseline (MSE 0.0017 on adding): the task is solved
BITS = 1 / math.log(2)  # nats -> bits


@dataclasses.dataclass(frozen=True)
class Mark:
    """One published number: what a paper reports for one (model, gap, initialisation).

    kind: "leaves" (the loss leaves the baseline between `updates[0]` and `updates[1]`),
    "solves" (the loss reaches ~0 in that range), "stays" (never leaves the baseline within
    `updates[1]` updates), or "value" (the loss is `loss` at `updates[1]` updates).
    """

    model: str
    gap: int
    kind: str
    updates: tuple
    loss: float | None = None
    forget_bias: str | None = None  # None: the model's default (forget bias 1 for the LSTM)
    text: str = ""


@dataclasses.dataclass(frozen=True)
class Paper:
    title: str
    unit: str  # the paper's loss: "MSE", "cross-entropy (nats)" or "cross-entropy (bits)"
    marks: tuple
    scale: float = 1.0  # ours (nats or MSE) -> the paper's unit


PAPERS = {
    "arjovsky_adding": Paper("Arjovsky, Shah & Bengio 2016, fig. 2: adding", "MSE", (
        Mark("lstm", 100, "leaves", (1_000, 1_500), text="leaves 0.167 after ~1-1.5k updates"),
        Mark("lstm", 200, "leaves", (5_000, 6_500), text="leaves 0.167 after ~5-6.5k updates"),
        Mark("lstm", 400, "leaves", (7_500, 8_000), text="leaves 0.167 after ~7.5-8k updates"),
        Mark("lstm", 750, "leaves", (18_000, 19_000), text="leaves 0.167 after ~18-19k updates"),
        *(Mark("rnn", gap, "stays", (0, 20_000), text="never leaves 0.167") for gap in (100, 200, 400, 750)),
    )),
    "arjovsky_copy": Paper("Arjovsky, Shah & Bengio 2016, fig. 1: copy", "cross-entropy (nats)", (
        Mark("lstm", 100, "leaves", (9_000, 11_000), text="below the baseline 0.173 after ~10k updates"),
        *(Mark("lstm", gap, "stays", (0, 20_000), text="stays at the baseline") for gap in (200, 300, 500)),
    )),
    "tallec_adding": Paper("Tallec & Ollivier 2018: adding T = 750", "MSE", (
        Mark("lstm", 750, "solves", (400, 500), forget_bias="chrono", text="chrono solves it in ~400-500 iterations"),
        Mark("lstm", 750, "solves", (3_700, 3_800), text="forget bias 1 solves it in ~3,700-3,800"),
    )),
    "tallec_copy": Paper("Tallec & Ollivier 2018: copy T = 500", "cross-entropy (bits)", (
        Mark("lstm", 500, "value", (9_000, 9_000), 0.030, forget_bias="chrono", text="chrono ~0.030 bits at 9k iterations"),
        Mark("lstm", 500, "value", (8_000, 8_000), 0.040, text="standard ~0.040 bits at 8k iterations"),
    ), scale=BITS),
    "bai_adding": Paper("Bai, Kolter & Koltun 2018, table 1: adding T = 600", "MSE", (
        Mark("gru", 600, "value", (7_000, 15_000), 5.3e-5, text="GRU 5.3e-5 (reached within ~7-15k updates)"),
        Mark("lstm", 600, "value", (7_000, 15_000), 0.164, text="LSTM 0.164 (the baseline)"),
        Mark("rnn", 600, "value", (7_000, 15_000), 0.177, text="RNN 0.177 (the baseline)"),
    )),
}


@dataclasses.dataclass(frozen=True)
class Ladder:
    """A diagnostic beside a paper's rows: one preset whose grids go from our protocol to the
    paper's, one choice at a time. `make papers` tabulates and draws it when its records exist."""

    title: str  # papers.md's heading for it
    text: str  # what the rungs are and what the paper reports
    marks: tuple  # the paper's numbers drawn on its figure


LADDERS = {
    "adding_protocols": Ladder(
        "Why: adding T = 100 from our protocol to Arjovsky et al.'s",
        "Our default protocol first, then one of Arjovsky et al.'s choices at a time, then their whole protocol at "
        "our rate and at theirs, then with their input kernel too (Glorot per gate block), and last with their "
        "RMSprop too (its mean of squared gradients starts at 1e-3, not 0). Their paper: the LSTM leaves the baseline "
        "after ~1,000-1,500 updates at T = 100.",
        tuple(m for m in PAPERS["arjovsky_adding"].marks if m.model == "lstm" and m.gap == 100)),
    "tallec_protocols": Ladder(
        "Why: Tallec & Ollivier's adding T = 750 from our protocol to theirs",
        "Our default protocol first (chrono init with T_max = 750, and forget bias 1), then, for the chrono LSTM, one "
        "of their choices at a time (rate 1e-3, batch 32, 128 units, no clipping), then their whole protocol "
        "(RMSprop, the `tallec_adding` runs), then that with RMSprop as PyTorch computes it (the step "
        "lr g / (sqrt(v) + 1e-8), where Keras' is lr g / sqrt(v + 1e-7)), and last that with momentum 0.9 (as the "
        "final adding script of an ICLR 2018 reproduction, atremblay/chronoRNN, trains), for chrono and for forget "
        "bias 1. Their paper: chrono solves it in ~400-500 iterations, forget bias 1 in ~3,700-3,800.",
        PAPERS["tallec_adding"].marks),
}


def curves(folder, scale=1.0):
    """Long table of every run's learning curve in `folder`: one row per recorded evaluation.

    Columns: run_id, model, gap, seed, forget_bias ("default" when the model's own), updates, loss (validation loss in the
    paper's unit via `scale`), baseline (the task's input-blind loss, same unit), budget
    (updates), source ("validation" or "training" for records without validation loss).
    """
    rows = []
    for record in load_records(folder, warn=False):
        cfg = record["config"]
        task = TASKS[cfg["task"]].with_loss(cfg.get("train_blanks"))  # the run's loss, so its baseline
        baseline = task.baseline_loss(cfg["gap"]) * scale if task.baseline_loss else math.nan
        for point in record.get("history", []):
            source = "validation" if "val_loss" in point else "training"
            rows.append({"run_id": record["run_id"], "model": cfg["model"], "gap": cfg["gap"], "seed": cfg["seed"],
                         "forget_bias": cfg.get("forget_bias") or "default", "updates": point["sequences"] // cfg["batch_size"],
                         "loss": point.get("val_loss", point["loss"]) * scale, "baseline": baseline,
                         "budget": cfg["budget"] // cfg["batch_size"], "source": source})
    return pd.DataFrame(rows, columns=["run_id", "model", "gap", "seed", "forget_bias", "updates", "loss", "baseline", "budget", "source"])


def first_below(run, fraction):
    """The first update at which `run` (one run's rows) is below `fraction` x baseline, or None."""
    below = run[run["loss"] < fraction * run["baseline"]]
    return int(below["updates"].min()) if len(below) else None


def loss_at(run, updates):
    """The run's loss at the last evaluation at or before `updates` (None if it stopped early
    because it solved the task: then its last loss; None if it never got there)."""
    upto = run[run["updates"] <= updates]
    if upto.empty:
        return None
    return float(upto.sort_values("updates")["loss"].iloc[-1])


def matching(table, mark):
    return table[(table["model"] == mark.model) & (table["gap"] == mark.gap) & (table["forget_bias"] == (mark.forget_bias or "default"))]


def judge(table, mark):
    """(ours in words, agree: "yes" / "no" / "not run") for one published mark."""
    runs = [run for _, run in matching(table, mark).groupby("run_id")]
    if not runs:
        return "not run", "not run"
    budget = min(int(run["budget"].iloc[0]) for run in runs)
    n = len(runs)
    if mark.kind in ("leaves", "solves", "stays"):
        fraction = SOLVED if mark.kind == "solves" else LEFT
        when = sorted((first_below(run, fraction) for run in runs), key=lambda u: (u is None, u or 0))
        done = [u for u in when if u is not None]
        verb = "solved" if mark.kind == "solves" else "left the baseline"
        words = f"{len(done)} of {n} seeds {verb}" + (f", at {', '.join(f'{u:,}' for u in done)} updates" if done else "")
        words += f" (budget {budget:,})"
        if mark.kind == "stays":
            agree = "yes" if not done else "no"
        elif budget < mark.updates[1]:
            agree = "not run long enough"
        else:
            lo, hi = mark.updates[0] / 2, mark.updates[1] * 2  # within a factor of 2 of the paper's range
            agree = "yes" if len(done) * 2 > n and all(lo <= u <= hi for u in done) else "no"
        return words, agree
    values = [v for v in (loss_at(run, mark.updates[1]) for run in runs) if v is not None]
    if not values:
        return f"no evaluation by {mark.updates[1]:,} updates", "not run long enough"
    spread = f" (seeds {min(values):.3g}-{max(values):.3g})" if len(values) > 1 else ""
    words = f"{np.median(values):.3g}{spread} at {mark.updates[1]:,} updates"
    # A run that stopped early (it reached the target accuracy, or diverged) has no loss at the paper's
    # count: its last one stands in, and the words say so.
    stopped = sorted(int(run["updates"].max()) for run in runs if run["updates"].max() < min(mark.updates[1], run["budget"].iloc[0]))
    if stopped:
        words += f"; {len(stopped)} of {n} stopped early, at {', '.join(f'{u:,}' for u in stopped)} updates: their last loss"
    # Within a factor of 3, and on the paper's side of the baseline: near a baseline a factor
    # of 3 is no test (copy T = 500: the paper's 0.030 bits is 0.52 of the memoryless 0.0577,
    # and a model at 0.0577 learned nothing), so a value agrees only where ours and the
    # paper's are on the same side of LEFT x baseline. A task without a baseline (NaN) is
    # judged by the factor alone.
    baseline = float(runs[0]["baseline"].iloc[0])
    left = [v < LEFT * baseline for v in (np.median(values), mark.loss)]
    agree = "yes" if mark.loss / 3 <= np.median(values) <= mark.loss * 3 and left[0] == left[1] else "no"
    return words, agree


def markdown(results, names):
    lines = ["# The papers beside our runs", "",
             f"Drawn by `make papers` from the records in {results}/papers/<preset>/ alone. Losses in each paper's unit. "
             f"'Left the baseline': validation loss below {LEFT:.0%} of the input-blind baseline; 'solved': below "
             f"{SOLVED:.0%} of it. A departure agrees when most seeds leave within a factor of 2 of the paper's range; "
             "a value agrees when our median is within a factor of 3 of the paper's and on the same side of "
             f"{LEFT:.0%} of the baseline (both left it, or neither did).", ""]
    for name in names:
        paper = PAPERS[name]
        table = curves(Path(results) / "papers" / name, paper.scale)
        lines += [f"## {paper.title} (`{name}`, {paper.unit})", "", "| model | gap | init | paper | ours | agree? |", "|---|---|---|---|---|---|"]
        for mark in paper.marks:
            ours, agree = judge(table, mark)
            lines.append(f"| {mark.model} | {mark.gap} | {mark.forget_bias or 'default'} | {mark.text} | {ours} | {agree} |")
        lines.append("")
    return "\n".join(lines)


def protocol(cfg):
    """A run's training protocol in words, from its config (a dict): the fields the ladder varies."""
    optimiser = {"rmsprop": "RMSprop", "rmsprop_primed": "RMSprop (mean from 1e-3)",
                 "rmsprop_torch": "RMSprop (PyTorch's epsilon)"}.get(cfg.get("optimizer"), "Adam")
    if cfg.get("clipvalue"):
        clip = f"clipvalue {cfg['clipvalue']:g}"
    else:
        clip = f"clipnorm {cfg['clipnorm']:g}" if cfg.get("clipnorm") else "no clipping"
    momentum = f" with momentum {cfg['momentum']:g}" if cfg.get("momentum") else ""
    text = f"{optimiser} {cfg['learning_rate']:g}{momentum}, batch {cfg['batch_size']}, {cfg['units']} units, {cfg['recurrent_init']} recurrent, {clip}"
    kernel = dict(cfg.get("options") or ()).get("kernel_initializer", "glorot_uniform")
    return text if kernel == "glorot_uniform" else f"{text}, input kernel {kernel.replace('_', ' ')}"


def rung(cfg):
    """A ladder row's name: the run's `protocol`, and its initialisation where it is not the
    cell's default forget bias (1 for the LSTM, given or not)."""
    bias = cfg.get("forget_bias")
    init = {"chrono": f", chrono init (T_max {cfg.get('chrono_tmax')})", "zero": ", forget bias 0"}.get(bias, "")
    return protocol(cfg) + init


def ladder_order(name):
    """The rungs of ladder `name` in its preset's order."""
    from experiments.presets import expand

    return list(dict.fromkeys(rung(dataclasses.asdict(cfg)) for cfg in expand(name)))


def ladder_curves(folder):
    """`curves(folder)` with each run's rung (`rung`) as its "label"."""
    table = curves(folder)
    table["label"] = table["run_id"].map({r["run_id"]: rung(r["config"]) for r in load_records(folder, warn=False)})
    return table


def ladder_markdown(folder, name):
    """Ladder `name`'s table from the records in `folder`: per rung (in the preset's order),
    when each seed left the baseline and solved the task; "" when `folder` holds no records."""
    if not (Path(folder) / "runs").is_dir():
        return ""
    ladder, order = LADDERS[name], ladder_order(name)
    table = ladder_curves(folder)
    lines = [f"## {ladder.title} (`{name}`, MSE)", "", ladder.text, "",
             "| protocol | seeds | left the baseline at (updates) | solved at (updates) | budget (updates) |", "|---|---|---|---|---|"]
    for label in sorted(table["label"].unique(), key=lambda p: order.index(p) if p in order else len(order)):
        runs = [run for _, run in table[table["label"] == label].groupby("run_id")]
        cells = []
        for fraction in (LEFT, SOLVED):
            when = [first_below(run, fraction) for run in runs]
            done = sorted(u for u in when if u is not None)
            cells.append(f"{len(done)} of {len(runs)}" + (f": {', '.join(f'{u:,}' for u in done)}" if done else ""))
        budget = min(int(run["budget"].iloc[0]) for run in runs)
        lines.append(f"| {label} | {len(runs)} | {cells[0]} | {cells[1]} | {budget:,} |")
    return "\n".join(lines + [""])


def plot_curves(results, name):
    """RESULTS/papers/<name>/learning_curves.{png,pdf}: loss against updates, one panel per gap."""
    paper = PAPERS[name]
    folder = Path(results) / "papers" / name
    table = curves(folder, paper.scale)
    if table.empty:
        raise UsageError(f"no records with a history in {folder}: run `make papers-sweep PAPER={name}` first")
    table["label"] = table["model"] + table["forget_bias"].map(lambda b: "" if b == "default" else f" ({b} forget bias)")
    return draw_curves(table, paper.marks, paper.unit, f"{paper.title}: our learning curves at the paper's protocol", folder)


def plot_ladder(folder, name):
    """FOLDER/figures/learning_curves.{png,pdf} of ladder `name`: one curve per rung, with the
    paper's reported points marked."""
    ladder = LADDERS[name]
    # The legend beside the axes: the protocols' names are long and the curves fill the panel.
    title = ladder.title.removeprefix("Why: ")
    return draw_curves(ladder_curves(folder), ladder.marks, "MSE", title[0].upper() + title[1:], folder,
                       order=ladder_order(name), legend_outside=True)


def draw_curves(table, marks, unit, title, folder, order=None, legend_outside=False):
    """Loss against updates from a `curves` table with a "label" column (one line and band per
    label, in `order` or sorted), one panel per gap; `marks` are the published numbers drawn on
    their gap's panel."""
    from experiments.plot import cell_palette, layout, save_figure

    import matplotlib.pyplot as plt  # isort: skip  (plot sets the Agg backend first)

    gaps = sorted(table["gap"].unique())
    palette = cell_palette(sorted(table["label"].unique()))
    # A legend of long protocol names goes below the axes, so that the axes keep their width.
    size = (9.0, 6.4) if legend_outside else (max(6.0, 4.2 * len(gaps)), 3.6)
    fig, axes = plt.subplots(1, len(gaps), figsize=size, squeeze=False)
    for ax, gap in zip(axes[0], gaps):
        part = table[table["gap"] == gap]
        for label in [lab for lab in order or sorted(part["label"].unique()) if lab in set(part["label"])]:
            rows = part[part["label"] == label]
            wide = rows.pivot_table(index="updates", columns="seed", values="loss").sort_index().ffill()
            colour = palette[label]
            ax.plot(wide.index, wide.median(axis=1), color=colour, label=f"{label} ({wide.shape[1]} seed{'' if wide.shape[1] == 1 else 's'})")
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=colour, alpha=0.2, linewidth=0)
        ax.axhline(part["baseline"].iloc[0], color="grey", linestyle="--", linewidth=1, label="input-blind baseline")
        for mark in marks:
            if mark.gap != gap:
                continue
            if mark.kind == "value":
                ax.plot([mark.updates[1]], [mark.loss], marker="*", markersize=11, color="black", linestyle="none")
            elif mark.kind != "stays":
                ax.axvspan(*mark.updates, color="black", alpha=0.15, linewidth=0)
        ax.set(title=f"T = {gap}", xlabel="updates", ylabel=f"validation loss ({unit})", yscale="log")
        ax.legend(fontsize=7, **({"loc": "upper center", "bbox_to_anchor": (0.5, -0.18)} if legend_outside else {}))
    caption = ("line = median over seeds, band = lowest to highest seed; grey span = the paper's reported "
               "departure or solution point; star = the paper's reported value; dashed = input-blind baseline")
    layout(fig, title, caption)
    return save_figure(fig, Path(folder) / "figures" / "learning_curves")


def papers(results, names=None):
    """Learning-curve figures of every paper with records (and of each ladder with records,
    when all are drawn), and RESULTS/papers/papers.md.

    `names` only narrows which figures are redrawn: papers.md always has every paper and
    ladder with records, so drawing one paper never drops the others' rows from it.
    """
    recorded = [n for n in PAPERS if (Path(results) / "papers" / n / "runs").is_dir()]
    ladders = [n for n in LADDERS if (Path(results) / "papers" / n / "runs").is_dir()]
    for name in names or ():
        check_choice("paper", name, PAPERS)
        if name not in recorded:
            raise UsageError(f"no records of paper {name!r} under {results}/papers/{name}/runs: run `make papers-sweep PAPER={name}` first")
    if not recorded and not ladders:
        raise UsageError(f"no paper results under {results}/papers/: run `make papers-sweep` first")
    written = [path for name in (names or recorded) for path in plot_curves(results, name)]
    for name in ladders if names is None else ():
        written += plot_ladder(Path(results) / "papers" / name, name)
    out = Path(results) / "papers" / "papers.md"
    write_text(out, markdown(results, recorded) + "".join("\n" + ladder_markdown(Path(results) / "papers" / n, n) for n in ladders))
    return written + [str(out)]
