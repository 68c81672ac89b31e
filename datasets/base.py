"""What every task shares: the `Task` record and the argument checks of a generator."""

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Task:
    """A generator `fn(gap, n, seed, **params) -> (x, y)` and what a model needs to know of it.

    Calling a Task calls its generator, so `TASKS[name](gap, n, seed)` returns arrays.

    Attributes:
        fn: the pure, seeded generator.
        vocab_size: number of distinct input tokens (inputs are int token ids).
        n_classes: number of target classes (targets are int class ids, one per sequence).
        decode: `decode(x_row, y_value) -> str`, a readable rendering of one sample.
        gap_meaning: one line saying exactly what `gap` counts for this task.
    """

    fn: Callable
    vocab_size: int
    n_classes: int
    decode: Callable
    gap_meaning: str

    @property
    def chance(self):
        """Accuracy of guessing uniformly (every task here has balanced classes)."""
        return 1.0 / self.n_classes

    def __call__(self, gap, n, seed, **params):
        return self.fn(gap, n, seed, **params)


def check_args(gap, n, seed):
    """Raise ValueError naming the first bad argument of a generator."""
    for name, value, low in (("gap", gap, 1), ("n", n, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, received {name}={value!r}")
