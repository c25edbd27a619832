# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs browser bench clean venv sysdeps

venv: $(STAMP)

# One line per step, so a first run does not sit silent for a minute.  pip stays quiet
# (its errors still show); PYTHONWARNINGS drops the one notice setuptools prints as a
# warning box on every editable install of a package that sits next to pyproject.toml
# ("Editable installation. Please be careful with folders in your working directory
# with the same name as your package"): informational, and only the src/ layout avoids it.
$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory sysdeps
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "updating pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing beluga-voice and its dependencies into $(VENV) (first run only, about a minute)"
	@start=$$(date +%s); \
	PYTHONWARNINGS="ignore:Editable installation" \
		$(BIN)/python -m pip install --quiet -e ".[test,vad,docs]" && \
	echo "installed in $$(( $$(date +%s) - start )) s"
	@touch $(STAMP)

# System libraries: LLVM's libc++ (the ten-vad wheel links against it; Debian images do
# not always have it).  Installed when we can (root with apt); a warning when not.
sysdeps:
	@if ! ldconfig -p | grep -q 'libc++.so.1'; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing libc++1 (needed by TEN VAD)"; \
			apt-get update -qq >/dev/null && apt-get install -y -qq libc++1 libc++abi1 >/dev/null; \
		else \
			echo "warning: libc++1 is missing; install it for the TEN VAD analyser"; \
		fi; \
	fi

demo: $(STAMP)
	@echo "running the bundled example conversation, offline (pocketsphinx, rule agent, espeak-ng)"
	@$(BIN)/beluga-voice run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint docs browser
	$(BIN)/python -m pytest

# The browser tests (tests/browser) drive the system Chromium: no browser download.  Only
# `make test` needs it, so `make demo` does not install it.
browser:
	@if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium (for the browser tests)"; \
			apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "warning: chromium is missing; the browser tests will be skipped"; \
		fi; \
	fi

# The documentation site (mkdocs.yml) into site/; --strict makes every warning (a broken
# link, a docstring naming an object that no longer exists) an error.  Offline: nothing
# is fetched.  About 5 s.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) build site *.egg-info
