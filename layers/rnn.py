"""Vanilla (Elman) recurrent cell: the baseline that the seed notes say forgets "France".

Elman 1990; the gradient argument against it is Bengio, Simard & Frasconi 1994.
"""

import keras
from keras import ops

from layers.base import PACKAGE, RecurrentCell, RecurrentLayer
from layers.sequence import backprop_through_time, batch_major, row, scan_states, time_major, transposed, upstream_grads, weight_values


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

    def gates(self, inputs, states):
        """One step by name: the new state `h` (B, H); a vanilla RNN has no gates. `call` is this step."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        return {"h": ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias)}

    def call(self, inputs, states, training=False):
        h = self.gates(inputs, states)["h"]
        return h, [h]

    def call_sequence(self, sequences, states, weights=None):
        """All steps at once: (B, T, D), [h_0] -> (B, T, H), [h_T]; see `layers.sequence`.

        `weights`: (kernel, recurrent_kernel, bias) to use instead of the cell's own, e.g. a
        seed stack's (then every shape gains a leading S axis)."""
        return rnn_sequence(sequences, states[0], *(weights or (self.kernel, self.recurrent_kernel, self.bias)))


def rnn_sequence(x, h0, kernel, recurrent_kernel, bias):
    """`SimpleRNNCell.call` over a whole sequence, with hand-written BPTT.

    Backward, with dh_t the total gradient reaching h_t: da_t = dh_t (1 - h_t^2),
    dh_{t-1} = da_t U^T (+ the output gradient at t-1); dW, dU and db are sums over all steps
    of x_t^T da_t, h_{t-1}^T da_t and da_t, each one matmul after the loop (inside it for a seed
    stack: `layers.sequence.backprop_through_time`).

    Shapes: x (B, T, D); h0 (B, H); kernel (D, H); recurrent_kernel (H, H); bias (H,).
    Returns ((B, T, H) outputs, [h_T]). A seed stack adds a leading S axis to every shape.
    """

    @ops.custom_gradient
    def run(x, h0, W, U, b):
        xs = time_major(x)  # (T, B, D)
        hs = scan_states(lambda h_prev, a_x: ops.tanh(a_x + ops.matmul(h_prev, U)), h0, ops.matmul(xs, W) + row(b))
        outputs = (batch_major(hs), hs[-1])

        def grad(*args, **_):
            U_t = transposed(U)  # once, outside the loop: XLA does not hoist it
            d_hs, d_hT = upstream_grads(args, outputs)

            def back(state, h, dh_out):
                (dh,) = state
                da = (dh + dh_out) * (1 - h * h)
                return (ops.matmul(da, U_t),), da, da

            (dh0,), dx, dW, dU, db, _ = backprop_through_time(back, (d_hT,), hs, time_major(d_hs), xs, h0, hs, W)
            return dx, dh0, dW, dU, db

        return outputs, grad

    hs, h = run(x, h0, *weight_values(kernel, recurrent_kernel, bias))
    return hs, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNN(RecurrentLayer):
    """`keras.layers.RNN(SimpleRNNCell(units, ...))`; see `SimpleRNNCell` for the arguments."""

    cell_class = SimpleRNNCell
