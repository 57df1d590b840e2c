# Set-up, tests and the main job. `make test` is what CI runs.
PYTHON ?= python3
# torch 2.13.0 is the build these machines carry as a local CPU wheel; a machine that already
# has any torch keeps it (the project asks only for torch>=2.2).
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test lint demo bench bundle

setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[dev]"

lint: setup
	$(PYTHON) -m ruff check .

test: setup
	$(PYTHON) -m ruff check .
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest

demo: setup
	$(PYTHON) -m app resources/videos/demo.mp4 --model resources/models/demo.safetensors

bench: setup
	$(PYTHON) benchmarks/bench_forward.py

# The desktop bundle (dist/stmanet-app/, PyInstaller) and its check; see docs/packaging.md.
# Self-test options go in BUNDLE_ARGS, e.g. BUNDLE_ARGS="--model m.safetensors --video v.mp4".
bundle: setup
	$(PYTHON) -m pip install -q -e ".[bundle]"
	PYTHON=$(PYTHON) scripts/build_bundle.sh $(BUNDLE_ARGS)
