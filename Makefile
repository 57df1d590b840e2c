# Set-up, tests and the main job. `make test` is what CI runs.
PYTHON ?= python3
# torch 2.13.0 is the build these machines carry as a local CPU wheel; a machine that already
# has any torch keeps it (the project asks only for torch>=2.2).
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test lint demo bench

setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[dev]"

lint: setup
	$(PYTHON) -m ruff check .

test: setup
	$(PYTHON) -m ruff check .
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest

demo: setup
	$(PYTHON) -m stmanet summary stmanet_r50

bench: setup
	$(PYTHON) benchmarks/bench_forward.py
