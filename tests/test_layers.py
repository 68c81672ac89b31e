"""Cells: parity with Keras' built-ins (outputs and gradients), saving, arguments, init."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments.checks import UsageError
from layers import CELLS, GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from layers.base import is_cell

B, T, D, H = 4, 7, 5, 6
RECURRENT = sorted(name for name, entry in CELLS.items() if is_cell(entry))  # what keras.layers.RNN runs
# Each of our cells beside the built-in cell it must reproduce weight for weight.
TWINS = {
    "rnn": (SimpleRNNCell, lambda: keras.layers.SimpleRNNCell(H)),
    "lstm": (LSTMCell, lambda: keras.layers.LSTMCell(H)),
    "gru": (GRUCell, lambda: keras.layers.GRUCell(H, reset_after=True)),
}


def random_inputs(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, D)).astype("float32")


def copy_of_builtin(name, return_sequences):
    """Our cell in an RNN layer, with weights copied from a randomly initialised built-in twin."""
    ours_cls, builtin_cell = TWINS[name]
    builtin = keras.layers.RNN(builtin_cell(), return_sequences=return_sequences)
    ours = keras.layers.RNN(ours_cls(H), return_sequences=return_sequences)
    x = random_inputs()
    builtin(x), ours(x)
    # Random biases too, so that a swapped gate would show (Keras initialises most to 0).
    weights = [w + np.random.default_rng(1).normal(scale=0.3, size=w.shape).astype("float32") for w in builtin.get_weights()]
    builtin.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    return builtin, ours


@pytest.mark.parametrize("name", sorted(TWINS))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_outputs_and_gradients_match_builtin(name, return_sequences):
    builtin, ours = copy_of_builtin(name, return_sequences)
    x = tf.constant(random_inputs(seed=2))
    results = []
    for layer in (builtin, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.sin(y))  # a non-linear loss, so every output gets its own weight
        grads = tape.gradient(loss, [x] + layer.trainable_weights)
        results.append((y.numpy(), [g.numpy() for g in grads]))
    (y_b, g_b), (y_o, g_o) = results
    np.testing.assert_allclose(y_o, y_b, atol=1e-5, rtol=1e-5)
    assert len(g_o) == len(g_b)
    for got, want in zip(g_o, g_b):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def numpy_lstm(x, kernel, recurrent, bias):
    """Reference LSTM written straight from Hochreiter & Schmidhuber / Gers et al.'s equations."""
    sig = lambda v: 1 / (1 + np.exp(-v))
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    return h


def test_lstm_matches_numpy_reference():
    layer = keras.layers.RNN(LSTMCell(H, forget_bias="chrono", chrono_tmax=20))
    x = random_inputs()
    np.testing.assert_allclose(layer(x).numpy(), numpy_lstm(x, *layer.get_weights()), atol=1e-5)


# Parameter counts at D=5, H=6, worked out by hand from each paper's equations.
PARAMS = {
    "rnn": 30 + 36 + 6, "clockwork_rnn": 30 + 36 + 6,
    "lstm": 4 * 72, "lstm_np": 4 * 72, "gru": 3 * 66 + 36, "cifg_lstm": 3 * 72,
    "peephole_lstm": 4 * 72 + 18, "lstm_niaf": 4 * 72 + 18, "lstm_noaf": 4 * 72 + 18,
    "lstm_nig": 3 * 72 + 12, "lstm_nfg": 3 * 72 + 12, "lstm_nog": 3 * 72 + 12,
    "lstm_fgr": 4 * 72 + 18 + 18 * 18,
    "depth_gated_lstm": 4 * 72 + 4 * 78 + 36 + 18,
    "mut1": 60 + 72 + 18 + 30, "mut2": 60 + 108 + 18 + 30, "mut3": 90 + 108 + 18,
}


@pytest.mark.parametrize("name", RECURRENT)
def test_cell_smoke(name):
    """Shapes, weight count, stacking with return_sequences, and one fit step that moves weights."""
    cell = CELLS[name](H)
    model = keras.Sequential([
        keras.Input((T, D)),
        keras.layers.RNN(cell, return_sequences=True),
        keras.layers.RNN(CELLS[name](3)),
        keras.layers.Dense(2),
    ])
    assert model.output_shape == (None, 2)
    # The cell contract itself, not one weight layout: a cell with no recurrent kernel passes.
    assert model.layers[0].output.shape == (None, T, cell.output_size) and cell.weights
    if name in PARAMS:
        assert sum(int(np.prod(w.shape)) for w in cell.weights) == PARAMS[name]
    # Eagerly: tracing two stacked RNNs for one step took 2-6 s a cell (XLA 1 s more), ten
    # times the eager step, 23 times over. Every cell's forward is still traced in graph
    # mode, by the .keras round trip below (predict); the gradients eagerly here and by
    # finite differences (test_variants); the fast cells' forward and gradient under XLA by
    # tests/test_sequence.py.
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    model.fit(random_inputs(), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    rebuilt = type(cell).from_config(cell.get_config())
    assert rebuilt.get_config() == cell.get_config()


@pytest.mark.parametrize("wrapper,kwargs", [(SimpleRNN, {"recurrent_initializer": "identity"}),
                                            (LSTM, {"forget_bias": "chrono", "chrono_tmax": 30}),
                                            (GRU, {"forget_bias": "one"})])
def test_keras_file_round_trip_without_custom_objects(tmp_path, wrapper, kwargs):
    model = keras.Sequential([keras.Input((None, D)), wrapper(H, return_sequences=True, **kwargs), keras.layers.RNN(LSTMCell(2))])
    x = random_inputs()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    assert type(loaded.layers[0].cell) is wrapper.cell_class


@pytest.mark.parametrize("name", RECURRENT)
def test_every_cell_round_trips_through_a_keras_file(tmp_path, name):
    model = keras.Sequential([keras.Input((None, D)), keras.layers.RNN(CELLS[name](H)), keras.layers.Dense(2)])
    randomise_all = [w + 0.1 for w in model.get_weights()]  # peepholes etc. start at 0: move them
    model.set_weights(randomise_all)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0].cell) is CELLS[name]
    np.testing.assert_array_equal(loaded.predict(random_inputs(), verbose=0), model.predict(random_inputs(), verbose=0))


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_units_validated(name, bad):
    with pytest.raises(ValueError, match="units=" + re.escape(repr(bad))):
        CELLS[name](bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"recurrent_initializer": "zeros"}, "recurrent_initializer.*'zeros'"),
    ({"forget_bias": "two"}, "forget_bias.*'two'"),
    ({"forget_bias": "chrono", "chrono_tmax": 1}, "chrono_tmax=1"),
])
def test_options_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMCell(H, **kwargs)


def test_forget_bias_options():
    def bias(cell):
        keras.layers.RNN(cell)(random_inputs())
        return cell.bias.numpy()

    b_one = bias(LSTMCell(H))  # Keras' unit_forget_bias: f block 1, others 0
    np.testing.assert_array_equal(b_one.reshape(4, H), np.stack([np.zeros(H), np.ones(H), np.zeros(H), np.zeros(H)]))
    assert not bias(LSTMCell(H, forget_bias="zero")).any()

    tmax = 50
    b_i, b_f, b_g, b_o = bias(LSTMCell(200, forget_bias="chrono", chrono_tmax=tmax)).reshape(4, 200)
    assert np.all(b_f >= 0) and np.all(b_f <= np.log(tmax - 1) + 1e-6)
    assert b_f.std() > 0.3  # a spread of time scales, not a constant
    np.testing.assert_allclose(b_i, -b_f)
    assert not b_g.any() and not b_o.any()

    gru_bias = bias(GRUCell(200, forget_bias="chrono", chrono_tmax=tmax))
    assert gru_bias.shape == (2, 600)
    assert np.all(gru_bias[0, :200] >= 0) and gru_bias[0, :200].std() > 0.3  # update gate z
    assert not gru_bias[0, 200:].any() and not gru_bias[1].any()
    assert not bias(GRUCell(H)).any()  # Keras' GRU default: all zero


@pytest.mark.parametrize("init", ["identity", "orthogonal"])
def test_recurrent_init_is_per_gate_block(init):
    cell = LSTMCell(H, recurrent_initializer=init)
    keras.layers.RNN(cell)(random_inputs())
    blocks = np.split(cell.recurrent_kernel.numpy(), 4, axis=1)
    for block in blocks:
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-5)  # each gate's block is orthogonal
    if init == "identity":
        np.testing.assert_array_equal(blocks[0], np.eye(H))
    else:
        assert not np.allclose(blocks[0], blocks[1])  # a fresh draw per block


def test_kernel_init_per_gate_draws_each_gate_block_at_its_own_glorot_bound():
    d, h = 2, 128  # the adding task's input width beside Arjovsky et al.'s 128 units
    per_gate, whole = LSTMCell(h, kernel_initializer="glorot_per_gate"), LSTMCell(h)
    for cell in (per_gate, whole):
        keras.layers.RNN(cell)(np.zeros((1, 3, d), "float32"))
    blocks = np.split(per_gate.kernel.numpy(), 4, axis=1)
    bound = np.sqrt(6 / (d + h))  # Glorot-uniform on one (D, H) gate block
    for block in blocks:
        assert np.abs(block).max() <= bound and np.abs(block).max() > 0.9 * bound
    assert not np.allclose(blocks[0], blocks[1])  # a fresh draw per block
    assert np.abs(whole.kernel.numpy()).max() <= np.sqrt(6 / (d + 4 * h)) < 0.55 * bound  # Keras: one (D, 4H) draw
    assert LSTMCell.from_config(per_gate.get_config()).kernel_initializer == "glorot_per_gate"
    with pytest.raises(UsageError, match="kernel_initializer"):
        LSTMCell(h, kernel_initializer="he_normal")
