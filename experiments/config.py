"""The configuration of one run: a frozen dataclass whose fields become columns of the results.

Everything a run depends on is a field here, so a run is identified by the hash of its
config and any table or figure can be rebuilt from the records alone.
"""

import dataclasses
import difflib
import hashlib
import inspect
import json
from dataclasses import dataclass

from datasets import TASKS
from layers import CELLS
from layers.base import FORGET_BIASES, RECURRENT_INITS


class UsageError(ValueError):
    """Bad input from a user: the CLI prints it as one line and exits with code 2."""


@dataclass(frozen=True)
class RunConfig:
    """One (cell, task, gap, seed) run and the protocol it is trained under.

    The defaults are the protocol of the `default` preset; see the README for why.
    """

    model: str = "lstm"
    task: str = "fluent"
    gap: int = 10
    seed: int = 0
    units: int = 64  # H, hidden size of the recurrent cell
    embed_dim: int = 16  # token embedding size, the cell's input size D
    learning_rate: float = 3e-3  # Adam
    clipnorm: float = 1.0  # gradient clipping by global norm
    batch_size: int = 64
    budget: int = 96_000  # training sequences at most (1,500 steps of 64); every batch is fresh
    eval_every: int = 50  # steps between validation checks
    target_accuracy: float = 0.99  # early stop once validation accuracy reaches this
    n_val: int = 512
    n_test: int = 2048
    recurrent_init: str = "orthogonal"  # per-gate recurrent kernel init: orthogonal, glorot_uniform, identity
    forget_bias: str | None = None  # gated cells only: zero, one, chrono; None = the cell's default
    # Fields added after the first results were committed: None means the original behaviour.
    optimizer: str | None = None  # adam (None) or rmsprop (Arjovsky et al. 2016's choice)
    chrono_tmax: int | None = None  # T_max of chrono init; None = the task's sequence length
    # How the cell is run, not what it computes: the same equations, rounded differently.
    fused: bool | None = None  # train through the cell's whole-sequence path (layers/sequence.py)
    jit_compile: bool | None = None  # compile training and inference with XLA

    def __post_init__(self):
        check_choice("model", self.model, CELLS)
        check_choice("task", self.task, TASKS)
        for name in ("gap", "seed", "units", "embed_dim", "batch_size", "budget", "eval_every", "n_val", "n_test"):
            check_int(name, getattr(self, name), low=0 if name == "seed" else 1)
        for name in ("learning_rate", "clipnorm"):
            check_positive(name, getattr(self, name))
        if not 0 < self.target_accuracy <= 1:
            raise UsageError(f"target_accuracy must be in (0, 1], received target_accuracy={self.target_accuracy!r}")
        if self.budget < self.batch_size:
            raise UsageError(f"budget must be at least batch_size={self.batch_size}, received budget={self.budget}")
        check_choice("recurrent_init", self.recurrent_init, RECURRENT_INITS)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("fused", "jit_compile"):
            if getattr(self, name) is not None:
                check_bool(name, getattr(self, name))
        if self.chrono_tmax is not None:
            check_int("chrono_tmax", self.chrono_tmax, low=2)
            if self.forget_bias != "chrono":
                raise UsageError(f"chrono_tmax={self.chrono_tmax} needs forget_bias='chrono', received forget_bias={self.forget_bias!r}")
        if self.gap < TASKS[self.task].min_gap:
            raise UsageError(f"gap must be an integer >= {TASKS[self.task].min_gap} for task {self.task!r}, received gap={self.gap!r}")
        if self.forget_bias is not None:
            check_choice("forget_bias", self.forget_bias, FORGET_BIASES)
            if not accepts(CELLS[self.model], "forget_bias"):
                gated = [m for m, c in CELLS.items() if accepts(c, "forget_bias")]
                raise UsageError(
                    f"forget_bias={self.forget_bias!r} does not apply to model {self.model!r}; "
                    f"models with a forget gate: {', '.join(gated)}"
                )

    @property
    def run_id(self):
        """A readable name plus the hash of the full config: equal configs, equal ids."""
        values = dataclasses.asdict(self)
        for late in LATE_FIELDS:  # unset, they leave the ids of the runs recorded before them intact
            if values[late] is None:
                del values[late]
        blob = json.dumps(values, sort_keys=True)
        digest = hashlib.sha1(blob.encode()).hexdigest()[:10]
        return f"{self.model}-{self.task}-gap{self.gap}-seed{self.seed}-{digest}"

    def cell_kwargs(self):
        """Constructor arguments for `CELLS[model]`: only those the cell accepts."""
        cell = CELLS[self.model]
        kwargs = {}
        if accepts(cell, "recurrent_initializer"):
            kwargs["recurrent_initializer"] = self.recurrent_init
        elif self.recurrent_init != "orthogonal":
            raise UsageError(f"model {self.model!r} has no recurrent_initializer option")
        if self.forget_bias is not None:
            kwargs["forget_bias"] = self.forget_bias
        if self.forget_bias == "chrono":
            # Tallec & Ollivier 2018 set T_max to the longest dependency: by default the sequence length.
            kwargs["chrono_tmax"] = self.chrono_tmax or TASKS[self.task].length(self.gap)
        return kwargs

    @property
    def init_label(self):
        """How the cell was initialised, in words: 'orthogonal recurrent, chrono forget bias'."""
        label = f"{self.recurrent_init} recurrent"
        if self.forget_bias is not None:
            label += f", {self.forget_bias} forget bias"
        return label

    @classmethod
    def from_dict(cls, values):
        """Build a config from a dict, rejecting unknown keys with a close-match suggestion."""
        check_keys(values, FIELDS)
        return cls(**values)


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
LATE_FIELDS = ("optimizer", "chrono_tmax", "fused", "jit_compile")
OPTIMIZERS = ("adam", "rmsprop")


def accepts(cls, argument):
    """Whether `cls(...)` takes `argument` somewhere in its constructor chain."""
    return any(argument in inspect.signature(c.__init__).parameters for c in cls.__mro__ if "__init__" in vars(c))


def check_keys(values, allowed, what="config key"):
    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown {what} {key!r}{hint}; allowed: {', '.join(allowed)}")


def check_choice(name, value, allowed):
    if value not in allowed:
        raise UsageError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, received {name}={value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be true or false, received {name}={value!r}")
    return value


def check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f"{name} must be a number > 0, received {name}={value!r}")
    return value
