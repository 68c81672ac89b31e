"""Every layer wrapper passes dtype and trainable to its cell, as keras.layers.LSTM does."""

import keras
import numpy as np
import pytest

import layers
import layers.lstm_family

WRAPPERS = [layers.SimpleRNN, layers.LSTM, layers.GRU, layers.lstm_family.PeepholeLSTM, layers.ClockworkRNN, layers.DepthGatedLSTM]


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_float64_builds_float64_weights_and_outputs(wrapper):
    layer = wrapper(8, dtype="float64")
    y = layer(np.random.default_rng(0).normal(size=(2, 5, 3)))
    assert {w.dtype for w in layer.weights} == {"float64"}, [(w.name, w.dtype) for w in layer.weights]
    assert y.dtype == "float64" and y.shape == (2, 8)


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_mixed_precision_keeps_float32_weights_and_computes_in_float16(wrapper):
    layer = wrapper(8, dtype="mixed_float16")
    y = layer(np.ones((2, 5, 3), "float32"))
    assert {w.dtype for w in layer.weights} == {"float32"}
    assert layer.cell.compute_dtype == "float16" and y.dtype == "float16"


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_trainable_false_freezes_the_cell(wrapper):
    layer = wrapper(8, trainable=False)
    layer(np.ones((2, 5, 3), "float32"))
    assert layer.weights and not layer.trainable_weights and not layer.cell.trainable


def test_wrappers_match_keras_on_dtype():
    ours, theirs = layers.LSTM(8, dtype="float64"), keras.layers.LSTM(8, dtype="float64")
    x = np.zeros((1, 3, 2))
    ours(x), theirs(x)
    assert [w.dtype for w in ours.weights] == [w.dtype for w in theirs.weights]
