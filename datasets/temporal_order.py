"""Temporal order (Hochreiter & Schmidhuber 1997, experiment 6a): which of X and Y came
first, and in what order, among distractors?

A sequence of length T = gap starts with B and ends with E; every other step is a random
distractor from {a, b, c, d}, except two relevant symbols, each X or Y: the first at a random
step in [0.1 T, 0.2 T], the second in [0.5 T, 0.6 T] (the paper's windows 10-20 and 50-60 of
a sequence of about 100). The four classes are XX, XY, YX and YY, so the first relevant
symbol must be carried at least 0.8 T steps.

Worked example, gap = T = 12:

    x: B a X c d b Y a d c b E
    y: XY

x has shape (n, T) int32, y (n,) int32 in [0, 4); chance is 1/4.
"""

import numpy as np

from datasets.base import Task, check_args

VOCAB = ("a", "b", "c", "d", "X", "Y", "B", "E")
X, START, END = 4, 6, 7
CLASSES = ("XX", "XY", "YX", "YY")


def windows(gap):
    """The inclusive step ranges of the two relevant symbols."""
    first = (max(1, round(0.1 * gap)), max(1, round(0.2 * gap)))
    second = (max(first[1] + 1, round(0.5 * gap)), min(gap - 2, max(first[1] + 1, round(0.6 * gap))))
    return first, second


def temporal_order(gap, n, seed):
    """Draw n temporal-order sequences of length T = gap (>= 5); see the module docstring."""
    check_args(gap, n, seed, min_gap=5)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, gap))
    x[:, 0], x[:, -1] = START, END
    (a0, a1), (b0, b1) = windows(gap)
    first = rng.integers(a0, a1 + 1, size=n)
    second = rng.integers(b0, b1 + 1, size=n)
    is_y = rng.integers(0, 2, size=(n, 2))  # 0 = X, 1 = Y for the first and second symbol
    rows = np.arange(n)
    x[rows, first] = X + is_y[:, 0]
    x[rows, second] = X + is_y[:, 1]
    y = 2 * is_y[:, 0] + is_y[:, 1]
    return x.astype(np.int32), y.astype(np.int32)


def decode(x_row, y_value):
    return " ".join(VOCAB[t] for t in x_row) + " -> " + CLASSES[y_value]


TASK = Task(
    fn=temporal_order,
    decode=decode,
    gap_meaning="sequence length T; the first relevant symbol lies in [0.1 T, 0.2 T], >= 0.8 T steps before the answer",
    chance=1 / len(CLASSES),
    vocab_size=len(VOCAB),
    n_classes=len(CLASSES),
    min_gap=5,
)
