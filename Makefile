# Two entry points for a fresh machine (each creates .venv on first use):
#   make demo   – run the pipeline on its built-in default (bundled model, synthetic street stream)
#   make test   – run the test suite (all of it, the slow tests too; make test-fast leaves those out)
# torch is pinned to the CPU wheel this project is developed with; an unpinned torch pulls GBs of CUDA.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.segstream-installed

.PHONY: demo test test-fast lint bench install clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[train,serve,events,triton,dev]"
	# Type stubs for the TensorRT API (10.13); --no-deps because they depend on the tensorrt
	# wheel, whose libraries cannot be fetched here. Used only by the mypy check in the tests.
	$(BIN)/python -m pip install --quiet --no-deps "tensorrt-stubs==10.13.0.35.1"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python run_stream.py

test: $(STAMP)
	$(BIN)/python -m ruff check segstream pipeline engines training streetsim segcore serve bench tests tools run_stream.py
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench --json out/bench/bench.json

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
