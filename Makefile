# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs the test suite.
# Each creates the local virtual environment .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install

$(BIN)/reglab: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(BIN)/reglab

install: $(BIN)/reglab

demo: install
	$(BIN)/reglab compare

test: install
	$(BIN)/python -m pytest -q
