PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytorch-fid and torch-fidelity import torchvision, which does not import beside the pinned CPU torch:
# the metric benchmarks run them in a venv of their own (torch 2.14.1 + torchvision 0.29.1 lie on this disk)
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

.PHONY: demo test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'torchattacks==3.5.1'
	command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null || \
		echo "make: could not install Debian's chromium; the playground's browser tests will be skipped"
	command -v espeak-ng >/dev/null || apt-get install -y -q espeak-ng >/dev/null || \
		(apt-get update -q >/dev/null && apt-get install -y -q espeak-ng >/dev/null) || \
		echo "make: could not install Debian's espeak-ng; the speech tests will be skipped"
	touch $(STAMP)

$(PEERS_STAMP):
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1 pytorch-fid \
		torch-fidelity prdc scipy safetensors pyyaml
	touch $(PEERS_STAMP)

demo: $(STAMP)
	$(BIN)/advlab demo --out runs/demo

# -n auto: one worker per core; --dist loadfile keeps a file's tests (and its module fixtures) on one worker
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python bench/train_overhead.py
	$(BIN)/python bench/attacks_vs_peers.py
	$(BIN)/python bench/robustness_report.py
	$(BIN)/python bench/metrics_speed.py
	$(BIN)/python bench/birthday_validation.py
	$(BIN)/python bench/playground_rate.py
	$(BIN)/python bench/audio_attacks.py
	$(PEERS)/bin/python bench/inception_vs_pytorch_fid.py

clean:
	rm -rf $(VENV) $(PEERS) runs build src/*.egg-info
