# Swell: `make run` serves on http://127.0.0.1:8000, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/tsconfig.json
PYTEST_ARGS ?=
PY_DIRS := $(wildcard server tests e2e bench)
# The web build lands inside the package (package data, found with importlib.resources), so
# the editable install serves the fresh build and `pip install .` ships it.
WEB_OUT := server/swell/web
# `make cluster`: the machine's PostgreSQL and Redis (override either on the command line).
CLUSTER_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/swell
CLUSTER_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help run cluster test check lint format typecheck web install install-test install-bench chromium bench bench-smoke screenshots clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: install web ## install what is needed and serve on http://127.0.0.1:8000 (SQLite ./swell.db)
	$(BIN)/swell serve

cluster: install web ## three processes on http://127.0.0.1:8000 over the machine's PostgreSQL and Redis
	$(BIN)/swell db create --database-url '$(CLUSTER_DATABASE_URL)'
	$(BIN)/swell serve --workers 3 --database-url '$(CLUSTER_DATABASE_URL)' --redis-url '$(CLUSTER_REDIS_URL)'

test: install-test web chromium check bench/node_modules/.installed ## install the test tools and run every test
	$(BIN)/pytest tests e2e $(PYTEST_ARGS)

check: install-test web/node_modules/.installed ## lint and type checks (ruff, mypy, import layers, tsc)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd web && npm run --silent typecheck

format: install-test ## format the Python code
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)

install: $(VENV)/.installed ## the virtualenv with Swell in it

install-test: $(VENV)/.installed-test ## the virtualenv with the test tools too

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install-bench: $(VENV)/.installed-bench ## the virtualenv with the suite's extras too (uvicorn, for "Swell on uvicorn")

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

web: $(WEB_OUT)/.built ## build the web app into server/swell/web (only when its sources changed)

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_OUT)/.built: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build
	touch $@

chromium: ## make sure a Chromium exists for the browser tests (Debian's, from apt)
	@if [ -x /usr/bin/chromium ] || ls $${PLAYWRIGHT_BROWSERS_PATH:-$$HOME/.cache/ms-playwright}/chromium-* >/dev/null 2>&1; then \
		true; \
	else \
		echo "installing Debian's chromium"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

# The several-process scenarios need a PostgreSQL server (each layout gets a fresh database)
# and a Redis (each layout its own key prefix).
BENCH_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/0

bench: install install-bench web bench/node_modules/.installed bench/.venv-peers/.installed ## the benchmark suite (about 40 minutes; see docs/performance.md)
	$(BIN)/python -m bench --postgres-url $(BENCH_POSTGRES_URL) --redis-url $(BENCH_REDIS_URL) $(BENCH_ARGS)

bench-smoke: install install-bench web bench/node_modules/.installed bench/.venv-peers/.installed ## the suite's smoke version against every server (seconds, convergence only)
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

# The load generator and the Node peers, pinned by bench/package-lock.json.
bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# pycrdt-websocket pins its own pycrdt, so it lives apart from Swell's virtualenv.
bench/.venv-peers/.installed: bench/requirements-peers.txt
	test -x bench/.venv-peers/bin/python || $(PYTHON) -m venv bench/.venv-peers
	bench/.venv-peers/bin/python -m pip install --quiet --upgrade pip
	bench/.venv-peers/bin/python -m pip install --quiet -r bench/requirements-peers.txt
	touch $@

screenshots: install-test web chromium ## save screenshots of the app into docs/screenshots
	SWELL_SCREENSHOTS=docs/screenshots $(BIN)/pytest e2e -k screenshots $(PYTEST_ARGS)

clean: ## remove the virtualenv, node_modules and build output
	rm -rf $(VENV) web/node_modules $(WEB_OUT) web/dist
