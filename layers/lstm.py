"""Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000).

The cell state c is the "conveyor belt" of the seed notes: it is carried forward by
multiplication with the forget gate only, so with f close to 1 the key survives the gap.
"""

import keras
from keras import ops

from layers.base import PACKAGE, GatedCell, RecurrentLayer
from layers.sequence import backprop_through_time, batch_major, row, scan_states, time_major, transposed, upstream_grads, weight_values


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

    def gates(self, inputs, states):
        """One step by name, each (B, H): the gates `input`, `forget`, `output`, the
        `candidate` g, and the new `cell` state c and output `h`. `call` is this step."""
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias  # (B, 4H)
        z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
        i, f, g, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.tanh(z_g), ops.sigmoid(z_o)
        c = f * c_prev + i * g
        return {"input": i, "forget": f, "candidate": g, "output": o, "cell": c, "h": o * ops.tanh(c)}

    def call(self, inputs, states, training=False):
        step = self.gates(inputs, states)
        return step["h"], [step["h"], step["cell"]]

    def call_sequence(self, sequences, states, weights=None):
        """All steps at once: (B, T, D), [h_0, c_0] -> (B, T, H), [h_T, c_T]; see `layers.sequence`.

        `weights`: (kernel, recurrent_kernel, bias) to use instead of the cell's own, e.g. a
        seed stack's (then every shape gains a leading S axis)."""
        return lstm_sequence(sequences, *states, *(weights or (self.kernel, self.recurrent_kernel, self.bias)))


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias):
    """The equations of `LSTMCell.call` over a whole sequence, with hand-written BPTT.

    Forward, per step: z_t = (x_t W + b) + h_{t-1} U, then the gates as in `LSTMCell`. Each
    step also stores its local derivatives, so the backward loop needs no transcendental:
    with dh_t the total gradient reaching h_t and dc_t that reaching c_t,

        dc_t += dh_t * o * (1 - tanh(c_t)^2)
        dz_t  = [dc_t g i(1-i),  dc_t c_{t-1} f(1-f),  dc_t i (1-g^2),  dh_t tanh(c_t) o(1-o)]
        dh_{t-1} = dz_t U^T (+ the output gradient at t-1),   dc_{t-1} = dc_t * f

    and after the loop dW = sum_t x_t^T dz_t, dU = sum_t h_{t-1}^T dz_t, db = sum_t dz_t,
    dx_t = dz_t W^T: three large matmuls instead of 3T small ones (a seed stack sums them inside
    the loop: `layers.sequence.backprop_through_time`).

    Shapes: x (B, T, D); h0, c0 (B, H); kernel (D, 4H); recurrent_kernel (H, 4H); bias (4H,).
    Returns ((B, T, H) outputs, [h_T, c_T]). A seed stack adds a leading S axis to every shape.
    """

    units = recurrent_kernel.shape[-2]  # H, also for a seed stack (S, H, G*H)

    @ops.custom_gradient
    def run(x, h0, c0, W, U, b):
        xs = time_major(x)  # (T, B, D)

        def step(state, z_x):
            h_prev, c_prev, _ = state
            z_i, z_f, z_g, z_o = ops.split(z_x + ops.matmul(h_prev, U), 4, axis=-1)
            i, f, g, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.tanh(z_g), ops.sigmoid(z_o)
            c = f * c_prev + i * g
            tanh_c = ops.tanh(c)
            # the gates' factors in dz = [dc, dc, dc, dh] * factors, then f and o (1 - tanh(c)^2): (B, 6H)
            local = [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o), f, o * (1 - tanh_c * tanh_c)]
            return o * tanh_c, c, ops.concatenate(local, -1)

        init = (h0, c0, ops.zeros_like(ops.concatenate([h0] * 6, -1)))
        hs, cs, local = scan_states(step, init, ops.matmul(xs, W) + row(b))  # (T, B, H), (T, B, H), (T, B, 6H)

        outputs = (batch_major(hs), hs[-1], cs[-1])

        def grad(*args, **_):
            U_t = transposed(U)  # once, outside the loop: XLA does not hoist it
            d_hs, d_hT, d_cT = upstream_grads(args, outputs)

            def back(state, local_t, dh_out):
                dh, dc = state
                factors, f, o_dtanh = ops.split(local_t, [4 * units, 5 * units], axis=-1)
                dh = dh + dh_out
                dc = dc + dh * o_dtanh
                # one product of (B, 4H) tensors: 25 % faster under XLA than four (B, H) ones
                dz = ops.concatenate([dc, dc, dc, dh], -1) * factors
                return (ops.matmul(dz, U_t), dc * f), dz, dz

            (dh0, dc0), dx, dW, dU, db, _ = backprop_through_time(back, (d_hT, d_cT), local, time_major(d_hs), xs, h0, hs, W)
            return dx, dh0, dc0, dW, dU, db

        return outputs, grad

    hs, h, c = run(x, h0, c0, *weight_values(kernel, recurrent_kernel, bias))
    return hs, [h, c]


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTM(RecurrentLayer):
    """`keras.layers.RNN(LSTMCell(units, ...))`; see `LSTMCell` for the arguments."""

    cell_class = LSTMCell
