"""The attention baseline (layers/attention.py): Keras' own attention, causality, ALiBi's
bias by its paper's formula, finite-difference gradients, and the whole pipeline."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.attention import CausalSelfAttention, alibi_slopes

B, T, D, H, HEADS = 2, 7, 5, 8, 2


def built(**kwargs):
    layer = CausalSelfAttention(H, heads=HEADS, **kwargs)
    layer(np.zeros((B, T, D), "float32"))
    rng = np.random.default_rng(0)
    layer.set_weights([w + rng.normal(scale=0.3, size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    return layer


def test_one_attention_equals_keras_multi_head_attention_with_a_causal_mask():
    layer = built()
    w = layer.block_weights[0]
    h = np.random.default_rng(1).normal(size=(B, T, H)).astype("float32")
    ours = layer.attention(h, w, layer.score_bias(T)).numpy()
    mha = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=H // HEADS)
    mha(h, h)
    mha.set_weights([w[name].numpy() for name in ("query_kernel", "query_bias", "key_kernel", "key_bias",
                                                  "value_kernel", "value_bias", "output_kernel", "output_bias")])
    np.testing.assert_allclose(ours, mha(h, h, use_causal_mask=True).numpy(), atol=2e-5)


def test_kernels_start_at_keras_multi_head_attentions_scale():
    # Drawn with Keras' default fans for a 3-d shape, the query/key/value kernels started
    # 3.2 times too small at this width, and two blocks never learned associative recall.
    units, heads = 64, 4
    layer = CausalSelfAttention(units, heads=heads)
    layer.build((None, None, units))
    mha = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=units // heads)
    h = np.zeros((1, 3, units), "float32")
    mha(h, h)
    glorot = np.sqrt(6 / (2 * units)) / np.sqrt(3)  # an H -> H matrix's std
    for ours, theirs in zip([layer.block_weights[0][n] for n in ("query_kernel", "key_kernel", "value_kernel", "output_kernel")],
                            [mha.weights[i] for i in (0, 2, 4, 6)]):
        assert ours.shape == theirs.shape
        assert np.std(ours.numpy()) == pytest.approx(glorot, rel=0.05), ours.path
        assert np.std(theirs.numpy()) == pytest.approx(glorot, rel=0.05), theirs.path


@pytest.mark.parametrize("positions", ["learned", "alibi"])
def test_no_step_sees_a_later_one(positions):
    layer = built(positions=positions, return_sequences=True, blocks=2)
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    later = x.copy()
    later[:, 4:] += 5.0
    a, b = layer(x).numpy(), layer(later).numpy()
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-5)
    assert np.abs(a[:, 4:] - b[:, 4:]).max() > 1e-2


def test_alibi_bias_is_the_papers():
    layer = CausalSelfAttention(8, heads=4, positions="alibi")
    bias = layer.score_bias(5).numpy()
    slopes = [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]  # 2^(-8h/n) for n = 4
    assert alibi_slopes(4) == slopes
    for h, m in enumerate(slopes):
        for i in range(5):
            for j in range(5):
                assert bias[h, i, j] == (pytest.approx(-m * (i - j)) if j <= i else pytest.approx(-1e9))


def test_learned_positions_past_the_table_reuse_its_last_row():
    layer = built(max_length=T)
    longer = np.random.default_rng(3).normal(size=(B, 2 * T, D)).astype("float32")
    assert layer(longer).shape == (B, H)
    assert CausalSelfAttention(H, sequence_length=50).max_length == 200


def test_gradients_match_finite_differences():
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 5, 3)))
    layer = CausalSelfAttention(4, heads=2, positions="alibi", dtype="float64")
    layer(x)
    pick = np.random.default_rng(5)
    layer.set_weights([w + pick.normal(scale=0.3, size=w.shape) for w in layer.get_weights()])

    def loss():
        return tf.reduce_sum(tf.sin(3.0 * layer(x)))

    with tf.GradientTape() as tape:
        value = loss()
    for var, grad in zip(layer.trainable_weights, tape.gradient(value, layer.trainable_weights)):
        flat = var.numpy().ravel()
        k = pick.integers(flat.size)
        numeric = []
        for sign in (1, -1):
            moved = flat.copy()
            moved[k] += sign * 1e-6
            var.assign(moved.reshape(var.shape))
            numeric.append(float(loss()))
        var.assign(flat.reshape(var.shape))
        np.testing.assert_allclose(grad.numpy().ravel()[k], (numeric[0] - numeric[1]) / 2e-6, rtol=1e-5, atol=1e-7, err_msg=var.path)


@pytest.mark.parametrize("kwargs,match", [({"units": 6, "heads": 4}, "divisible by heads"),
                                          ({"units": 8, "positions": "rope"}, "positions must be one of learned, alibi"),
                                          ({"units": 8, "blocks": 0}, "blocks=0")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CausalSelfAttention(**kwargs)


@pytest.mark.slow
def test_attention_trains_saves_and_loads_through_the_pipeline(tmp_path):
    from experiments.config import RunConfig
    from experiments.train import train

    cfg = RunConfig(model="attention", gap=6, units=16, budget=64 * 30, eval_every=10, n_val=64, n_test=64,
                    options={"positions": "alibi", "heads": 2}, fused=True, jit_compile=True)
    record = train(cfg, tmp_path)
    assert record["status"] == "ok" and "positions=alibi" in cfg.init_label
    model = keras.saving.load_model(tmp_path / record["model_file"])
    layer = next(layer for layer in model.layers if isinstance(layer, CausalSelfAttention))
    assert layer.positions == "alibi" and layer.heads == 2
    assert json.loads((tmp_path / "runs" / f"{cfg.run_id}.json").read_text())["config"]["options"] == [["heads", 2], ["positions", "alibi"]]
