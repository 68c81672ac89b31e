"""Gated recurrent unit (Cho et al. 2014), in Keras' `reset_after=True` form (Chung et al. 2014).

The update gate z merges the LSTM's forget and input gates: h_t = z h_{t-1} + (1 - z) h~.
With z close to 1 the state is copied forward unchanged, which is how a GRU bridges a gap.
"""

import keras
from keras import ops

from layers.base import PACKAGE, GatedCell, RecurrentLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRUCell(GatedCell):
    """GRU with the reset gate applied after the recurrent matmul, gates in Keras' order z, r, h.

        x_z, x_r, x_h = x_t W + b_in                    (B, 3H)
        u_z, u_r, u_h = h_{t-1} U + b_rec               (B, 3H)
        z = sigmoid(x_z + u_z)   r = sigmoid(x_r + u_r)
        h~ = tanh(x_h + r * u_h)
        h_t = z * h_{t-1} + (1 - z) * h~

    Weights match `keras.layers.GRUCell(reset_after=True)`: kernel W (D, 3H),
    recurrent_kernel U (H, 3H), bias (2, 3H) holding b_in and b_rec.

    Args:
        units: H, size of the hidden state.
        recurrent_initializer: "orthogonal" (default), "glorot_uniform" or "identity".
        forget_bias: initial bias of the update gate z, the GRU's keep gate: "zero"
            (default, as in Keras), "one", or "chrono" (Tallec & Ollivier 2018 section 4:
            b_z ~ log U[1, T_max - 1]; the GRU has no separate input gate to set to -b_z).
        chrono_tmax: T_max for chrono initialisation.

    Call arguments:
        inputs: (B, D) input at step t.
        states: [h_{t-1}] with h of shape (B, H).

    Returns:
        (h_t, [h_t]).

    Example:
        >>> gru = keras.layers.RNN(GRUCell(8))
        >>> gru(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    n_gates = 3
    forget_gate = 0  # z, the first block of the input bias row
    input_gate = None

    def __init__(self, units, forget_bias="zero", **kwargs):
        super().__init__(units, forget_bias=forget_bias, **kwargs)

    def bias_shape(self):
        return (2, 3 * self.units)

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x = ops.matmul(inputs, self.kernel) + self.bias[0]  # (B, 3H)
        u = ops.matmul(h_prev, self.recurrent_kernel) + self.bias[1]  # (B, 3H)
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        u_z, u_r, u_h = ops.split(u, 3, axis=-1)
        z = ops.sigmoid(x_z + u_z)
        r = ops.sigmoid(x_r + u_r)
        h = z * h_prev + (1.0 - z) * ops.tanh(x_h + r * u_h)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRU(RecurrentLayer):
    """`keras.layers.RNN(GRUCell(units, ...))`; see `GRUCell` for the arguments."""

    cell_class = GRUCell
