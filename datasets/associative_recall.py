"""Multi-query associative recall (Arora et al. 2023, "Zoology: Measuring and Improving Recall
in Efficient Language Models", section 3): key-value pairs, then the keys again as queries,
each to be answered with its value.

What to keep is decided by content, and what to output by content too: the i-th query may
ask for any pair, so neither counting steps (as in `copy`) nor keeping the most recent
tokens works; the model must store every pair and look one up by its key. Zoology found this
is where gated convolutions and linear recurrences fall behind attention.

Exact gap, honestly. If every query stood exactly `gap` steps after its own pair, the answer
would always be the value `gap` steps back, a positional shortcut. So the pairs come in one
block, then exactly `gap` filler tokens, then the queries in a fresh random order: the
distance from a pair's value to its query is `gap` plus at most 3 * N_PAIRS - 2 steps (and at least
`gap` + 1), the spread the task needs for recall to be by key. As in Zoology, keys within a
sequence are distinct and values are drawn independently (they may repeat).

A sample, gap = 5, N_PAIRS = 4 (keys A-H, values a-h, `.` filler; y is `_` except at the
queries, where it is the queried key's value):

    x: C f A a G f E b . . . . . G C E A
    y: _ _ _ _ _ _ _ _ _ _ _ _ _ f f b a

x and y have shape (n, 2 * N_PAIRS + gap + N_PAIRS), int32. Accuracy counts the last
N_PAIRS outputs (the queries'), where chance is 1/8.

The shortcut to beat: a model that keeps the values but not which key each belongs to, and
answers every query with the value that occurs most often in the sequence, scores 0.41
(`tests/test_datasets.py`); answering with any value present, 0.34. Only binding a value to
its key scores above that.
"""

import numpy as np

from datasets.base import Task, check_args

N_KEYS, N_VALUES, N_PAIRS = 8, 8, 4
FILLER = N_KEYS + N_VALUES  # also the target at every step that is not a query
NAMES = "ABCDEFGH" + "abcdefgh" + "."


def associative_recall(gap, n, seed):
    """Draw n samples with exactly `gap` filler tokens between the pairs and the queries."""
    check_args(gap, n, seed)
    rng = np.random.default_rng(seed)
    keys = np.argsort(rng.random((n, N_KEYS)), axis=1)[:, :N_PAIRS]  # N_PAIRS distinct keys per row
    values = N_KEYS + rng.integers(0, N_VALUES, size=(n, N_PAIRS))
    pairs = np.stack([keys, values], axis=2).reshape(n, 2 * N_PAIRS)  # k1 v1 k2 v2 ...
    order = np.argsort(rng.random((n, N_PAIRS)), axis=1)  # the queries' order, fresh per row
    queries, answers = np.take_along_axis(keys, order, axis=1), np.take_along_axis(values, order, axis=1)
    x = np.concatenate([pairs, np.full((n, gap), FILLER), queries], axis=1)
    y = np.concatenate([np.full((n, 2 * N_PAIRS + gap), FILLER), answers], axis=1)
    return x.astype(np.int32), y.astype(np.int32)


def decode(x_row, y_row):
    return " ".join(NAMES[t] for t in x_row) + "  ->  " + " ".join(NAMES[t] for t in y_row[-N_PAIRS:])


TASK = Task(
    fn=associative_recall,
    decode=decode,
    gap_meaning=(f"filler tokens between the {N_PAIRS} key-value pairs and the {N_PAIRS} queries (in random order): "
                 f"each pair is queried gap + 1 to gap + {3 * N_PAIRS - 2} steps after its value"),
    chance=1 / N_VALUES,
    output="sequence",
    vocab_size=N_KEYS + N_VALUES + 1,
    n_classes=N_KEYS + N_VALUES + 1,
    blank=FILLER,
    # the filler targets are free, each answer a uniform guess among the values: log 8 per query
    baseline_loss=lambda gap: N_PAIRS * np.log(N_VALUES) / (3 * N_PAIRS + gap),
)
