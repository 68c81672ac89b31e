"""A causal self-attention baseline, on the same exact-gap axis as the recurrent cells.

The seed notes end: "The next step, in many researchers' opinions, is the use of attention."
Attention reads every earlier step directly, so it has no gap to carry anything across; what
can fail instead is telling positions apart, which is what the position scheme is for:

- "learned": a learned embedding per absolute position, added to the input (Vaswani et al.
  2017 use fixed sinusoids; learned tables are GPT's). Positions past those trained have
  untrained rows: the known failure at lengths beyond training (Press et al. 2022, fig. 1).
- "alibi": no position embedding; each head adds -m_h (i - j) to the score of query i on
  key j, with slopes m_h = 2^(-8 h / n_heads) (Press, Smith & Lewis 2022, "Train Short, Test
  Long", section 3): a relative scheme, the same at every absolute position.

Not a recurrent cell: the layer maps a whole sequence at once, and its classmethod
`sequence_layer` is how `build_model` gets it (the seam of `layers.base.sequence_layer`).
"""

import math

import keras
from keras import ops

from layers.base import PACKAGE

POSITIONS = ("learned", "alibi")


def alibi_slopes(n_heads):
    """m_h = 2^(-8 h / n) for h = 1..n (Press et al. 2022, section 3)."""
    return [2.0 ** (-8.0 * h / n_heads) for h in range(1, n_heads + 1)]


def projection_init():
    """Glorot-uniform for a query, key or value kernel (H, heads, H/heads), as the H -> H
    matrix it is (fans H and H), which is what Keras' `MultiHeadAttention` does (its
    `EinsumDense` passes the input and output axes). Keras' default fans for a 3-d shape
    treat the first axis as a receptive field (fan_in = heads * H, fan_out = H/heads * H),
    drawing these kernels sqrt((heads + H/heads) / 2) times too small: 3.2 times at H = 64 and
    4 heads, so every score q.k starts 10 times too small, attention starts uniform and its
    scores get little gradient. Our attention was trained that way until this was found
    (2026-12-07): two blocks then never left associative recall's 0.41 shortcut in 960,000
    sequences, and solved it in 76,800 with this init (`results/checks/attention_init/`)."""
    return keras.initializers.GlorotUniform(input_axes=[0], output_axes=[1, 2])


def output_init():
    """Glorot-uniform for the output kernel (heads, H/heads, H) as an H -> H matrix (see above)."""
    return keras.initializers.GlorotUniform(input_axes=[0, 1], output_axes=[2])


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalSelfAttention(keras.layers.Layer):
    """Causal self-attention blocks: (B, T, D) -> (B, H) at the last step, or (B, T, H).

        h = x W_in (+ P[t] with learned positions)                       (B, T, H)
        per block:  h = h + MHA(LN(h))   (causal; ALiBi bias if chosen)
                    h = h + W_2 relu(W_1 LN(h))                          (pre-norm, Xiong et al. 2020)
        out = LN(h)

    The attention's weights have the shapes and the initial scale of
    `keras.layers.MultiHeadAttention` (query, key, value kernels (H, heads, H/heads), output
    kernel (heads, H/heads, H), each drawn as an H -> H matrix: `projection_init`); with
    learned positions, one block equals Keras' layer with `use_causal_mask=True` (tests).

    Args:
        units: H, the model width (divisible by `heads`).
        heads: attention heads (default 4).
        blocks: attention blocks (default 1).
        positions: "learned" (default) or "alibi".
        max_length: rows of the learned position table; default 4 x sequence_length (room
            for the 4x length-generalisation test), or 1024. Longer inputs reuse the last row.
        sequence_length: T, told by the run (`RunConfig.cell_kwargs`).
        return_sequences: every step's output instead of the last.
    """

    def __init__(self, units, heads=4, blocks=1, positions="learned", max_length=None, sequence_length=None,
                 return_sequences=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("units", units), ("heads", heads), ("blocks", blocks)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {name}={value!r}")
        if units % heads:
            raise ValueError(f"units must be divisible by heads, received units={units}, heads={heads}")
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, received positions={positions!r}")
        self.units, self.heads, self.blocks, self.positions = units, heads, blocks, positions
        self.sequence_length, self.return_sequences = sequence_length, return_sequences
        self.max_length = max_length or (4 * sequence_length if sequence_length else 1024)

    @classmethod
    def sequence_layer(cls, units, options, return_sequences=False, fused=True):
        return cls(units, return_sequences=return_sequences, **options)

    def build(self, input_shape):
        H, n, d = self.units, self.heads, self.units // self.heads
        self.input_kernel = self.add_weight(shape=(input_shape[-1], H), name="input_kernel", initializer="glorot_uniform")
        if self.positions == "learned":
            self.position_table = self.add_weight(shape=(self.max_length, H), name="position_table",
                                                  initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.block_weights = []
        for b in range(self.blocks):
            w = {name: self.add_weight(shape=shape, name=f"block{b}_{name}", initializer=init) for name, shape, init in (
                ("query_kernel", (H, n, d), projection_init()), ("query_bias", (n, d), "zeros"),
                ("key_kernel", (H, n, d), projection_init()), ("key_bias", (n, d), "zeros"),
                ("value_kernel", (H, n, d), projection_init()), ("value_bias", (n, d), "zeros"),
                ("output_kernel", (n, d, H), output_init()), ("output_bias", (H,), "zeros"),
                ("mlp_kernel_1", (H, 2 * H), "glorot_uniform"), ("mlp_bias_1", (2 * H,), "zeros"),
                ("mlp_kernel_2", (2 * H, H), "glorot_uniform"), ("mlp_bias_2", (H,), "zeros"))}
            w["norm_1"], w["norm_2"] = (keras.layers.LayerNormalization(dtype=self.dtype_policy) for _ in range(2))
            self.block_weights.append(w)
        self.final_norm = keras.layers.LayerNormalization(dtype=self.dtype_policy)
        for w in self.block_weights:
            w["norm_1"].build((None, None, H))
            w["norm_2"].build((None, None, H))
        self.final_norm.build((None, None, H))

    def attention(self, h, w, mask_bias):
        """Multi-head attention of h (B, T, H) on itself, `mask_bias` (heads or 1, T, T) added to the scores."""
        q = ops.einsum("btc,cnd->btnd", h, w["query_kernel"]) + w["query_bias"]
        k = ops.einsum("btc,cnd->btnd", h, w["key_kernel"]) + w["key_bias"]
        v = ops.einsum("btc,cnd->btnd", h, w["value_kernel"]) + w["value_bias"]
        scores = ops.einsum("bqnd,bknd->bnqk", q, k) / math.sqrt(self.units // self.heads) + mask_bias
        context = ops.einsum("bnqk,bknd->bqnd", ops.softmax(scores, axis=-1), v)
        return ops.einsum("bqnd,ndc->bqc", context, w["output_kernel"]) + w["output_bias"]

    def score_bias(self, length):
        """(heads or 1, T, T): -inf above the diagonal (causal), and ALiBi's -m_h (i - j) below."""
        i = ops.expand_dims(ops.arange(length), 1)
        j = ops.expand_dims(ops.arange(length), 0)
        causal = ops.cast(ops.where(j > i, -1e9, 0.0), self.compute_dtype)[None]
        if self.positions != "alibi":
            return causal
        slopes = ops.reshape(ops.convert_to_tensor(alibi_slopes(self.heads), self.compute_dtype), (-1, 1, 1))
        return causal - slopes * ops.cast(i - j, self.compute_dtype)[None]

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        h = ops.matmul(inputs, self.input_kernel)
        if self.positions == "learned":
            h = h + ops.take(self.position_table, ops.minimum(ops.arange(length), self.max_length - 1), axis=0)[None]
        bias = self.score_bias(length)
        for w in self.block_weights:
            h = h + self.attention(w["norm_1"](h), w, bias)
            x = w["norm_2"](h)
            h = h + ops.matmul(ops.relu(ops.matmul(x, w["mlp_kernel_1"]) + w["mlp_bias_1"]), w["mlp_kernel_2"]) + w["mlp_bias_2"]
        h = self.final_norm(h)
        return h if self.return_sequences else h[:, -1]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units) if self.return_sequences else (input_shape[0], self.units)

    def carried(self):
        """What the next step reads of the past (`layers.base.carried`): every earlier step's
        key and value in every block, 2 * blocks * H numbers per step seen, so it grows with T."""
        return f"{2 * self.blocks * self.units} per step seen"

    def get_config(self):
        return {**super().get_config(), "units": self.units, "heads": self.heads, "blocks": self.blocks,
                "positions": self.positions, "max_length": self.max_length, "sequence_length": self.sequence_length,
                "return_sequences": self.return_sequences}
