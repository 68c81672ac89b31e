"""expRNN (Lezcano-Casado & Martínez-Rubio 2019, "Cheap Orthogonal Constraints in Neural
Networks"): a vanilla RNN whose recurrent matrix is kept exactly orthogonal.

The family Arjovsky et al. 2016 introduced with the copy and adding tasks: an orthogonal B
preserves the norm of what the state carries, so gradients neither explode nor vanish
through B (the nonlinearity can still shrink them). expRNN parametrises B = exp(A) with A
skew-symmetric (A = S - S^T, S the strictly upper triangle of a free matrix), so B stays
orthogonal under any gradient step on S, and uses modReLU, sigma(z) = sign(z) relu(|z| + b),
as Arjovsky et al. do.

Not a cell: exp(A) costs a dozen matmuls, so the layer computes B once per sequence, then
runs the recurrence in `keras.layers.RNN` (`sequence_layer`, as attention does).
"""

import math

import keras
from keras import ops

from layers.base import PACKAGE

SQUARINGS, TAYLOR = 8, 12  # exp(A) = exp(A / 2^8)^(2^8), each factor by 12 Taylor terms: exact to float32 for ||A|| < 100


def expm(a):
    """The matrix exponential of a (H, H), by scaling and squaring (Higham 2005) with a
    fixed number of squarings, so it compiles once and autodiff differentiates it."""
    scaled = a / (2.0 ** SQUARINGS)
    term = ops.eye(ops.shape(a)[0], dtype=a.dtype)
    total = term
    for k in range(1, TAYLOR + 1):
        term = ops.matmul(term, scaled) / k
        total = total + term
    for _ in range(SQUARINGS):
        total = ops.matmul(total, total)
    return total


def henaff_init(shape, dtype=None):
    """S with angles theta ~ U[-pi, pi] at (2k, 2k+1): exp(S - S^T) is block-diagonal 2x2
    rotations (Henaff, Szlam & LeCun 2016; expRNN's default)."""
    h = shape[0]
    theta = keras.random.uniform((h // 2,), -math.pi, math.pi, dtype=dtype)
    rows = ops.arange(0, 2 * (h // 2), 2)
    s = ops.zeros(shape, dtype=dtype)
    return ops.scatter_update(s, ops.stack([rows, rows + 1], axis=1), theta)


def modrelu(z, bias):
    """sign(z) relu(|z| + b) (Arjovsky et al. 2016, eq. 9, for real z)."""
    return ops.sign(z) * ops.relu(ops.abs(z) + bias)


class _Step(keras.layers.Layer):
    """The recurrence's step, h_t = modrelu(z_t + h_{t-1} B, b), for `keras.layers.RNN`: B and b
    are the owning ExpRNN's, set by it for each call, so B is computed once per sequence and
    the loop (Keras', which XLA can differentiate at any length) only reads it."""

    def __init__(self, owner, **kwargs):
        super().__init__(**kwargs)
        self.state_size = self.output_size = owner.units
        # A function, not the layer itself: an attribute holding the owner would make it a
        # sublayer of its own sublayer, a cycle Keras' tracking recurses on.
        self.owner_weights = lambda: (owner.current_b, owner.modrelu_bias)

    def call(self, inputs, states):
        b, bias = self.owner_weights()
        h = modrelu(inputs + ops.matmul(states[0], b), bias)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ExpRNN(keras.layers.Layer):
    """h_t = modrelu(x_t W + h_{t-1} B, b), B = exp(S - S^T): (B, T, D) -> (B, H) or (B, T, H).

    Weights: kernel W (D, H), log_recurrent S (H, H) (only its strict upper triangle is
    used), modrelu_bias b (H,).

    Args:
        units: H.
        return_sequences: every step's state instead of the last.
    """

    def __init__(self, units, return_sequences=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"units must be a positive integer, received units={units!r}")
        self.units, self.return_sequences = units, return_sequences
        self.loop = keras.layers.RNN(_Step(self, dtype=self.dtype_policy), return_sequences=return_sequences, dtype=self.dtype_policy)

    @classmethod
    def sequence_layer(cls, units, options, return_sequences=False, fused=True):
        return cls(units, return_sequences=return_sequences, **options)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel", initializer="glorot_uniform")
        self.log_recurrent = self.add_weight(shape=(self.units, self.units), name="log_recurrent", initializer=henaff_init)
        self.modrelu_bias = self.add_weight(shape=(self.units,), name="modrelu_bias", initializer="zeros")

    def recurrent_matrix(self):
        """B = exp(A), A = S - S^T from S's strict upper triangle: orthogonal, (H, H)."""
        upper = ops.triu(self.log_recurrent, k=1)
        return expm(upper - ops.transpose(upper))

    def call(self, inputs):
        self.current_b = self.recurrent_matrix()  # read by every step of this call
        return self.loop(ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units) if self.return_sequences else (input_shape[0], self.units)

    def carried(self):
        """Numbers carried from step to step: the state h, (H,) (`layers.base.carried`)."""
        return self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}
