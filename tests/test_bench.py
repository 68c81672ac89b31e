"""The benchmark runs and reports what it says; no test asserts a time."""

import importlib.util

import pandas as pd
import pytest

from experiments.bench import bench, markdown, step_flops

pytestmark = pytest.mark.slow  # processes, sweeps or XLA compiles: left out by `make test-fast`


def test_bench_at_a_tiny_size_writes_its_table(tmp_path):
    out = tmp_path / "bench.csv"
    table = bench(["lstm", "cifg_lstm"], shapes=[(4, 5, 8)], repeats=2, warmup=1, out=str(tmp_path / "bench"))
    expected_impls = {"custom", "custom-xla", "fused", "fused-xla", "keras", "keras-xla"}
    expected_impls |= {"torch"} if importlib.util.find_spec("torch") else set()
    assert set(table[table["cell"] == "lstm"]["impl"]) == expected_impls
    # no built-in twin and no whole-sequence path
    assert list(table[table["cell"] == "cifg_lstm"]["impl"]) == ["custom", "custom-xla"]
    required = ["cell", "impl", "batch", "timesteps", "units", "train_ms", "infer_ms"]
    written = pd.read_csv(out)
    assert set(required) <= set(written.columns) and len(written) == len(table)
    assert (written["train_ms"] > 0).all() and (written["infer_ms"] > 0).all()
    keras_row = table[(table["cell"] == "lstm") & (table["impl"] == "keras")].iloc[0]
    assert keras_row["train_vs_keras"] == 1.0
    # from the unrounded time: within the rounding of train_ms (0.005 ms) and of GFLOP/s (0.005)
    expected = step_flops("lstm", 4, 5, 8) / keras_row["train_ms"] / 1e6
    tolerance = expected * 0.0051 / (keras_row["train_ms"] - 0.005) + 0.0051
    assert abs(keras_row["train_gflops"] - expected) <= tolerance
    assert (tmp_path / "bench.md").read_text() == markdown(table)
    assert "| lstm | custom | 4 | 5 | 8 |" in markdown(table)


def test_flop_counts_follow_the_cells_matrices():
    # a GRU has 3 of the LSTM's 4 gate blocks; its (2, 3H) bias is not a matrix to multiply
    assert step_flops("gru", 2, 3, 4) - 3 * 2 * 2 * 4 * 8 == 0.75 * (step_flops("lstm", 2, 3, 4) - 3 * 2 * 2 * 4 * 8)
    assert step_flops("rnn", 2, 3, 4) - 3 * 2 * 2 * 4 * 8 == 0.25 * (step_flops("lstm", 2, 3, 4) - 3 * 2 * 2 * 4 * 8)


def test_flop_count_of_an_lstm_step():
    # forward: 2 * B * T * (D + H) * H * 4 gates + 2 * B * H * K for the head; backward doubles it twice
    assert step_flops("lstm", 2, 3, 4) == 3 * (2 * 2 * 3 * (16 + 4) * 4 * 4 + 2 * 2 * 4 * 8)


def test_bench_seeds_at_a_tiny_size_writes_both_modes_for_each_stack_size(tmp_path):
    from experiments.bench_seeds import bench_seeds, write

    table = bench_seeds(models=("rnn",), gaps=(3,), seeds=(1, 2), steps=2)
    assert list(table.columns[:4]) == ["cell", "gap", "seeds", "steps"]
    assert {"cell", "seeds", "mode", "wall_s", "update_ms"} <= set(table.columns)
    assert sorted(zip(table["seeds"], table["mode"])) == [(1, "batched"), (1, "one-by-one"), (2, "batched"), (2, "one-by-one")]
    assert (table["wall_s"] > 0).all() and (table["update_ms"] > 0).all()
    one_by_one = table[table["mode"] == "one-by-one"].set_index("seeds")
    assert one_by_one.loc[2, "wall_s"] >= one_by_one.loc[1, "wall_s"]  # a running total over one pass
    assert one_by_one.loc[2, "update_ms"] == pytest.approx(2 * one_by_one.loc[1, "update_ms"], abs=0.02)
    csv, md = write(table, tmp_path)
    assert len(pd.read_csv(csv)) == 4
    assert "| rnn | 3 | 2 | 2 |" in open(md).read()


def test_bench_rebuild_at_a_tiny_size_times_both_and_finds_the_same_records(monkeypatch):
    """The bench's two sides are the same experiment: a stack rebuilt at every stop (COMPACT_AT
    1 here; a sweep's 3/4 rebuilds less often) and one never rebuilt write identical records,
    bit for bit (each seed's batched matmuls do not depend on how many seeds the stack holds)."""
    from experiments import batched
    from experiments.bench_seeds import bench_rebuild, rebuild_markdown

    rebuilds, compacted = [], batched._compacted
    monkeypatch.setattr(batched, "_compacted", lambda stack, *args: rebuilds.append(stack.n_seeds) or compacted(stack, *args))
    monkeypatch.setattr(batched, "COMPACT_AT", 1.0)
    tiny = dict(units=8, budget=64 * 50, eval_every=10, n_val=128, n_test=256, target_accuracy=0.3)
    row = bench_rebuild("lstm", 12, 4, **tiny)  # seeds 0-3 stop at 10, 20, 20 and 30 updates
    assert sorted(row["sequences"]) == [640, 1280, 1280, 1920] and row["same_records"]
    assert rebuilds == [4, 3] and batched.COMPACT_AT == 1.0  # rebuilt after each stop, and the share put back
    assert row["never_rebuilt_s"] > 0 and row["rebuilt_s"] > 0
    assert "| yes |" in rebuild_markdown(row) and "lstm at gap 12, seeds 0-3" in rebuild_markdown(row)


def test_bench_vmap_table_states_each_route_against_tensorflow_one_by_one():
    from experiments.bench_vmap import markdown as vmap_markdown

    rows = [("tensorflow", "stack", 0, 120.0, None), ("tensorflow", "one-by-one", 0, 100.0, None),
            ("jax", "vmap", 0, 180.0, 0.0), ("jax", "one-by-one", 0, 90.0, 0.0),
            ("tensorflow", "one-by-one", 1, 110.0, None), ("jax", "vmap", 1, 150.0, 2e-7)]  # the faster round counts
    table = pd.DataFrame([{"cell": "lstm", "gap": 80, "seeds": 10, "backend": b, "mode": m, "round": r, "update_ms": ms,
                           "first_loss_diff": d} for b, m, r, ms, d in rows])
    lines = {tuple(c.strip() for c in line.split("|")[3:5]): line for line in vmap_markdown(table).splitlines() if line.startswith("| lstm")}
    assert "| 1.20 |" in lines[("tensorflow", "stack")] and "| 1.00 |" in lines[("tensorflow", "one-by-one")]
    assert "| 150.0 | 15.00 | 1.50 | 2.0e-07 |" in lines[("jax", "vmap")]  # the worse round's check is the one shown
    assert lines[("jax", "one-by-one")].endswith("| 0.90 |  |")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is an optional extra (make bench-extras)")
def test_vmapped_seeds_take_the_same_first_step_as_each_seed_alone():
    """jax.vmap over the stateless train step is the same computation as each seed's own step."""
    from experiments.bench_vmap import _in_process

    result = _in_process("jax", "lstm", 3, 2, "vmap")
    assert result["update_ms"] > 0 and result["first_loss_diff"] < 1e-5
