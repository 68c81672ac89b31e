"""The papers' table and learning curves, read from records alone: departures, values, units."""

import dataclasses
import math

import pytest

from datasets import TASKS
from experiments import papers, presets, records
from experiments.checks import UsageError


def fake_record(cfg, losses):
    """A record of `cfg` whose validation loss is losses[i] at evaluation i (every eval_every updates)."""
    history = [{"sequences": (i + 1) * cfg.eval_every * cfg.batch_size, "loss": v, "val_accuracy": 0.5, "val_loss": v}
               for i, v in enumerate(losses)]
    return {"run_id": cfg.run_id, "config": dataclasses.asdict(cfg), "status": "ok", "test_accuracy": 0.5,
            "sequences_seen": history[-1]["sequences"], "history": history}


def write(results, preset, cfg, losses):
    records.write_json(records.record_path(results / "papers" / preset, cfg.run_id), fake_record(cfg, losses))


def test_departures_are_read_from_the_curves_and_judged_against_the_paper(tmp_path):
    base = TASKS["adding"].baseline_loss(100)
    lstm = [c for c in presets.expand("arjovsky_adding") if c.model == "lstm" and c.gap == 100]
    assert len(lstm) == 3 and all(c.clipvalue == 1.0 and c.clipnorm is None for c in lstm)
    # eval_every is 100 updates: seeds leave the baseline at 1,200, 1,500 and never.
    write(tmp_path, "arjovsky_adding", lstm[0], [base] * 11 + [0.5 * base] * 39)
    write(tmp_path, "arjovsky_adding", lstm[1], [base] * 14 + [0.1 * base] * 36)
    write(tmp_path, "arjovsky_adding", lstm[2], [base] * 50)
    table = papers.curves(tmp_path / "papers" / "arjovsky_adding")
    mark = papers.PAPERS["arjovsky_adding"].marks[0]
    ours, agree = papers.judge(table, mark)
    assert ours == "2 of 3 seeds left the baseline, at 1,200, 1,500 updates (budget 5,000)" and agree == "yes"
    rnn = next(c for c in presets.expand("arjovsky_adding") if c.model == "rnn" and c.gap == 100)
    write(tmp_path, "arjovsky_adding", rnn, [base] * 20 + [0.8 * base] * 30)  # leaves: the paper says it never does
    table = papers.curves(tmp_path / "papers" / "arjovsky_adding")
    rnn_mark = next(m for m in papers.PAPERS["arjovsky_adding"].marks if m.model == "rnn" and m.gap == 100)
    assert papers.judge(table, rnn_mark) == ("1 of 1 seeds left the baseline, at 2,100 updates (budget 5,000)", "no")
    assert papers.judge(table, papers.PAPERS["arjovsky_adding"].marks[1])[1] == "not run"  # T = 200: no records


def test_values_are_compared_in_the_papers_unit(tmp_path):
    """Tallec et al. plot copy in bits; ours is in nats: 0.0400 nats is 0.0577 bits (their memoryless line)."""
    cfgs = presets.expand("tallec_copy")
    chrono = [c for c in cfgs if c.forget_bias == "chrono"]
    for cfg in chrono:  # eval_every 100: 0.0208 nats = 0.030 bits at 9,000 updates
        write(tmp_path, "tallec_copy", cfg, [0.04] * 80 + [0.030 / papers.BITS] * 20)
    table = papers.curves(tmp_path / "papers" / "tallec_copy", papers.BITS)
    assert table["baseline"].iloc[0] == pytest.approx(30 / 520, rel=1e-6)  # 10 log2(8) / (T + 20) bits
    mark = next(m for m in papers.PAPERS["tallec_copy"].marks if m.forget_bias == "chrono")
    ours, agree = papers.judge(table, mark)
    assert ours.startswith("0.03 (seeds 0.03-0.03) at 9,000 updates") and agree == "yes"
    standard = next(m for m in papers.PAPERS["tallec_copy"].marks if m.forget_bias is None)
    assert papers.judge(table, standard) == ("not run", "not run")  # chrono runs never stand in for standard ones


def test_a_value_at_the_baseline_never_agrees_with_a_paper_below_it(tmp_path):
    """0.0577 bits (the memoryless line) is within a factor of 3 of the paper's 0.030 and 0.040,
    yet a model there learned nothing: it disagrees. A paper's value at its baseline (Bai et
    al.'s LSTM, 0.164 against 0.167) agrees with ours there, and not with ours far below it."""
    for cfg in presets.expand("tallec_copy"):
        write(tmp_path, "tallec_copy", cfg, [0.0400] * 100)
    table = papers.curves(tmp_path / "papers" / "tallec_copy", papers.BITS)
    for mark in papers.PAPERS["tallec_copy"].marks:
        ours, agree = papers.judge(table, mark)
        assert ours.startswith("0.0577") and agree == "no"
    base = TASKS["adding"].baseline_loss(600)
    lstm = [c for c in presets.expand("bai_adding") if c.model == "lstm"]
    mark = next(m for m in papers.PAPERS["bai_adding"].marks if m.model == "lstm")
    for losses, want in (([base] * 150, "yes"), ([base] * 50 + [base / 2.5] * 100, "no")):
        for cfg in lstm:
            write(tmp_path / want, "bai_adding", cfg, losses)
        assert papers.judge(papers.curves(tmp_path / want / "papers" / "bai_adding"), mark)[1] == want


def test_make_papers_draws_each_paper_with_records_and_one_table(tmp_path):
    base = TASKS["adding"].baseline_loss(750)
    for cfg in presets.expand("tallec_adding"):
        solved_at = 5 if cfg.forget_bias == "chrono" else 38  # evaluations of 100 updates
        write(tmp_path, "tallec_adding", cfg, [base] * solved_at + [base * 0.001])
    written = papers.papers(tmp_path)
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["learning_curves.pdf", "learning_curves.png", "papers.md"]
    text = (tmp_path / "papers" / "papers.md").read_text()
    assert "| lstm | 750 | chrono | chrono solves it in ~400-500 iterations | 3 of 3 seeds solved, at 600, 600, 600 updates (budget 8,000) | yes |" in text
    assert "| lstm | 750 | default | forget bias 1 solves it in ~3,700-3,800 | 3 of 3 seeds solved, at 3,900, 3,900, 3,900 updates" in text
    assert (tmp_path / "papers" / "tallec_adding" / "figures" / "learning_curves.png").stat().st_size > 10_000
    with pytest.raises(UsageError, match="unknown paper 'nope'"):
        papers.papers(tmp_path, ["nope"])
    with pytest.raises(UsageError, match="no records of paper 'bai_adding'"):
        papers.papers(tmp_path, ["bai_adding"])
    # Drawing one paper redraws its figure only; papers.md keeps every paper with records.
    for cfg in presets.expand("bai_adding"):
        write(tmp_path, "bai_adding", cfg, [TASKS["adding"].baseline_loss(600)] * 150)
    written = papers.papers(tmp_path, ["bai_adding"])
    assert [p for p in written if "tallec_adding" in p] == []
    text = (tmp_path / "papers" / "papers.md").read_text()
    assert "(`bai_adding`, MSE)" in text and "(`tallec_adding`, MSE)" in text
    assert "| lstm | 750 | chrono | chrono solves it in ~400-500 iterations | 3 of 3 seeds solved" in text
    with pytest.raises(UsageError, match="no paper results"):
        papers.papers(tmp_path / "empty")
    assert math.isclose(papers.BITS * math.log(2), 1)


def test_clipvalue_clips_element_wise_and_excludes_clipnorm():
    from experiments.config import RunConfig
    from experiments.model import build_model

    with pytest.raises(UsageError, match=r"clipvalue=1.0 and clipnorm=1.0 are two clippings; set clipnorm=None"):
        RunConfig(clipvalue=1.0)
    cfg = RunConfig(clipnorm=None, clipvalue=0.5, units=4)
    optimizer = build_model(cfg).optimizer
    assert optimizer.clipvalue == 0.5 and optimizer.clipnorm is None
    assert RunConfig(units=4).run_id == RunConfig(units=4, clipvalue=None).run_id  # unset, old run ids stay
    assert build_model(RunConfig(units=4)).optimizer.clipnorm == 1.0


def test_primed_rmsprop_starts_its_mean_of_squares_at_1e_3_as_arjovsky_et_al():
    import numpy as np

    from experiments.backend import keras
    from experiments.config import RunConfig
    from experiments.model import PrimedRMSprop, build_model

    g = np.array([1e-2, 1e-1, 1.0], "float32")  # above Keras' epsilon 1e-7, which both add
    steps = {}
    for name, optimizer in (("primed", PrimedRMSprop(1e-3)), ("keras", keras.optimizers.RMSprop(1e-3))):
        weight = keras.Variable(np.zeros(3, "float32"))
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), weight)])
        steps[name] = -weight.numpy()
    np.testing.assert_allclose(steps["primed"], 1e-3 * g / np.sqrt(0.9 * 1e-3 + 0.1 * g**2), rtol=1e-3)  # their rms_prop
    np.testing.assert_allclose(steps["keras"], 1e-3 / np.sqrt(0.1), rtol=1e-2)  # from 0: ~3.2 lr, whatever g
    assert steps["primed"][0] < 0.2 * steps["keras"][0]  # a gradient of 0.01 moves its weight a tenth as far
    optimizer = build_model(RunConfig(units=4, optimizer="rmsprop_primed", clipnorm=None, clipvalue=1.0)).optimizer
    assert isinstance(optimizer, PrimedRMSprop) and optimizer.clipvalue == 1.0
    assert PrimedRMSprop.from_config(optimizer.get_config()).start == 1e-3


def test_torch_rmsprop_adds_its_epsilon_to_the_root_as_pytorch_does():
    """Two steps on known gradients, against PyTorch's formula written out: v = 0.9 v + 0.1 g^2,
    step = lr g / (sqrt(v) + 1e-8). A gradient of 1e-5 moves its weight about as far as one of
    1 (by about lr / sqrt(0.1)); under Keras' sqrt(v + 1e-7), 30 times less than that."""
    import numpy as np

    from experiments.backend import keras
    from experiments.config import RunConfig
    from experiments.model import TorchRMSprop, build_model

    grads = [np.array([1e-5, 1e-3, 1.0], "float32"), np.array([-2e-5, 5e-4, 0.5], "float32")]
    weights = {name: keras.Variable(np.zeros(3, "float32")) for name in ("torch", "keras")}
    optimizers = {"torch": TorchRMSprop(1e-3), "keras": keras.optimizers.RMSprop(1e-3)}
    v, want, first = np.zeros(3), np.zeros(3), {}
    for g in grads:
        for name, optimizer in optimizers.items():
            optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), weights[name])])
            first.setdefault(name, -weights[name].numpy()[0])  # the first step of the gradient 1e-5
        v = 0.9 * v + 0.1 * g.astype(float) ** 2
        want -= 1e-3 * g / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(weights["torch"].numpy(), want, rtol=1e-4)
    assert first["torch"] == pytest.approx(1e-3 * 1e-5 / (np.sqrt(0.1) * 1e-5 + 1e-8), rel=1e-4)  # about lr / sqrt(0.1)
    assert first["torch"] > 30 * first["keras"]
    optimizer = build_model(RunConfig(units=4, optimizer="rmsprop_torch", clipnorm=None)).optimizer
    assert isinstance(optimizer, TorchRMSprop) and TorchRMSprop.from_config(optimizer.get_config()).epsilon == 1e-8


def test_torch_rmsprop_with_momentum_moves_by_the_buffer_of_its_steps():
    """buffer = 0.9 buffer + lr g / (sqrt(v) + 1e-8), the weight moves by the buffer (PyTorch's
    RMSprop with momentum, and Keras' at a constant rate); a run's `momentum` reaches the
    optimizer of a run alone and of a seed stack."""
    import numpy as np

    from experiments.backend import keras
    from experiments.batched import per_seed_optimizer
    from experiments.config import RunConfig
    from experiments.model import TorchRMSprop, build_model

    grads = [np.array([1e-5, 1e-3, 1.0], "float32"), np.array([-2e-5, 5e-4, 0.5], "float32"), np.array([3e-5, 1e-3, -1.0], "float32")]
    weight, optimizer = keras.Variable(np.zeros(3, "float32")), TorchRMSprop(1e-3, momentum=0.9)
    v, buffer, want = np.zeros(3), np.zeros(3), np.zeros(3)
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), weight)])
        v = 0.9 * v + 0.1 * g.astype(float) ** 2
        buffer = 0.9 * buffer + 1e-3 * g / (np.sqrt(v) + 1e-8)
        want -= buffer
    np.testing.assert_allclose(weight.numpy(), want, rtol=1e-4)
    cfg = RunConfig(units=4, optimizer="rmsprop_torch", clipnorm=None, momentum=0.9)
    assert build_model(cfg).optimizer.momentum == 0.9 and per_seed_optimizer(cfg, 3).momentum == 0.9
    assert build_model(dataclasses.replace(cfg, momentum=None)).optimizer.momentum == 0
    assert cfg.run_id != dataclasses.replace(cfg, momentum=None).run_id


def test_the_adding_ladder_tabulates_each_protocol_in_the_presets_order(tmp_path):
    """One row per protocol of `adding_protocols`, in its order, with when each seed left and solved."""
    base = TASKS["adding"].baseline_loss(100)
    cfgs = presets.expand("adding_protocols")
    protocols = list(dict.fromkeys(papers.protocol(dataclasses.asdict(c)) for c in cfgs))
    assert protocols == papers.ladder_order("adding_protocols")  # no chrono rung: a rung is its protocol
    assert len(cfgs) == 21 and len(protocols) == 7
    assert protocols[0] == "Adam 0.003, batch 64, 64 units, orthogonal recurrent, clipnorm 1"
    assert protocols[4] == "RMSprop 0.001, batch 20, 128 units, glorot_uniform recurrent, clipvalue 1"
    assert protocols[5] == protocols[4] + ", input kernel glorot per gate"  # the option is named, not dropped
    assert protocols[6] == protocols[5].replace("RMSprop", "RMSprop (mean from 1e-3)")
    last = [c for c in cfgs if papers.protocol(dataclasses.asdict(c)) == protocols[-1]]
    first = [c for c in cfgs if papers.protocol(dataclasses.asdict(c)) == protocols[0]]
    for cfg in last:  # never leaves
        write(tmp_path, "adding_protocols", cfg, [base] * 100)
    for cfg, leave in zip(first, (11, 12, 30)):  # evaluations of 100 updates; the third leaves but never solves
        write(tmp_path, "adding_protocols", cfg, [base] * leave + [0.5 * base] + ([0.001 * base] if leave < 30 else []))
    text = papers.ladder_markdown(tmp_path / "papers" / "adding_protocols", "adding_protocols")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "units" in line]
    assert rows == [f"| {protocols[0]} | 3 | 3 of 3: 1,200, 1,300, 3,100 | 2 of 3: 1,300, 1,400 | 4,000 |",
                    f"| {protocols[-1]} | 3 | 0 of 3 | 0 of 3 | 10,000 |"]
    assert papers.ladder_markdown(tmp_path / "nothing", "adding_protocols") == ""
    written = papers.papers(tmp_path)  # the ladder alone beside no paper: its figure and its table
    assert any("adding_protocols/figures/learning_curves.png" in p for p in written)


def test_the_tallec_ladder_keeps_chrono_and_forget_bias_1_apart_under_one_protocol(tmp_path):
    """Two initialisations under the same protocol are two rows; its last rungs are exactly
    `tallec_adding`'s runs (the same run ids), so those records serve both tables."""
    base = TASKS["adding"].baseline_loss(750)
    cfgs = presets.expand("tallec_protocols")
    rungs = papers.ladder_order("tallec_protocols")
    assert len(cfgs) == 33 and len(rungs) == 11
    assert rungs[1] == papers.protocol(dataclasses.asdict(cfgs[3])) and rungs[0] == rungs[1] + ", chrono init (T_max 750)"
    assert rungs[-3] == rungs[-4].replace("RMSprop", "RMSprop (PyTorch's epsilon)")  # these two rungs change the optimiser alone
    assert rungs[-2] == rungs[-3].replace("0.001,", "0.001 with momentum 0.9,")
    assert rungs[-2] == rungs[-1] + ", chrono init (T_max 750)"  # and under the last optimiser, forget bias 1 beside chrono
    assert {c.run_id for c in presets.expand("tallec_adding")} <= {c.run_id for c in cfgs}
    for cfg in cfgs[:6]:  # ours: chrono leaves (and solves) at the 10th evaluation, 1,000 updates; forget bias 1 never
        write(tmp_path, "tallec_protocols", cfg, [base] * 9 + [0.001 * base] if cfg.forget_bias == "chrono" else [base] * 80)
    text = papers.ladder_markdown(tmp_path / "papers" / "tallec_protocols", "tallec_protocols")
    rows = [line for line in text.splitlines() if line.startswith("| Adam")]
    assert rows == [f"| {rungs[0]} | 3 | 3 of 3: 1,000, 1,000, 1,000 | 3 of 3: 1,000, 1,000, 1,000 | 2,000 |",
                    f"| {rungs[1]} | 3 | 0 of 3 | 0 of 3 | 8,000 |"]
    assert "Tallec & Ollivier's adding T = 750" in text


def test_a_value_from_runs_that_stopped_when_solved_says_so(tmp_path):
    """A run that reached its target before the paper's count has no loss there: its last one
    stands in, and the words say which runs stopped and when. The preset's GRU never stops."""
    gru = [c for c in presets.expand("bai_adding") if c.model == "gru"]
    assert len(gru) == 3 and all(c.early_stop is False for c in gru)
    mark = next(m for m in papers.PAPERS["bai_adding"].marks if m.model == "gru")
    for cfg, n in zip(gru, (43, 150, 78)):  # eval_every 100: stopped at 4,300 and 7,800 updates; one ran its 15,000
        write(tmp_path, "bai_adding", cfg, [0.1] * (n - 1) + [1e-4])
    ours, agree = papers.judge(papers.curves(tmp_path / "papers" / "bai_adding"), mark)
    assert ours == "0.0001 (seeds 0.0001-0.0001) at 15,000 updates; 2 of 3 stopped early, at 4,300, 7,800 updates: their last loss"
    assert agree == "yes"
