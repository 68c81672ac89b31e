"""What every task shares: the `Task` record, scoring, and the argument checks of a generator."""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from experiments.checks import check_int

OUTPUTS = ("class", "sequence", "value")


@dataclass(frozen=True)
class Task:
    """A generator `fn(gap, n, seed, **params) -> (x, y)` and what a model needs to know of it.

    Calling a Task calls its generator, so `TASKS[name](gap, n, seed)` returns arrays.

    Attributes:
        fn: the pure, seeded generator.
        decode: `decode(x_row, y_row) -> str`, a readable rendering of one sample.
        gap_meaning: one line saying exactly what `gap` counts for this task.
        chance: accuracy of the best predictor that ignores the inputs (drawn in figures).
        output: "class" (y (n,) class ids, one per sequence), "sequence" (y (n, T) class ids,
            one per step, scored only where the target is not `blank`) or "value" (y (n,) floats).
        vocab_size: number of input tokens (x (n, T) int ids); None for real-valued inputs
            x (n, T, n_features).
        n_features: input channels when vocab_size is None.
        n_classes: output classes ("class" and "sequence").
        blank: for "sequence": the target of a step that asks for nothing. Accuracy counts
            the other steps only, wherever they sit in the sequence; the loss counts every
            step (a blank is free to predict once the model reads the cue) unless
            `train_blanks` is False.
        train_blanks: for "sequence": whether the loss counts the blank steps too (copy, as
            Arjovsky et al. 2016 train it) or the answers only (fluent_moving, whose one answer
            then has the loss of the class task it is the variant of). A run may set its own
            (`RunConfig.train_blanks`): selective copying and associative recall keep True
            here, the protocol their first records were trained under, and the post2015
            preset trains their answers alone, as Zoology's generators label them.
        tolerance: for "value": a prediction is correct when |error| < tolerance.
        baseline_loss: `gap -> loss` of the input-blind predictor, where the papers give it.
        min_gap: the smallest gap the generator accepts.
    """

    fn: Callable
    decode: Callable
    gap_meaning: str
    chance: float
    output: str = "class"
    vocab_size: int | None = None
    n_features: int = 0
    n_classes: int = 0
    blank: int | None = None
    train_blanks: bool = True
    tolerance: float = 0.0
    baseline_loss: Callable | None = None
    min_gap: int = 1

    @property
    def answers_only(self):
        """Whether the training loss counts the answer steps alone (a "sequence" task that
        does not train its blanks): the one test `Task.loss`, `model.task_loss` and
        `batched.per_seed_loss` share."""
        return self.output == "sequence" and not self.train_blanks

    def with_loss(self, train_blanks):
        """This task with a run's own `train_blanks` (None: its own). Its `baseline_loss`
        follows the loss: with the answers alone, a uniform guess per answer, log(1 / chance);
        with every step where the task trains its answers alone, None (not derived)."""
        if train_blanks is None or train_blanks == self.train_blanks:
            return self
        baseline = (lambda gap: -math.log(self.chance)) if not train_blanks else None
        return dataclasses.replace(self, train_blanks=train_blanks, baseline_loss=baseline)

    def __call__(self, gap, n, seed, **params):
        return self.fn(gap, n, seed, **params)

    def length(self, gap):
        """The sequence length T at this gap (one sample drawn to measure it)."""
        return self.fn(gap, 1, 0)[0].shape[1]

    def score(self, pred, y):
        """Accuracy of model outputs `pred` (logits, or values) against targets `y`."""
        if self.output == "value":
            return float(np.mean(np.abs(pred.reshape(y.shape) - y) < self.tolerance))
        right = np.argmax(pred, axis=-1) == y
        return float(np.mean(right[y != self.blank] if self.output == "sequence" else right))

    def loss(self, pred, y):
        """The training loss on these outputs: mean squared error, or mean cross-entropy of logits."""
        if self.output == "value":
            return float(np.mean((pred.reshape(y.shape) - y) ** 2))
        pred = pred.astype(np.float64)
        log_z = np.log(np.sum(np.exp(pred - pred.max(axis=-1, keepdims=True)), axis=-1)) + pred.max(axis=-1)
        picked = np.take_along_axis(pred, y[..., None].astype(np.int64), axis=-1)[..., 0]
        if self.answers_only:
            answers = y != self.blank
            return float(np.mean(np.sum((log_z - picked) * answers, axis=-1) / np.maximum(answers.sum(axis=-1), 1)))
        return float(np.mean(log_z - picked))


def check_args(gap, n, seed, min_gap=1):
    """Raise UsageError (a ValueError) naming the first bad argument of a generator."""
    check_int("gap", gap, min_gap)
    check_int("n", n, 1)
    check_int("seed", seed, 0)
