"""Synthetic tasks whose dependency gap is set exactly, found by name through `TASKS`.

Adding a task: write `datasets/<name>.py` with a pure generator
`fn(gap, n, seed, **params) -> (x, y)` seeded by `np.random.default_rng(seed)` (never global
random state), wrap it in a `Task`, and add one line below.
"""

from datasets import adding, associative_recall, copy_memory, fluent, fluent_distractors, fluent_moving, selective_copy, temporal_order
from datasets.base import Task

# name -> Task; TASKS[name](gap, n, seed) returns (x, y) numpy arrays.
TASKS = {
    "fluent": fluent.TASK,
    "adding": adding.TASK,
    "copy": copy_memory.TASK,
    "temporal_order": temporal_order.TASK,
    "fluent_distractors": fluent_distractors.TASK,
    "fluent_moving": fluent_moving.TASK,
    "selective_copy": selective_copy.TASK,
    "associative_recall": associative_recall.TASK,
}

__all__ = ["TASKS", "Task"]
