"""Shared machinery for the recurrent cells: argument checks, initialisers, the layer wrapper.

Every cell in this package is a `keras.layers.Layer` that honours the cell contract of
`keras.layers.RNN`: attributes `state_size` and `output_size`, and
`call(inputs_t, states_t) -> (output_t, new_states_t)`. `Cell` holds what all of them share
(units, a fused input kernel (D, G*H), a bias); `RecurrentCell` adds the fused recurrent
kernel (H, G*H) of cells whose gates read the previous state, with the same names and shapes
as the matching built-in Keras cell, so weights copy across. `sequence_layer` turns any entry
of `CELLS` (a cell, or a layer that runs whole sequences) into the layer a model stacks.
"""

import math

import keras
from keras import ops

from experiments.checks import check_choice, check_int, check_number
from layers.sequence import has_sequence_path

PACKAGE = "memory_gap"  # the namespace of every class registered for `.keras` saving

RECURRENT_INITS = ("orthogonal", "glorot_uniform", "identity")
# The input kernel W (D, G*H): Keras draws it as one Glorot-uniform matrix (bound sqrt(6/(D+G*H)));
# Arjovsky et al. 2016's LSTM draws each gate's (D, H) block on its own (bound sqrt(6/(D+H))),
# which for a narrow input (the adding task's D = 2) is about sqrt(G) times larger.
KERNEL_INITS = ("glorot_uniform", "glorot_per_gate")
FORGET_BIASES = ("zero", "one", "chrono")


def blockwise(initializer, n_blocks):
    """Initialise an (N, n_blocks*H) kernel one (N, H) gate block at a time.

    Keras' built-in cells apply e.g. `orthogonal` to the whole (H, 4H) matrix. Per block is
    what the names promise for each gate: "identity" gives every gate the identity (Le et al.
    2015), "orthogonal" gives every gate an orthogonal matrix (Saxe et al. 2014). For an input
    kernel (D, G*H), "glorot_uniform" per block is Arjovsky et al. 2016's per-gate draw.
    """

    def init(shape, dtype=None):
        block = (shape[0], shape[1] // n_blocks)
        # keras.initializers.get(str) returns a fresh instance, hence a fresh seed, per block.
        blocks = [keras.initializers.get(initializer)(block, dtype=dtype) for _ in range(n_blocks)]
        return ops.concatenate(blocks, axis=1)

    return init


def forget_bias_vector(units, forget_bias, chrono_tmax, dtype=None):
    """The initial forget-gate bias b_f, shape (units,).

    forget_bias: "zero" (b_f = 0), "one" (b_f = 1; Gers et al. 2000, Jozefowicz et al. 2015),
    or "chrono" (Tallec & Ollivier 2018, eq. 16: b_f ~ log U[1, T_max - 1], so that the
    characteristic forgetting times 1 / (1 - sigmoid(b_f)) span 1 .. T_max steps).
    """
    if forget_bias == "chrono":
        # A fresh initializer instance draws its seed from Python's `random`, which
        # `keras.utils.set_random_seed` seeds: deterministic per run, different per cell.
        u = keras.initializers.RandomUniform(1.0, max(chrono_tmax - 1.0, 1.0))((units,), dtype=dtype)
        return ops.log(u)
    return ops.full((units,), 1.0 if forget_bias == "one" else 0.0, dtype=dtype)


def gate_bias(units, n_gates, forget_gate, forget_bias, chrono_tmax, input_gate=None):
    """Bias initialiser that sets the forget (or update) gate block to b_f; every other block is 0.

    With chrono init the input gate block, if any, gets -b_f (Tallec & Ollivier 2018).
    """

    def init(shape, dtype=None):
        b_f = forget_bias_vector(units, forget_bias, chrono_tmax, dtype)
        blocks = [ops.zeros((units,), dtype=dtype) for _ in range(n_gates)]
        blocks[forget_gate] = b_f
        if forget_bias == "chrono" and input_gate is not None:
            blocks[input_gate] = -b_f
        return ops.reshape(ops.concatenate(blocks), shape)

    return init


class Cell(keras.layers.Layer):
    """Base of every cell: units, a fused input kernel (D, G*H) and a bias, with Keras' names.

    What a cell whose gates read only the input has (minGRU, minLSTM, IndRNN's input side):
    no recurrent kernel and no option to initialise one. Subclasses set `n_gates` (G), may
    override `bias_shape` and `bias_initializer`, and implement `call`. Whatever they add to
    the constructor they also return from `cell_args`, so `get_config` stays complete.

    Args:
        units: H, the size of the hidden state (positive int).
    """

    n_gates = 1

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units)

    @classmethod
    def sequence_layer(cls, units, options, return_sequences=False, fused=True):
        """The layer that runs this cell over a sequence: (B, T, D) -> (B, H) or (B, T, H)."""
        return RNN(cls(units, **options), fused=fused, return_sequences=return_sequences)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def bias_shape(self):
        return (self.n_gates * self.units,)

    def bias_initializer(self):
        return "zeros"

    def build(self, input_shape):
        width = self.n_gates * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], width), name="kernel", initializer=self.input_initializer(self.n_gates))
        self.build_recurrent(width)
        self.bias = self.add_weight(shape=self.bias_shape(), name="bias", initializer=self.bias_initializer())

    def input_initializer(self, n_blocks):
        """The initialiser of an input kernel (N, n_blocks*H): Keras' whole-matrix Glorot."""
        return "glorot_uniform"

    def build_recurrent(self, width):
        """Create the weights that read the previous state, between kernel and bias (Keras' order)."""

    def cell_args(self):
        """The constructor arguments of this cell (not those of `keras.layers.Layer`)."""
        return {"units": self.units}

    def get_config(self):
        return {**super().get_config(), **self.cell_args()}


class RecurrentCell(Cell):
    """A `Cell` whose gates also read the previous state through a fused recurrent kernel (H, G*H).

    The kernels have the same names and shapes as the matching built-in Keras cell, so
    weights copy across.

    Args:
        units: H, the size of the hidden state (positive int).
        recurrent_initializer: one of "orthogonal" (default, as in Keras), "glorot_uniform",
            "identity"; applied to each gate's (H, H) block separately.
        kernel_initializer: "glorot_uniform" (default: the whole (D, G*H) input kernel at
            once, as in Keras) or "glorot_per_gate" (each gate's (D, H) block on its own, as
            in Arjovsky et al. 2016's code).
    """

    def __init__(self, units, recurrent_initializer="orthogonal", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_initializer = check_choice("recurrent_initializer", recurrent_initializer, RECURRENT_INITS)
        self.kernel_initializer = check_choice("kernel_initializer", kernel_initializer, KERNEL_INITS)

    def input_initializer(self, n_blocks):
        if self.kernel_initializer == "glorot_per_gate":
            return blockwise("glorot_uniform", n_blocks)
        return super().input_initializer(n_blocks)

    def build_recurrent(self, width):
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=blockwise(self.recurrent_initializer, self.n_gates),
        )

    def cell_args(self):
        return {**super().cell_args(), "recurrent_initializer": self.recurrent_initializer, "kernel_initializer": self.kernel_initializer}


def is_cell(entry):
    """Whether a `CELLS` entry is a recurrent cell (the `keras.layers.RNN` contract: a
    `state_size`) rather than a layer that runs whole sequences itself (attention)."""
    return hasattr(entry, "state_size")


def carried(layer):
    """What a model's sequence layer carries from one step to the next, for the capacity column:
    the number of a cell's state (its `state_size`, summed), or what a layer that is not a
    cell says of itself (`carried()`: ExpRNN its H; attention, whose keys and values of
    every step seen so far are its memory, a count per step, as text)."""
    if hasattr(layer, "cell"):
        return sum(int(s) for s in keras.tree.flatten(layer.cell.state_size))
    return layer.carried()


def sequence_layer(entry, units, options, return_sequences=False, fused=True):
    """The sequence layer (B, T, D) -> (B, H), or (B, T, H) with `return_sequences`, of a `CELLS` entry.

    The one seam between the registry and a model: an entry that runs whole sequences itself
    (attention, a parallel scan) defines the classmethod `sequence_layer(units, options,
    return_sequences, fused)`, as `Cell` does to wrap itself in `RNN`; any other Keras cell
    (a plugin's, or Keras' own) is wrapped in `RNN` here.
    """
    build = getattr(entry, "sequence_layer", None)
    if build is None:
        return RNN(entry(units, **options), fused=fused, return_sequences=return_sequences)
    return build(units, options, return_sequences=return_sequences, fused=fused)


class ForgetGate:
    """Mixin for a cell with a forget (or keep) gate: its bias initialisation is an option.

    Put it before the cell base: `class MyCell(ForgetGate, RecurrentCell)`, or with `Cell` for
    a cell whose gates read only the input (minGRU, minLSTM).

    Args:
        forget_bias: "one" (the default here), "zero" or "chrono"; see `gate_bias`.
        chrono_tmax: T_max of chrono initialisation, the longest dependency expected in
            steps (Tallec & Ollivier 2018 use the task's gap); used only with "chrono".
    """

    forget_gate = 1  # index of the forget-gate block in the bias
    input_gate = 0  # block set to -b_f by chrono init (None: the cell has no input gate)

    def __init__(self, units, forget_bias="one", chrono_tmax=100, **kwargs):
        super().__init__(units, **kwargs)
        self.forget_bias = check_choice("forget_bias", forget_bias, FORGET_BIASES)
        self.chrono_tmax = check_number("chrono_tmax", chrono_tmax, low=2, strict=False)

    def bias_initializer(self):
        n_blocks = math.prod(self.bias_shape()) // self.units
        return gate_bias(self.units, n_blocks, self.forget_gate, self.forget_bias, self.chrono_tmax, self.input_gate)

    def cell_args(self):
        return {**super().cell_args(), "forget_bias": self.forget_bias, "chrono_tmax": self.chrono_tmax}


class GatedCell(ForgetGate, RecurrentCell):
    """A `RecurrentCell` with a forget (or update) gate: `forget_bias` and `chrono_tmax` as in
    `ForgetGate`, `recurrent_initializer` as in `RecurrentCell`."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class RNN(keras.layers.RNN):
    """`keras.layers.RNN` that runs a cell's `call_sequence` where it has one.

    Args:
        cell: a recurrent cell.
        fused: use the cell's whole-sequence path when possible (default True). It is used
            in training calls when the cell's own class defines `call_sequence`, the call
            has no mask, and the layer is not `go_backwards`, `unroll` or `stateful`;
            otherwise the per-step loop of `keras.layers.RNN` runs, exactly as before.
        **kwargs: as `keras.layers.RNN`.
    """

    def __init__(self, cell, fused=True, **kwargs):
        super().__init__(cell, **kwargs)
        self.fused = bool(fused)

    def uses_sequence_path(self, mask=None, training=True):
        # Only in training: the sequence path also stores what its backward pass needs,
        # which inference would compute for nothing (measured: 1.5-2.3x slower predictions).
        return (self.fused and training and has_sequence_path(self.cell) and mask is None
                and not (self.go_backwards or self.unroll or self.stateful))

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self.uses_sequence_path(mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        outputs, states = self.cell.call_sequence(sequences, list(initial_state))
        return outputs[:, -1], outputs, states

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


class RecurrentLayer(RNN):
    """`RNN` over a fixed cell class, built from the cell's own arguments.

    Subclasses set `cell_class`. `LSTM(64, forget_bias="chrono", return_sequences=True)` is
    `RNN(LSTMCell(64, forget_bias="chrono"), return_sequences=True)`.
    """

    cell_class = None

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, **kwargs):
        rnn_keys = ("name", "dtype", "trainable", "stateful", "unroll", "zero_output_for_mask", "fused")
        rnn_kwargs = {k: kwargs.pop(k) for k in rnn_keys if k in kwargs}
        # As Keras' own LSTM does: the cell gets the layer's dtype policy and trainability,
        # or a float64 layer would build float32 weights.
        cell_kwargs = {"dtype": rnn_kwargs.get("dtype"), "trainable": rnn_kwargs.get("trainable", True)}
        super().__init__(
            self.cell_class(units, **cell_kwargs, **kwargs),
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            **rnn_kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("cell")
        return {**config, **self.cell.cell_args()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)  # `keras.layers.RNN.from_config` expects a serialised cell instead
