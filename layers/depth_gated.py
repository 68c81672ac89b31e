"""Depth-gated LSTM (Yao, Cohn, Vylomova, Duh & Dyer 2015, arXiv 1508.03790).

A stack of LSTM layers in one cell, whose memory cells are linked across depth: layer l+1
adds its lower layer's cell state c^l_t to its own, through a depth gate d.
"""

import keras
from keras import ops

from experiments.checks import check_int
from layers.base import PACKAGE, RecurrentLayer, blockwise
from layers.lstm import LSTMCell


@keras.saving.register_keras_serializable(package=PACKAGE)
class DepthGatedLSTMCell(LSTMCell):
    """`n_layers` LSTM layers stepped together; layer 1 is `LSTMCell`, layers above add a depth gate.

    For layer l + 1 with input x = h^l_t (Yao et al. 2015, eqs. 7-8):

        d = sigmoid(x W_d + w_cd * c^{l+1}_{t-1} + w_ld * c^l_t + b_d)
        c^{l+1}_t = d * c^l_t + f * c^{l+1}_{t-1} + i * g     (i, f, g, o as in LSTMCell)
        h^{l+1}_t = o * tanh(c^{l+1}_t)

    With the depth gate held shut (b_d -> -inf) the cell is a plain stack of LSTMs. The
    output is the top layer's h. Weights of layer 1 are kernel, recurrent_kernel, bias (as
    `LSTMCell`); layer l >= 2 has kernel_l (H, 4H), recurrent_kernel_l (H, 4H), bias_l (4H),
    depth_kernel_l (H, H), depth_cell_l (H,), depth_lower_l (H,), depth_bias_l (H,).

    Args:
        units: H, the size of every layer.
        n_layers: number of stacked layers (>= 1; default 2).
        recurrent_initializer, forget_bias, chrono_tmax: as for `LSTMCell`, every layer.

    Call arguments:
        inputs: (B, D). states: [h^1, c^1, ..., h^L, c^L], each (B, H).

    Returns:
        (h^L_t, new states).

    Example:
        >>> keras.layers.RNN(DepthGatedLSTMCell(8, n_layers=3))(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    def __init__(self, units, n_layers=2, **kwargs):
        super().__init__(units, **kwargs)
        self.n_layers = check_int("n_layers", n_layers)

    @property
    def state_size(self):
        return [self.units] * (2 * self.n_layers)

    def build(self, input_shape):
        super().build(input_shape)  # layer 1: kernel, recurrent_kernel, bias
        width = 4 * self.units
        self.upper = []
        for layer in range(2, self.n_layers + 1):
            weights = {
                "kernel": self.add_weight(shape=(self.units, width), name=f"kernel_{layer}", initializer=self.input_initializer(4)),
                "recurrent_kernel": self.add_weight(shape=(self.units, width), name=f"recurrent_kernel_{layer}", initializer=blockwise(self.recurrent_initializer, 4)),
                "bias": self.add_weight(shape=(width,), name=f"bias_{layer}", initializer=self.bias_initializer()),
                "depth_kernel": self.add_weight(shape=(self.units, self.units), name=f"depth_kernel_{layer}", initializer="glorot_uniform"),
                "depth_cell": self.add_weight(shape=(self.units,), name=f"depth_cell_{layer}", initializer="zeros"),
                "depth_lower": self.add_weight(shape=(self.units,), name=f"depth_lower_{layer}", initializer="zeros"),
                "depth_bias": self.add_weight(shape=(self.units,), name=f"depth_bias_{layer}", initializer="zeros"),
            }
            self.upper.append(weights)

    def call(self, inputs, states, training=False):
        h, [_, c] = super().call(inputs, states[:2])
        new_states = [h, c]
        for layer, w in enumerate(self.upper, start=1):
            h_prev, c_prev = states[2 * layer], states[2 * layer + 1]
            x, c_lower = h, c
            z = ops.matmul(x, w["kernel"]) + ops.matmul(h_prev, w["recurrent_kernel"]) + w["bias"]  # (B, 4H)
            z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
            d = ops.sigmoid(ops.matmul(x, w["depth_kernel"]) + w["depth_cell"] * c_prev + w["depth_lower"] * c_lower + w["depth_bias"])
            c = d * c_lower + ops.sigmoid(z_f) * c_prev + ops.sigmoid(z_i) * ops.tanh(z_g)
            h = ops.sigmoid(z_o) * ops.tanh(c)
            new_states += [h, c]
        return h, new_states

    def cell_args(self):
        return {**super().cell_args(), "n_layers": self.n_layers}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DepthGatedLSTM(RecurrentLayer):
    """`keras.layers.RNN(DepthGatedLSTMCell(units, ...))`."""

    cell_class = DepthGatedLSTMCell


__all__ = ["DepthGatedLSTM", "DepthGatedLSTMCell"]
