# TerraLens: one-command setup, tests, demo, benchmarks and the plugin zip.
SHELL := /bin/bash
ROOT := $(CURDIR)
QGIS_PYTHON ?= /usr/bin/python3
TRAIN_PYTHON ?= python3.11
VENV := $(ROOT)/.venv
TRAIN_VENV := $(ROOT)/.venv-train
PY := $(VENV)/bin/python
TRAIN_PY := $(TRAIN_VENV)/bin/python
VERSION := $(shell sed -n 's/^version=//p' metadata.txt)
export QT_QPA_PLATFORM ?= offscreen
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup qgis test test-core test-qgis test-headless test-packaging test-evaluate test-training demo bench bench-scale zip lint clean

setup: qgis $(VENV)/.stamp $(TRAIN_VENV)/.stamp .pkg/terralens .pkg/training models

# QGIS from Debian, only when it is missing.
qgis:
	@if ! command -v qgis_process >/dev/null || ! $(QGIS_PYTHON) -c 'import qgis.core, osgeo.gdal' 2>/dev/null \
	    || ! $(QGIS_PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  echo "Installing QGIS from Debian (qgis, python3-qgis) ..."; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    qgis python3-qgis python3-venv xvfb; \
	fi

$(VENV)/.stamp: requirements/qgis.txt requirements/qgis-constraints.txt
	$(QGIS_PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q -c requirements/qgis-constraints.txt -r requirements/qgis.txt
	$(PY) -c 'import numpy, onnxruntime, qgis.core, osgeo.gdal; assert numpy.__version__ < "2"'
	touch $@

$(TRAIN_VENV)/.stamp: requirements/train.txt
	$(TRAIN_PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q -r requirements/train.txt
	touch $@

# Make the checkout importable as the package `terralens` (its folder name in QGIS) and the
# training application as the top-level package `training` (it imports the core as
# `terralens.plugin.core`), in both venvs, from any folder.
.pkg/terralens: $(VENV)/.stamp $(TRAIN_VENV)/.stamp
	mkdir -p .pkg && ln -sfn .. .pkg/terralens
	for venv in $(VENV) $(TRAIN_VENV); do \
	  echo "$(ROOT)/.pkg" > $$($$venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/terralens-dev.pth; \
	done

# The training application as the top-level package `training`, importable from any folder.
.pkg/training:
	mkdir -p .pkg && ln -sfn ../training .pkg/training

# Model files built on this machine instead of committed (see models/README.md): the frozen
# MiniLM text encoder of each bundle that stores only its trained text projection.
models: $(TRAIN_VENV)/.stamp .pkg/terralens .pkg/training
	@for dir in models/*/; do \
	  if [ -f "$$dir/text_projection.safetensors" ]; then \
	    $(TRAIN_PY) -m training export --text-only --out "$$dir" || exit 1; \
	  fi; \
	done

test: setup test-core test-qgis test-headless test-packaging test-evaluate test-training

test-core:
	$(PY) -m pytest tests/core

test-qgis:
	$(PY) -m pytest tests/common tests/processing tests/gui

test-headless:
	$(PY) -m pytest tests/headless

test-packaging: zip
	$(PY) -m pytest tests/packaging

# The evaluate command runs in the QGIS venv (GDAL for the prompt-mask IoU, no torch); so do its
# tests, and only there.
test-evaluate:
	$(PY) -m pytest tests/training/evaluate

test-training:
	$(TRAIN_PY) -m pytest tests/training --ignore=tests/training/evaluate

demo: setup
	$(PY) demo/run_demo.py

bench: setup
	$(PY) tools/bench.py

# Only the scale benchmark (also part of `make bench`): mosaics at 2-30 m, default vs a grid.
bench-scale: setup
	$(PY) tools/scale_bench.py

zip:
	$(PY) tools/make_zip.py --out dist/terralens-$(VERSION).zip

lint:
	$(PY) -m ruff check .

clean:
	rm -rf dist .pytest_cache demo/out
