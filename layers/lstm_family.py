"""The LSTM family of Greff et al. 2017 ("LSTM: A Search Space Odyssey") as one configurable cell.

Greff et al.'s "vanilla" LSTM has peepholes (Gers & Schmidhuber 2000) on all three gates;
each of their ablations removes or changes one part of it. Here every ablation is a
constructor option of `LSTMFamilyCell`, and each named variant is a registered subclass that
only changes the defaults, so `CELLS["lstm_nfg"](64)` works like any other cell:

    peephole_lstm   vanilla LSTM of Greff et al.: peepholes on i, f (from c_{t-1}) and o (from c_t)
    lstm_nig        no input gate          i = 1
    lstm_nfg        no forget gate         f = 1
    lstm_nog        no output gate         o = 1
    lstm_niaf       no input activation    g = z_g instead of tanh(z_g)
    lstm_noaf       no output activation   h = o * c instead of o * tanh(c)
    lstm_np         no peepholes           (this is the plain `lstm` with gates i, f, g, o)
    lstm_fgr        full gate recurrence   i, f, o also see i, f, o of step t-1 (9 H x H matrices)
    cifg_lstm       coupled input and forget gates, f = 1 - i, without peepholes, as in the
                    seed notes' figure (Greff et al.'s CIFG keeps the peepholes:
                    `LSTMFamilyCell(units, coupled=True)`)
"""

import keras
from keras import ops

from experiments.checks import check_bool
from layers.base import PACKAGE, GatedCell, RecurrentLayer, forget_bias_vector

GATES = ("i", "f", "g", "o")
SIGMOID_GATES = ("i", "f", "o")


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMFamilyCell(GatedCell):
    """An LSTM whose every part can be removed: Greff et al. 2017, section 2 and Table 1.

        z = x_t W + h_{t-1} U + b, split over the gates present    (B, G*H)
        [full gate recurrence: z_q += [i, f, o]_{t-1} R_q for q in i, f, o]
        i = sigmoid(z_i + p_i * c_{t-1})       or 1 without input gate
        f = sigmoid(z_f + p_f * c_{t-1})       or 1 without forget gate, or 1 - i if coupled
        g = tanh(z_g)                          or z_g without input activation
        c_t = f * c_{t-1} + i * g
        o = sigmoid(z_o + p_o * c_t)           or 1 without output gate
        h_t = o * tanh(c_t)                    or o * c_t without output activation

    Weights: kernel W (D, G*H) and recurrent_kernel U (H, G*H) hold only the gates present,
    in the order i, f, g, o (with all four and no peepholes they are `LSTMCell`'s weights);
    peephole_i / peephole_f / peephole_o (H,) diagonal peephole weights; gate_recurrent_kernel
    (S*H, S*H) over the S sigmoid gates present, with full gate recurrence.

    Args:
        units: H.
        peepholes: the gates with peephole connections, a subset of ("i", "f", "o")
            ("many papers only give some gates peepholes", as the seed notes say).
        input_gate, forget_gate, output_gate: keep that gate (True) or fix it to 1 (False).
        input_activation, output_activation: apply tanh to g / to c_t before the output gate.
        coupled: f = 1 - i (CIFG); needs both gates, and the forget-gate block is not created.
        full_gate_recurrence: feed the previous step's gate activations into every gate.
        recurrent_initializer, forget_bias, chrono_tmax: as for `LSTMCell`; with `coupled`
            the input-gate bias is set to -b_f, since 1 - sigmoid(-b) = sigmoid(b).

    Call arguments:
        inputs: (B, D). states: [h_{t-1}, c_{t-1}] (B, H) each, plus the previous gate
        activations (B, S*H) with full gate recurrence.

    Example:
        >>> cell = LSTMFamilyCell(8, peepholes=("f",), output_activation=False)
        >>> keras.layers.RNN(cell)(np.zeros((2, 5, 3), "float32")).shape
        (2, 8)
    """

    def __init__(
        self,
        units,
        peepholes=SIGMOID_GATES,
        input_gate=True,
        forget_gate=True,
        output_gate=True,
        input_activation=True,
        output_activation=True,
        coupled=False,
        full_gate_recurrence=False,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        flags = dict(input_gate=input_gate, forget_gate=forget_gate, output_gate=output_gate,
                     input_activation=input_activation, output_activation=output_activation,
                     coupled=coupled, full_gate_recurrence=full_gate_recurrence)
        for name, value in flags.items():
            check_bool(name, value)
        if coupled and not (input_gate and forget_gate):
            raise ValueError(f"coupled=True needs input_gate and forget_gate, received input_gate={input_gate}, forget_gate={forget_gate}")
        present = {"i": input_gate, "f": forget_gate and not coupled, "g": True, "o": output_gate}
        self.gates = tuple(g for g in GATES if present[g])
        self.sigmoid_gates = tuple(g for g in self.gates if g != "g")
        peepholes = tuple(peepholes)
        for gate in peepholes:
            if gate not in SIGMOID_GATES or not (present[gate] or (gate == "f" and coupled)):
                allowed = [g for g in SIGMOID_GATES if present[g]]
                raise ValueError(f"peepholes must be gates of this cell among {allowed}, received peepholes={peepholes!r}")
        if coupled and "f" in peepholes:
            raise ValueError("peepholes cannot include 'f' when coupled=True: f = 1 - i has no weights of its own")
        self.peepholes = peepholes
        self.n_gates = len(self.gates)
        self.flags = flags

    @property
    def state_size(self):
        sizes = [self.units, self.units]
        if self.flags["full_gate_recurrence"]:
            sizes.append(len(self.sigmoid_gates) * self.units)
        return sizes

    def bias_initializer(self):
        def init(shape, dtype=None):
            b_f = forget_bias_vector(self.units, self.forget_bias, self.chrono_tmax, dtype)
            blocks = {g: ops.zeros((self.units,), dtype=dtype) for g in self.gates}
            if "f" in blocks:
                blocks["f"] = b_f
                if self.forget_bias == "chrono" and "i" in blocks:
                    blocks["i"] = -b_f
            elif self.flags["coupled"]:
                blocks["i"] = -b_f  # f = 1 - sigmoid(z_i) = sigmoid(-z_i) starts at sigmoid(b_f)
            return ops.concatenate([blocks[g] for g in self.gates])

        return init

    def build(self, input_shape):
        super().build(input_shape)
        for gate in self.peepholes:
            setattr(self, f"peephole_{gate}", self.add_weight(shape=(self.units,), name=f"peephole_{gate}", initializer="zeros"))
        if self.flags["full_gate_recurrence"]:
            width = len(self.sigmoid_gates) * self.units
            self.gate_recurrent_kernel = self.add_weight(shape=(width, width), name="gate_recurrent_kernel", initializer="zeros")

    def _peep(self, gate, c):
        return getattr(self, f"peephole_{gate}") * c if gate in self.peepholes else 0.0

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias  # (B, G*H)
        z = dict(zip(self.gates, ops.split(z, self.n_gates, axis=-1)))
        if self.flags["full_gate_recurrence"]:
            recurrent = ops.matmul(states[2], self.gate_recurrent_kernel)  # (B, S*H)
            for gate, part in zip(self.sigmoid_gates, ops.split(recurrent, len(self.sigmoid_gates), axis=-1)):
                z[gate] = z[gate] + part
        one = ops.ones_like(c_prev)
        i = ops.sigmoid(z["i"] + self._peep("i", c_prev)) if "i" in z else one
        if "f" in z:
            f = ops.sigmoid(z["f"] + self._peep("f", c_prev))
        else:
            f = 1.0 - i if self.flags["coupled"] else one
        g = ops.tanh(z["g"]) if self.flags["input_activation"] else z["g"]
        c = f * c_prev + i * g
        o = ops.sigmoid(z["o"] + self._peep("o", c)) if "o" in z else one
        h = o * (ops.tanh(c) if self.flags["output_activation"] else c)
        new_states = [h, c]
        if self.flags["full_gate_recurrence"]:
            active = {"i": i, "f": f, "o": o}
            new_states.append(ops.concatenate([active[q] for q in self.sigmoid_gates], axis=-1))
        return h, new_states

    def cell_args(self):
        return {**super().cell_args(), "peepholes": list(self.peepholes), **self.flags}


def _variant(name, summary, **defaults):
    """A registered subclass of LSTMFamilyCell that only changes the defaults."""

    def __init__(self, units, **kwargs):
        LSTMFamilyCell.__init__(self, units, **{**defaults, **kwargs})

    doc = f"{summary}\n\n    `LSTMFamilyCell` with defaults {defaults or 'unchanged'}; see its docstring.\n    "
    cls = type(name, (LSTMFamilyCell,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


PeepholeLSTMCell = _variant("PeepholeLSTMCell", "Vanilla LSTM of Greff et al. 2017: peepholes on i, f and o (Gers & Schmidhuber 2000).")
CIFGLSTMCell = _variant("CIFGLSTMCell", "Coupled input and forget gates, f = 1 - i (Greff et al.'s CIFG), no peepholes.", coupled=True, peepholes=())
LSTMNIGCell = _variant("LSTMNIGCell", "Greff et al.'s NIG: no input gate (i = 1).", input_gate=False, peepholes=("f", "o"))
LSTMNFGCell = _variant("LSTMNFGCell", "Greff et al.'s NFG: no forget gate (f = 1).", forget_gate=False, peepholes=("i", "o"))
LSTMNOGCell = _variant("LSTMNOGCell", "Greff et al.'s NOG: no output gate (o = 1).", output_gate=False, peepholes=("i", "f"))
LSTMNIAFCell = _variant("LSTMNIAFCell", "Greff et al.'s NIAF: no input activation function.", input_activation=False)
LSTMNOAFCell = _variant("LSTMNOAFCell", "Greff et al.'s NOAF: no output activation function.", output_activation=False)
LSTMNPCell = _variant("LSTMNPCell", "Greff et al.'s NP: no peepholes.", peepholes=())
LSTMFGRCell = _variant("LSTMFGRCell", "Greff et al.'s FGR: full gate recurrence.", full_gate_recurrence=True)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PeepholeLSTM(RecurrentLayer):
    """`keras.layers.RNN(PeepholeLSTMCell(units, ...))`; any `LSTMFamilyCell` option applies."""

    cell_class = PeepholeLSTMCell
