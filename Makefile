# Two entry points for a newcomer: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: demo test test-deployment test-install test-matrix test-celery lint typecheck unit integration reliability reliability-full bench lock dist clean

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --quiet --python $(PY) -r requirements/lock.txt
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

demo: $(STAMP)
	$(PY) -m scripts.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# A real Airflow deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor) on a database of its own
# on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth), created and dropped by the test.
test-deployment: $(STAMP)
	HOKUSAI_DEPLOYMENT_TEST=1 $(PY) -m pytest tests/deployment -rA $(PYTEST_ARGS)

# What a user gets from `pip install`: the wheel built from this tree, installed with its [all] extra into a fresh
# virtualenv (only apache-airflow==3.3.2 and the PostgreSQL drivers besides, pinned as in requirements/lock.txt),
# deployed on Airflow's default configuration with the one-line DAG file of docs/installation.md (tests/install);
# and README.md followed literally: its [redis] install line, connection commands and release DAG, read from the file.
test-install: $(STAMP)
	HOKUSAI_INSTALL_TEST=1 $(PY) -m pytest tests/install -rA -s $(PYTEST_ARGS)

# The compatibility matrix (docs/compatibility.md): per cell of hokusai_testkit/matrix.py, one at a time, the wheel
# built from this tree with that cell's Airflow, mlflow-skinny, providers and pins in a fresh virtualenv, on
# Airflow's default configuration, smoke-tested against real Redis, moto SQS and mlflow server (tests/matrix).
test-matrix: $(STAMP)
	HOKUSAI_MATRIX_TEST=1 $(PY) -m pytest tests/matrix -rA -s -p no:cacheprovider $(PYTEST_ARGS)

# Airflow on the CeleryExecutor with two real workers (tests/celery): a redis-server the test starts, and a database of its
# own on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth), created and dropped by the test.
test-celery: $(STAMP)
	HOKUSAI_CELERY_TEST=1 $(PY) -m pytest tests/celery -rA $(PYTEST_ARGS)

reliability-full: $(STAMP)
	$(PY) -m bench.reliability $(ARGS)

bench: $(STAMP)
	$(PY) -m bench.run $(ARGS)

lock: $(STAMP)
	$(UV) pip compile requirements/requirements.in --python-version 3.11 --custom-compile-command "make lock" -o requirements/lock.txt

# The wheel and sdist a user installs, built as pip would (isolated, hatchling from PyPI), then checked: metadata
# (twine check --strict) and contents (scripts/check_dist.py: the package and its static files and schema, no tests,
# testkit, bench or .pyc; LICENSE, version, project URLs, extras).
dist: $(STAMP)
	rm -rf dist
	$(UV) build --out-dir dist
	$(VENV)/bin/twine check --strict dist/*
	$(PY) -m scripts.check_dist

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache dist
