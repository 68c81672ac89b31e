"""Selective copying (Gu & Dao 2023, "Mamba", section 3.1): data tokens scattered at random
positions among noise tokens, to be reproduced in order at the end.

Unlike `copy`, where the symbols sit at fixed positions and a model may count time, here the
positions are random, so what to keep depends on the input's content: the task Gu & Dao
built to separate input-dependent (selective) recurrences from time-invariant ones. As in
our `copy` task, N_COPY = 10 symbols from 8 categories (theirs: 16 tokens), and after a
delimiter the model outputs them in order over the last N_COPY steps.

`gap` is the length of the region the symbols are scattered in (>= N_COPY), so the first
symbol is carried up to gap + N_COPY steps. A sample, gap = 14 (symbols a-h, `.` noise,
`:` delimiter, `_` blank):

    x: . c . . a h . e b b . g d f a . . : _ _ _ _ _ _ _ _ _ _   (shortened)
    y: _ ...                               c a h e b b g d f a

x and y have shape (n, gap + N_COPY + 1), int32. Accuracy counts the last N_COPY outputs,
where chance is 1/8.
"""

import numpy as np

from datasets.base import Task, check_args

N_SYMBOLS, N_COPY = 8, 10
NOISE, DELIMITER, BLANK = N_SYMBOLS, N_SYMBOLS + 1, N_SYMBOLS + 2
NAMES = "abcdefgh.:_"


def selective_copy(gap, n, seed):
    """Draw n samples with `gap` (>= N_COPY) scattered positions; see the module docstring."""
    check_args(gap, n, seed, min_gap=N_COPY)
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, N_SYMBOLS, size=(n, N_COPY))
    # N_COPY distinct positions per row, in order: the first N_COPY of a random permutation, sorted
    positions = np.sort(np.argsort(rng.random((n, gap)), axis=1)[:, :N_COPY], axis=1)
    region = np.full((n, gap), NOISE)
    np.put_along_axis(region, positions, symbols, axis=1)
    x = np.concatenate([region, np.full((n, 1), DELIMITER), np.full((n, N_COPY), BLANK)], axis=1)
    y = np.concatenate([np.full((n, gap + 1), BLANK), symbols], axis=1)
    return x.astype(np.int32), y.astype(np.int32)


def decode(x_row, y_row):
    return "".join(NAMES[t] for t in x_row) + "  ->  " + "".join(NAMES[t] for t in y_row[-N_COPY:])


TASK = Task(
    fn=selective_copy,
    decode=decode,
    gap_meaning=f"length of the region the {N_COPY} symbols are scattered in (sequence length gap + {N_COPY + 1})",
    chance=1 / N_SYMBOLS,
    output="sequence",
    vocab_size=N_SYMBOLS + 3,
    n_classes=N_SYMBOLS + 3,
    blank=BLANK,
    # blanks are free, each recalled symbol a uniform guess: log 8 per scored step
    baseline_loss=lambda gap: N_COPY * np.log(N_SYMBOLS) / (gap + N_COPY + 1),
    min_gap=N_COPY,
)
