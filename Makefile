# Every command a user runs. `make help` lists them; variables in CAPITALS configure them.
# Each target installs what it needs first (a .venv at the repo root, pinned dependencies).

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
RESULTS  ?= results
PRESET   ?= default
EXECUTOR ?= process
MODEL    ?= lstm
TASK     ?= fluent
GAP      ?= 10
SEED     ?= 0
ARGS     ?=
OTHER    ?=
GRAD_GAP ?=
RUN      ?=
# Optional sweep overrides, comma-separated: MODELS=rnn,lstm TASKS=adding GAPS=5,50 SEEDS=0,1; the
# singular MODEL, TASK, GAP, SEED work too when given on the command line; RETRY=failed retrains diverged runs.
given = $(filter command line,$(origin $(1)))
SWEEP_OVERRIDES = $(if $(MODELS),models=$(MODELS),$(if $(call given,MODEL),models=$(MODEL))) \
	$(if $(TASKS),tasks=$(TASKS),$(if $(call given,TASK),tasks=$(TASK))) \
	$(if $(GAPS),gaps=$(GAPS),$(if $(call given,GAP),gaps=$(GAP))) \
	$(if $(SEEDS),seeds=$(SEEDS),$(if $(call given,SEED),seeds=$(SEED))) $(if $(RETRY),retry=$(RETRY)) \
	$(if $(SEEDS_PER_MODEL),seeds_per_model=$(SEEDS_PER_MODEL))
CLI = $(PY) -m experiments

.DEFAULT_GOAL := help
# A literal comma inside $(if ...), which splits its arguments at commas.
comma := ,
.PHONY: help venv train sweep evaluate plot compare papers-sweep papers gradients generalisation learning-speed unsolved-runs inspect key-shift analyse report show-data presets bench bench-extras bench-executors bench-seeds bench-vmap bench-rebuild reproduce test test-fast lint lock clean-venv

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: RESULTS=$(RESULTS) PRESET=$(PRESET) EXECUTOR=$(EXECUTOR) MODEL TASK GAP SEED MODELS TASKS GAPS SEEDS RETRY=failed SEEDS_PER_MODEL=N (1: no seed stacks) ARGS='key=value ...'"

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "error: Python 3.11 is required, found " + sys.version.split()[0] + "; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .  # the packages and the memory-gap command, editable
	touch $@

venv: $(VENV)/.installed ## Create .venv and install the pinned dependencies (every target does this first)

train: venv ## Train one run: make train MODEL=lstm TASK=fluent GAP=50 SEED=0 [ARGS='units=32']
	@$(CLI) train model=$(MODEL) task=$(TASK) gap=$(GAP) seed=$(SEED) "results=$(RESULTS)" $(ARGS)

sweep: venv ## Run a preset, skipping runs already recorded: make sweep PRESET=quick [MODELS=rnn,lstm]
	@$(CLI) sweep preset=$(PRESET) executor=$(EXECUTOR) "results=$(RESULTS)" $(SWEEP_OVERRIDES) $(ARGS)

evaluate: venv ## Reload every saved model, score it on a fresh test set, write RESULTS/summary.csv
	@$(CLI) evaluate "results=$(RESULTS)" $(ARGS)

plot: venv ## Draw RESULTS/figures/success_vs_gap and accuracy_vs_gap (.png, .pdf) from RESULTS/summary.csv [ARGS=panels=task: a panel per task]
	@$(CLI) plot "results=$(RESULTS)" $(ARGS)

gradients: venv ## Gradient norm reaching each input step vs distance, initial and trained [GRAD_GAP=N, default: longest gap all cells ran]
	@$(CLI) gradients "results=$(RESULTS)" $(if $(GRAD_GAP),gap=$(GRAD_GAP)) $(ARGS)

generalisation: venv ## Test every model at gaps g/4 .. 4g around its training gap g: a heatmap per cell
	@$(CLI) generalisation "results=$(RESULTS)" $(ARGS)

learning-speed: venv ## Training sequences to solve vs gap, unsolved runs censored
	@$(CLI) learning-speed "results=$(RESULTS)" $(ARGS)

inspect: venv ## Gates and states of trained rnn, gru, lstm over one sequence, a solved and a failed run each: RESULTS/figures/gates [RUN=run_id,...]
	@$(CLI) inspect "results=$(RESULTS)" $(if $(RUN),runs=$(RUN)) $(ARGS)

unsolved-runs: venv ## What each unsolved run still carries: the classes it predicts and gets right
	@$(CLI) unsolved-runs "results=$(RESULTS)" $(ARGS)

key-shift: venv ## Models that solved gap g, tested at g with the key moved later (lead tokens): found by content or by index? [ARGS='task=fluent_distractors shifts=0,1,2']
	@$(CLI) key-shift "results=$(RESULTS)" $(ARGS)

analyse: gradients generalisation learning-speed unsolved-runs inspect ## All five analyses

report: venv ## Write RESULTS/REPORT.md: every figure, tables, protocol, versions, hardware
	@$(CLI) report "results=$(RESULTS)" $(ARGS)

compare: venv ## Set another results folder beside RESULTS: make compare OTHER=/tmp/rerun (run make evaluate in both first)
	@$(CLI) compare "results=$(RESULTS)" "other=$(OTHER)" $(ARGS)

papers-sweep: venv ## Sweep the papers' presets at their protocols into RESULTS/papers/<preset>/ (days on 2 cores; resumes) [PAPER=name]
	@$(CLI) papers-sweep "results=$(RESULTS)" executor=$(EXECUTOR) $(if $(PAPER),paper=$(PAPER)) $(ARGS)

papers: venv ## Learning curves beside the papers' numbers, and RESULTS/papers/papers.md, from the paper records [PAPER=name]
	@$(CLI) papers "results=$(RESULTS)" $(if $(PAPER),paper=$(PAPER)) $(ARGS)

show-data: venv ## Print readable samples of a task: make show-data TASK=fluent GAP=5
	@$(CLI) show-data task=$(TASK) gap=$(GAP) $(ARGS)

bench-executors: venv ## Time one small sweep under EXECUTOR=local, process and ray, side by side
	@$(CLI) bench-executors executors=local,process,ray

bench: venv ## Time custom cells vs Keras built-ins (and PyTorch if installed): RESULTS/bench.csv [QUICK=1]
	@$(CLI) bench "results=$(RESULTS)" $(if $(QUICK),quick=1) $(if $(CELLS),cells=$(CELLS))

bench-vmap: venv ## Time a 10-seed stack's update on TensorFlow against jax.vmap on JAX, side by side: RESULTS/bench_vmap.md (needs make bench-extras) [QUICK=1: lstm, 3 seeds]
	@$(CLI) bench-vmap "results=$(RESULTS)" $(if $(QUICK),models=lstm seeds=3 rounds=1) $(ARGS)

bench-seeds: venv ## Time 1, 3 and 10 seeds one by one against one seed stack, side by side: RESULTS/bench_seeds.md [QUICK=1: lstm, gap 40, 1 and 3 seeds]
	@$(CLI) bench-seeds "results=$(RESULTS)" $(if $(QUICK),models=lstm gaps=40 seeds=1$(comma)3 steps=50) $(ARGS)

bench-rebuild: venv ## Time one real seed stack (lstm, gap 28, 10 seeds) never rebuilt against rebuilt from its open seeds: RESULTS/bench_rebuild.md [MODEL GAP]
	@$(CLI) bench-rebuild "results=$(RESULTS)" $(if $(call given,MODEL),model=$(MODEL)) $(if $(call given,GAP),gap=$(GAP)) $(ARGS)

bench-extras: venv ## Install the optional extras (PyTorch CPU, JAX) for make bench into .venv
	$(VENV)/bin/pip install --quiet -r requirements-bench.txt

presets: venv ## List the presets and how many runs each holds
	@$(CLI) presets

reproduce: venv ## The committed results: sweep PRESET (default), evaluate, plot, analyse, report
	$(MAKE) --no-print-directory sweep evaluate plot analyse report

# -n auto: one pytest-xdist worker per core. Most tests are one-threaded TensorFlow
# graphs and subprocesses, so a single worker leaves a core idle (on 2 cores: 1.27x faster,
# experiments/PERF_NOTES.md, session 7). --durations=10 lists the slowest tests, to watch the
# 10-minute CI limit.
test: venv ## Run the whole test suite (pytest, one worker per core), as CI does
	$(PY) -m pytest -q -n auto --durations=10 tests

test-fast: venv ## The tests not marked slow (no subprocess, sweep, Ray or XLA compile): about 2 minutes
	$(PY) -m pytest -q -m "not slow" tests

lint: venv ## Check the code with ruff (configured in pyproject.toml)
	$(VENV)/bin/ruff check .

lock: venv ## Re-pin requirements.txt from requirements.in (needs the network)
	$(VENV)/bin/pip install --dry-run --ignore-installed --quiet -r requirements.in --report $(VENV)/lock.json
	(echo '# Generated by `make lock` from requirements.in: every package pinned, for Python 3.11.'; \
	 $(PY) -c 'import json; r = json.load(open("$(VENV)/lock.json")); print("\n".join(sorted(i["metadata"]["name"] + "==" + i["metadata"]["version"] for i in r["install"])))') > requirements.txt

clean-venv: ## Remove .venv (results are never touched by any clean target)
	rm -rf $(VENV)
