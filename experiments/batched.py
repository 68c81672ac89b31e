"""S seeds of one configuration trained as one model: every step's matmuls shared, nothing else.

A seed stack holds each weight of `build_model(cfg)` once per seed, stacked on a leading S
axis: the embedding (S, V, E), the cell's kernels (S, D, G*H) and (S, H, G*H), the output
layer (S, H, K). One step runs all S seeds' batches, (S, B, T), through the cells' whole-
sequence paths (`layers/sequence.py`), where every matmul becomes a batched matmul over the
seed axis and no operation mixes two seeds. What each seed keeps to itself:

- its initial weights: each seed's model is built exactly as its unbatched run builds it
  (`seed_everything(seed)`, then `build_model`), and its weights are copied into the stack;
- its data: the same seeded streams as its unbatched run (`experiments/data.py`);
- its loss: the stack minimises the sum of the seeds' mean losses, whose gradient with
  respect to one seed's weights is that seed's own gradient;
- its optimizer state: Adam and RMSprop are element-wise, so one optimizer over stacked
  variables is S optimizers; the step count is shared, and equal, since all seeds step;
- its gradient clipping: Keras' `clipnorm` clips each weight's gradient by its norm; here the
  norm is taken per seed (`PerSeedClipping`), as S separate optimizers would;
- its early stop: a seed that reaches the target at a check has its weights and history
  taken then; it keeps stepping with the others (its later steps are discarded) until the
  seeds still training are at most `COMPACT_AT` of the stack, when the stack is rebuilt from
  them alone (weights and optimizer state as they are), and it stops when every seed has
  stopped or the budget is spent.

Each seed then gets its own record and `.keras` model, written by `train.conclude` exactly
as an unbatched run's, plus `"batched": {"seeds": [...]}`. Batched seeds are not bit-identical
to unbatched ones (batched matmuls round differently); `tests/test_batched.py` checks that
they are the same experiment, and `results/checks/stacked_rerun/` holds a larger comparison
(the README's "Does it survive a rerun?").
"""

import copy
import dataclasses
import json
import math
import time

import numpy as np

from datasets import TASKS
from experiments import checkpoints
from experiments.backend import keras
from experiments.config import cell_registry
from experiments.data import TEST, TRAIN, VAL, data_seed, seed_everything
from experiments.model import OPTIMIZERS, answer_crossentropy, build_model, make_optimizer
from experiments.train import conclude, history_point, new_record, record_error
from layers.base import RNN
from layers.sequence import has_sequence_path

ops = keras.ops
PREDICT_BATCH = 512  # sequences per seed per inference call, as `model.scores` uses
# Memory a seed adds to a stack's training step, per (sequence, step, unit) of its batch: what
# the backward pass keeps. Measured ~100 bytes (peak RSS of one stacked update, LSTM and GRU,
# T = 640 and 1280, 1 against 4 seeds); 160 leaves room for the allocator. A stack of ten
# chrono LSTMs at gap 2560 (about 11 GB by this count) was killed by the out-of-memory killer
# beside a second one on this 24 GB machine.
BYTES_PER_STEP_UNIT = 160
# Bytes one stacked inference call may take. Inference runs the whole-sequence path too, which
# keeps what a backward pass would need: ten seeds' 512 validation sequences at gap 2560 would
# take ~27 GB at once, so long sequences are predicted in smaller batches.
PREDICT_MEMORY = 2e9
# A stack is rebuilt from its seeds still training once they are at most this share of it, so
# the stopped seeds stop costing steps. Each rebuild costs a trace and an XLA compilation (a
# few seconds); at 3/4, the headline rerun's 64 stacks would have computed 1.26x fewer seed-steps
# (weighted by sequence length, from the records' stopping points) with about 5 rebuilds a stack,
# against 1.28x rebuilding at every stop and 1.18x at 1/2 (PERF_NOTES.md, session 19).
COMPACT_AT = 0.75


def stackable(cfg):
    """Whether `cfg`'s seeds can train as a stack: its cell's own class has a whole-sequence
    path (`layers.sequence.has_sequence_path`), the run uses it (`fused`) under XLA
    (`jit_compile`), and the backend is TensorFlow (the train step below uses its tape).

    XLA is required because TensorFlow 2.21's own CPU kernel for a rank-4 matmul with a size-1
    axis and a broadcast right side (oneDNN's) reads past its buffer: the input projection of
    a stack of one, (T, 1, B, D) x (1, D, H), came back as garbage (1e33) or crashed the
    process, eager or in a graph, while S = 2 or 3, or a size-1 B, were exact (measured
    2026-12-06; tensorflow/tensorflow#123109, fixed upstream by #120199 after 2.21). A stack
    compacts to one seed when the others stop, so without XLA a run could die or train on
    wrong numbers. XLA compiles its own dot: the same products are exact there."""
    return (bool(cfg.fused) and bool(cfg.jit_compile) and keras.backend.backend() == "tensorflow"
            and has_sequence_path(cell_registry()[cfg.model]))


def stack_key(cfg, stack=True):
    """What the seeds of one seed stack share: `cfg` without its seed where it is `stackable`
    (and `stack` is on), else the run itself. Group configs by it to find stacks."""
    return dataclasses.replace(cfg, seed=0) if stack and stackable(cfg) else cfg.run_id


def sequence_bytes(length, units):
    """What one sequence of `length` steps keeps through a stacked pass of a cell with `units` units."""
    return BYTES_PER_STEP_UNIT * length * units


def seed_bytes(cfg):
    """Training memory one seed adds to a stack: a batch of its sequences."""
    return cfg.batch_size * sequence_bytes(TASKS[cfg.task].length(cfg.gap), cfg.units)


def stack_size(cfg, most, memory):
    """How many of `cfg`'s seeds to stack: at most `most`, and as many as fit in `memory`
    bytes (at least one: a seed alone trains as it would unbatched)."""
    return max(1, min(most, int(memory // seed_bytes(cfg))))


class PerSeedClipping:
    """Keras' `clipnorm`, per seed: each (S, ...) gradient's norm is taken over all axes but
    the seed axis, with Keras' own formula (`_clip_by_norm`), so seeds never share a norm.

    An embedding's gradient is sparse (`tf.IndexedSlices`, one row per token read), and
    Keras clips it by the norm of those rows as they are, duplicates not summed; the stack
    keeps that, per seed: the seeds' tables are stacked as one flat (S*V, E) table, so its
    gradient is sparse in the same way, and its rows are grouped by seed here.
    """

    n_seeds = 1

    def _clip_gradients(self, grads):
        if self.clipnorm:
            return [g if g is None else self._clip_per_seed(g) for g in grads]
        return super()._clip_gradients(grads)

    def _clip_per_seed(self, g):
        import tensorflow as tf

        if not isinstance(g, tf.IndexedSlices):
            return self._clip_by_norm(g, axes=tuple(range(1, len(g.shape))))
        seed = g.indices // (g.dense_shape[0] // self.n_seeds)  # the seed of each row read
        l2sum = tf.math.unsorted_segment_sum(tf.reduce_sum(tf.square(g.values), axis=-1), seed, self.n_seeds)
        scale = self.clipnorm / tf.maximum(tf.sqrt(l2sum), self.clipnorm)  # Keras' formula, per seed
        return tf.IndexedSlices(g.values * tf.gather(scale, seed)[:, None], g.indices, g.dense_shape)


def per_seed_optimizer(cfg, n_seeds):
    base = OPTIMIZERS[cfg.optimizer or "adam"]
    return make_optimizer(cfg, type(f"PerSeed{base.__name__}", (PerSeedClipping, base), {"n_seeds": n_seeds}))


# Each layer `build_model` makes, as a function of the stacked weights: (S, B, ...) -> (S, B, ...).
def _embedding(layer, weights, x):
    table = weights[0]  # (S*V, E): the seeds' tables one after another (see `PerSeedClipping`)
    n_seeds = ops.shape(x)[0]
    offsets = ops.reshape(ops.arange(n_seeds) * layer.input_dim, (-1, 1, 1))  # each seed's first row
    return ops.take(table, ops.cast(x, "int32") + offsets, axis=0)


def _recurrent(layer, weights, x):
    sizes = layer.cell.state_size if isinstance(layer.cell.state_size, (list, tuple)) else [layer.cell.state_size]
    zeros = [ops.zeros((ops.shape(x)[0], ops.shape(x)[1], size), dtype=x.dtype) for size in sizes]
    outputs, _ = layer.cell.call_sequence(x, zeros, weights=weights)  # (S, B, T, H)
    return outputs if layer.return_sequences else outputs[:, :, -1]


def _dense(layer, weights, x):
    kernel, bias = weights  # (S, H, K), (S, K)
    flat = ops.reshape(x, (ops.shape(x)[0], -1, ops.shape(x)[-1]))  # (S, B*T, H) for per-step outputs
    out = ops.matmul(flat, kernel) + ops.expand_dims(bias, 1)
    return ops.reshape(out, (*ops.shape(x)[:-1], ops.shape(kernel)[-1]))


def _reshape(layer, weights, x):
    return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], *layer.target_shape))


STACKED_LAYERS = {keras.layers.InputLayer: lambda layer, weights, x: x,  # a saved model's input (`.keras` files)
                  keras.layers.Embedding: _embedding, RNN: _recurrent, keras.layers.Dense: _dense, keras.layers.Reshape: _reshape}


class SeedStack:
    """The weights of S models of one architecture, stacked, and their forward pass."""

    def __init__(self, models):
        self.n_seeds = len(models)
        self.layers, start = [], 0
        for layer in models[0].layers:
            n = len(layer.weights)
            fn = next(f for cls, f in STACKED_LAYERS.items() if isinstance(layer, cls))  # build_model's layers only
            self.layers.append((layer, fn, slice(start, start + n)))
            start += n
        # An embedding table is stacked flat, (S*V, E), every other weight on a new axis 0.
        self.flat = {i for layer, _, weights in self.layers if isinstance(layer, keras.layers.Embedding) for i in range(start)[weights]}
        self.variables = [keras.Variable(np.concatenate(values) if i in self.flat else np.stack(values), name=f"stacked_{i}")
                          for i, values in enumerate(zip(*(m.get_weights() for m in models)))]

    def __call__(self, x):
        return stacked_forward(self.layers, self.variables, x)

    def set_seed_weights(self, s, weights):
        for i, (variable, value) in enumerate(zip(self.variables, weights, strict=True)):
            stacked = variable.numpy()
            if i in self.flat:
                rows = len(stacked) // self.n_seeds
                stacked[s * rows:(s + 1) * rows] = value
            else:
                stacked[s] = value
            variable.assign(stacked)

    def seed_weights(self, s):
        """Seed s's weights as numpy arrays, in `model.get_weights()` order."""
        return [np.split(v.numpy(), self.n_seeds)[s] if i in self.flat else v.numpy()[s] for i, v in enumerate(self.variables)]

    def take(self, keep):
        """A stack of the seeds at positions `keep` of this one, with their weights as they are now."""
        taken = copy.copy(self)  # the same layers; new variables
        taken.n_seeds = len(keep)
        taken.variables = [keras.Variable(take_seeds(v.numpy(), keep, self.n_seeds), name=f"stacked_{i}")
                           for i, v in enumerate(self.variables)]
        return taken


def take_seeds(array, keep, n_seeds):
    """The seeds at positions `keep` of a stacked array: its (S, ...) rows, or for an
    embedding's flat (S*V, E) table (and its optimizer slots) each seed's block of V rows; one
    `np.split` into S blocks covers both. A scalar (the optimizer's step count) is shared and
    returned as it is."""
    if array.ndim == 0:
        return array
    blocks = np.split(array, n_seeds)
    return np.concatenate([blocks[k] for k in keep])


def per_seed_loss(task, pred, y):
    """(S,) mean loss of each seed, the loss `build_model` compiles (`model.task_loss`): MSE,
    or cross-entropy of logits, over every step or over the answers only."""
    if task.output == "value":
        per_sample = ops.square(pred - ops.cast(y, pred.dtype))
    elif task.answers_only:
        per_sample = answer_crossentropy(y, pred, task.blank)  # (S, B)
    else:
        per_sample = keras.losses.sparse_categorical_crossentropy(y, pred, from_logits=True)
    return ops.mean(ops.reshape(per_sample, (ops.shape(per_sample)[0], -1)), axis=1)


def compiled(fn, jit_compile):
    import tensorflow as tf

    return tf.function(fn, jit_compile=bool(jit_compile), reduce_retracing=True)


def predict_in_batches(forward, xs, units):
    """`forward` on (S, n, T, ...) inputs of a stack of cells with `units` units: numpy (S, n, ...).

    PREDICT_BATCH sequences per seed at a time, fewer where S of them would take more than
    PREDICT_MEMORY (at BYTES_PER_STEP_UNIT, as in training)."""
    n = max(1, min(PREDICT_BATCH, int(PREDICT_MEMORY // (xs.shape[0] * sequence_bytes(xs.shape[2], units)))))
    return np.concatenate([forward(xs[:, i:i + n]).numpy() for i in range(0, xs.shape[1], n)], axis=1)


def stack_train_step(stack, cfg, optimizer=None):
    """The compiled update of a seed stack under `cfg`'s protocol: (x (S, B, T...), y) -> (S,) losses.

    `optimizer`: a `per_seed_optimizer` built on `stack.variables` (one is made if None)."""
    import tensorflow as tf

    task = cfg.task_spec
    if optimizer is None:
        optimizer = per_seed_optimizer(cfg, stack.n_seeds)
        optimizer.build(stack.variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            losses = per_seed_loss(task, stack(x), y)
            total = ops.sum(losses)
        optimizer.apply_gradients(zip(tape.gradient(total, stack.variables), stack.variables))
        return losses

    return compiled(step, cfg.jit_compile)


def train_batched(cfgs, results, checkpoint_every=None):
    """Train `cfgs` (one configuration, distinct seeds) as one seed stack; return their records.

    Each record is what `train.train(cfg, results)` writes for its config, plus `"batched"`.
    Every `checkpoint_every` seconds (default `checkpoints.CHECKPOINT_SECONDS`) the stack's whole training state is saved
    (`experiments/checkpoints.py`); a later call with the same `cfgs` resumes from it, and
    the records say at which steps it resumed (`"resumed_at_steps": [...]`).
    """

    cfg0, seeds = cfgs[0], [c.seed for c in cfgs]
    if not stackable(cfg0):  # e.g. fused without XLA, which a stack of one would crash (see `stackable`)
        raise ValueError(f"{cfg0.model} with fused={cfg0.fused}, jit_compile={cfg0.jit_compile} cannot train as a seed stack")
    task = cfg0.task_spec
    checkpoint_every = checkpoints.CHECKPOINT_SECONDS if checkpoint_every is None else checkpoint_every
    start = time.perf_counter()
    records = [new_record(c) for c in cfgs]
    for record in records:
        record["batched"] = {"seeds": seeds}
    run_ids = [c.run_id for c in cfgs]
    ckpt = checkpoints.checkpoint_path(results, run_ids)
    try:
        fresh = []
        for cfg in cfgs:  # each seed's initial weights, drawn exactly as its unbatched run draws them
            seed_everything(cfg.seed)
            fresh.append(build_model(cfg))
        stack = SeedStack(fresh)
        optimizer = per_seed_optimizer(cfg0, stack.n_seeds)
        optimizer.build(stack.variables)
        train_step, forward = stack_train_step(stack, cfg0, optimizer), compiled(stack.__call__, cfg0.jit_compile)  # one trace each

        vals = [task(c.gap, c.n_val, data_seed(c.seed, VAL)) for c in cfgs]
        x_val = np.stack([v[0] for v in vals])
        steps_total, batch = cfg0.budget // cfg0.batch_size, cfg0.batch_size
        steps = 0
        open_ = list(range(len(cfgs)))  # seeds still training
        members = list(range(len(cfgs)))  # the seeds the stack holds, in its order
        state = [{"history": [], "loss": math.nan, "val_acc": 0.0, "steps": 0, "weights": None} for _ in cfgs]
        resumed = checkpoints.load(ckpt, run_ids)
        resumed = resumed and _restore(stack, optimizer, *resumed)
        if resumed:
            steps, open_, state, elapsed, resumed_at = resumed
            start -= elapsed  # the record's seconds count the training before the interruption too
            for record in records:
                record["resumed_at_steps"] = resumed_at
        saved = time.perf_counter()
        while steps < steps_total and open_:
            if len(open_) <= COMPACT_AT * len(members) and len(open_) < len(members):
                stack, optimizer = _compacted(stack, optimizer, [members.index(s) for s in open_], cfg0)
                members = list(open_)
                train_step, forward = stack_train_step(stack, cfg0, optimizer), compiled(stack.__call__, cfg0.jit_compile)
            chunk = min(cfg0.eval_every, steps_total - steps)
            data = [task(cfgs[s].gap, chunk * batch, data_seed(cfgs[s].seed, TRAIN, steps)) for s in members]
            x, y = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
            losses = np.stack([train_step(x[:, i * batch:(i + 1) * batch], y[:, i * batch:(i + 1) * batch]).numpy()
                               for i in range(chunk)])  # (chunk, seeds in the stack)
            steps += chunk
            pred = predict_in_batches(forward, x_val[members], cfg0.units)
            for k, s in enumerate(members):
                if s not in open_:
                    continue
                loss = float(np.mean(losses[:, k]))  # what `fit` reports: the mean over the chunk's steps
                seed_state = state[s]
                seed_state.update(loss=loss, steps=steps)
                if not math.isfinite(loss):
                    open_.remove(s)
                    continue
                val_acc, val_loss = task.score(pred[k], vals[s][1]), task.loss(pred[k], vals[s][1])
                seed_state["val_acc"] = val_acc
                seed_state["history"].append(history_point(cfgs[s], steps, loss, val_acc, val_loss))
                if cfgs[s].stops_at(val_acc):
                    seed_state["weights"] = stack.seed_weights(k)
                    open_.remove(s)
            if open_ and steps < steps_total and time.perf_counter() - saved >= checkpoint_every:
                resumed_at = records[0].get("resumed_at_steps", [])
                full = _expanded(stack, optimizer, members, state, len(cfgs))
                _checkpoint(ckpt, run_ids, *full, steps, open_, state, time.perf_counter() - start, resumed_at)
                saved = time.perf_counter()
        for k, s in enumerate(members):  # the seeds that trained to the end: their weights now
            if state[s]["weights"] is None and math.isfinite(state[s]["loss"]):
                state[s]["weights"] = stack.seed_weights(k)
        if len(members) < len(cfgs):  # a stack of every seed again, to score the test sets in one pass
            for s, seed_state in enumerate(state):
                if seed_state["weights"] is not None:
                    fresh[s].set_weights(seed_state["weights"])
            stack = SeedStack(fresh)
            forward = compiled(stack.__call__, cfg0.jit_compile)
        # The test sets, scored by the stack in one pass: the same forward as the validation
        # checks (the whole-sequence path), instead of one XLA compilation per seed's model.
        tests = [task(c.gap, c.n_test, data_seed(c.seed, TEST)) for c in cfgs]
        for s, seed_state in enumerate(state):  # each seed's weights of when it stopped back in place
            if seed_state["weights"] is not None:
                stack.set_seed_weights(s, seed_state["weights"])
        test_pred = predict_in_batches(forward, np.stack([t[0] for t in tests]), cfg0.units)
        trained = round(time.perf_counter() - start, 2)
        for s, cfg in enumerate(cfgs):
            records[s]["batched"]["seconds_for_all"] = trained
            seed_state = state[s]
            if seed_state["weights"] is not None:
                fresh[s].set_weights(seed_state["weights"])
            y_test = tests[s][1]
            conclude(records[s], cfg, results, fresh[s], fresh[s], seed_state["history"], seed_state["loss"],
                     seed_state["steps"], seed_state["val_acc"], start, share=len(cfgs),
                     test_scores=lambda x, y, s=s, y_test=y_test: (task.score(test_pred[s], y_test), task.loss(test_pred[s], y_test)))
        checkpoints.remove(ckpt)
    except Exception as err:  # as in `train`: no result for any seed, every error recorded
        for record, cfg in zip(records, cfgs):
            record_error(record, cfg, results, err, start)
    return records


def _compacted(stack, optimizer, keep, cfg):
    """The seeds at positions `keep` of `stack` as a stack of their own, with a per-seed
    optimizer whose state (moments, step count) is theirs: training goes on as before."""
    taken = stack.take(keep)
    optimizer_taken = per_seed_optimizer(cfg, taken.n_seeds)
    optimizer_taken.build(taken.variables)
    for old, new in zip(optimizer.variables, optimizer_taken.variables, strict=True):
        new.assign(take_seeds(old.numpy(), keep, stack.n_seeds))
    return taken, optimizer_taken


def _expanded(stack, optimizer, members, state, n_seeds):
    """A stack's variables and optimizer state as numpy arrays of all `n_seeds` seeds, though
    it holds only `members` (after `_compacted`): what `_checkpoint` saves, so that a resumed
    sweep rebuilds the full stack as always. A seed no longer held gets the weights it stopped
    with (zeros if it diverged) and zero optimizer state; neither is trained again."""

    def full(array, other):  # other(s, block like a held seed's) -> seed s's block
        if array.ndim == 0:
            return array
        held = np.split(array, len(members))
        return np.concatenate([held[members.index(s)] if s in members else other(s, held[0]) for s in range(n_seeds)])

    def stopped_with(i):
        def other(s, like):
            weights = state[s]["weights"]
            return np.zeros_like(like) if weights is None else np.reshape(weights[i], like.shape)
        return other

    weights = [full(v.numpy(), stopped_with(i)) for i, v in enumerate(stack.variables)]
    return weights, [full(v.numpy(), lambda s, like: np.zeros_like(like)) for v in optimizer.variables]


def _checkpoint(path, run_ids, weights, optimizer_state, steps, open_, state, elapsed, resumed_at):
    """Save a stack's training state, every seed's (`_expanded`): its variables, the
    optimizer's, and each stopped seed's weights."""
    stopped = [s for s, seed_state in enumerate(state) if seed_state["weights"] is not None]
    arrays = weights + optimizer_state
    arrays += [w for s in stopped for w in state[s]["weights"]]
    meta = {"steps": steps, "open": open_, "stopped": stopped, "elapsed": elapsed, "resumed_at_steps": resumed_at,
            "n_stack": len(weights), "n_optimizer": len(optimizer_state),
            "state": [{k: v for k, v in seed_state.items() if k != "weights"} for seed_state in state]}
    checkpoints.save(path, run_ids, arrays, meta)


def _restore(stack, optimizer, arrays, meta):
    """Put a `_checkpoint`'s state back; return (steps, open seeds, per-seed state, seconds
    trained, resume steps), or None for a checkpoint of another architecture (left unused)."""
    n_stack, n_opt = meta["n_stack"], meta["n_optimizer"]
    if not checkpoints.assign(stack.variables + list(optimizer.variables), arrays[:n_stack + n_opt]):
        return None
    state = [{**seed_state, "weights": None} for seed_state in meta["state"]]
    per_seed = len(stack.variables)
    for k, s in enumerate(meta["stopped"]):
        first = n_stack + n_opt + k * per_seed
        state[s]["weights"] = arrays[first:first + per_seed]
    return meta["steps"], meta["open"], state, meta["elapsed"], meta["resumed_at_steps"] + [meta["steps"]]


def stacked_forward(layers, weights, x):
    """A seed stack's forward: `layers` as `SeedStack.layers`, `weights` its stacked weights
    (variables or tensors), x (S, B, T, ...) -> (S, B, ...)."""
    for layer, fn, taken in layers:
        x = fn(layer, weights[taken], x)
    return x


def architecture(model):
    """What a model computes apart from its weights: its layers' classes and configs, less the
    names Keras numbers (`lstm_3`) and the input layer's shape, as text. Two models with the
    same text run the same forward on the same weights (a model loaded from a `.keras` file,
    as every scored one is, is rebuilt from exactly these configs); an option that only
    initialises (a forget bias) still tells two apart, which costs a compilation, never a
    wrong score."""

    def unnamed(value):
        if isinstance(value, dict):
            return {k: unnamed(v) for k, v in value.items() if k != "name"}
        return [unnamed(v) for v in value] if isinstance(value, (list, tuple)) else value

    layers = [(type(layer).__qualname__, unnamed(layer.get_config())) for layer in model.layers
              if not isinstance(layer, keras.layers.InputLayer)]
    return json.dumps(layers, sort_keys=True, default=repr)


# Compiled stacked forwards by (architecture, jit_compile): scoring runs many configurations
# of one architecture (the seeds of each training gap, tested at several gaps), and each
# compilation costs seconds, so they share one function that takes the weights as arguments
# and compiles once per input shape (PERF_NOTES.md, session 21).
_FORWARDS = {}


def stacked_predictor(models, units, jit_compile=True):
    """A function xs -> outputs of S models of one architecture, each on its own inputs.

    `models`: S models as `build_model` makes them (or loaded from their `.keras` files);
    `units`: their cells' H. The function takes (S, n, T, ...) inputs, xs[s] for models[s],
    and returns numpy (S, n, ...): the same forward as a seed stack's validation checks (the
    whole-sequence path), compiled once for all S models instead of once per model, and
    shared with every other stack of the same architecture in this process (`architecture`):
    an XLA compilation per architecture and input shape, not per configuration and shape.
    """
    stack = SeedStack(models)
    key = (architecture(models[0]), bool(jit_compile))
    if key not in _FORWARDS:
        layers = stack.layers  # the first stack's layer objects: the same computation for every stack of this key
        _FORWARDS[key] = compiled(lambda weights, x: stacked_forward(layers, weights, x), jit_compile)
    forward, weights = _FORWARDS[key], [ops.convert_to_tensor(v) for v in stack.variables]
    return lambda xs: predict_in_batches(lambda x: forward(weights, x), xs, units)
