"""Tasks: exact gap, purity (same seed, same arrays), and no information outside the key."""

import numpy as np
import pytest

from datasets import TASKS
from datasets.fluent import FILLERS, LANGUAGES, N_KEYS, QUERY_ID, VOCAB


@pytest.mark.parametrize("name", sorted(TASKS))
def test_pure_and_seeded(name):
    task = TASKS[name]
    a, b, c = task(7, 50, 3), task(7, 50, 3), task(7, 50, 4)
    for got, want in zip(a, b):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(a[0], c[0])
    state = np.random.get_state()[1].copy()
    task(7, 5, 0)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # no global random state touched


@pytest.mark.parametrize("gap", [1, 5, 300])
def test_fluent_layout_has_exact_gap(gap):
    x, y = TASKS["fluent"](gap, 400, 0)
    assert x.shape == (400, gap + 2) and y.shape == (400,)
    assert x.dtype == np.int32 and y.dtype == np.int32
    np.testing.assert_array_equal(x[:, 0], y)  # the key is the first token, its language the target
    assert np.all(x[:, -1] == QUERY_ID)
    middle = x[:, 1:-1]
    assert middle.min() >= N_KEYS and middle.max() < N_KEYS + len(FILLERS)  # no key or query inside the gap
    assert set(np.unique(y)) == set(range(N_KEYS))


def test_fluent_fillers_carry_no_information_about_the_key():
    x, y = TASKS["fluent"](20, 20_000, 1)
    counts = np.stack([np.bincount(x[y == k, 1:-1].ravel() - N_KEYS, minlength=len(FILLERS)) for k in range(N_KEYS)])
    freqs = counts / counts.sum(axis=1, keepdims=True)
    # every key sees the uniform filler distribution, within sampling noise (~3% relative)
    np.testing.assert_allclose(freqs, 1 / len(FILLERS), rtol=0.1)


def test_fluent_chance_and_decode():
    task = TASKS["fluent"]
    assert task.chance == pytest.approx(1 / 8)
    x, y = task(3, 1, 0)
    text = task.decode(x[0], y[0])
    words = text.split()
    assert words[0] == VOCAB[x[0, 0]] and words[-2:] == ["->", LANGUAGES[y[0]]] and words[-3] == "fluent"
    assert len(words) == 3 + 2 + 2


@pytest.mark.parametrize("kwargs,match", [({"gap": 0}, "gap=0"), ({"gap": -2}, "gap=-2"), ({"gap": 2.5}, "gap=2.5"),
                                          ({"n": 0}, "n=0"), ({"seed": -1}, "seed=-1")])  # fmt: skip
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TASKS["fluent"](**{"gap": 5, "n": 4, "seed": 0, **kwargs})
