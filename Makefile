# optical — two commands do everything: `make experiment` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out/experiment
CONFIG ?= configs/quick.toml

# The read-only reference data sits beside the project; an explicit setting wins.
OPTICAL_DATA_DIR ?= $(abspath ../shared/data)
export OPTICAL_DATA_DIR

.PHONY: setup mt-deps test test-fast experiment full study ablation bench lint fonts browser clean

setup: $(STAMP)

# Idempotent: re-runs only when the pinned dependency files change.
$(STAMP): pyproject.toml requirements.lock requirements-nodeps.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, from the local CPU build; nothing later may replace it.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

# External MT programs the configs ask for (Apertium for tt-apertium-*): installed with
# apt-get when this user can, otherwise a message says how (the systems are then skipped).
mt-deps:
	scripts/install-mt-deps $(CONFIG) configs/full.toml configs/study.toml

test: $(STAMP) mt-deps fonts browser
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

experiment: $(STAMP) mt-deps fonts
	$(VENV)/bin/optical experiment $(CONFIG) --out $(OUT)

# Full budget on the full benchmarks (about an hour on 2 cores; resumable via the caches).
full: $(STAMP) mt-deps fonts
	$(VENV)/bin/optical experiment configs/full.toml --out results/full-budget

# Distillation ablations (issue 3), 3 seeds, chosen on held-out training bitext (~45 min).
ablation: $(STAMP)
	$(VENV)/bin/optical ablate configs/ablation.toml --out results/ablation --shard 0/2 & \
	$(VENV)/bin/optical ablate configs/ablation.toml --out results/ablation --shard 1/2; \
	wait
	$(VENV)/bin/optical ablate configs/ablation.toml --out results/ablation

# The study (issue 5): every system, 3 seeds, data-budget curves; resumable (rerun to
# continue). Writes results/study/. In parts: make study STUDY_ARGS="--only-seeds 0".
STUDY_ARGS ?=
study: $(STAMP) mt-deps fonts
	$(VENV)/bin/optical experiment configs/study.toml --out results/study $(STUDY_ARGS)

bench: $(STAMP)
	$(VENV)/bin/optical bench all

# Script fonts (Debian's Noto) so alignment heatmaps draw non-Latin tokens: installed with
# apt-get when this user can, otherwise a message says how (the labels then show as boxes).
fonts:
	scripts/install-fonts

# Debian's chromium for the headless-browser test of report.html (Playwright drives it):
# installed with apt-get when this user can, otherwise a message says how (the test skips).
browser:
	scripts/install-browser

# Style (ruff, with complexity <= 12 and return annotations) and the architecture
# (import-linter contracts in pyproject.toml: no upward import, no circle).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts/gpu-smoke
	$(VENV)/bin/ruff format --check src tests scripts/gpu-smoke
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
