"""expRNN (layers/exprnn.py): the matrix exponential against SciPy's, an orthogonal recurrent
matrix before and after training steps, a NumPy recurrence, finite differences, the pipeline."""

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from layers.exprnn import ExpRNN, expm

B, T, D, H = 3, 6, 4, 6


@pytest.mark.parametrize("scale", [0.1, 3.0, 20.0])
def test_expm_matches_scipy_on_skew_matrices(scale):
    a = np.random.default_rng(0).normal(scale=scale, size=(H, H))
    a = a - a.T
    np.testing.assert_allclose(expm(tf.constant(a)).numpy(), scipy.linalg.expm(a), atol=1e-8 * max(1, scale ** 2))


def test_recurrent_matrix_starts_as_rotations_and_stays_orthogonal_under_training():
    layer = ExpRNN(H)
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    layer(x)
    b = layer.recurrent_matrix().numpy()
    np.testing.assert_allclose(b @ b.T, np.eye(H), atol=5e-5)
    for k in range(0, H, 2):  # Henaff init: 2x2 rotation blocks on the diagonal, zero elsewhere
        block = b[k:k + 2, k:k + 2]
        np.testing.assert_allclose(block @ block.T, np.eye(2), atol=5e-5)
        assert np.abs(np.delete(b[k:k + 2], [k, k + 1], axis=1)).max() < 1e-5
    optimizer = keras.optimizers.SGD(0.5)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x)))
        optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights))
    b = layer.recurrent_matrix().numpy()
    assert np.abs(b - np.diag(np.diag(b))).max() > 1e-3  # it moved off the initial blocks
    np.testing.assert_allclose(b @ b.T, np.eye(H), atol=5e-5)


def test_matches_a_numpy_recurrence():
    layer = ExpRNN(H, return_sequences=True)
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    layer(x)
    layer.modrelu_bias.assign(np.random.default_rng(3).normal(scale=0.3, size=H).astype("float32"))
    w, b, bias = layer.kernel.numpy(), scipy.linalg.expm(np.triu(layer.log_recurrent.numpy(), 1) - np.triu(layer.log_recurrent.numpy(), 1).T), layer.modrelu_bias.numpy()
    h, want = np.zeros((B, H)), []
    for t in range(T):
        z = x[:, t] @ w + h @ b
        h = np.sign(z) * np.maximum(np.abs(z) + bias, 0)
        want.append(h)
    np.testing.assert_allclose(layer(x).numpy(), np.stack(want, 1), rtol=1e-4, atol=1e-4)  # float32 exp(A) against float64


def test_gradients_match_finite_differences():
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 5, 3)))
    layer = ExpRNN(4, dtype="float64")
    layer(x)
    layer.modrelu_bias.assign([0.1, -0.2, 0.3, 0.05])

    def loss():
        return tf.reduce_sum(tf.sin(3.0 * layer(x)))

    with tf.GradientTape() as tape:
        value = loss()
    grads = dict(zip((v.path for v in layer.trainable_weights), tape.gradient(value, layer.trainable_weights)))
    for var, index in ((layer.kernel, (1, 2)), (layer.log_recurrent, (0, 3)), (layer.modrelu_bias, (2,))):
        flat = var.numpy()
        numeric = []
        for sign in (1, -1):
            moved = flat.copy()
            moved[index] += sign * 1e-6
            var.assign(moved)
            numeric.append(float(loss()))
        var.assign(flat)
        np.testing.assert_allclose(grads[var.path].numpy()[index], (numeric[0] - numeric[1]) / 2e-6, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_exprnn_trains_saves_and_loads_through_the_pipeline(tmp_path):
    from experiments.config import RunConfig
    from experiments.train import train

    cfg = RunConfig(model="exprnn", gap=4, units=8, budget=64 * 20, eval_every=10, n_val=64, n_test=64, fused=True, jit_compile=True)
    record = train(cfg, tmp_path)
    assert record["status"] == "ok" and cfg.init_label == "default"
    model = keras.saving.load_model(tmp_path / record["model_file"])
    layer = next(layer for layer in model.layers if isinstance(layer, ExpRNN))
    b = layer.recurrent_matrix().numpy()
    np.testing.assert_allclose(b @ b.T, np.eye(8), atol=5e-5)
