# Two commands on a fresh machine: `make test` and `make demo`.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# one BLAS thread per process: multi-threaded BLAS on small blocks is slower here
export OMP_NUM_THREADS ?= 1

.PHONY: install test lint demo clean

$(PYTHON):
	python3 -m venv $(VENV)

# torch first, pinned: the CPU wheel is on the machine's wheel path; an unpinned
# torch would pull gigabytes of CUDA wheels.
$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# style: the rules and their reasons are in pyproject.toml ([tool.ruff])
lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/hamtrans demo --out demo_out

clean:
	rm -rf $(VENV) demo_out .pytest_cache
