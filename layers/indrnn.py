"""IndRNN, the independently recurrent network (Li, Li, Cook, Zhu & Gao 2018, "Independently
Recurrent Neural Network (IndRNN): Building A Longer and Deeper RNN").

Each unit reads only its own previous value, h_t = relu(x_t W + u * h_{t-1} + b), with u a
vector: the gradient through T steps of one unit is a product of T factors u * relu'(.), so
bounding |u| bounds how fast it can explode or vanish. For ReLU the paper bounds |u| by
2^(1/T) on long tasks, so that u^T <= 2.
"""

import keras
from keras import ops

from layers.base import PACKAGE, Cell


@keras.saving.register_keras_serializable(package=PACKAGE)
class RecurrentMax(keras.constraints.Constraint):
    """Clip each recurrent weight to [-bound, bound] after every update."""

    def __init__(self, bound):
        self.bound = bound

    def __call__(self, w):
        return ops.clip(w, -self.bound, self.bound)

    def get_config(self):
        return {"bound": self.bound}


@keras.saving.register_keras_serializable(package=PACKAGE)
class IndRNNCell(Cell):
    """h_t = relu(x_t W + u * h_{t-1} + b), the paper's eq. 2, one recurrent weight per unit.

    Weights: kernel W (D, H), recurrent_kernel u (H,), bias b (H,).

    Args:
        units: H, the size of the hidden state.
        recurrent_max: the bound on |u|: u is initialised uniform in [0, recurrent_max] and
            clipped to [-recurrent_max, recurrent_max] after every update (as the paper's
            reference implementations do). None: 2^(1/sequence_length) when that is known,
            the paper's bound for ReLU; else u starts in [0, 1] and is not bounded.
        sequence_length: T, told by the run (`RunConfig.cell_kwargs`), for the default bound.

    Call arguments and returns as `SimpleRNNCell`.

    Example:
        >>> rnn = keras.layers.RNN(IndRNNCell(8, sequence_length=100))
        >>> rnn(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    def __init__(self, units, recurrent_max=None, sequence_length=None, **kwargs):
        super().__init__(units, **kwargs)
        if recurrent_max is not None and not (isinstance(recurrent_max, int | float) and recurrent_max > 0):
            raise ValueError(f"recurrent_max must be a positive number or None, received recurrent_max={recurrent_max!r}")
        if sequence_length is not None and not (isinstance(sequence_length, int) and sequence_length >= 1):
            raise ValueError(f"sequence_length must be a positive integer or None, received sequence_length={sequence_length!r}")
        self.recurrent_max, self.sequence_length = recurrent_max, sequence_length

    @property
    def bound(self):
        """The bound on |u| in force, or None."""
        if self.recurrent_max is not None:
            return float(self.recurrent_max)
        return 2.0 ** (1.0 / self.sequence_length) if self.sequence_length else None

    def build_recurrent(self, width):
        self.recurrent_kernel = self.add_weight(
            shape=(self.units,), name="recurrent_kernel",
            initializer=keras.initializers.RandomUniform(0.0, self.bound or 1.0),
            constraint=RecurrentMax(self.bound) if self.bound else None,
        )

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.relu(ops.matmul(inputs, self.kernel) + self.recurrent_kernel * h_prev + self.bias)
        return h, [h]

    def cell_args(self):
        return {**super().cell_args(), "recurrent_max": self.recurrent_max, "sequence_length": self.sequence_length}
