"""Keras, imported quietly the first time: `from experiments.backend import keras`.

Modules that build or run models import Keras from here, so TensorFlow's start-up notes never
reach the terminal; the rest of `experiments` (records, tables, statistics, figures) never
imports it at all.
"""

from experiments import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet TensorFlow import, on purpose)

__all__ = ["keras"]
