"""Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000).

The cell state c is the "conveyor belt" of the seed notes: it is carried forward by
multiplication with the forget gate only, so with f close to 1 the key survives the gap.
"""

import keras
from keras import ops

from layers.base import PACKAGE, GatedCell, RecurrentLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMCell(GatedCell):
    """The LSTM of the seed notes, gates in Keras' order i, f, c, o.

        z = x_t W + h_{t-1} U + b                      (B, 4H), split into i, f, g, o
        i = sigmoid(z_i)  f = sigmoid(z_f)  o = sigmoid(z_o)  g = tanh(z_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Weights match `keras.layers.LSTMCell`: kernel W (D, 4H), recurrent_kernel U (H, 4H),
    bias b (4H,).

    Args:
        units: H, size of the hidden and cell states.
        recurrent_initializer: "orthogonal" (default), "glorot_uniform" or "identity".
        forget_bias: "one" (default; Keras' `unit_forget_bias=True`), "zero", or "chrono"
            (Tallec & Ollivier 2018: b_f ~ log U[1, T_max - 1], b_i = -b_f).
        chrono_tmax: T_max for chrono initialisation.

    Call arguments:
        inputs: (B, D) input at step t.
        states: [h_{t-1}, c_{t-1}], each (B, H).

    Returns:
        (h_t, [h_t, c_t]).

    Example:
        >>> lstm = keras.layers.RNN(LSTMCell(8, forget_bias="chrono", chrono_tmax=50))
        >>> lstm(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    n_gates = 4
    forget_gate = 1
    input_gate = 0

    @property
    def state_size(self):
        return [self.units, self.units]

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias  # (B, 4H)
        z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(z_f) * c_prev + ops.sigmoid(z_i) * ops.tanh(z_g)
        h = ops.sigmoid(z_o) * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTM(RecurrentLayer):
    """`keras.layers.RNN(LSTMCell(units, ...))`; see `LSTMCell` for the arguments."""

    cell_class = LSTMCell
