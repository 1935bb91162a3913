# Transformers for biomedicine: one Makefile for readers, students, instructors and CI.
#   make book   build the HTML book into _build/html
#   make test   run the whole test suite (what CI runs)
# Both create the virtual environment .venv themselves, with the exact versions of constraints.txt
# (re-created when pyproject.toml or constraints.txt changes).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml $(CONSTRAINTS) 2>/dev/null | cksum | cut -d' ' -f1)
JOBS ?= 2
export PYTHONHASHSEED := 0

.PHONY: help venv book test test-fast lab exchange release autograde feedback bench constraints clean

help:
	@echo "make book       build the HTML book (_build/html/index.html)"
	@echo "make test       run the whole test suite (library, graders, notebooks, nbgrader, book build)"
	@echo "make lab        JupyterLab for students (open exercises/<assignment>/<assignment>.ipynb)"
	@echo "make release    regenerate exercises/ from solutions/ (nbgrader generate_assignment)"
	@echo "make exchange   release the assignments into nbgrader_exchange/ (the students' Assignment List tab)"
	@echo "make autograde  grade new or changed submissions in submitted/ (ARGS=\"-j 2 --force --student ID\")"
	@echo "make feedback   write feedback HTML for graded submissions into feedback/"
	@echo "make bench      run the benchmarks and print a table"
	@echo "make constraints  re-pin constraints.txt to the newest releases inside pyproject.toml's ranges"
	@echo "make clean      remove builds, caches and the virtual environment"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: Python 3.11 or newer is needed as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1 || echo none))."; \
	  echo "       Install it, or run for example: make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build --all -W .
	@echo "The book is at _build/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests book solutions

# Extra arguments for lab and autograde: make lab ARGS="--port 8890 --no-browser", make autograde ARGS="-j 2 --force".
ARGS ?=
# JupyterLab refuses to run as root (as in most containers) unless told it may.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ROOT) $(ARGS) exercises

exchange: $(STAMP)
	$(BIN)/python -m cs502_lib.course exchange

ASSIGNMENTS := $(notdir $(patsubst %/,%,$(wildcard solutions/*/)))

release: $(STAMP)
	@test -n "$(ASSIGNMENTS)" || { echo "no assignment in solutions/"; exit 1; }
	$(BIN)/python -m cs502_lib.course release

autograde: $(STAMP)
	$(BIN)/python -m cs502_lib.course autograde $(ARGS)

feedback: $(STAMP)
	$(BIN)/python -m cs502_lib.course feedback

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Maintainers: re-resolve the newest releases inside pyproject.toml's ranges and pin them in constraints.txt
# (then `make test`, and commit both). torch stays pinned: an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
LOCK_VENV := _build/constraints-venv

constraints:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet '$(TORCH)' -e '.[dev,bench]'
	{ awk '!/^#/ {exit} {print}' $(CONSTRAINTS); \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | sed -E 's/^(torch==[0-9.]+)[+]cpu$$/\1/'; \
	} > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)
	@echo "constraints.txt updated: run make test, then commit it"

clean:
	rm -rf _build $(VENV) .pytest_cache .jupyter_cache gradebook.db submitted autograded feedback nbgrader_exchange
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
