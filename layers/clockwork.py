"""Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber 2014, arXiv 1402.3511).

The hidden units are split into modules that tick at different periods; a slow module is
updated rarely, so what it holds is overwritten rarely: memory by slowness, not by gating.
"""

import keras
from keras import ops

from layers.base import PACKAGE, RecurrentCell, RecurrentLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClockworkRNNCell(RecurrentCell):
    """Modules 1..g of H/g units with periods T_1 < ... < T_g (Koutník et al. 2014, eqs. 1-3).

        a = tanh(x_t W + h_{t-1} (U * M) + b)           M: block upper-triangular mask
        h_t[module i] = a[module i]  if t mod T_i == 0, else h_{t-1}[module i]

    M lets module i receive from modules j >= i only: information flows from slower to
    faster modules. The step counter t (0 at the first input) travels in the state, so the
    cell stays a plain `keras.layers.RNN` cell.

    Weights match `SimpleRNNCell`: kernel W (D, H), recurrent_kernel U (H, H), bias b (H,);
    the mask is applied in `call`, so masked entries stay in U but never act.

    Args:
        units: H, split into len(periods) modules of nearly equal size.
        periods: the module periods, increasing positive ints; default (1, 2, 4, 8), the
            exponential series of the paper.
        recurrent_initializer: as for `SimpleRNNCell`.

    Call arguments:
        inputs: (B, D). states: [h_{t-1} (B, H), t (B, 1)].

    Example:
        >>> keras.layers.RNN(ClockworkRNNCell(8, periods=(1, 4)))(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    n_gates = 1

    def __init__(self, units, periods=(1, 2, 4, 8), **kwargs):
        super().__init__(units, **kwargs)
        periods = tuple(periods)
        if not periods or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in periods) or list(periods) != sorted(periods):
            raise ValueError(f"periods must be non-decreasing positive integers, received periods={periods!r}")
        self.periods = periods

    def module_index(self):
        """(H,) module of each unit: g nearly equal blocks (sizes differ by at most one)."""
        return (ops.arange(self.units) * len(self.periods)) // self.units

    @property
    def state_size(self):
        return [self.units, 1]

    def recurrent_mask(self):
        """(H, H) 0/1 mask: row block j (source module) feeds column block i iff j >= i."""
        module = self.module_index()
        return ops.cast(module[:, None] >= module[None, :], self.compute_dtype)

    def call(self, inputs, states, training=False):
        h_prev, t = states
        a = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel * self.recurrent_mask()) + self.bias)
        period = ops.take(ops.convert_to_tensor(self.periods, dtype=self.compute_dtype), self.module_index())  # (H,)
        active = ops.cast(ops.equal(ops.mod(t, period), 0.0), a.dtype)  # (B, H)
        h = active * a + (1.0 - active) * h_prev
        return h, [h, t + 1.0]

    def cell_args(self):
        return {**super().cell_args(), "periods": list(self.periods)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClockworkRNN(RecurrentLayer):
    """`keras.layers.RNN(ClockworkRNNCell(units, ...))`."""

    cell_class = ClockworkRNNCell
