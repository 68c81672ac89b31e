"""How fast do the cells train? Custom cells against Keras' built-ins and PyTorch, on this CPU.

One training step (forward, backward, Adam update) and one inference pass of
Input (B, T, D=16) -> recurrent layer (H) -> Dense(8), for every implementation of every
cell, at the shapes of the issue. Measurements are interleaved (one step of each
implementation per round, many rounds) so that drift in the machine's speed hits all of
them alike, and the median of the rounds after warm-up is reported. Achieved GFLOP/s are
set against this machine's own matmul rate, measured in the same run.
"""

import sys
import time

import numpy as np
import pandas as pd

from experiments.records import write_csv, write_text
from experiments.tables import markdown_table

SHAPES = [(64, 100, 64), (32, 500, 128)]  # (batch, timesteps, units)
D, K = 16, 8
BUILTIN = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
TORCH = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def step_flops(cell, batch, timesteps, units):
    """Matmul FLOPs of one training step: the forward pass x 3 (the backward pass is two more).

    Per step, each weight matrix of the cell is multiplied once by a (B, rows) input: 2 B
    FLOPs per matrix entry. Counting the cell's own matrices serves every cell (gates,
    peepholes aside, a second layer, an input projection) without a table per cell.
    """
    from layers import CELLS

    cell_layer = CELLS[cell](units)
    cell_layer.build((batch, D))
    entries = sum(int(np.prod(w.shape)) for w in cell_layer.weights if len(w.shape) == 2 and "bias" not in w.name)
    forward = 2 * batch * timesteps * entries + 2 * batch * units * K
    return 3 * forward


def matmul_gflops(n=2048, repeats=3):
    """This machine's float32 matmul rate through TensorFlow (the same kernels the cells use)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    tf.matmul(a, a).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def keras_runner(layer, batch, timesteps, jit_compile=False, seed=0):
    from experiments.backend import keras
    from experiments.model import compile_model

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, timesteps, D)).astype("float32")
    y = rng.integers(0, K, size=batch)
    model = keras.Sequential([keras.Input((timesteps, D)), layer, keras.layers.Dense(K)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    compile_model(model, keras.optimizers.Adam(1e-3), loss, jit_compile=jit_compile)
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def torch_runner(cell, batch, timesteps, units, seed=0):
    import torch

    torch.manual_seed(seed)
    rnn = getattr(torch.nn, TORCH[cell])(D, units, batch_first=True)
    head = torch.nn.Linear(units, K)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, 1e-3)
    x = torch.randn(batch, timesteps, D)
    y = torch.randint(0, K, (batch,))

    def train():
        opt.zero_grad()
        out, _ = rnn(x)
        loss = torch.nn.functional.cross_entropy(head(out[:, -1]), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            head(rnn(x)[0][:, -1])

    return train, infer


def implementations(cell, batch, timesteps, units):
    """(impl name, train fn, infer fn) for every implementation of `cell` available here.

    custom: the cell in `keras.layers.RNN`, one call per step; fused: its whole-sequence path
    (`layers.sequence`), where it has one; keras: the built-in layer; -xla: the same compiled
    by XLA; torch: `torch.nn`. Under the JAX backend everything is XLA-compiled already.
    """
    from experiments.backend import keras
    from layers import CELLS
    from layers.base import RNN
    from layers.sequence import has_sequence_path

    xla = [True] if keras.backend.backend() == "jax" else [False, True]  # JAX always compiles
    layers = [("custom", lambda: keras.layers.RNN(CELLS[cell](units)))]
    if has_sequence_path(CELLS[cell](units)):
        layers.append(("fused", lambda: RNN(CELLS[cell](units))))
    if cell in BUILTIN:
        layers.append(("keras", lambda: getattr(keras.layers, BUILTIN[cell])(units)))
    suffix = {False: "", True: "" if xla == [True] else "-xla"}
    impls = [(name + suffix[jit], *keras_runner(make(), batch, timesteps, jit)) for name, make in layers for jit in xla]
    if cell in BUILTIN:
        try:
            impls.append(("torch", *torch_runner(cell, batch, timesteps, units)))
        except ImportError:
            pass  # PyTorch is an optional extra: `make bench-extras`
    return impls


def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def bench(cells, shapes=SHAPES, repeats=10, warmup=2, out=None):
    """Time every implementation of every cell at every shape; return the table.

    With `out` (a path without suffix), also write `out`.csv and `out`.md, or under the JAX
    backend `out`_jax.csv and .md, so that the TensorFlow table is not overwritten.
    """
    from experiments.backend import keras

    impl_suffix = "-jax" if keras.backend.backend() == "jax" else ""  # the same layers, on JAX
    peak = matmul_gflops()
    rows = []
    for batch, timesteps, units in shapes:
        for cell in cells:
            impls = implementations(cell, batch, timesteps, units)
            times = {name: {"train": [], "infer": []} for name, _, _ in impls}
            for round_ in range(warmup + repeats):
                for name, train, infer in impls:  # interleaved: one of each per round
                    t_train, t_infer = timed(train), timed(infer)
                    if round_ >= warmup:
                        times[name]["train"].append(t_train)
                        times[name]["infer"].append(t_infer)
            flops = step_flops(cell, batch, timesteps, units)
            for name, t in times.items():
                train_ms, infer_ms = float(np.median(t["train"])), float(np.median(t["infer"]))
                rows.append({"cell": cell, "impl": name + impl_suffix if name != "torch" else name, "batch": batch,
                             "timesteps": timesteps, "units": units, "train_ms": round(train_ms, 2),
                             "infer_ms": round(infer_ms, 2), "train_gflops": round(flops / train_ms / 1e6, 2),
                             "machine_matmul_gflops": round(peak, 1), "repeats": repeats})
            keras.backend.clear_session()
            print(f"bench: {cell} B={batch} T={timesteps} H={units} done", file=sys.stderr)
    table = pd.DataFrame(rows)
    for ref, impl in (("keras", "keras" + impl_suffix), ("torch", "torch")):  # the built-in on the same backend
        base = table[table["impl"] == impl].set_index(["cell", "batch", "timesteps", "units"])["train_ms"]
        key = table.set_index(["cell", "batch", "timesteps", "units"]).index
        table[f"train_vs_{ref}"] = np.round(table["train_ms"].to_numpy() / base.reindex(key).to_numpy(), 2)
    if out:
        out += impl_suffix.replace("-", "_")
        write_csv(f"{out}.csv", table)
        write_text(f"{out}.md", markdown(table))
    return table


def markdown(table):
    cols = ["cell", "impl", "batch", "timesteps", "units", "train_ms", "infer_ms", "train_vs_keras", "train_vs_torch", "train_gflops"]
    peak = table["machine_matmul_gflops"].iloc[0]
    return markdown_table(table[cols]) + f"\nMachine matmul rate (2048^3, float32, TensorFlow): {peak} GFLOP/s.\n"
