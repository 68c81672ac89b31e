"""Recurrent cells written from scratch as Keras 3 layers, found by name through `CELLS`.

Adding a cell: write `layers/<family>.py` with a `RecurrentCell` subclass (or any Keras
layer honouring the `keras.layers.RNN` cell contract), decorate it with
`keras.saving.register_keras_serializable(package=PACKAGE)`, and add one line below.
Sweeps, summaries and plots find cells only through this dict. See layers/README.md.
"""

from layers import lstm_family as family
from layers.attention import CausalSelfAttention
from layers.clockwork import ClockworkRNN, ClockworkRNNCell
from layers.depth_gated import DepthGatedLSTM, DepthGatedLSTMCell
from layers.exprnn import ExpRNN
from layers.gru import GRU, GRUCell
from layers.indrnn import IndRNNCell
from layers.lru import LRUCell
from layers.lstm import LSTM, LSTMCell
from layers.min_rnn import MinGRUCell, MinLSTMCell
from layers.mut import MUT1Cell, MUT2Cell, MUT3Cell
from layers.rnn import SimpleRNN, SimpleRNNCell

# name -> cell class; every entry is constructible as CELLS[name](units).
CELLS = {
    "rnn": SimpleRNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "peephole_lstm": family.PeepholeLSTMCell,
    "cifg_lstm": family.CIFGLSTMCell,
    "depth_gated_lstm": DepthGatedLSTMCell,
    "clockwork_rnn": ClockworkRNNCell,
    "mut1": MUT1Cell,
    "mut2": MUT2Cell,
    "mut3": MUT3Cell,
    # Greff et al. 2017's ablations of their vanilla (peephole) LSTM.
    "lstm_nig": family.LSTMNIGCell,
    "lstm_nfg": family.LSTMNFGCell,
    "lstm_nog": family.LSTMNOGCell,
    "lstm_niaf": family.LSTMNIAFCell,
    "lstm_noaf": family.LSTMNOAFCell,
    "lstm_np": family.LSTMNPCell,
    "lstm_fgr": family.LSTMFGRCell,
    # Feng et al. 2024: gates read only the input; trained by a parallel scan over time.
    "min_gru": MinGRUCell,
    "min_lstm": MinLSTMCell,
    "indrnn": IndRNNCell,  # Li et al. 2018: one recurrent weight per unit, bounded
    # Not a cell: whole sequences at once (its `sequence_layer`); positions learned or ALiBi.
    "attention": CausalSelfAttention,
    # Lezcano-Casado & Martínez-Rubio 2019: recurrent matrix exp(skew), orthogonal; whole sequences.
    "exprnn": ExpRNN,
    # Orvieto et al. 2023: diagonal complex linear recurrence, stable exponential parametrisation; a parallel scan.
    "lru": LRUCell,
}

__all__ = ["CELLS", "CausalSelfAttention", "ClockworkRNN", "ClockworkRNNCell", "DepthGatedLSTM", "DepthGatedLSTMCell", "ExpRNN", "GRU", "GRUCell", "IndRNNCell",
           "LRUCell", "LSTM", "LSTMCell", "MinGRUCell", "MinLSTMCell", "MUT1Cell", "MUT2Cell", "MUT3Cell", "SimpleRNN", "SimpleRNNCell"]
