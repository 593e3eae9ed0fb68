# genzoo: `make quickstart` (the main job) and `make test` on a fresh machine.
# PyTorch is pinned to the CPU build that pip finds locally (see README).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python
TORCH  := torch==2.13.0

.PHONY: quickstart test test-slow lint bench clean browser

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

# The browser tests of `genzoo serve` drive Debian's chromium (Playwright cannot download
# browsers here): install it when missing (as root, or with sudo), quietly; a no-op after.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# pytest exits 5 when it selects no test: with a suite this size that means breakage, so
# it fails like any other non-zero exit. Each test has a time limit (pyproject: timeout).
# GENZOO_REQUIRE_BROWSER=1: a missing browser fails the browser tests instead of skipping them.
test: $(VENV)/.dev browser
	GENZOO_REQUIRE_BROWSER=1 $(PY) -m pytest -q -m "not slow" -p no:cacheprovider --durations=15

test-slow: $(VENV)/.dev
	$(PY) -m pytest -q -m slow -p no:cacheprovider --durations=15

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check genzoo tests benchmarks

bench: $(VENV)/.base
	$(PY) benchmarks/trainer_overhead.py

clean:
	rm -rf $(VENV) *.egg-info
