"""Gated recurrent unit (Cho et al. 2014), in Keras' `reset_after=True` form (Chung et al. 2014).

The update gate z merges the LSTM's forget and input gates: h_t = z h_{t-1} + (1 - z) h~.
With z close to 1 the state is copied forward unchanged, which is how a GRU bridges a gap.
"""

import keras
from keras import ops

from layers.base import PACKAGE, GatedCell, RecurrentLayer
from layers.sequence import backprop_through_time, batch_major, row, scan_states, time_major, transposed, upstream_grads, weight_values


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

    def gates(self, inputs, states):
        """One step by name, each (B, H): the `update` gate z (the keep gate), the `reset`
        gate r, the `candidate` h~ and the new state `h`. `call` is this step."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x = ops.matmul(inputs, self.kernel) + self.bias[0]  # (B, 3H)
        u = ops.matmul(h_prev, self.recurrent_kernel) + self.bias[1]  # (B, 3H)
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        u_z, u_r, u_h = ops.split(u, 3, axis=-1)
        z = ops.sigmoid(x_z + u_z)
        r = ops.sigmoid(x_r + u_r)
        candidate = ops.tanh(x_h + r * u_h)
        return {"update": z, "reset": r, "candidate": candidate, "h": z * h_prev + (1.0 - z) * candidate}

    def call(self, inputs, states, training=False):
        h = self.gates(inputs, states)["h"]
        return h, [h]

    def call_sequence(self, sequences, states, weights=None):
        """All steps at once: (B, T, D), [h_0] -> (B, T, H), [h_T]; see `layers.sequence`.

        `weights`: (kernel, recurrent_kernel, bias) to use instead of the cell's own, e.g. a
        seed stack's (then every shape gains a leading S axis)."""
        return gru_sequence(sequences, states[0], *(weights or (self.kernel, self.recurrent_kernel, self.bias)))


def gru_sequence(x, h0, kernel, recurrent_kernel, bias):
    """The equations of `GRUCell.call` over a whole sequence, with hand-written BPTT.

    With n = h~ the candidate and dh_t the total gradient reaching h_t, the pre-activation
    gradients of step t are

        dz = dh (h_{t-1} - n) z(1-z)     dn = dh (1-z)(1-n^2)     dr = dn u_h r(1-r)

    the input side gets [dz, dr, dn], the recurrent side [dz, dr, dn r], and
    dh_{t-1} = dh z + [dz, dr, dn r] U^T. All six are dh times a factor the forward loop
    stores, so the backward loop is one product, one matmul and an add. Weight gradients are
    summed over all steps after the loop (inside it for a seed stack: `backprop_through_time`).

    Shapes: x (B, T, D); h0 (B, H); kernel (D, 3H); recurrent_kernel (H, 3H); bias (2, 3H).
    Returns ((B, T, H) outputs, [h_T]). A seed stack adds a leading S axis to every shape.
    """

    units = recurrent_kernel.shape[-2]  # H, also for a seed stack (S, H, G*H)

    @ops.custom_gradient
    def run(x, h0, W, U, b):
        xs = time_major(x)  # (T, B, D)
        b_input, b_recurrent = row(b[..., 0, :]), row(b[..., 1, :])  # (1, 3H) each, or (S, 1, 3H)

        def step(state, x_t):
            h_prev, _ = state
            x_z, x_r, x_h = ops.split(x_t, 3, axis=-1)
            u_z, u_r, u_h = ops.split(ops.matmul(h_prev, U) + b_recurrent, 3, axis=-1)
            z = ops.sigmoid(x_z + u_z)
            r = ops.sigmoid(x_r + u_r)
            n = ops.tanh(x_h + r * u_h)
            dz, dn = (h_prev - n) * z * (1 - z), (1 - z) * (1 - n * n)
            dr = dn * u_h * r * (1 - r)
            # pre-activation gradients per unit of dh: input side [dz, dr, dn], recurrent side
            # [dz, dr, dn r], and z, the direct path to h_{t-1}: (B, 7H)
            return z * h_prev + (1.0 - z) * n, ops.concatenate([dz, dr, dn, dz, dr, dn * r, z], -1)

        init = (h0, ops.zeros_like(ops.concatenate([h0] * 7, -1)))
        hs, local = scan_states(step, init, ops.matmul(xs, W) + b_input)  # (T, B, H), (T, B, 7H)
        outputs = (batch_major(hs), hs[-1])

        def grad(*args, **_):
            U_t = transposed(U)  # once, outside the loop: XLA does not hoist it
            d_hs, d_hT = upstream_grads(args, outputs)

            def back(state, local_t, dh_out):
                (dh,) = state
                factors, z = ops.split(local_t, [6 * units], axis=-1)
                dh = dh + dh_out
                dx, du = ops.split(ops.concatenate([dh] * 6, -1) * factors, 2, axis=-1)
                return (dh * z + ops.matmul(du, U_t),), dx, du

            (dh0,), dx, dW, dU, db_x, db_h = backprop_through_time(back, (d_hT,), local, time_major(d_hs), xs, h0, hs, W, recurrent_dz=True)
            return dx, dh0, dW, dU, ops.stack([db_x, db_h], axis=-2)  # db (2, 3H), or (S, 2, 3H)

        return outputs, grad

    hs, h = run(x, h0, *weight_values(kernel, recurrent_kernel, bias))
    return hs, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRU(RecurrentLayer):
    """`keras.layers.RNN(GRUCell(units, ...))`; see `GRUCell` for the arguments."""

    cell_class = GRUCell
