"""The whole-sequence fast path: a cell may run all T steps at once, with BPTT written by hand.

`keras.layers.RNN` calls a cell once per time step and lets autodiff record every step. That
is general but slow on a CPU: each step's small matmuls and the taped gradient graph cost
more in overhead than in arithmetic. A cell may therefore also define

    call_sequence(sequences (B, T, D), states [ (B, H), ... ]) -> (outputs (B, T, H), new_states)

computing the same equations over the whole sequence, with a hand-written backward pass
(backpropagation through time, Werbos 1990) that keeps only one (B, G*H) x (G*H, H) matmul
per step in the sequential loop and computes the weight gradients as single large matmuls
over all steps at the end, the way cuDNN's RNN kernels do (Appleyard et al. 2016); the loop
and those matmuls are `backprop_through_time`, shared by rnn, gru and lstm.
`layers.base.RNN` uses it when it can and falls back to the step loop otherwise; the parity
tests (tests/test_sequence.py) check that both paths agree in outputs and gradients.

Seed stacks. The same functions run S independent copies of a cell at once (S seeds of one
configuration, `experiments/batched.py`): inputs (S, B, T, D), states (S, B, H), weights with
a leading S axis (kernel (S, D, G*H), bias (S, G*H)). Every matmul is then a batched matmul
over the seed axis, and nothing mixes two seeds. The helpers below are written for both
ranks, so each cell's equations are written once; `backprop_through_time` alone takes another
route for a stack (the weight gradients summed inside the loop), for speed.
"""

from keras import ops


def time_major(x):
    """(B, T, D) -> (T, B, D), or for a seed stack (S, B, T, D) -> (T, S, B, D)."""
    return ops.moveaxis(x, -2, 0)


def batch_major(x):
    """The inverse of `time_major`: (T, B, H) -> (B, T, H), (T, S, B, H) -> (S, B, T, H)."""
    return ops.moveaxis(x, 0, -2)


def transposed(w):
    """A weight matrix transposed, (M, N) -> (N, M), or each seed's, (S, M, N) -> (S, N, M)."""
    return ops.swapaxes(w, -1, -2)


def row(b):
    """A bias as a row to add to (B, N) or (T, B, N), or per seed to (S, B, N) or (T, S, B, N)."""
    return ops.expand_dims(b, -2)


def sum_steps(d):
    """Sum (T, B, N) over steps and batch -> (N,), or (T, S, B, N) -> (S, N): a bias gradient."""
    return ops.sum(d, axis=(0, len(d.shape) - 2))


def scan_states(step, init, xs, reverse=False):
    """Run `step(state, x_t) -> state` along axis 0 of `xs` (T, B, ...); return every state, stacked (T, ...).

    Keras' TensorFlow `ops.scan` requires each step's output to be shaped like its carry, so
    the loop's outputs are its states. The final state is `stacked[-1]` (`stacked[0]` when
    `reverse`).
    """

    def body(state, x):
        new = step(state, x)
        return new, new

    return ops.scan(body, init, xs, reverse=reverse)[1]


def scan_backward(step, init, stored, d_outputs):
    """The BPTT loop: `step(state, stored_t, d_output_t) -> state` for t = T-1 down to 0.

    `stored` (T, B, ...) is what the forward loop kept for the backward pass; `d_outputs`
    (T, B, H) are the gradients arriving at each step's output. They are read by index, not
    scanned beside `stored`: Keras 3.15's TensorFlow scan fails on two sequences whose length
    is unknown when traced, and concatenating them would copy (T, B, ...) on every backward
    pass (measured: 11 ms of a 61 ms LSTM step at B32/T500/H128). Returns every state, stacked.
    """

    def body(state, stored_t):
        t, *rest = state
        return (t - 1, *step(tuple(rest), stored_t, d_outputs[t]))

    return scan_states(body, (ops.shape(stored)[0] - 1, *init), stored, reverse=True)[1:]


def backprop_through_time(back, init, stored, d_outputs, xs, h0, hs, W, recurrent_dz=False):
    """The BPTT loop of a cell whose pre-activations are x_t W (+ b) and h_{t-1} U (+ b), and
    the gradients of x, W, U and b that it feeds.

    `back(state, stored_t, d_output_t) -> (state, dz_x, dz_h)` is one step of the loop, for
    t = T-1 down to 0: `state` is a tuple of (B, H) tensors starting at `init` (the gradients
    reaching the final states); dz_x (B, G*H) is the gradient at the input pre-activations
    x_t W, dz_h at the recurrent ones h_{t-1} U, the same tensor unless `recurrent_dz` (the
    GRU's reset gate sits between h_{t-1} U and its activation). `stored` (T, B, ...) is what
    the forward loop kept, `d_outputs` (T, B, H) the gradients arriving at each output, `xs`
    (T, B, D) the inputs, `hs` (T, B, H) the states, `h0` the initial one.

    Returns (state at t = 0, dx (B, T, D), dW (D, G*H), dU (H, G*H), db_x, db_h (G*H,)); a seed
    stack adds an S axis after T and before everything else.

    Alone, the loop keeps every dz_x (and dz_h) and the weight gradients are three large
    matmuls after it, as cuDNN does. In a seed stack they are summed inside the loop instead,
    one batched matmul per step. After the loop, XLA on the CPU copies the stacked
    (T, S, B, G*H) into seed-major order for the batched matmul: in a profile of 10 stacked
    LSTMs (B64/T80/H64) 132 of 243 ms went outside the two loops. Summed in the loop, one
    layer's forward and backward for 10 seeds is 1.10-1.24x faster at T = 80 and 1.27-1.36x at
    T = 320 (rnn, gru, lstm; `experiments/PERF_NOTES.md`, session 19); alone it is no faster,
    so that path keeps its rounding (bit-identical gradients).
    """
    if len(xs.shape) == 4:
        return _accumulating_bptt(back, init, stored, d_outputs, xs, h0, hs, W, recurrent_dz)
    n = len(init)
    zeros = ops.zeros(tuple(ops.shape(h0)[:-1]) + (W.shape[-1],), dtype=h0.dtype)  # (B, G*H)

    def step(state, stored_t, d_output_t):
        state, dz_x, dz_h = back(state[:n], stored_t, d_output_t)
        return (*state, dz_x, dz_h) if recurrent_dz else (*state, dz_x)

    stacked = scan_backward(step, (*init, *[zeros] * (2 if recurrent_dz else 1)), stored, d_outputs)
    dz_x = stacked[n]
    dz_h = stacked[n + 1] if recurrent_dz else dz_x
    dx = batch_major(ops.matmul(dz_x, transposed(W)))
    return tuple(s[0] for s in stacked[:n]), dx, outer_sum(xs, dz_x), outer_sum(shifted(h0, hs), dz_h), sum_steps(dz_x), sum_steps(dz_h)


def _accumulating_bptt(back, init, stored, d_outputs, xs, h0, hs, W, recurrent_dz):
    """`backprop_through_time` for a seed stack: the weight gradients summed step by step."""
    steps = ops.shape(stored)[0]
    h_prevs, W_t = shifted(h0, hs), transposed(W)  # (T, S, B, H); W^T once, outside the loop

    def body(i, carry):
        state, dW, dU, db_x, db_h, dx = carry
        t = steps - 1 - i
        state, dz_x, dz_h = back(state, stored[t], d_outputs[t])
        dz_h = dz_h if recurrent_dz else dz_x
        dx = ops.slice_update(dx, (t, 0, 0, 0), ops.matmul(dz_x, W_t)[None])
        return (tuple(state), dW + ops.matmul(transposed(xs[t]), dz_x), dU + ops.matmul(transposed(h_prevs[t]), dz_h),
                db_x + ops.sum(dz_x, axis=-2), db_h + ops.sum(dz_h, axis=-2), dx)

    db = ops.zeros((W.shape[0], W.shape[-1]), dtype=W.dtype)  # (S, G*H)
    carry = (tuple(init), ops.zeros_like(W), ops.zeros((W.shape[0], hs.shape[-1], W.shape[-1]), dtype=W.dtype), db, db, ops.zeros_like(xs))
    state, dW, dU, db_x, db_h, dx = ops.fori_loop(0, steps, body, carry)
    return state, batch_major(dx), dW, dU, db_x, db_h


def outer_sum(a, b):
    """sum_t a_t^T b_t for a (T, B, M) and b (T, B, N): (M, N), one matmul over all T*B rows.

    For seed stacks, a (T, S, B, M) and b (T, S, B, N): (S, M, N), one batched matmul.
    """
    if len(a.shape) == 4:
        return ops.einsum("tsbm,tsbn->smn", a, b)
    return ops.matmul(ops.transpose(ops.reshape(a, (-1, ops.shape(a)[-1]))), ops.reshape(b, (-1, ops.shape(b)[-1])))


def shifted(h0, hs):
    """The states each step started from: (T, B, H) [h0, h_1, ..., h_{T-1}]."""
    return ops.concatenate([h0[None], hs[:-1]], axis=0)


def upstream_grads(args, like):
    """The output cotangents a `keras.ops.custom_gradient` backward function received.

    TensorFlow passes one tensor per output (zeros or None for unused outputs); JAX passes a
    single tuple. Returned as a list matching `like`, None replaced by zeros.
    """
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return [ops.zeros_like(ref) if g is None else g for g, ref in zip(args, like)]


def weight_values(*weights):
    """Each weight read once as a plain tensor, to pass into a custom-gradient function.

    TensorFlow's `custom_gradient` treats a variable read inside the function as a separate
    input whose gradient the backward function must return in another list; passing values
    keeps one backward signature for every backend.
    """
    return [ops.copy(w) for w in weights]


def has_sequence_path(cell):
    """Whether `cell`'s own class (or `cell` itself, when given a class) defines `call_sequence`.

    Only the defining class counts: a subclass that changes `call` (the depth-gated LSTM
    extends `LSTMCell`) must not inherit a fast path computing its parent's equations.
    """
    return "call_sequence" in vars(cell if isinstance(cell, type) else type(cell))


def linear_scan(a, b, h0):
    """Every state of h_t = a_t * h_{t-1} + b_t at once, element-wise, from h_{-1} = h0.

    a, b (T, B, H) time-major, h0 (B, H); a seed stack adds an S axis after T (and before B
    in h0). Returns (T, B, H). A diagonal linear recurrence is a scan of affine maps, and
    composing affine maps is associative (Blelloch 1990; Martin & Cundy 2018 for RNNs), so
    `doubling_scan` computes it in log2(T) element-wise rounds and autodiff gives the
    backward pass. No division, so no log-space trick is needed for stability (Feng et al.
    2024 use one for their cumulative-sum form).
    """
    b = _fold_initial_state(b, a * h0[None])
    return doubling_scan((a, b), (1.0, 0.0), lambda earlier, later: (later[0] * earlier[0], later[1] + later[0] * earlier[1]))[1]


def decay_scan_complex(lam, b, h0):
    """Every state of the complex recurrence h_t = lam h_{t-1} + b_t with a time-invariant lam,
    complex numbers held as (real, imaginary) pairs of real tensors.

    lam: a pair shaped to broadcast against one step, e.g. (1, H) for b (T, B, H) (a seed
    stack: (S, 1, H) for (T, S, B, H)); b: a pair (T, B, H); h0: a pair (B, H). Returns the
    pair (Re h, Im h), each (T, B, H). For the LRU (`layers/lru.py`). Because lam is the same
    at every step, the composition of the d maps ending at step t (t >= d) multiplies by
    lam^d, one (H,) power per round, so each round updates only b: b_t += lam^d b_{t-d}
    (measured: an LRU training step at B64/T162/H64 took 4.2x a min_gru step when the scan
    composed a full (T, B, H) coefficient as `linear_scan` does, 0.96x with this).
    Real arithmetic, because XLA on the CPU and every Keras backend differentiate it alike.
    """
    (l_re, l_im), (b_re, b_im), (h_re, h_im) = lam, b, h0
    b_re = _fold_initial_state(b_re, l_re * h_re[None] - l_im * h_im[None])
    b_im = _fold_initial_state(b_im, l_re * h_im[None] + l_im * h_re[None])
    steps = _steps(b_re)

    def body(d, p_re, p_im, b_re, b_im):  # p = lam^d
        e_re, e_im = (ops.where(steps < d, 0.0, ops.roll(x, d, axis=0)) for x in (b_re, b_im))  # b_{t-d}, 0 for t < d
        return d * 2, p_re * p_re - p_im * p_im, 2 * p_re * p_im, b_re + p_re * e_re - p_im * e_im, b_im + p_re * e_im + p_im * e_re

    return _doubling_rounds(body, (l_re, l_im, b_re, b_im), b_re)[2:]


def _steps(x):
    """(T, 1, ..., 1): each step's index, to broadcast against x (T, ...)."""
    return ops.reshape(ops.arange(ops.shape(x)[0]), (-1,) + (1,) * (len(x.shape) - 1))


def _fold_initial_state(b, a_h0):
    """b with the initial state's contribution a_0 h0 added to its first step."""
    return ops.where(_steps(b) == 0, b + a_h0, b)


def doubling_scan(maps, identity, combine):
    """The inclusive scan of an associative `combine` over axis 0 (T) of the tensors `maps`.

    `maps`: a tuple of (T, ...) tensors, together the T elements to compose; `identity`: one
    scalar per tensor, the identity element; `combine(earlier, later)` -> the composition,
    both tuples like `maps`. After round k of this doubling scan (Hillis & Steele 1986) step
    t holds the composition of the 2^k elements ending at t, so log2(T) element-wise rounds
    replace T sequential steps.
    """
    steps = _steps(maps[0])

    def body(d, *maps):
        earlier = tuple(ops.where(steps < d, fill, ops.roll(x, d, axis=0)) for x, fill in zip(maps, identity))  # x[t - d]
        return (d * 2, *combine(earlier, maps))

    return _doubling_rounds(body, maps, maps[0])


def _doubling_rounds(body, state, x):
    """`body(d, *state) -> (2 d, *state)` for d = 1, 2, 4, ... while d < T, the length of x's
    axis 0; returns the final state. The rounds are unrolled when T is known when traced,
    and run in a while loop otherwise; not `keras.ops.associative_scan`, which needs T
    known, while our training functions are traced once for every length
    (tests/test_sequence.py)."""
    length = x.shape[0]
    if isinstance(length, int):  # T known when traced (always on JAX): the rounds unrolled, which any backend differentiates
        d = 1
        while d < length:
            d, *state = body(d, *state)
        return tuple(state)
    # T unknown when traced (TensorFlow, one function for every length): a loop of at most 32
    # rounds (T < 2^32), a bound XLA needs to differentiate it. JAX cannot differentiate it.
    n = ops.shape(x)[0]
    return tuple(ops.while_loop(lambda d, *state: d < n, body, (1, *state), maximum_iterations=32)[1:])
