# jaxlm: `make train` trains the default GPT on the embedded Shakespeare plays; `make test-fast` runs the unit
# tests (a few minutes), `make test` every test (what CI runs), `make lint` the import layers, lint and format.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= experiments/gpt_shakespeare.py
WORKDIR ?= runs/gpt_shakespeare

.PHONY: install train test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-installs whenever setup.cfg changes (the stamp is older than it).
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

train: install
	$(BIN)/jaxlm train --config $(CONFIG) --workdir $(WORKDIR)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15 tests

# The unit tests: every test module but those tests/conftest.py lists in SLOW (they train, sweep, start
# subprocesses or load Hugging Face models).
test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=10 -m "not slow" tests

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# jaxlm's GPT train step and the PyTorch peer, alternating in one process (SHAPE=tiny|big); JSON on stdout.
SHAPE ?= tiny
bench: install
	$(BIN)/python benchmarks/compare_gpt.py --shape $(SHAPE)

clean:
	rm -rf $(VENV) runs .pytest_cache
