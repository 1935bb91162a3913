# Transformers for biomedicine: one Makefile for readers, students, instructors and CI.
#   make book   build the HTML book into _build/html
#   make test   run the whole test suite (what CI runs)
# Both create the virtual environment .venv themselves (re-created when pyproject.toml changes).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
JOBS ?= 2
export PYTHONHASHSEED := 0

.PHONY: help venv book test test-fast lab release autograde feedback bench clean

help:
	@echo "make book       build the HTML book (_build/html/index.html)"
	@echo "make test       run the whole test suite (library, graders, notebooks, nbgrader, book build)"
	@echo "make lab        JupyterLab for students (open exercises/<assignment>/<assignment>.ipynb)"
	@echo "make release    regenerate exercises/ from solutions/ (nbgrader generate_assignment)"
	@echo "make autograde  grade every submission in submitted/ (CS502_GRADING_DEVICE=cuda on a GPU server)"
	@echo "make feedback   write feedback HTML for graded submissions into feedback/"
	@echo "make bench      run the benchmarks and print a table"
	@echo "make clean      remove builds, caches and the virtual environment"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: Python 3.11 or newer is needed as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1 || echo none))."; \
	  echo "       Install it, or run for example: make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build --all -W .
	@echo "The book is at _build/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests book solutions

lab: $(STAMP)
	$(BIN)/jupyter lab exercises

ASSIGNMENTS := $(notdir $(patsubst %/,%,$(wildcard solutions/*/)))

release: $(STAMP)
	@test -n "$(ASSIGNMENTS)" || { echo "no assignment in solutions/"; exit 1; }
	$(BIN)/python -m cs502_lib.course release

autograde: $(STAMP)
	$(BIN)/python -m cs502_lib.course autograde

feedback: $(STAMP)
	$(BIN)/python -m cs502_lib.course feedback

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf _build $(VENV) .pytest_cache .jupyter_cache gradebook.db submitted autograded feedback nbgrader_exchange
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
