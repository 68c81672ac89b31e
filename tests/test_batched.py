"""Seed stacks (experiments/batched.py) are the same experiment as unbatched runs: the same
initial weights, the same first losses to 1e-5, and outcomes that agree statistically."""

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from datasets import TASKS
from experiments import batched, checkpoints, presets, sweep
from experiments.backend import keras
from experiments.config import RunConfig
from experiments.data import seed_everything
from experiments.evaluate import evaluate
from experiments.model import build_model
from experiments.train import train

pytestmark = pytest.mark.slow  # XLA compiles and many short runs

SMALL = dict(units=8, budget=64 * 40, eval_every=10, n_val=128, n_test=256, **presets.FAST)


def test_each_seed_starts_from_its_unbatched_weights():
    cfgs = [RunConfig(model="gru", seed=s, forget_bias="chrono", **SMALL) for s in (3, 7)]
    models = []
    for cfg in cfgs:
        seed_everything(cfg.seed)
        models.append(build_model(cfg))
    stack = batched.SeedStack(models)
    for s, cfg in enumerate(cfgs):
        seed_everything(cfg.seed)
        for got, want in zip(stack.seed_weights(s), build_model(cfg).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model,task,extra", [
    ("lstm", "fluent", {}),
    ("rnn", "fluent", {"recurrent_init": "identity"}),
    ("gru", "copy", {"forget_bias": "chrono"}),
    ("lstm", "adding", {"optimizer": "rmsprop", "clipnorm": None, "clipvalue": 0.5}),
    ("lstm", "adding", {"optimizer": "rmsprop_primed", "clipnorm": None, "clipvalue": 1.0}),  # its mean starts at 1e-3 per seed too
    ("min_lstm", "fluent", {"forget_bias": "chrono"}),  # a parallel scan, not a step loop, per seed
    ("lru", "fluent", {}),  # a complex parallel scan with per-unit weights
])
def test_the_first_losses_equal_the_unbatched_runs(tmp_path, model, task, extra):
    cfgs = [RunConfig(model=model, task=task, gap=6, seed=s, **{**SMALL, "budget": 64 * 20}, **extra) for s in (0, 1)]
    stacked = batched.train_batched(cfgs, tmp_path / "stack")
    for cfg, record in zip(cfgs, stacked):
        alone = train(cfg, tmp_path / "alone")
        assert record["status"] == alone["status"] == "ok" and record["batched"]["seeds"] == [0, 1]
        for got, want in zip(record["history"], alone["history"], strict=True):  # 2 checks of 10 steps each
            assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
        loaded = keras.saving.load_model(tmp_path / "stack" / record["model_file"])  # today's .keras, loadable alone
        assert len(loaded.get_weights()) == len(build_model(cfg).get_weights())


def test_clipnorm_is_taken_per_seed_as_separate_optimizers_would():
    import tensorflow as tf

    optimizer = batched.per_seed_optimizer(RunConfig(), n_seeds=2)  # clipnorm 1
    dense = np.stack([np.full((2, 2), 0.25), np.full((2, 2), 2.0)]).astype("float32")  # norms 0.5 and 4
    clipped = optimizer._clip_gradients([tf.constant(dense)])[0].numpy()
    np.testing.assert_allclose(clipped[0], dense[0])  # under the norm: untouched
    np.testing.assert_allclose(np.linalg.norm(clipped[1]), 1.0, rtol=1e-6)
    # An embedding's sparse gradient: rows 0-2 belong to seed 0, rows 3-5 to seed 1 (V = 3).
    values = tf.constant([[3.0, 4.0], [0.0, 0.1], [6.0, 8.0]])
    sparse = tf.IndexedSlices(values, tf.constant([1, 4, 5]), tf.constant([6, 2]))
    out = optimizer._clip_gradients([sparse])[0]
    np.testing.assert_allclose(out.values.numpy()[0], [0.6, 0.8], rtol=1e-6)  # seed 0: norm 5 -> 1
    seed1 = np.linalg.norm(out.values.numpy()[1:])
    assert seed1 == pytest.approx(1.0, rel=1e-6)  # seed 1: rows 4 and 5 share one norm


def test_outcomes_of_twenty_seeds_agree_with_unbatched_runs(tmp_path):
    """Statistically the same experiment: solved counts (Fisher's exact test) and sequences to
    solve (Mann-Whitney) of 20 seeds, at a gap where the outcome varies between seeds."""
    # gap 20 and 30 updates: 10 of 20 seeds solve it either way (gap 28 and 50 updates, 16 of
    # 20, cost 44 s against 31 s)
    base = RunConfig(model="rnn", gap=20, **{**SMALL, "budget": 64 * 30})
    cfgs = [dataclasses.replace(base, seed=s) for s in range(20)]
    stacked = batched.train_batched(cfgs[:10], tmp_path / "stack") + batched.train_batched(cfgs[10:], tmp_path / "stack")
    alone = [train(cfg, tmp_path / "alone") for cfg in cfgs]
    solved = [sum(r["solved"] for r in rs) for rs in (stacked, alone)]
    assert 0 < solved[1] < 20, "pick a gap where seeds differ, or the test says nothing"
    assert stats.fisher_exact([[solved[0], 20 - solved[0]], [solved[1], 20 - solved[1]]]).pvalue > 0.05
    seen = [[r["sequences_seen"] for r in rs] for rs in (stacked, alone)]
    assert seen[0] != [seen[0][0]] * 20, "every seed stopped at once: early stop is not per seed"
    assert stats.mannwhitneyu(*seen).pvalue > 0.05
    agree = sum(a["solved"] == b["solved"] for a, b in zip(stacked, alone))
    print(f"solved {solved[0]} vs {solved[1]} of 20; same outcome for {agree} of 20 seeds")


def test_stacks_of_one_architecture_share_one_compiled_forward_and_keep_their_own_weights():
    # Two configurations of one architecture (gaps 6 and 12: what length generalisation scores
    # side by side), and one of another (4 units). The shared function must compute each
    # stack's outputs from that stack's weights, never from the first stack's.
    def models(**kw):
        out = []
        for seed in (0, 1):
            seed_everything(seed)
            out.append(build_model(RunConfig(model="lstm", seed=seed, **{**SMALL, **kw})))
        return out

    first, second, other = models(gap=6), models(gap=12), models(gap=6, units=4)
    for m in second:  # another training's weights, not a redraw of the first ones
        m.set_weights([w + 0.1 for w in m.get_weights()])
    assert batched.architecture(first[0]) == batched.architecture(second[1]) != batched.architecture(other[0])
    batched._FORWARDS.clear()
    predictors = [batched.stacked_predictor(ms, ms[0].layers[1].cell.units) for ms in (first, second, other)]
    assert len(batched._FORWARDS) == 2
    task = TASKS["fluent"]
    for ms, predict in zip((first, second, other), predictors):
        xs = np.stack([task(9, 16, seed)[0] for seed in (5, 6)])  # a test gap neither trained at
        for got, model, x in zip(predict(xs), ms, xs, strict=True):
            np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_sweep_stacks_the_seeds_of_each_configuration(tmp_path, capsys):
    configs = presets.expand("quick", models=("lstm", "gru"), gaps=(3,), seeds=(0, 1, 2), **presets.FAST)
    todo = sweep.units(configs)
    assert sorted(len(u) for u in todo) == [3, 3] and all(len({c.seed for c in u}) == 3 for u in todo)
    assert len(sweep.units(configs, seeds_per_model=2)) == 4 and len(sweep.units(configs, seeds_per_model=1)) == 6
    step_loop = presets.expand("quick", models=("lstm",), gaps=(3,), seeds=(0, 1))  # fused unset: no stack
    assert [len(u) for u in sweep.units(step_loop)] == [1, 1]
    # fused but not under XLA: TensorFlow's own kernel corrupts a stack of one (batched.stackable), so no stack
    no_xla = presets.expand("quick", models=("lstm",), gaps=(3,), seeds=(0, 1), fused=True, jit_compile=False)
    assert [len(u) for u in sweep.units(no_xla)] == [1, 1]
    counts = sweep.sweep(configs, tmp_path, executor="local", progress=True)
    assert counts["done"] == 6 and counts["errors"] == 0
    assert "6 runs as 2 seed stacks:" in capsys.readouterr().err
    # a run that cannot stack (the step loop's) is counted too, so that the label's parts add up
    assert sweep.stacks_description(sweep.units(configs[:2] + step_loop[:1])) == "2 runs as 1 seed stack, 1 alone"
    assert sweep.stacks_description(sweep.units(step_loop)) is None
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert all(r["batched"]["seeds"] == [0, 1, 2] for r in records)
    # Downstream reads them as any record; evaluate scores a configuration's seeds as one stack,
    # with the same accuracies as one model at a time.
    stacked, alone = evaluate(tmp_path, progress=False), evaluate(tmp_path, progress=False, stacked=False, rescore=True)
    assert len(stacked) == 6 and list(stacked["test_accuracy"]) == list(alone["test_accuracy"])
    np.testing.assert_allclose(stacked["test_loss"], alone["test_loss"], rtol=1e-5)


def test_seed_stacks_are_cut_to_what_fits_in_memory(monkeypatch):
    """Ten seeds at a long gap become stacks no larger than the memory allows; a seed alone
    when not even two fit; `seeds_per_model` still caps a stack when memory does not."""
    cfgs = [RunConfig(model="lstm", gap=2560, seed=s, forget_bias="chrono", **presets.FAST) for s in range(10)]
    one = batched.seed_bytes(cfgs[0])
    assert one == batched.BYTES_PER_STEP_UNIT * 64 * TASKS['fluent'].length(2560) * 64  # B * T * H
    assert batched.seed_bytes(dataclasses.replace(cfgs[0], gap=1280)) < one
    assert [len(u) for u in sweep.units(cfgs, 10, memory=4.5 * one)] == [4, 4, 2]
    assert [len(u) for u in sweep.units(cfgs, 10, memory=0.5 * one)] == [1] * 10
    assert [len(u) for u in sweep.units(cfgs, 3, memory=100 * one)] == [3, 3, 3, 1]
    assert [len(u) for u in sweep.units(cfgs, 10)] == [10]
    hold_memory(monkeypatch, available=12e9)  # held still, so that both budgets read the same amount
    assert sweep.stack_memory(2) == pytest.approx(sweep.stack_memory(1) / 2)


def hold_memory(monkeypatch, available, total=24e9):
    """Make `psutil.virtual_memory()` report `available` of `total` bytes, whatever the machine has."""
    import collections

    import psutil

    memory = collections.namedtuple("svmem", "total available")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory(total, available))


def test_the_stack_budget_is_a_share_of_the_memory_available_not_of_all_ram(monkeypatch):
    """A second sweep planning beside a first one's resident stacks sees only what is left:
    with 24 GB in the machine and 10 GB of it available, ten chrono LSTMs at gap 2560 plan
    stacks from 6 GB, not from 14.4 GB."""
    cfgs = [RunConfig(model="lstm", gap=2560, seed=s, forget_bias="chrono", **presets.FAST) for s in range(10)]
    one = batched.seed_bytes(cfgs[0])
    hold_memory(monkeypatch, available=24e9)
    alone = [len(u) for u in sweep.units(cfgs, 10, sweep.stack_memory(1))]
    hold_memory(monkeypatch, available=10e9)
    assert sweep.stack_memory(1) == pytest.approx(sweep.STACK_MEMORY_SHARE * 10e9)
    beside = [len(u) for u in sweep.units(cfgs, 10, sweep.stack_memory(1))]
    assert max(beside) == int(sweep.STACK_MEMORY_SHARE * 10e9 // one) < max(alone)
    assert sum(beside) == sum(alone) == 10


def interrupted(monkeypatch, n, training):
    """Run `training()` until just after its n-th checkpoint is written, then stop it as
    SIGTERM or Ctrl-C would (KeyboardInterrupt); return the steps of each checkpoint."""
    saves, real_save = [], checkpoints.save

    def save_then_die(*args):
        real_save(*args)
        saves.append(args[3]["steps"])
        if len(saves) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        training()
    monkeypatch.setattr(checkpoints, "save", real_save)
    return saves


def test_an_interrupted_stack_resumes_to_the_same_records(tmp_path, monkeypatch):
    """A stack killed mid-training (after its second checkpoint) and trained again ends with
    the records of a stack that was never stopped: the same losses, stops and test scores.
    A low target makes the seeds stop apart: one at step 10, so the stack is rebuilt from the
    other three (`COMPACT_AT`) before the second checkpoint, which still holds all 4 seeds, the
    stopped one with its weights of then; the resumed sweep forms the full stack as always,
    takes the stopped seeds' weights back from the checkpoint and rebuilds the stack."""
    cfgs = [RunConfig(model="lstm", gap=12, seed=s, target_accuracy=0.3, **{**SMALL, "budget": 64 * 50}) for s in range(4)]
    whole = batched.train_batched(cfgs, tmp_path / "whole", checkpoint_every=0)
    assert sorted(r["sequences_seen"] // 64 for r in whole) == [10, 20, 20, 30], "pick seeds that stop apart"
    rebuilds = []
    compacted = batched._compacted
    monkeypatch.setattr(batched, "_compacted", lambda stack, *args: rebuilds.append(stack.n_seeds) or compacted(stack, *args))
    saves = interrupted(monkeypatch, 2, lambda: batched.train_batched(cfgs, tmp_path / "cut", checkpoint_every=0))
    assert saves == [10, 20] and rebuilds == [4]  # the second checkpoint was written by a stack of 3
    _, meta = checkpoints.load(checkpoints.checkpoint_path(tmp_path / "cut", [c.run_id for c in cfgs]), [c.run_id for c in cfgs])
    assert len(meta["stopped"]) == 3 and len(meta["open"]) == 1
    resumed = batched.train_batched(cfgs, tmp_path / "cut", checkpoint_every=0)
    for a, b in zip(whole, resumed, strict=True):
        assert a["status"] == b["status"] == "ok" and b["resumed_at_steps"] == [20]
        assert a["history"] == b["history"] and a["sequences_seen"] == b["sequences_seen"]
        assert a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-6)
    assert not list((tmp_path / "whole" / "checkpoints").glob("*")), "the checkpoint outlived the records"
    assert not list((tmp_path / "cut" / "checkpoints").glob("*"))


def test_a_checkpoint_of_other_runs_or_a_broken_one_is_ignored(tmp_path, capsys):
    path = checkpoints.checkpoint_path(tmp_path, ["a", "b"])
    checkpoints.save(path, ["a", "b"], [np.zeros(3)], {"steps": 5})
    arrays, meta = checkpoints.load(path, ["a", "b"])
    assert meta["steps"] == 5 and arrays[0].shape == (3,)
    assert checkpoints.load(path, ["a", "c"]) is None
    path.write_bytes(b"not a zip")
    assert checkpoints.load(path, ["a", "b"]) is None and "unreadable checkpoint" in capsys.readouterr().err


def test_an_interrupted_single_run_resumes_to_the_same_record(tmp_path, monkeypatch):
    """The same for a run trained alone (`train.train`, the step loop here)."""
    cfg = RunConfig(model="lstm", gap=6, units=8, budget=64 * 40, eval_every=10, n_val=128, n_test=256)
    whole = train(cfg, tmp_path / "whole", checkpoint_every=0)
    saves = interrupted(monkeypatch, 2, lambda: train(cfg, tmp_path / "cut", checkpoint_every=0))
    resumed = train(cfg, tmp_path / "cut", checkpoint_every=0)
    assert saves == [10, 20] and resumed["resumed_at_steps"] == [20] and "resumed_at_steps" not in whole
    assert whole["history"] == resumed["history"] and whole["test_accuracy"] == resumed["test_accuracy"]
    assert not list((tmp_path / "cut" / "checkpoints").glob("*"))


def test_a_sweep_resumes_a_checkpointed_stack_whatever_the_stack_size_now(tmp_path, monkeypatch, capsys):
    """Stopped mid-stack, the sweep is run again with another SEEDS_PER_MODEL: the stack that
    has a checkpoint is formed as it was and resumes; the other seeds group as asked."""
    configs = [RunConfig(model="gru", gap=12, seed=s, **{**SMALL, "budget": 64 * 30}) for s in range(4)]
    saved = [(configs[1].run_id, configs[3].run_id)]
    assert [tuple(c.seed for c in u) for u in sweep.units(configs, 3, saved=saved)] == [(1, 3), (0, 2)]
    assert [tuple(c.seed for c in u) for u in sweep.units(configs[:3], 3, saved=saved)] == [(0, 1, 2)]  # seed 3 is done: no resume
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 0)  # a checkpoint at every check
    interrupted(monkeypatch, 1, lambda: sweep.sweep(configs[:2], tmp_path, executor="local", progress=False, seeds_per_model=2))
    assert len(checkpoints.saved_units(tmp_path)) == 1
    counts = sweep.sweep(configs, tmp_path, executor="local", progress=False, seeds_per_model=4)
    assert counts["done"] == 4 and not checkpoints.saved_units(tmp_path)
    assert "1 of them resume from a checkpoint" in capsys.readouterr().err
    records = {r["config"]["seed"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json"))}
    assert [records[s]["batched"]["seeds"] for s in range(4)] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert records[0]["resumed_at_steps"] == records[1]["resumed_at_steps"] == [10] and "resumed_at_steps" not in records[2]


def test_without_early_stop_every_seed_trains_its_whole_budget_alone_and_stacked(tmp_path):
    """`early_stop=False` (a paper's loss at its own update count): seeds that reach the target
    at steps 10-30 of 50 (as in the resume test above) train all 50 and are still recorded as
    solved."""
    cfgs = [RunConfig(model="lstm", gap=12, seed=s, target_accuracy=0.3, early_stop=False, **{**SMALL, "budget": 64 * 50})
            for s in range(2)]
    assert dataclasses.replace(cfgs[0], early_stop=None).run_id != cfgs[0].run_id
    stacked = batched.train_batched(cfgs, tmp_path / "stacked", checkpoint_every=0)
    alone = [train(cfg, tmp_path / "alone") for cfg in cfgs]
    for record in stacked + alone:
        assert record["status"] == "ok" and record["solved"] and record["sequences_seen"] == 64 * 50
        assert len(record["history"]) == 5 and any(p["val_accuracy"] >= 0.3 for p in record["history"][:-1])  # it would have stopped there
