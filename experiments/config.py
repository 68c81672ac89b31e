"""The configuration of one run: a frozen dataclass whose fields become columns of the results.

Everything a run depends on is a field here, so a run is identified by the hash of its
config and any table or figure can be rebuilt from the records alone.
"""

import dataclasses
import hashlib
import inspect
import json
import types
from dataclasses import dataclass

from datasets import TASKS
from experiments import quiet_tensorflow
from experiments.checks import UsageError, check_bool, check_choice, check_int, check_keys, check_number


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
    clipnorm: float | None = 1.0  # each weight's gradient clipped to this norm (Keras' clipnorm: per variable); None: off
    batch_size: int = 64
    budget: int = 96_000  # training sequences at most (1,500 steps of 64); every batch is fresh
    eval_every: int = 50  # steps between validation checks
    target_accuracy: float = 0.99  # early stop once validation accuracy reaches this
    n_val: int = 512
    n_test: int = 2048
    recurrent_init: str = "orthogonal"  # per-gate recurrent kernel init: orthogonal, glorot_uniform, identity
    forget_bias: str | None = None  # gated cells only: zero, one, chrono; None = the cell's default
    # Fields added after the first results were committed: None means the original behaviour.
    optimizer: str | None = None  # adam (None), rmsprop, rmsprop_primed (Arjovsky et al. 2016's code: its mean starts at 1e-3), rmsprop_torch (PyTorch's epsilon)
    chrono_tmax: int | None = None  # T_max of chrono init; None = the task's sequence length
    # How the cell is run, not what it computes: the same equations, rounded differently.
    fused: bool | None = None  # train through the cell's whole-sequence path (layers/sequence.py)
    jit_compile: bool | None = None  # compile training and inference with XLA
    clipvalue: float | None = None  # element-wise gradient clipping to [-v, v] (Arjovsky et al. 2016); needs clipnorm=None
    # The cell's own constructor options (clockwork periods, IndRNN's bound, ...), as sorted
    # ((name, value), ...) pairs; a dict is accepted and normalised. None: the cell's defaults.
    options: tuple | None = None
    momentum: float | None = None  # RMSprop's momentum (rmsprop, rmsprop_torch); None: none (0)
    # False: train the whole budget, never stopping at target_accuracy (a paper's loss at its own
    # update count, for a model that solves the task before it); None: stop there, as always.
    early_stop: bool | None = None
    # A sequence task's loss: False counts the answer steps alone (Zoology's -100 labels, the
    # protocol of associative recall's paper), True every step, blanks too (Arjovsky et al.'s
    # copy); None: the task's own `Task.train_blanks`.
    train_blanks: bool | None = None

    def __post_init__(self):
        object.__setattr__(self, "options", normalised_options(self.options))  # frozen: the one allowed write
        check_fields(self)
        cells = cell_registry()
        check_choice("model", self.model, cells)
        for name, _ in self.options or ():
            if name in RESERVED_OPTIONS:
                raise UsageError(f"option {name}= is a run field; set {RESERVED_OPTIONS[name]}= instead")
            if not accepts(cells[self.model], name):
                raise UsageError(f"model {self.model!r} has no option {name!r}; its options: {', '.join(cell_options(cells[self.model])) or 'none'}")
        from layers.base import FORGET_BIASES, RECURRENT_INITS

        check_choice("recurrent_init", self.recurrent_init, RECURRENT_INITS)
        if self.forget_bias is not None:
            check_choice("forget_bias", self.forget_bias, FORGET_BIASES)
            if not accepts(cells[self.model], "forget_bias"):
                gated = [m for m, c in cells.items() if accepts(c, "forget_bias")]
                raise UsageError(
                    f"forget_bias={self.forget_bias!r} does not apply to model {self.model!r}; "
                    f"models with a forget gate: {', '.join(gated)}"
                )
        if self.options:
            # A bad option value (kernel_initializer=he) fails here, before any sweep starts or
            # any error record is written: the cell's constructor checks its own arguments and
            # builds no weights, so this costs well under a millisecond.
            try:
                cells[self.model](self.units, **self.cell_kwargs())
            except (ValueError, TypeError) as error:
                raise UsageError(f"model {self.model!r}: {error}") from None

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

    def stops_at(self, val_accuracy):
        """Whether training stops at this validation accuracy: the target reached, unless `early_stop` is False."""
        return self.early_stop is not False and val_accuracy >= self.target_accuracy

    def cell_kwargs(self):
        """Constructor arguments for `CELLS[model]`: only those the cell accepts."""
        cell = cell_registry()[self.model]
        kwargs = {}
        if accepts(cell, "recurrent_initializer"):
            kwargs["recurrent_initializer"] = self.recurrent_init
        elif self.recurrent_init != "orthogonal":
            raise UsageError(f"model {self.model!r} has no recurrent_initializer option")
        if self.forget_bias is not None:
            kwargs["forget_bias"] = self.forget_bias
        length = TASKS[self.task].length(self.gap)
        if self.forget_bias == "chrono":
            # Tallec & Ollivier 2018 set T_max to the longest dependency: by default the sequence length.
            kwargs["chrono_tmax"] = self.chrono_tmax or length
        if accepts(cell, "sequence_length"):  # a cell whose defaults depend on T (IndRNN's bound) is told it
            kwargs["sequence_length"] = length
        return {**kwargs, **dict(self.options or ())}

    @property
    def task_spec(self):
        """The run's `Task`: `TASKS[task]` with the run's `train_blanks` (`Task.with_loss`)."""
        return TASKS[self.task].with_loss(self.train_blanks)

    @property
    def init_label(self):
        """How the cell was initialised, in words: 'orthogonal recurrent, chrono forget bias'.

        The recurrent initialisation is named only for cells that have one: a cell without a
        recurrent matrix (min_gru, attention) is 'default', 'chrono forget bias', or its options."""
        parts = [f"{self.recurrent_init} recurrent"] if accepts(cell_registry()[self.model], "recurrent_initializer") else []
        if self.forget_bias is not None:
            parts.append(f"{self.forget_bias} forget bias")
        for name, value in self.options or ():
            parts.append(f"{name}={','.join(map(str, value)) if isinstance(value, tuple) else value}")
        if self.train_blanks is not None:  # a loss other than the task's own keeps its runs a row of their own
            parts.append("answers only" if not self.train_blanks else "blanks trained")
        return ", ".join(parts) or "default"

    @classmethod
    def from_dict(cls, values):
        """Build a config from a dict, rejecting unknown keys with a close-match suggestion."""
        check_keys(values, FIELDS)
        return cls(**values)


def cell_registry():
    """`layers.CELLS`, imported on first use: it imports Keras, which reading records does not need."""
    quiet_tensorflow()
    from layers import CELLS

    return CELLS


def normalised_options(options):
    """Options as sorted ((name, value), ...) pairs, lists made tuples; None when there are none.

    Accepts a dict, pairs, or what a record's JSON gives back (lists of [name, value])."""
    if options is None:
        return None
    if isinstance(options, dict):
        options = options.items()
    try:
        pairs = [(name, tuple(value) if isinstance(value, list) else value) for name, value in options]
    except (TypeError, ValueError):
        raise UsageError(f"options must map option names to values, received options={options!r}") from None
    return tuple(sorted(pairs)) or None


def cell_options(cell):
    """The constructor options a cell class takes that are not run fields (Keras' own layer
    arguments, such as `dtype`, left out)."""
    own = [c for c in cell.__mro__ if "__init__" in vars(c) and not c.__module__.startswith(("keras", "builtins"))]
    names = [p for c in own for p in inspect.signature(c.__init__).parameters]
    return sorted({n for n in names if n not in ("self", "units", "kwargs", "args", "sequence_length", *RESERVED_OPTIONS)})


def check_fields(cfg):
    """Check every field's type and range that needs no registry of cells (so no Keras).

    `RunConfig` adds the checks against the cells; `check_values` runs these alone on a
    record's config, so reading records never imports TensorFlow.
    """
    check_choice("task", cfg.task, TASKS)
    if not isinstance(cfg.model, str):
        raise UsageError(f"model must be a name, received model={cfg.model!r}")
    for name in ("gap", "seed", "units", "embed_dim", "batch_size", "budget", "eval_every", "n_val", "n_test"):
        check_int(name, getattr(cfg, name), low=0 if name == "seed" else 1)
    check_number("learning_rate", cfg.learning_rate)
    for name in ("clipnorm", "clipvalue"):
        if getattr(cfg, name) is not None:
            check_number(name, getattr(cfg, name))
    if cfg.clipnorm is not None and cfg.clipvalue is not None:
        raise UsageError(f"clipvalue={cfg.clipvalue} and clipnorm={cfg.clipnorm} are two clippings; set clipnorm=None to clip by value")
    if not 0 < check_number("target_accuracy", cfg.target_accuracy) <= 1:
        raise UsageError(f"target_accuracy must be in (0, 1], received target_accuracy={cfg.target_accuracy!r}")
    if cfg.budget < cfg.batch_size:
        raise UsageError(f"budget must be at least batch_size={cfg.batch_size}, received budget={cfg.budget}")
    for name in ("recurrent_init", "forget_bias"):
        if not isinstance(getattr(cfg, name), str | None):
            raise UsageError(f"{name} must be a name, received {name}={getattr(cfg, name)!r}")
    if cfg.optimizer is not None:
        check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    if cfg.momentum is not None:
        if check_number("momentum", cfg.momentum, strict=False) >= 1:
            raise UsageError(f"momentum must be in [0, 1), received momentum={cfg.momentum!r}")
        if cfg.optimizer not in WITH_MOMENTUM:
            raise UsageError(f"momentum={cfg.momentum} needs optimizer={' or '.join(WITH_MOMENTUM)}, received optimizer={cfg.optimizer!r}")
    for name in ("fused", "jit_compile", "early_stop", "train_blanks"):
        if getattr(cfg, name) is not None:
            check_bool(name, getattr(cfg, name))
    if cfg.train_blanks is not None and TASKS[cfg.task].output != "sequence":
        sequence = [t for t, spec in TASKS.items() if spec.output == "sequence"]
        raise UsageError(f"train_blanks={cfg.train_blanks} applies to a task with an output per step ({', '.join(sequence)}), received task={cfg.task!r}")
    if cfg.chrono_tmax is not None:
        check_int("chrono_tmax", cfg.chrono_tmax, low=2)
        if cfg.forget_bias != "chrono":
            raise UsageError(f"chrono_tmax={cfg.chrono_tmax} needs forget_bias='chrono', received forget_bias={cfg.forget_bias!r}")
    for name, value in cfg.options or ():
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageError(f"an option name must be a name, received {name!r}")
        if not all(isinstance(v, int | float | str | bool) for v in (value if isinstance(value, tuple) else (value,))):
            raise UsageError(f"option {name}= takes numbers, names or a list of them, received {name}={value!r}")
    if cfg.gap < TASKS[cfg.task].min_gap:
        raise UsageError(f"gap must be an integer >= {TASKS[cfg.task].min_gap} for task {cfg.task!r}, received gap={cfg.gap!r}")


def check_values(values):
    """`check_fields` on a dict of config values (missing fields take their defaults)."""
    check_keys(values, FIELDS)
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    merged = {**defaults, **values}
    check_fields(types.SimpleNamespace(**{**merged, "options": normalised_options(merged["options"])}))
    return values


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
LATE_FIELDS = ("optimizer", "chrono_tmax", "fused", "jit_compile", "clipvalue", "options", "momentum", "early_stop", "train_blanks")
# Cell arguments that are run fields already: set through the field, never as an option.
RESERVED_OPTIONS = {"recurrent_initializer": "recurrent_init", "forget_bias": "forget_bias", "chrono_tmax": "chrono_tmax"}
OPTIMIZERS = ("adam", "rmsprop", "rmsprop_primed", "rmsprop_torch")  # experiments.model.OPTIMIZERS builds them (a test keeps the two in step)
WITH_MOMENTUM = ("rmsprop", "rmsprop_torch")  # the optimizers that take `momentum`


def accepts(cls, argument):
    """Whether `cls(...)` takes `argument` somewhere in its constructor chain."""
    return any(argument in inspect.signature(c.__init__).parameters for c in cls.__mro__ if "__init__" in vars(c))
