# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs the linter, the format check
# and the test suite.
# Each creates the local virtual environment .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install browser

$(BIN)/reglab: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(BIN)/reglab

install: $(BIN)/reglab

demo: install
	$(BIN)/reglab compare

test: install browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -rs

# The report's browser test needs Chromium: installed when missing, where apt-get can and we are root. Never fatal
# (without a browser that test is skipped).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		echo "installing chromium for the report's browser test" && export DEBIAN_FRONTEND=noninteractive && \
		{ apt-get install -y -qq chromium >/dev/null 2>&1 || \
		  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } || true
