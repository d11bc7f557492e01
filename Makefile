# The two commands of the README (and `make check`, the inner loop). Each creates its own
# virtualenv and installs from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests/test_web_ui.py drives the Temporal Web UI in: Debian's Chromium (Playwright
# cannot download a browser of its own on CI's machines).
CHROMIUM := /usr/bin/chromium

.PHONY: up test check lint bench clean

up: $(STAMP)
	$(BIN)/remediation up

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The inner loop, in under a minute: lint, types and every test that needs no server (the tests
# marked `server` in tests/conftest.py need Temporal or PostgreSQL; `repeat` ones run others
# again, in other time zones), on every core, with 30 fixed examples per hostile-input contract
# test instead of 120. `make test` runs everything, in full.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	HOSTILE_EXAMPLES=30 $(BIN)/pytest -m "not server and not repeat" -q -n auto

# The performance figures against their targets (not part of `make test`; hours at full scale).
# The benchmark (benchmarks/) is not installed: it runs from the checkout with the venv's python.
# BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS="--scale 0.05 --only a,c"` or "--help".
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,test]'
	touch $(STAMP)

# Installed once, only when missing, through apt (CI runs as root on Debian).
$(CHROMIUM):
	@if ! command -v apt-get >/dev/null 2>&1; then \
		echo "error: $(CHROMIUM) is missing and there is no apt-get to install Debian's chromium" \
			"package with; install Chromium at $(CHROMIUM) by hand (tests/test_web_ui.py needs it)" >&2; \
		exit 1; \
	fi
	@if [ "$$(id -u)" != 0 ]; then \
		echo "error: $(CHROMIUM) is missing and installing it needs root: run" \
			"\`sudo apt-get install --no-install-recommends chromium\` (tests/test_web_ui.py needs it)" >&2; \
		exit 1; \
	fi
	apt-get update || { echo "error: \`apt-get update\` failed, so chromium cannot be installed" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || \
		{ echo "error: installing Debian's chromium package failed (see above)" >&2; exit 1; }
	@test -x $(CHROMIUM) || { echo "error: the chromium package installed no $(CHROMIUM)" >&2; exit 1; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
