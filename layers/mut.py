"""MUT1, MUT2, MUT3: the three architectures found by evolutionary search in Jozefowicz,
Zaremba & Sutskever 2015 ("An Empirical Exploration of Recurrent Network Architectures"),
the "few [that] can do better than LSTMs" of the seed notes.

Each has an update gate z and a reset gate r like the GRU, and writes
h_t = tanh(...) * z + h_{t-1} * (1 - z). MUT1 uses tanh(x_t) and MUT2 uses x_t inside the
recurrence without a weight matrix, which only fits when the input size D equals H: when
D != H, x_t is first mapped to H units by a learned projection `input_projection` (D, H)
without bias (with D == H no projection is created and the equations are the paper's).
"""

import keras
from keras import ops

from layers.base import PACKAGE, RecurrentCell, blockwise


class MUTCell(RecurrentCell):
    """What the MUTs share: the weights each one uses, and the input projection.

    kernel (D, k*H) holds W_x for the `input_blocks` (of z, r, h) that the cell has;
    recurrent_kernel (H, m*H) holds W_h for its `recurrent_blocks`; bias (3H) is b_z, b_r, b_h.
    """

    input_blocks = ("z", "r", "h")
    recurrent_blocks = ("z", "r", "h")
    uses_raw_input = False  # MUT1 and MUT2 add x_t itself, so need x_t in H units

    def build(self, input_shape):
        d, h = input_shape[-1], self.units
        self.kernel = self.add_weight(shape=(d, len(self.input_blocks) * h), name="kernel", initializer=self.input_initializer(len(self.input_blocks)))
        self.recurrent_kernel = self.add_weight(
            shape=(h, len(self.recurrent_blocks) * h),
            name="recurrent_kernel",
            initializer=blockwise(self.recurrent_initializer, len(self.recurrent_blocks)),
        )
        self.bias = self.add_weight(shape=(3 * h,), name="bias", initializer="zeros")
        self.input_projection = None
        if self.uses_raw_input and d != h:
            self.input_projection = self.add_weight(shape=(d, h), name="input_projection", initializer="glorot_uniform")

    def project(self, inputs):
        """x_t in H units: x_t itself when D == H, else x_t P."""
        return inputs if self.input_projection is None else ops.matmul(inputs, self.input_projection)

    def parts(self, inputs, h_prev):
        """Dicts of W_x x_t per input block, the W_h matrices per recurrent block, and b."""
        wx = dict(zip(self.input_blocks, ops.split(ops.matmul(inputs, self.kernel), len(self.input_blocks), axis=-1)))
        wh = dict(zip(self.recurrent_blocks, ops.split(self.recurrent_kernel, len(self.recurrent_blocks), axis=-1)))
        b = dict(zip(("z", "r", "h"), ops.split(self.bias, 3)))
        return wx, wh, b


@keras.saving.register_keras_serializable(package=PACKAGE)
class MUT1Cell(MUTCell):
    """MUT1 (Jozefowicz et al. 2015, section 3.3):

        z = sigmoid(W_xz x_t + b_z)
        r = sigmoid(W_xr x_t + W_hr h_{t-1} + b_r)
        h_t = tanh(W_hh (r * h_{t-1}) + tanh(x_t) + b_h) * z + h_{t-1} * (1 - z)

    Weights: kernel (D, 2H) = [W_xz, W_xr], recurrent_kernel (H, 2H) = [W_hr, W_hh], bias (3H).
    Call arguments: inputs (B, D); states [h_{t-1}] (B, H). Returns (h_t, [h_t]).
    """

    input_blocks = ("z", "r")
    recurrent_blocks = ("r", "h")
    uses_raw_input = True

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        wx, wh, b = self.parts(inputs, h_prev)
        z = ops.sigmoid(wx["z"] + b["z"])
        r = ops.sigmoid(wx["r"] + ops.matmul(h_prev, wh["r"]) + b["r"])
        h = ops.tanh(ops.matmul(r * h_prev, wh["h"]) + ops.tanh(self.project(inputs)) + b["h"]) * z + h_prev * (1.0 - z)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MUT2Cell(MUTCell):
    """MUT2 (Jozefowicz et al. 2015, section 3.3):

        z = sigmoid(W_xz x_t + W_hz h_{t-1} + b_z)
        r = sigmoid(x_t + W_hr h_{t-1} + b_r)
        h_t = tanh(W_hh (r * h_{t-1}) + W_xh x_t + b_h) * z + h_{t-1} * (1 - z)

    Weights: kernel (D, 2H) = [W_xz, W_xh], recurrent_kernel (H, 3H) = [W_hz, W_hr, W_hh], bias (3H).
    Call arguments: inputs (B, D); states [h_{t-1}] (B, H). Returns (h_t, [h_t]).
    """

    input_blocks = ("z", "h")
    uses_raw_input = True

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        wx, wh, b = self.parts(inputs, h_prev)
        z = ops.sigmoid(wx["z"] + ops.matmul(h_prev, wh["z"]) + b["z"])
        r = ops.sigmoid(self.project(inputs) + ops.matmul(h_prev, wh["r"]) + b["r"])
        h = ops.tanh(ops.matmul(r * h_prev, wh["h"]) + wx["h"] + b["h"]) * z + h_prev * (1.0 - z)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MUT3Cell(MUTCell):
    """MUT3 (Jozefowicz et al. 2015, section 3.3):

        z = sigmoid(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)
        r = sigmoid(W_xr x_t + W_hr h_{t-1} + b_r)
        h_t = tanh(W_hh (r * h_{t-1}) + W_xh x_t + b_h) * z + h_{t-1} * (1 - z)

    Weights: kernel (D, 3H) = [W_xz, W_xr, W_xh], recurrent_kernel (H, 3H), bias (3H).
    Call arguments: inputs (B, D); states [h_{t-1}] (B, H). Returns (h_t, [h_t]).
    """

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        wx, wh, b = self.parts(inputs, h_prev)
        z = ops.sigmoid(wx["z"] + ops.matmul(ops.tanh(h_prev), wh["z"]) + b["z"])
        r = ops.sigmoid(wx["r"] + ops.matmul(h_prev, wh["r"]) + b["r"])
        h = ops.tanh(ops.matmul(r * h_prev, wh["h"]) + wx["h"] + b["h"]) * z + h_prev * (1.0 - z)
        return h, [h]


__all__ = ["MUT1Cell", "MUT2Cell", "MUT3Cell"]
