"""Vanilla (Elman) recurrent cell: the baseline that the seed notes say forgets "France".

Elman 1990; the gradient argument against it is Bengio, Simard & Frasconi 1994.
"""

import keras
from keras import ops

from layers.base import PACKAGE, RecurrentCell, RecurrentLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNNCell(RecurrentCell):
    """h_t = tanh(x_t W + h_{t-1} U + b).

    Weights match `keras.layers.SimpleRNNCell`: kernel W (D, H), recurrent_kernel U (H, H),
    bias b (H,).

    Args:
        units: H, size of the hidden state.
        recurrent_initializer: "orthogonal" (default), "glorot_uniform" or "identity".

    Call arguments:
        inputs: (B, D) input at step t.
        states: [h_{t-1}] with h of shape (B, H).

    Returns:
        (h_t, [h_t]), h_t of shape (B, H).

    Example:
        >>> rnn = keras.layers.RNN(SimpleRNNCell(8))
        >>> rnn(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    n_gates = 1

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNN(RecurrentLayer):
    """`keras.layers.RNN(SimpleRNNCell(units, ...))`; see `SimpleRNNCell` for the arguments."""

    cell_class = SimpleRNNCell
