"""The model of a run: a `CELLS` entry between the task's input and output layers, compiled.

`build_model` is the one place a run's config becomes a Keras model; `train`, `evaluate`,
the analyses and the benchmark all build through it, so they all train and score the same
thing. The recurrent part comes from `layers.base.sequence_layer`, so an entry of `CELLS` may
be a recurrent cell or any layer that maps whole sequences (attention).
"""

import dataclasses

from experiments.backend import keras
from experiments.config import cell_registry
from layers.base import PACKAGE, sequence_layer


def answer_crossentropy(y, logits, blank):
    """(...,) mean cross-entropy of each sequence's logits (..., T, K) over its steps whose
    target in y (..., T) is not `blank`: the loss of a task that trains its answers only."""
    ops = keras.ops
    y = ops.cast(y, "int32")
    answers = ops.cast(ops.not_equal(y, blank), logits.dtype)
    per_step = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return ops.sum(per_step * answers, axis=-1) / ops.maximum(ops.sum(answers, axis=-1), 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AnswerCrossentropy(keras.losses.Loss):
    """`answer_crossentropy` as a Keras loss, for a task whose blanks are not trained
    (`Task.answers_only`): y (B, T) ids, logits (B, T, K); the batch's mean of (B,)."""

    def __init__(self, blank, name="answer_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.blank = blank

    def call(self, y_true, y_pred):
        return answer_crossentropy(y_true, y_pred, self.blank)

    def get_config(self):
        return {**super().get_config(), "blank": self.blank}


def task_loss(task):
    """The Keras loss a model of `task` trains on: MSE for values, else cross-entropy of logits,
    over every step, or over the answers only where the task does not train its blanks."""
    if task.output == "value":
        return keras.losses.MeanSquaredError()
    if task.answers_only:
        return AnswerCrossentropy(task.blank)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PrimedRMSprop(keras.optimizers.RMSprop):
    """RMSprop whose running mean of squared gradients starts at `start` (1e-3), not 0: the
    `rms_prop` of Arjovsky et al. 2016's code (amarshah/complex_RNN, optimizations.py), with
    decay 0.9.

    Why it can matter: from 0, Keras' first step is lr * g / sqrt(0.1 g^2), about 3.2 lr for
    every weight however small its gradient; primed, a weight whose gradient is far below
    sqrt(1e-3) = 0.03 moves by about lr * g / 0.03 until its own gradients fill the mean.
    Their code has no epsilon; this keeps Keras' 1e-7, so that a weight whose gradient stays 0
    never divides 0 by 0 once the mean has decayed.
    """

    def __init__(self, learning_rate=1e-3, start=1e-3, **kwargs):
        super().__init__(learning_rate, **kwargs)  # Keras' rho, 0.9, is their decay
        self.start = start

    def build(self, var_list):
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, var_list)  # RMSprop.build would start the mean at 0
        self._velocities = self.add_optimizer_variables(var_list, "velocity", initializer=keras.initializers.Constant(self.start))
        self._momentums, self._average_gradients = [], []  # momentum 0, not centred

    def get_config(self):
        return {**super().get_config(), "start": self.start}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TorchRMSprop(keras.optimizers.RMSprop):
    """RMSprop as PyTorch's `torch.optim.RMSprop` computes it: the step is
    lr * g / (sqrt(v) + eps) with eps = 1e-8, where Keras' is lr * g / sqrt(v + eps) with
    eps = 1e-7. Same running mean v (decay rho, 0.9 as in Keras and in the chrono
    reproduction's `rmsprop_alpha=.9`; PyTorch's default is 0.99), not centred.

    Why it can matter: Keras' form floors the denominator at sqrt(1e-7) = 3.2e-4, so a weight
    whose gradients stay far below that moves by about lr * g / 3.2e-4, not by about lr; at
    g = 1e-5 that is 30 times less. PyTorch's floor is 1e-8. The ICLR 2018 reproduction of
    Tallec & Ollivier's chrono LSTM (atremblay/chronoRNN) was trained with PyTorch's.

    With `momentum` m > 0, as Keras' and PyTorch's RMSprop both do it (the same at a constant
    rate): buffer = m * buffer + step, and the weight moves by the buffer. The reproduction's
    adding runs (its `addition_experiment.py`) used m = 0.9, which at a steady gradient makes
    the step 1 / (1 - m) = 10 times larger.
    """

    def __init__(self, learning_rate=1e-3, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        ops = keras.ops
        lr, gradient = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        self.assign(velocity, ops.add(ops.multiply(self.rho, velocity), ops.multiply(1 - self.rho, ops.square(gradient))))
        step = ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon))
        if self.momentum > 0:
            self.assign(self._momentums[index], ops.add(ops.multiply(self.momentum, self._momentums[index]), step))
            step = self._momentums[index]
        self.assign_sub(variable, step)


OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "rmsprop_primed": PrimedRMSprop,
              "rmsprop_torch": TorchRMSprop}


def make_optimizer(cfg, cls=None):
    """The optimizer of run `cfg` (`OPTIMIZERS[cfg.optimizer]`, or `cls`, a subclass of it):
    its rate, its clipping and, where set, RMSprop's momentum."""
    momentum = {} if cfg.momentum is None else {"momentum": cfg.momentum}
    return (cls or OPTIMIZERS[cfg.optimizer or "adam"])(cfg.learning_rate, clipnorm=cfg.clipnorm, clipvalue=cfg.clipvalue, **momentum)


def build_model(cfg):
    """Input -> sequence layer (a cell in `RNN`, or e.g. attention) -> Dense, for any length.

    Token tasks embed first: (B, T) int32 -> (B, T, D). Real-valued tasks feed (B, T, F)
    straight to the sequence layer. One output per sequence: last hidden state (B, H) ->
    (B, K) logits, or (B,) values for regression; one output per step ("sequence"): (B, T, K).
    """
    task = cfg.task_spec
    entry = cell_registry()[cfg.model]
    if task.vocab_size:
        layers = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(task.vocab_size, cfg.embed_dim)]
    else:
        layers = [keras.Input(shape=(None, task.n_features))]
    layers.append(sequence_layer(entry, cfg.units, cfg.cell_kwargs(), return_sequences=task.output == "sequence", fused=bool(cfg.fused)))
    if task.output == "value":
        layers += [keras.layers.Dense(1), keras.layers.Reshape(())]  # (B, 1) -> (B,), the shape of y
    else:
        layers.append(keras.layers.Dense(task.n_classes))
    model = keras.Sequential(layers, name=cfg.model)
    compile_model(model, make_optimizer(cfg), task_loss(task), jit_compile=bool(cfg.jit_compile))
    return model


# Fields that change neither the model nor its compiled functions (the gap changes only the
# sequence length, for which a compiled function keeps one trace per length).
RESET_FIELDS = ("seed", "gap", "budget", "eval_every", "target_accuracy", "n_val", "n_test", "chrono_tmax", "early_stop")
INIT_ONLY_ARGS = ("chrono_tmax",)  # cell arguments that change only the initial weights, which are reset
_compiled = {}  # at most one entry: the last model this process trained, by its shared config


def reusable_model(cfg):
    """`build_model(cfg)` as a model whose training functions may already be compiled.

    Tracing and XLA compilation cost 1-3 s per model, as much as a short run trains. Runs
    that differ only in `RESET_FIELDS` (the seeds and gaps of a grid) therefore share one
    model: it gets the initial weights of a fresh `build_model(cfg)` and that model's fresh
    optimizer state, so it trains exactly as the fresh model would (tested bit for bit).
    Returns (model to train, the fresh model, whose config is the run's own).
    """
    fresh = build_model(cfg)
    # The cell's arguments too: one that depends on the gap and shapes more than the initial
    # weights (IndRNN's bound, from `sequence_length`) must not carry over to another gap.
    cell_args = tuple(sorted((k, v) for k, v in cfg.cell_kwargs().items() if k not in INIT_ONLY_ARGS))
    key = tuple((k, v) for k, v in dataclasses.asdict(cfg).items() if k not in RESET_FIELDS) + cell_args
    model = _compiled.get(key)
    if model is None:
        _compiled.clear()
        _compiled[key] = fresh
        return fresh, fresh
    model.set_weights(fresh.get_weights())
    fresh.optimizer.build(fresh.trainable_variables)
    for target, initial in zip(model.optimizer.variables, fresh.optimizer.variables, strict=True):
        target.assign(initial)
    return model, fresh


def compile_model(model, optimizer, loss, jit_compile=False):
    """`model.compile`, with XLA when asked even under TensorFlow op determinism.

    Keras refuses XLA whenever op determinism is on, because some XLA GPU kernels are not
    deterministic. On the CPU they are, and the determinism tests retrain XLA runs and
    compare the records bit for bit; so XLA is switched on here past that check.
    """
    model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
    if jit_compile:
        model._jit_compile = True


def scores(model, task, x, y, batch_size=512):
    """(accuracy, loss) of `model` on (x, y), both by the task's own definitions."""
    pred = model.predict(x, batch_size=batch_size, verbose=0)
    return task.score(pred, y), task.loss(pred, y)
