# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,vad]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/beluga-voice run

lint: $(STAMP)
	$(BIN)/ruff check beluga_voice tests examples benchmarks
	$(BIN)/ruff format --check beluga_voice tests examples benchmarks

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
