# genzoo: `make quickstart` (the main job) and `make test` on a fresh machine.
# PyTorch is pinned to the CPU build that pip finds locally (see README).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python
TORCH  := torch==2.13.0

.PHONY: quickstart test test-slow lint bench clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install --quiet -e '.[dev]'
	touch $@

quickstart: $(VENV)/.base
	$(VENV)/bin/genzoo quickstart

# pytest exits 5 when it selects no test; that is not a failure here.
test: $(VENV)/.dev
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

test-slow: $(VENV)/.dev
	$(PY) -m pytest -q -m slow -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check genzoo tests benchmarks

bench: $(VENV)/.base
	$(PY) benchmarks/trainer_overhead.py

clean:
	rm -rf $(VENV) *.egg-info
