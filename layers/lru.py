"""The Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023,
"Resurrecting Recurrent Neural Networks for Long Sequences").

A deep-SSM-style recurrence without the SSM machinery: a linear, diagonal, complex recurrence
whose eigenvalues are parametrised to stay inside the unit disc, and whose input is scaled so
that every unit's state keeps unit variance however close to 1 its eigenvalue is. Linear in
the state, so the states of all steps follow from a parallel scan
(`layers.sequence.decay_scan_complex`); the step loop `call` is the same equations one step
at a time, and `tests/test_sequence.py` checks the two agree in outputs and gradients.
"""

import math

import keras
from keras import ops

from experiments.checks import UsageError, check_number
from layers.base import PACKAGE, Cell
from layers.sequence import batch_major, decay_scan_complex, time_major


@keras.saving.register_keras_serializable(package=PACKAGE)
class LRUCell(Cell):
    """The LRU of the paper's section 3 (its eqs. 3, 5-7 and the "stable exponential
    parametrisation" and "normalisation" of sections 3.3-3.4), with N = H complex states:

        lambda_j = exp(-exp(nu_j) + i exp(theta_j))        |lambda_j| = exp(-exp(nu_j)) < 1
        x_t      = lambda * x_{t-1} + exp(gamma) * (u_t B)  complex, element-wise in lambda
        y_t      = Re(x_t C) + u_t D

    Initialisation (section 3.3): |lambda| uniform on the ring [r_min, r_max] (in area, as
    the paper's code draws it), phase uniform in [0, max_phase]; gamma = log sqrt(1 -
    |lambda|^2), the normalisation that keeps a unit's state at the input's scale;
    B = (N(0, 1) + i N(0, 1)) / sqrt(2 D), C = (N(0, 1) + i N(0, 1)) / sqrt(H); D ~ N(0, 1)
    (the paper's D is diagonal on a model width that is both input and output; ours maps the
    D inputs to the H outputs, so it is a (D, H) matrix, scaled 1 / sqrt(D)).

    Weights: kernel (D, 2H) [Re B, Im B]; nu_log, theta_log, gamma_log (H,);
    output_kernel (2H, H) [Re C; -Im C], so that y = [Re x, Im x] output_kernel + u D;
    skip_kernel D (D, H). The state is [Re x, Im x], (B, 2H).

    Args:
        units: H, the number of complex states and of outputs.
        r_min, r_max: the ring of initial |lambda|, 0 <= r_min < r_max < 1; the paper uses
            r_min 0.9, r_max 0.999 on its long-range tasks (defaults here).
        max_phase: the largest initial phase, in radians (the paper: 2 pi; pi / 10 on PathX).

    Call arguments:
        inputs: (B, D) input at step t.
        states: [[Re x_{t-1}, Im x_{t-1}]], (B, 2H).

    Returns:
        (y_t, [x_t]), y_t of shape (B, H).

    Example:
        >>> rnn = keras.layers.RNN(LRUCell(8))
        >>> rnn(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    def __init__(self, units, r_min=0.9, r_max=0.999, max_phase=2 * math.pi, **kwargs):
        super().__init__(units, **kwargs)
        self.r_min = check_number("r_min", r_min, low=0.0, strict=False)
        self.r_max = check_number("r_max", r_max, low=self.r_min)
        if not self.r_max < 1:
            raise UsageError(f"r_max must be below 1 (a stable recurrence), received r_max={r_max!r}")
        self.max_phase = check_number("max_phase", max_phase, low=0.0)

    @property
    def state_size(self):
        return 2 * self.units

    def build(self, input_shape):
        d, h = input_shape[-1], self.units
        normal = lambda scale: keras.initializers.RandomNormal(stddev=scale)
        self.kernel = self.add_weight(shape=(d, 2 * h), name="kernel", initializer=normal(1 / math.sqrt(2 * d)))

        def nu_init(shape, dtype=None):  # |lambda|^2 uniform in [r_min^2, r_max^2]: uniform on the ring in area
            u = keras.initializers.RandomUniform(0.0, 1.0)(shape, dtype=dtype)
            return ops.log(-0.5 * ops.log(u * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2))

        def theta_init(shape, dtype=None):
            return ops.log(keras.initializers.RandomUniform(1e-6, self.max_phase)(shape, dtype=dtype))

        self.nu_log = self.add_weight(shape=(h,), name="nu_log", initializer=nu_init)
        self.theta_log = self.add_weight(shape=(h,), name="theta_log", initializer=theta_init)
        self.gamma_log = self.add_weight(
            shape=(h,), name="gamma_log",
            initializer=lambda shape, dtype=None: 0.5 * ops.log(1 - ops.exp(-2 * ops.exp(ops.convert_to_tensor(self.nu_log)))))
        self.output_kernel = self.add_weight(shape=(2 * h, h), name="output_kernel", initializer=normal(1 / math.sqrt(h)))
        self.skip_kernel = self.add_weight(shape=(d, h), name="skip_kernel", initializer=normal(1 / math.sqrt(d)))

    def lru_weights(self):
        return self.kernel, self.nu_log, self.theta_log, self.gamma_log, self.output_kernel, self.skip_kernel

    def call(self, inputs, states, training=False):
        x_prev = states[0] if isinstance(states, (list, tuple)) else states
        kernel, nu_log, theta_log, gamma_log, output_kernel, skip_kernel = self.lru_weights()
        (l_re, l_im), gamma = eigenvalues(nu_log, theta_log), ops.exp(gamma_log)
        bu_re, bu_im = ops.split(ops.matmul(inputs, kernel), 2, axis=-1)
        x_re, x_im = ops.split(x_prev, 2, axis=-1)
        x = ops.concatenate([l_re * x_re - l_im * x_im + gamma * bu_re, l_re * x_im + l_im * x_re + gamma * bu_im], axis=-1)
        return ops.matmul(x, output_kernel) + ops.matmul(inputs, skip_kernel), [x]

    def call_sequence(self, sequences, states, weights=None):
        """All steps at once by a parallel scan: (B, T, D), [x_0 (B, 2H)] -> (B, T, H), [x_T].

        `weights`: the cell's weights, in `lru_weights` order, to use instead of its own,
        e.g. a seed stack's (then every shape gains a leading S axis)."""
        return lru_sequence(sequences, states[0], *(weights or self.lru_weights()))

    def cell_args(self):
        return {**super().cell_args(), "r_min": self.r_min, "r_max": self.r_max, "max_phase": self.max_phase}


def eigenvalues(nu_log, theta_log):
    """(Re lambda, Im lambda) of the stable exponential parametrisation, each shaped like nu_log."""
    modulus, phase = ops.exp(-ops.exp(nu_log)), ops.exp(theta_log)
    return modulus * ops.cos(phase), modulus * ops.sin(phase)


def lru_sequence(u, x0, kernel, nu_log, theta_log, gamma_log, output_kernel, skip_kernel):
    """The LRU over a whole sequence: one matmul for every step's input, then the scan.

    Shapes: u (B, T, D); x0 (B, 2H); kernel (D, 2H); nu_log, theta_log, gamma_log (H,);
    output_kernel (2H, H); skip_kernel (D, H). Returns ((B, T, H), [x_T (B, 2H)]). A seed
    stack adds a leading S axis to every shape (the (H,) vectors become (S, H)).
    """
    per_unit = lambda v: ops.expand_dims(v, -2)  # (H,) -> (1, H), (S, H) -> (S, 1, H): broadcast over B (and T)
    l_re, l_im = eigenvalues(per_unit(nu_log), per_unit(theta_log))
    gamma = ops.exp(per_unit(gamma_log))
    u_t = time_major(u)  # (T, B, D)
    bu_re, bu_im = ops.split(ops.matmul(u_t, kernel), 2, axis=-1)  # (T, B, H) each
    x0_re, x0_im = ops.split(x0, 2, axis=-1)
    x_re, x_im = decay_scan_complex((l_re, l_im), (gamma * bu_re, gamma * bu_im), (x0_re, x0_im))
    x = ops.concatenate([x_re, x_im], axis=-1)  # (T, B, 2H)
    y = ops.matmul(x, output_kernel) + ops.matmul(u_t, skip_kernel)
    return batch_major(y), [x[-1]]
