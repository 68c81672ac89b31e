"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4), in the form of Arjovsky,
Shah & Bengio 2016 and Li et al. 2018: sum the two marked values of a long sequence.

Each step carries two channels: a value drawn from U(0, 1) and a marker. Exactly two steps
are marked, one uniformly in the first half and one uniformly in the second half; the target
is the sum of their values. `gap` is the sequence length T, so the first marked value lies at
least T/2 steps before the answer.

Worked example, gap = T = 6:

    values:  0.21  0.84  0.10  0.55  0.97  0.33
    markers: 0     1     0     0     1     0
    y: 0.84 + 0.97 = 1.81

x has shape (n, T, 2) float32 (values, markers); y has shape (n,) float32. Predicting 1 for
every sequence scores mean squared error 1/6 (the variance of the sum of two U(0, 1)), the
baseline of Arjovsky et al.; a prediction is "correct" when its error is below 0.04
(Hochreiter & Schmidhuber's criterion), which the constant 1 meets with probability
1 - 0.96^2 = 0.0784.
"""

import numpy as np

from datasets.base import Task, check_args

TOLERANCE = 0.04


def adding(gap, n, seed):
    """Draw n adding-problem sequences of length T = gap (>= 2); see the module docstring."""
    check_args(gap, n, seed, min_gap=2)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, gap))
    half = gap // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, gap, size=n)
    markers = np.zeros((n, gap))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return x, y


def decode(x_row, y_value):
    """Marked values in brackets: `0.21 [0.84] 0.10 0.55 [0.97] 0.33 -> 1.81`."""
    words = [f"[{v:.2f}]" if m else f"{v:.2f}" for v, m in x_row]
    return " ".join(words) + f" -> {y_value:.2f}"


TASK = Task(
    fn=adding,
    decode=decode,
    gap_meaning="sequence length T; one marked value in each half, so the first lies >= T/2 steps before the answer",
    chance=1 - (1 - TOLERANCE) ** 2,
    output="value",
    n_features=2,
    tolerance=TOLERANCE,
    baseline_loss=lambda gap: 1 / 6,
    min_gap=2,
)
