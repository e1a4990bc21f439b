PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'torchattacks==3.5.1'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/advlab demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/train_overhead.py
	$(BIN)/python bench/attacks_vs_peers.py

clean:
	rm -rf $(VENV) runs build src/*.egg-info
