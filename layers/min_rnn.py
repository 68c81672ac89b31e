"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?").

The GRU and LSTM with every gate's dependence on h_{t-1} removed (and the tanh on the
candidate, and the output gate): gates and candidate read only the input, so the state obeys
a diagonal linear recurrence h_t = a_t * h_{t-1} + b_t whose coefficients are known for all
steps before the first one runs. Training therefore needs no step loop: `call_sequence`
computes every state with a parallel scan (`layers.sequence.linear_scan`), and
`tests/test_sequence.py` checks it against the step loop of `call`, outputs and gradients.
Carrying "France" across the gap is then a matter of the gate shutting (a_t = 1, b_t = 0) on
every gap token, which the input alone can decide.
"""

import keras
from keras import ops

from layers.base import PACKAGE, Cell, ForgetGate
from layers.sequence import batch_major, linear_scan, row, time_major


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinGRUCell(ForgetGate, Cell):
    """minGRU, the paper's section 3.1 (the sequential form; its parallel form is `call_sequence`):

        k_t  = sigmoid(x_t W_k + b_k)          keep gate, from the input only
        h~_t = x_t W_h + b_h                   candidate, linear (no tanh)
        h_t  = k_t * h_{t-1} + (1 - k_t) * h~_t

    The paper writes the update gate z_t = 1 - k_t (h_t = (1 - z_t) h_{t-1} + z_t h~_t), the
    same cell with W_z = -W_k, b_z = -b_k. We keep the gate that keeps, as `GRUCell` does, so
    that `forget_bias` means what it means for every gated cell: "chrono" makes the keep
    times span 1..T_max at the start (Tallec & Ollivier 2018); the paper's own is "zero".

    Weights: kernel (D, 2H) holding [W_k, W_h], bias (2H,); no recurrent kernel.

    Args:
        units: H, the size of the hidden state.
        forget_bias: "zero" (default, the paper's), "one" or "chrono": b_k's initial value.
        chrono_tmax: T_max of chrono initialisation.

    Call arguments:
        inputs: (B, D) input at step t.
        states: [h_{t-1}], (B, H).

    Returns:
        (h_t, [h_t]), h_t of shape (B, H).

    Example:
        >>> rnn = keras.layers.RNN(MinGRUCell(8))
        >>> rnn(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    n_gates = 2
    forget_gate = 0  # k, the first block
    input_gate = None

    def __init__(self, units, forget_bias="zero", chrono_tmax=100, **kwargs):
        super().__init__(units, forget_bias=forget_bias, chrono_tmax=chrono_tmax, **kwargs)

    @staticmethod
    def coefficients(z_x):
        """(..., 2H) pre-activations -> (a, b) of h_t = a * h_{t-1} + b, each (..., H)."""
        k_pre, candidate = ops.split(z_x, 2, axis=-1)
        k = ops.sigmoid(k_pre)
        return k, (1 - k) * candidate

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        a, b = self.coefficients(ops.matmul(inputs, self.kernel) + self.bias)
        h = a * h_prev + b
        return h, [h]

    def call_sequence(self, sequences, states, weights=None):
        """All steps at once by a parallel scan: (B, T, D), [h_0] -> (B, T, H), [h_T].

        `weights`: (kernel, bias) to use instead of the cell's own, e.g. a seed stack's (then
        every shape gains a leading S axis)."""
        return min_rnn_sequence(self.coefficients, sequences, states[0], *(weights or (self.kernel, self.bias)))


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinLSTMCell(MinGRUCell):
    """minLSTM, the paper's section 3.2, with its normalised gates (time-independent scale):

        f_t = sigmoid(x_t W_f + b_f)   i_t = sigmoid(x_t W_i + b_i)   h~_t = x_t W_h + b_h
        f'_t = f_t / (f_t + i_t)       i'_t = i_t / (f_t + i_t)
        h_t  = f'_t * h_{t-1} + i'_t * h~_t

    Weights: kernel (D, 3H) holding [W_f, W_i, W_h], bias (3H,). Shapes and arguments as
    `MinGRUCell`; chrono init sets b_i = -b_f, so f'_t starts near 1 - 1/u, u ~ U[1, T_max - 1].
    """

    n_gates = 3
    forget_gate = 0
    input_gate = 1

    @staticmethod
    def coefficients(z_x):
        f_pre, i_pre, candidate = ops.split(z_x, 3, axis=-1)
        f, i = ops.sigmoid(f_pre), ops.sigmoid(i_pre)
        return f / (f + i), i / (f + i) * candidate

    # The same scan over this cell's own coefficients, named here because a subclass inherits
    # no fast path (`layers.sequence.has_sequence_path`).
    call_sequence = MinGRUCell.call_sequence


def min_rnn_sequence(coefficients, x, h0, kernel, bias):
    """A min cell over a whole sequence: one matmul for every step's gates, then the scan.

    Shapes: x (B, T, D); h0 (B, H); kernel (D, G*H); bias (G*H,). Returns ((B, T, H), [h_T]).
    A seed stack adds a leading S axis to every shape.
    """
    a, b = coefficients(ops.matmul(time_major(x), kernel) + row(bias))  # (T, B, H) each
    hs = linear_scan(a, b, h0)
    return batch_major(hs), [hs[-1]]
