"""The command registry drives the CLI, its --help and the Makefile: they cannot drift apart."""

import os
import re
import subprocess
import sys

from conftest import ROOT

from experiments.analysis import ANALYSES
from experiments.cli import COMMANDS
from experiments.sweep import EXECUTORS

ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}


def make_targets():
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, env=ENV)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")}


def test_every_command_is_a_make_target_that_calls_it():
    makefile = (ROOT / "Makefile").read_text()
    targets = make_targets()
    for name in COMMANDS:
        assert name in targets, f"`{name}` has no make target listed by `make help`"
        recipe = re.search(rf"^{re.escape(name)}:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
        assert re.search(rf"\$\(CLI\) {re.escape(name)}(\s|$)", recipe), f"the `{name}` target does not call the `{name}` command"


def test_make_analyse_runs_every_analysis_and_the_report_shows_each():
    from experiments.report import figures

    prerequisites = re.search(r"^analyse:([^#\n]*)", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    assert set(prerequisites) == set(ANALYSES)
    assert [name for name, _, _ in figures()[2:]] == [a.name for a in ANALYSES.values()]


def test_help_lists_every_command_from_the_registry():
    out = subprocess.run([sys.executable, "-m", "experiments", "--help"], cwd=ROOT, capture_output=True, text=True)
    listed = [line.split()[0] for line in out.stdout.split("Commands:")[1].split("\n\n")[0].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_unknown_keys_are_refused_from_the_registry():
    from experiments.cli import main

    assert main(["report", "colour=red", "results=/nonexistent"]) == 2
    assert set(EXECUTORS) == {"local", "process", "ray"}
