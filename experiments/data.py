"""Where every run's data and randomness come from: independent seeded streams per seed.

A run's training batches, validation set and test set are drawn from distinct streams of
one seed, so they never share a sample, and `evaluate` draws a fourth stream for fresh test
data. `seed_everything` fixes the rest (weight initialisation, Keras' own randomness).
"""

import numpy as np

# Independent streams of data per seed, so train, validation and test never share a sample.
TRAIN, VAL, TEST, EVAL = 0, 1, 2, 3


def data_seed(seed, stream, chunk=0):
    """An int seed for `np.random.default_rng`, distinct for every (seed, stream, chunk)."""
    return int(np.random.SeedSequence([seed, stream, chunk]).generate_state(1)[0])


def seed_everything(seed):
    """Python, NumPy and Keras seeds, and deterministic TensorFlow kernels."""
    from experiments.backend import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
