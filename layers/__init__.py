"""Recurrent cells written from scratch as Keras 3 layers, found by name through `CELLS`.

Adding a cell: write `layers/<family>.py` with a `RecurrentCell` subclass (or any Keras
layer honouring the `keras.layers.RNN` cell contract), decorate it with
`keras.saving.register_keras_serializable(package=PACKAGE)`, and add one line below.
Sweeps, summaries and plots find cells only through this dict. See layers/README.md.
"""

from layers.gru import GRU, GRUCell
from layers.lstm import LSTM, LSTMCell
from layers.rnn import SimpleRNN, SimpleRNNCell

# name -> cell class; every entry is constructible as CELLS[name](units).
CELLS = {
    "rnn": SimpleRNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
}

__all__ = ["CELLS", "GRU", "GRUCell", "LSTM", "LSTMCell", "SimpleRNN", "SimpleRNNCell"]
