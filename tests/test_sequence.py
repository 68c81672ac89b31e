"""The whole-sequence path (layers/sequence.py): same outputs and gradients as the step loop."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import CELLS, DepthGatedLSTMCell, LSTMCell
from layers.base import RNN
from layers.sequence import decay_scan_complex, has_sequence_path, linear_scan

B, T, D, H = 3, 6, 5, 4
FUSED = sorted(name for name, cell in CELLS.items() if has_sequence_path(cell(H)))


def twin_layers(name, **kwargs):
    """The same cell and weights behind the step loop and the sequence path, biases randomised.

    Seeded: the weights, hence the float32 rounding the tolerances below must absorb, are the
    same whatever ran before (unseeded, about 1 in 40 draws of the LRU's weights put a
    gradient of size ~20-40 just past atol 2e-5 + rtol 1e-5: repeated squaring of lambda in
    the scan rounds differently from the step loop's repeated products)."""
    keras.utils.set_random_seed(0)
    step, fused = RNN(CELLS[name](H), fused=False, **kwargs), RNN(CELLS[name](H), fused=True, **kwargs)
    x = np.zeros((B, T, D), "float32")
    step(x), fused(x)
    rng = np.random.default_rng(0)
    fused.set_weights([w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in step.get_weights()])
    step.set_weights(fused.get_weights())
    return step, fused


def outputs_and_gradients(layer, x, initial_state, jit_compile=False):
    """Every output of `layer(x, initial_state)` in training mode, and the gradient of a
    non-linear loss of all of them with respect to x, the initial states and every weight."""

    def run(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch([x, *initial_state])
            outputs = layer(x, initial_state=list(initial_state), training=True)
            loss = sum(tf.reduce_sum(tf.sin((k + 1.0) * out)) for k, out in enumerate(outputs))
        return outputs, tape.gradient(loss, [x, *initial_state, *layer.trainable_weights])

    outputs, grads = tf.function(run, jit_compile=jit_compile)(x, initial_state) if jit_compile else run(x, initial_state)
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


def test_the_fast_cells_are_those_expected():
    assert FUSED == ["gru", "lru", "lstm", "min_gru", "min_lstm", "rnn"]


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_sequence_path_matches_step_loop(name, return_sequences, jit_compile):
    """Outputs, final states and all gradients agree, with non-zero initial states and a loss
    that reaches every output, so the hand-written backward pass is checked in full."""
    step, fused = twin_layers(name, return_sequences=return_sequences, return_state=True)
    assert fused.uses_sequence_path() and not step.uses_sequence_path()
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(B, T, D)).astype("float32"))
    sizes = tf.nest.flatten(step.cell.state_size)  # H for most cells; the LRU's complex state is 2H reals
    n_states = len(sizes)
    states = [tf.constant(rng.normal(size=(B, size)).astype("float32")) for size in sizes]
    (out_s, grad_s), (out_f, grad_f) = (outputs_and_gradients(layer, x, states, jit_compile) for layer in (step, fused))
    assert len(out_f) == 1 + n_states and len(grad_f) == len(grad_s) == 1 + n_states + len(step.trainable_weights)
    for got, want in zip(out_f + grad_f, out_s + grad_s):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-5)
    assert all(np.abs(g).max() > 1e-3 for g in grad_s)  # nothing vacuous: every gradient is non-zero


@pytest.mark.parametrize("name", FUSED)
def test_sequence_path_under_xla_with_lengths_unknown_when_traced(name):
    """One compiled function for every sequence length, as in training across gaps."""
    step, fused = twin_layers(name)
    run = tf.function(
        lambda x: tf.gradients(tf.reduce_sum(fused(x, training=True) ** 2), fused.trainable_weights),
        input_signature=[tf.TensorSpec((None, None, D))], jit_compile=True,
    )
    for length in (3, 9):
        x = tf.random.stateless_normal((B, length, D), seed=(length, 0))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(step(x, training=True) ** 2)
        for got, want in zip(run(x), tape.gradient(loss, step.trainable_weights)):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_seed_stack_computes_what_each_seed_computes_alone(name, jit_compile):
    """A seed stack (experiments/batched.py) runs S copies of the cell at once, each with its own
    weights and states. Every output and gradient of the stacked call equals that seed's call
    alone. For rnn, gru and lstm the two take different backward loops (a stack sums its weight
    gradients inside the loop, `layers.sequence.backprop_through_time`), so this is where they
    are set side by side."""
    seeds = 3
    _, fused = twin_layers(name)
    cell = fused.cell
    rng = np.random.default_rng(6)
    weights = [tf.constant(np.stack([w.numpy() + rng.normal(scale=0.3, size=w.shape) for _ in range(seeds)]).astype("float32"))
               for w in fused.weights]
    x = tf.constant(rng.normal(size=(seeds, B, T, D)).astype("float32"))
    sizes = tf.nest.flatten(cell.state_size)
    states = [tf.constant(rng.normal(size=(seeds, B, size)).astype("float32")) for size in sizes]

    def outputs_and_gradients(x, states, weights):
        with tf.GradientTape() as tape:
            tape.watch([x, *states, *weights])
            outputs, final = cell.call_sequence(x, list(states), weights=list(weights))
            loss = sum(tf.reduce_sum(tf.sin((k + 1.0) * out)) for k, out in enumerate([outputs, *final]))
        return [outputs, *final], tape.gradient(loss, [x, *states, *weights])

    run = tf.function(outputs_and_gradients, jit_compile=True) if jit_compile else outputs_and_gradients
    stacked = run(x, states, weights)
    for s in range(seeds):
        alone = run(x[s], [state[s] for state in states], [w[s] for w in weights])
        for got, want in zip(stacked[0] + stacked[1], alone[0] + alone[1], strict=True):
            # rtol 1e-4: the LRU's gradients reach ~300 here, and its scan's repeated squaring
            # rounds differently in a batch (5e-5 seen); every other cell agrees to 1e-5
            np.testing.assert_allclose(got[s].numpy(), want.numpy(), atol=2e-5, rtol=1e-4)
    assert all(np.abs(g.numpy()).max() > 1e-3 for g in stacked[1])  # every gradient reached


def test_a_subclass_that_changes_the_equations_keeps_the_step_loop():
    """The depth-gated LSTM extends LSTMCell; LSTM's sequence path would compute the wrong cell."""
    assert has_sequence_path(LSTMCell(H)) and not has_sequence_path(DepthGatedLSTMCell(H))
    layer = RNN(DepthGatedLSTMCell(H))
    assert not layer.uses_sequence_path()
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    reference = keras.layers.RNN(DepthGatedLSTMCell(H))
    reference(x), layer(x)
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(layer(x, training=True), reference(x, training=True), atol=1e-6)


def test_masks_go_backwards_and_inference_use_the_step_loop():
    step, fused = twin_layers("lstm", go_backwards=True)
    assert not fused.uses_sequence_path()
    x = np.random.default_rng(3).normal(size=(B, T, D)).astype("float32")
    np.testing.assert_allclose(fused(x, training=True), step(x, training=True), atol=1e-6)
    plain = RNN(LSTMCell(H))
    assert plain.uses_sequence_path() and not plain.uses_sequence_path(training=False)
    assert not plain.uses_sequence_path(mask=np.ones((B, T), bool))


@pytest.mark.parametrize("fused", [True, False])
def test_the_layer_round_trips_through_a_keras_file(tmp_path, fused):
    model = keras.Sequential([keras.Input((None, D)), RNN(LSTMCell(H), fused=fused), keras.layers.Dense(2)])
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].fused is fused and type(loaded.layers[0]) is RNN
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


JAX_SCRIPT = """
import json, numpy as np, keras
from layers import CELLS
from layers.base import RNN
report = {"backend": keras.backend.backend(), "max_diff": {}, "min_step": {}, "traced": {}}
x = np.random.default_rng(0).normal(size=(3, 6, 5)).astype("float32")
y = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
for name in %r:
    models = [keras.Sequential([keras.Input((6, 5)), RNN(CELLS[name](4), fused=f)]) for f in (False, True)]
    cell, traced = models[1].layers[0].cell, []
    sequence = cell.call_sequence
    cell.call_sequence = lambda *a: traced.append(1) or sequence(*a)
    models[1].set_weights(models[0].get_weights())
    before = models[0].get_weights()
    for model in models:
        model.compile(keras.optimizers.SGD(1.0), "mse")
        model.train_on_batch(x, y)  # one SGD step of size 1: the weight change is the gradient
    after = [m.get_weights() for m in models]
    report["max_diff"][name] = max(float(np.abs(a - b).max()) for a, b in zip(*after))
    report["min_step"][name] = min(float(np.abs(a - w).max()) for a, w in zip(after[0], before))
    report["traced"][name] = len(traced)
print(json.dumps(report))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is an optional extra (make bench-extras)")
def test_sequence_path_on_the_jax_backend():
    """The cells use keras.ops only, so the custom gradient runs on JAX too, in a jitted train step."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT % FUSED], capture_output=True, text=True, env=env, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and sorted(report["max_diff"]) == FUSED
    assert all(n > 0 for n in report["traced"].values()), report  # the sequence path did run
    assert min(report["min_step"].values()) > 1e-4, report  # and every weight had a gradient
    assert max(report["max_diff"].values()) < 1e-5, report


@pytest.mark.parametrize("length", [1, 2, 7, 1000])
def test_linear_scan_equals_the_recurrence_step_by_step(length):
    """The doubling scan against the plain loop, h0 included, at lengths that are and are
    not powers of two, and long enough (1000) that error would accumulate if it could; a
    seed stack's extra axis too."""
    rng = np.random.default_rng(length)
    for shape in [(length, 3, 4), (length, 2, 3, 4)]:
        a = rng.uniform(0.9, 1.0, shape).astype("float32")
        b = rng.normal(scale=0.1, size=shape).astype("float32")
        h0 = rng.normal(size=shape[1:]).astype("float32")
        got = linear_scan(tf.constant(a), tf.constant(b), tf.constant(h0)).numpy()
        h, want = h0, []
        for t in range(length):
            h = a[t] * h + b[t]
            want.append(h)
        np.testing.assert_allclose(got, np.stack(want), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("length", [1, 5, 1000])
def test_complex_decay_scan_equals_the_complex_recurrence(length):
    """The LRU's scan against NumPy's complex arithmetic, step by step, h0 included, at
    lengths that are and are not powers of two; under XLA with the length unknown too."""
    rng = np.random.default_rng(length)
    shape = (length, 2, 3)
    lam = rng.uniform(0.95, 1.0, (1, 3)) * np.exp(1j * rng.uniform(0, 2 * np.pi, (1, 3)))
    b = rng.normal(scale=0.1, size=shape) + 1j * rng.normal(scale=0.1, size=shape)
    h0 = rng.normal(size=shape[1:]) + 1j * rng.normal(size=shape[1:])
    pair = lambda z: (tf.constant(z.real.astype("float32")), tf.constant(z.imag.astype("float32")))
    h, want = h0, []
    for t in range(length):
        h = lam * h + b[t]
        want.append(h)
    unknown = tf.function(lambda b_re, b_im: decay_scan_complex(pair(lam), (b_re, b_im), pair(h0)), jit_compile=True,
                          input_signature=[tf.TensorSpec((None, 2, 3))] * 2)
    for got_re, got_im in (decay_scan_complex(pair(lam), pair(b), pair(h0)), unknown(*pair(b))):
        np.testing.assert_allclose(got_re.numpy() + 1j * got_im.numpy(), np.stack(want), atol=5e-5, rtol=1e-4)
