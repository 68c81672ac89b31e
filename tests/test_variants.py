"""Every cell variant against an independent computation: NumPy references written from the
papers' equations, exact equivalences between cells, and finite-difference gradients."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import CELLS, ClockworkRNNCell, DepthGatedLSTMCell, LSTMCell, SimpleRNNCell
from layers.base import is_cell
from layers.lstm_family import LSTMFamilyCell

B, T, D, H = 3, 9, 4, 5
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")


def sig(v):
    return 1 / (1 + np.exp(-v))


def randomise(layer, scale=0.5, seed=1):
    """Give every weight (biases and peepholes too) random values, so no term can hide."""
    r = np.random.default_rng(seed)
    layer.set_weights([r.normal(scale=scale, size=w.shape).astype("float32") for w in layer.get_weights()])
    return {w.path.split("/")[-1]: w.numpy() for w in layer.weights}


def run(cell, x=X):
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer(x)
    return layer


def numpy_lstm_family(x, w, flags, gates, peepholes):
    """Greff et al. 2017's equations, one step at a time, gate by gate."""
    h = np.zeros((x.shape[0], H))
    c = np.zeros_like(h)
    sig_gates = [g for g in gates if g != "g"]
    prev = np.zeros((x.shape[0], len(sig_gates) * H))
    outputs = []
    for t in range(x.shape[1]):
        z = dict(zip(gates, np.split(x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"], len(gates), axis=-1)))
        if flags["full_gate_recurrence"]:
            for q, part in zip(sig_gates, np.split(prev @ w["gate_recurrent_kernel"], len(sig_gates), axis=-1)):
                z[q] = z[q] + part
        peep = lambda q, cc: w[f"peephole_{q}"] * cc if q in peepholes else 0
        i = sig(z["i"] + peep("i", c)) if "i" in z else 1.0
        f = sig(z["f"] + peep("f", c)) if "f" in z else (1 - i if flags["coupled"] else 1.0)
        g = np.tanh(z["g"]) if flags["input_activation"] else z["g"]
        c = f * c + i * g
        o = sig(z["o"] + peep("o", c)) if "o" in z else 1.0
        h = o * (np.tanh(c) if flags["output_activation"] else c)
        act = {"i": i, "f": f, "o": o}
        prev = np.concatenate([act[q] * np.ones_like(h) for q in sig_gates], axis=-1) if sig_gates else prev
        outputs.append(h)
    return np.stack(outputs, axis=1)


FAMILY = ["peephole_lstm", "cifg_lstm", "lstm_nig", "lstm_nfg", "lstm_nog", "lstm_niaf", "lstm_noaf", "lstm_np", "lstm_fgr"]


@pytest.mark.parametrize("name", FAMILY)
def test_lstm_family_matches_numpy_reference(name):
    cell = CELLS[name](H)
    layer = run(cell)
    w = randomise(layer)
    np.testing.assert_allclose(layer(X).numpy(), numpy_lstm_family(X, w, cell.flags, cell.gates, cell.peepholes), atol=2e-5)


def test_partial_peepholes_match_reference():
    cell = LSTMFamilyCell(H, peepholes=("f",), coupled=False)
    layer = run(cell)
    w = randomise(layer)
    assert "peephole_i" not in w and "peephole_o" not in w
    np.testing.assert_allclose(layer(X).numpy(), numpy_lstm_family(X, w, cell.flags, cell.gates, ("f",)), atol=2e-5)


def test_peephole_lstm_with_zero_peepholes_is_the_lstm():
    peephole, lstm = run(CELLS["peephole_lstm"](H)), run(LSTMCell(H))
    w = randomise(peephole)
    for gate in "ifo":
        w[f"peephole_{gate}"][:] = 0
    peephole.set_weights([w[k] for k in ("kernel", "recurrent_kernel", "bias", "peephole_i", "peephole_f", "peephole_o")])
    lstm.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])
    np.testing.assert_allclose(peephole(X).numpy(), lstm(X).numpy(), atol=1e-6)
    assert not np.allclose(w["bias"], 0)


def test_cifg_is_an_lstm_whose_forget_gate_is_one_minus_input():
    cifg = run(CELLS["cifg_lstm"](H))
    w = randomise(cifg)
    k_i, k_g, k_o = np.split(w["kernel"], 3, axis=1)
    r_i, r_g, r_o = np.split(w["recurrent_kernel"], 3, axis=1)
    b_i, b_g, b_o = np.split(w["bias"], 3)
    h, c = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T):
        i = sig(X[:, t] @ k_i + h @ r_i + b_i)
        c = (1 - i) * c + i * np.tanh(X[:, t] @ k_g + h @ r_g + b_g)
        h = sig(X[:, t] @ k_o + h @ r_o + b_o) * np.tanh(c)
    np.testing.assert_allclose(cifg(X).numpy()[:, -1], h, atol=2e-5)


def test_cifg_forget_bias_sets_the_input_gate_so_that_f_starts_at_sigmoid_b():
    cell = CELLS["cifg_lstm"](H, forget_bias="one")
    run(cell)
    np.testing.assert_allclose(cell.bias.numpy()[:H], -1.0)  # f = 1 - sigmoid(-1) = sigmoid(1)


def test_clockwork_with_all_periods_one_is_a_masked_simple_rnn():
    cw, rnn = run(ClockworkRNNCell(6, periods=(1, 1, 1))), run(SimpleRNNCell(6))
    w = randomise(cw)
    # Koutník et al.'s W_H is block-upper-triangular for W h (row = destination); our U acts as
    # h U (row = source), so the same rule, source j feeds destination i iff j >= i, is tril.
    mask = np.kron(np.tril(np.ones((3, 3))), np.ones((2, 2)))
    rnn.set_weights([w["kernel"], w["recurrent_kernel"] * mask, w["bias"]])
    np.testing.assert_allclose(cw(X).numpy(), rnn(X).numpy(), atol=1e-6)


def test_clockwork_modules_tick_at_their_periods():
    periods = (1, 2, 4)
    cw = run(ClockworkRNNCell(6, periods=periods))
    w = randomise(cw)
    mask = np.kron(np.tril(np.ones((3, 3))), np.ones((2, 2)))
    h = np.zeros((B, 6))
    expected = []
    for t in range(T):
        a = np.tanh(X[:, t] @ w["kernel"] + h @ (w["recurrent_kernel"] * mask) + w["bias"])
        active = np.repeat([t % p == 0 for p in periods], 2)
        h = np.where(active, a, h)
        expected.append(h)
    got = cw(X).numpy()
    np.testing.assert_allclose(got, np.stack(expected, 1), atol=2e-5)
    np.testing.assert_array_equal(got[:, 1, 4:], got[:, 0, 4:])  # the period-4 module holds at t = 1, 2, 3
    assert not np.allclose(got[:, 4, 4:], got[:, 3, 4:])  # and ticks at t = 4


def test_clockwork_rejects_bad_periods():
    with pytest.raises(ValueError, match=r"periods=\(4, 2\)"):
        ClockworkRNNCell(8, periods=(4, 2))


def test_depth_gated_lstm_with_the_gate_shut_is_a_stack_of_lstms():
    dg = run(DepthGatedLSTMCell(H, n_layers=2))
    w = randomise(dg)
    w["depth_bias_2"][:] = -1e4  # sigmoid(-1e4) == 0 in float32: the depth gate is shut
    dg.set_weights([w[v.path.split("/")[-1]] for v in dg.weights])
    lower, upper = run(LSTMCell(H)), run(LSTMCell(H), x=np.zeros((B, T, H), "float32"))
    lower.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])
    upper.set_weights([w["kernel_2"], w["recurrent_kernel_2"], w["bias_2"]])
    np.testing.assert_allclose(dg(X).numpy(), upper(lower(X)).numpy(), atol=1e-6)


def test_depth_gate_open_adds_the_lower_cell():
    dg = run(DepthGatedLSTMCell(H, n_layers=2))
    w = randomise(dg)
    h1, c1, h2, c2 = (np.zeros((B, H)) for _ in range(4))
    for t in range(T):
        i, f, g, o = np.split(X[:, t] @ w["kernel"] + h1 @ w["recurrent_kernel"] + w["bias"], 4, axis=-1)
        c1 = sig(f) * c1 + sig(i) * np.tanh(g)
        h1 = sig(o) * np.tanh(c1)
        i, f, g, o = np.split(h1 @ w["kernel_2"] + h2 @ w["recurrent_kernel_2"] + w["bias_2"], 4, axis=-1)
        d = sig(h1 @ w["depth_kernel_2"] + w["depth_cell_2"] * c2 + w["depth_lower_2"] * c1 + w["depth_bias_2"])
        c2 = d * c1 + sig(f) * c2 + sig(i) * np.tanh(g)
        h2 = sig(o) * np.tanh(c2)
    np.testing.assert_allclose(dg(X).numpy()[:, -1], h2, atol=2e-5)


def numpy_mut(name, x, w):
    """Jozefowicz et al. 2015, section 3.3, with x_t projected to H units where D != H."""
    h = np.zeros((x.shape[0], H))
    b_z, b_r, b_h = np.split(w["bias"], 3)
    for t in range(x.shape[1]):
        xt = x[:, t]
        xp = xt @ w["input_projection"] if "input_projection" in w else xt
        if name == "mut1":
            w_xz, w_xr = np.split(w["kernel"], 2, axis=1)
            w_hr, w_hh = np.split(w["recurrent_kernel"], 2, axis=1)
            z = sig(xt @ w_xz + b_z)
            r = sig(xt @ w_xr + h @ w_hr + b_r)
            h = np.tanh((r * h) @ w_hh + np.tanh(xp) + b_h) * z + h * (1 - z)
        elif name == "mut2":
            w_xz, w_xh = np.split(w["kernel"], 2, axis=1)
            w_hz, w_hr, w_hh = np.split(w["recurrent_kernel"], 3, axis=1)
            z = sig(xt @ w_xz + h @ w_hz + b_z)
            r = sig(xp + h @ w_hr + b_r)
            h = np.tanh((r * h) @ w_hh + xt @ w_xh + b_h) * z + h * (1 - z)
        else:
            w_xz, w_xr, w_xh = np.split(w["kernel"], 3, axis=1)
            w_hz, w_hr, w_hh = np.split(w["recurrent_kernel"], 3, axis=1)
            z = sig(xt @ w_xz + np.tanh(h) @ w_hz + b_z)
            r = sig(xt @ w_xr + h @ w_hr + b_r)
            h = np.tanh((r * h) @ w_hh + xt @ w_xh + b_h) * z + h * (1 - z)
    return h


@pytest.mark.parametrize("name", ["mut1", "mut2", "mut3"])
@pytest.mark.parametrize("d", [D, H])
def test_mut_matches_numpy_reference(name, d):
    x = np.random.default_rng(3).normal(size=(B, T, d)).astype("float32")
    layer = run(CELLS[name](H), x)
    w = randomise(layer)
    assert ("input_projection" in w) == (name != "mut3" and d != H)
    np.testing.assert_allclose(layer(x).numpy()[:, -1], numpy_mut(name, x, w), atol=2e-5)


def numpy_min_rnn(name, x, w):
    """Feng et al. 2024's sequential equations (sections 3.1, 3.2), one step at a time."""
    h = np.zeros((x.shape[0], H))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w["kernel"] + w["bias"]
        if name == "min_gru":
            keep, candidate = np.split(z, 2, axis=-1)  # the paper's update gate is 1 - keep
            h = sig(keep) * h + (1 - sig(keep)) * candidate
        else:
            f, i, candidate = np.split(z, 3, axis=-1)
            f, i = sig(f), sig(i)
            h = f / (f + i) * h + i / (f + i) * candidate
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("name", ["min_gru", "min_lstm"])
def test_min_rnns_match_numpy_reference(name):
    layer = run(CELLS[name](H))
    w = randomise(layer)
    assert sorted(w) == ["bias", "kernel"]  # no recurrent kernel: the gates read the input only
    np.testing.assert_allclose(layer(X).numpy(), numpy_min_rnn(name, X, w), atol=2e-5)


@pytest.mark.parametrize("name", ["min_gru", "min_lstm"])
def test_min_rnns_chrono_init_keeps_the_state_for_up_to_tmax_steps(name):
    """With zero input, the state's per-step keep factor a = 1 - 1/u with u ~ U[1, T_max - 1]:
    memory times 1/(1 - a) spanning 1 .. T_max, as chrono init promises; 1/2 with "zero"."""
    cell = CELLS[name](64, forget_bias="chrono", chrono_tmax=200)
    layer = run(cell)
    a, _ = cell.coefficients(cell.bias.numpy()[None])
    times = 1 / (1 - a.numpy()[0])
    assert 1 <= times.min() < 20 and 100 < times.max() <= 200
    assert np.all(run(CELLS[name](8)).cell.bias.numpy() == 0)
    keep, _ = cell.coefficients(np.zeros((1, cell.n_gates * 64), "float32"))
    np.testing.assert_allclose(keep, 0.5)
    assert layer.cell.get_config()["forget_bias"] == "chrono"


def test_indrnn_matches_numpy_reference_and_keeps_its_bound():
    layer = run(CELLS["indrnn"](H, recurrent_max=1.5))
    w = randomise(layer)
    h, outputs = np.zeros((B, H)), []
    for t in range(T):
        h = np.maximum(X[:, t] @ w["kernel"] + w["recurrent_kernel"] * h + w["bias"], 0)
        outputs.append(h)
    np.testing.assert_allclose(layer(X).numpy(), np.stack(outputs, 1), atol=2e-5)
    assert w["recurrent_kernel"].shape == (H,)  # one recurrent weight per unit
    # the bound holds after an update that pushes u far outside it
    optimizer = keras.optimizers.SGD(100.0)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(layer(X))
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights))
    u = layer.cell.recurrent_kernel.numpy()
    assert np.abs(u).max() <= 1.5 + 1e-6 and np.isclose(np.abs(u), 1.5).any()


def test_indrnn_default_bound_is_the_papers_for_the_runs_length():
    from experiments.config import RunConfig

    kwargs = RunConfig(model="indrnn", gap=98).cell_kwargs()  # fluent: T = gap + 2
    assert kwargs["sequence_length"] == 100
    cell = CELLS["indrnn"](4, **kwargs)
    assert cell.bound == pytest.approx(2 ** (1 / 100))
    run(cell)
    u = cell.recurrent_kernel.numpy()
    assert 0 <= u.min() and u.max() <= 2 ** (1 / 100)
    assert CELLS["indrnn"](4).bound is None and CELLS["indrnn"](4, recurrent_max=3).bound == 3.0


def test_lru_matches_numpy_complex_reference():
    """Orvieto et al. 2023's equations in complex NumPy: lambda = exp(-exp(nu) + i exp(theta)),
    x_t = lambda x_{t-1} + exp(gamma) (u_t B), y_t = Re(x_t C) + u_t D."""
    layer = run(CELLS["lru"](H))
    w = randomise(layer, scale=0.3)
    lam = np.exp(-np.exp(w["nu_log"]) + 1j * np.exp(w["theta_log"]))
    b = w["kernel"][:, :H] + 1j * w["kernel"][:, H:]
    c = w["output_kernel"][:H] - 1j * w["output_kernel"][H:]  # stored as [Re C; -Im C]
    x, outputs = np.zeros((B, H), complex), []
    for t in range(T):
        x = lam * x + np.exp(w["gamma_log"]) * (X[:, t] @ b)
        outputs.append((x @ c).real + X[:, t] @ w["skip_kernel"])
    np.testing.assert_allclose(layer(X).numpy(), np.stack(outputs, 1), atol=2e-5)


def test_lru_initialisation_is_the_papers():
    """|lambda| on the ring [r_min, r_max], phases in [0, max_phase], and gamma normalising
    each unit's state: |lambda|^2 + gamma^2 = 1 (the paper's section 3.4)."""
    cell = CELLS["lru"](512, r_min=0.5, r_max=0.99, max_phase=math.pi / 10)
    run(cell)
    modulus, phase = np.exp(-np.exp(cell.nu_log.numpy())), np.exp(cell.theta_log.numpy())
    assert 0.5 <= modulus.min() < 0.6 and 0.98 < modulus.max() <= 0.99
    assert 0 < phase.min() and phase.max() <= math.pi / 10 + 1e-6
    np.testing.assert_allclose(modulus ** 2 + np.exp(cell.gamma_log.numpy()) ** 2, 1.0, atol=1e-5)
    assert np.mean(modulus ** 2 > (0.5 ** 2 + 0.99 ** 2) / 2) == pytest.approx(0.5, abs=0.08)  # uniform in area
    for bad, match in (({"r_max": 1.0}, "r_max=1.0"), ({"r_min": 0.95, "r_max": 0.9}, "r_max=0.9"), ({"max_phase": -1}, "max_phase=-1")):
        with pytest.raises(ValueError, match=match):
            CELLS["lru"](4, **bad)


@pytest.mark.parametrize("name", sorted(n for n, entry in CELLS.items() if is_cell(entry)))
def test_gradients_are_finite_and_match_finite_differences(name):
    """d loss / d weight from autodiff against central differences, in float64, on a tiny case."""
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 6, 3)))
    layer = keras.layers.RNN(CELLS[name](4, dtype="float64"), dtype="float64")
    layer(x)
    randomise(layer, scale=0.4)

    def loss():
        return tf.reduce_sum(tf.sin(3.0 * layer(x)))

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, layer.trainable_weights)
    pick = np.random.default_rng(5)
    for var, grad in zip(layer.trainable_weights, grads):
        assert grad is not None and np.all(np.isfinite(grad.numpy())), var.path
        flat = var.numpy().ravel()
        for k in pick.choice(flat.size, size=min(3, flat.size), replace=False):
            eps = 1e-6
            numeric = []
            for sign in (1, -1):
                moved = flat.copy()
                moved[k] += sign * eps
                var.assign(moved.reshape(var.shape))
                numeric.append(float(loss()))
            var.assign(flat.reshape(var.shape))
            np.testing.assert_allclose(grad.numpy().ravel()[k], (numeric[0] - numeric[1]) / (2 * eps), rtol=1e-5, atol=1e-7, err_msg=var.path)
