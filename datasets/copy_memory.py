"""The copy-memory task of Arjovsky, Shah & Bengio 2016 (after Hochreiter & Schmidhuber 1997).

A sequence of T + 20 tokens: 10 symbols drawn from 8 categories, then T - 1 blanks, a
delimiter, and 10 more blanks. The target is blank everywhere except the last 10 steps,
which must repeat the 10 symbols in order. `gap` is T: the first symbol must be carried
T + 10 steps.

Worked example, gap = T = 3 (symbols a-h, `_` blank, `:` delimiter; 10 symbols shortened
to what fits a line):

    x: c a h e b b g d f a  _ _ :  _ _ _ _ _ _ _ _ _ _
    y: _ _ _ _ _ _ _ _ _ _  _ _ _  c a h e b b g d f a

x and y have shape (n, T + 20), int32. Accuracy counts the last 10 outputs only, where
chance is 1/8. The memoryless baseline (blanks, then uniform guesses) scores cross-entropy
10 log 8 / (T + 20) averaged over all steps (Arjovsky et al. 2016, section 4.2).
"""

import numpy as np

from datasets.base import Task, check_args

N_SYMBOLS, N_COPY = 8, 10
BLANK, DELIMITER = N_SYMBOLS, N_SYMBOLS + 1
NAMES = "abcdefgh_:"


def copy(gap, n, seed):
    """Draw n copy-task sequences with T = gap (>= 1); see the module docstring."""
    check_args(gap, n, seed)
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, N_SYMBOLS, size=(n, N_COPY))
    blanks = lambda k: np.full((n, k), BLANK)
    x = np.concatenate([symbols, blanks(gap - 1), np.full((n, 1), DELIMITER), blanks(N_COPY)], axis=1)
    y = np.concatenate([blanks(gap + N_COPY), symbols], axis=1)
    return x.astype(np.int32), y.astype(np.int32)


def decode(x_row, y_row):
    return " ".join(NAMES[t] for t in x_row) + "  ->  " + " ".join(NAMES[t] for t in y_row[-N_COPY:])


TASK = Task(
    fn=copy,
    decode=decode,
    gap_meaning="T, the blanks plus delimiter between the 10 symbols and their recall (length T + 20)",
    chance=1 / N_SYMBOLS,
    output="sequence",
    vocab_size=N_SYMBOLS + 2,
    n_classes=N_SYMBOLS + 2,
    blank=BLANK,
    baseline_loss=lambda gap: N_COPY * np.log(N_SYMBOLS) / (gap + 2 * N_COPY),
)
