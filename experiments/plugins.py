"""Cells and tasks defined outside this repository, found by importing the modules that register them.

A plugin is any importable Python module that adds to the registries when imported:

    # mycells.py, anywhere on the Python path (the current folder counts)
    from layers import CELLS
    CELLS["leaky"] = LeakyIntegratorCell      # and TASKS["name"] = TaskSpec(...) for a task

Three ways to name plugins, all imported by the command and by every worker it starts
(process workers and Ray tasks alike), so `EXECUTOR=process` and `EXECUTOR=ray` see the
same cells as the command line:

- on the command line: `memory-gap sweep plugins=mycells models=leaky` (or `make sweep
  ARGS='plugins=mycells models=leaky'`); several as `plugins=a,b`;
- in the environment: `MEMORY_GAP_PLUGINS=mycells,other`;
- from an installed package: an entry point in the group `memory_gap.plugins`, e.g. in its
  pyproject.toml `[project.entry-points."memory_gap.plugins"] mycells = "mycells"`.
"""

import importlib
import importlib.metadata
import os
import sys

from experiments.checks import UsageError

ENV = "MEMORY_GAP_PLUGINS"
GROUP = "memory_gap.plugins"


def names(extra=()):
    """Plugin module names from `extra`, the environment and installed entry points, once each."""
    listed = list(extra) + [n for n in os.environ.get(ENV, "").split(",") if n.strip()]
    listed += [ep.value for ep in importlib.metadata.entry_points(group=GROUP)]
    return list(dict.fromkeys(n.strip() for n in listed))


def load(extra=()):
    """Import every plugin and export the list to the environment, for workers to import too.

    The current folder is put on the path first, as `python -m` does, so a plugin file beside
    the user works for the console command too.
    """
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    modules = names(extra)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise UsageError(f"cannot import plugin {name!r}: {err}") from None
    if modules:
        os.environ[ENV] = ",".join(modules)  # inherited by process workers; passed to Ray's runtime_env
    return modules
