# The CRM platform. Two commands matter: `make run` (the whole stack with demo data) and
# `make test` (every test layer against throwaway servers). Everything else is a step.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := libs:services/contacts:services/deals:services/tasks:services/capture:services/webhooks:services/imports:gateway:cli
export APOLLO_TELEMETRY_DISABLED := true

REQ_STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-16)
COMPOSE_DIR := gateway/compose
COMPOSE_STAMP := $(COMPOSE_DIR)/node_modules/.installed-$(shell cat $(COMPOSE_DIR)/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
WEB_STAMP := web/node_modules/.installed-$(shell cat web/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
# Build-time checkers of the committed documents (AsyncAPI parser, compose schema).
TOOLS_DIR := deploy/tools
TOOLS_STAMP := $(TOOLS_DIR)/node_modules/.installed-$(shell cat $(TOOLS_DIR)/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)

WORKSPACE ?= demo
SUBJECT ?= admin
ROLE ?= admin

.PHONY: help install run test test-unit test-integration test-e2e chaos token lint format \
        supergraph api-schema web chromium screenshots schemas docs bench bench-load bench-scale \
        clean ferretdb \
        promtool tools imap-server

help:
	@echo "make run     - start FerretDB, NATS, the services and the gateway with demo data"
	@echo "make test    - run every test layer against throwaway FerretDB and NATS"
	@echo "make chaos   - the fault suite: kill -9 each part during a keyed workload (CHAOS_SIZE=short|long)"
	@echo "make token   - print a development token (WORKSPACE=, SUBJECT=, ROLE=)"
	@echo "make lint    - ruff check, format check, mypy (strict for libs and the gateway core)"
	@echo "make schemas - re-export every service's schema.graphql"
	@echo "make supergraph - compose gateway/supergraph.graphql from the subgraph SDLs"
	@echo "make docs    - regenerate docs/asyncapi.yaml, docs/asyncapi.html, docs/events.md"
	@echo "make bench   - run the benchmarks under bench/"
	@echo "make bench-load - the load benchmark alone (USERS=10,50,200 LOAD_SECONDS=30)"
	@echo "make bench-scale - the scale curve alone (SCALE_SIZES=10000,100000)"
	@echo "make web     - build the web client (served by the gateway at /)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(REQ_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

ferretdb:
	@bash scripts/install-ferretdb.sh >/dev/null

promtool:
	@bash scripts/install-promtool.sh >/dev/null

# A real IMAP server for the capture service's tests (Debian's Dovecot, when missing).
imap-server:
	@bash scripts/install-dovecot.sh

$(COMPOSE_STAMP):
	@if [ -f $(COMPOSE_DIR)/package-lock.json ]; then \
	  (cd $(COMPOSE_DIR) && npm ci --no-audit --no-fund --loglevel=error) && touch $@; fi

$(WEB_STAMP):
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The `crm` command (.venv/bin/crm) from pyproject's [project.scripts], without dependencies
# (requirements.txt pins those).
CLI_STAMP := $(VENV)/bin/crm
$(CLI_STAMP): pyproject.toml | $(REQ_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .

$(TOOLS_STAMP):
	(cd $(TOOLS_DIR) && npm ci --no-audit --no-fund --loglevel=error) && touch $@

install: $(REQ_STAMP) ferretdb $(COMPOSE_STAMP) $(WEB_STAMP) $(CLI_STAMP)

# What the contract tests check the committed documents with (not needed to run).
tools: promtool $(TOOLS_STAMP)

# The web client (web/dist), served by the gateway at http://127.0.0.1:4000/.
web: $(WEB_STAMP)
	cd web && npm run --silent build

run: install web
	$(PY) -m crm_cli run

token: $(REQ_STAMP)
	@$(PY) -m crm_cli token --workspace "$(WORKSPACE)" --subject "$(SUBJECT)" --role "$(ROLE)"

test: install tools lint web chromium imap-server
	cd web && npm run --silent test
	$(PY) -m pytest -q -m "not integration and not e2e and not chaos" libs services gateway tests
	$(PY) -m pytest -q -m integration libs services tests
	$(PY) -m pytest -q -m e2e tests
	CHAOS_SIZE=short $(PY) -m pytest -q -m chaos tests/chaos

test-unit: install tools
	$(PY) -m pytest -q -m "not integration and not e2e and not chaos" libs services gateway tests

test-integration: install imap-server
	$(PY) -m pytest -q -m integration libs services tests

test-e2e: install web chromium
	$(PY) -m pytest -q -m e2e tests

# The fault suite (tests/chaos): kill -9 of each service, the gateway, NATS and FerretDB
# during a keyed workload on a stack of its own. Long by default; CHAOS_SIZE=short for the
# ~1 minute version (one kill of each kind but capture and webhooks, a few hundred writes).
CHAOS_SIZE ?= long
chaos: install
	CHAOS_SIZE=$(CHAOS_SIZE) $(PY) -m pytest -q -m chaos tests/chaos

# The browser tests drive Debian's Chromium (browser downloads are not possible here).
chromium:
	@if [ -z "$$CHROMIUM" ] && [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (or set CHROMIUM=/path/to/chromium)"; \
	    exit 1; \
	  fi; \
	fi

lint: $(REQ_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(REQ_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schemas: $(REQ_STAMP)
	for svc in contacts deals tasks capture webhooks imports; do \
	  $(PY) -m crm_$$svc.export_schema > services/$$svc/schema.graphql; done

docs: $(REQ_STAMP)
	$(PY) -m crm_contracts.asyncapi docs

supergraph: $(COMPOSE_STAMP)
	node $(COMPOSE_DIR)/compose.mjs
	$(MAKE) -s api-schema

# The gateway's client-facing schema, which the web client generates its types from.
api-schema: $(REQ_STAMP)
	$(PY) -m crm_gateway.export_api_schema > web/schema.graphql

# Every bench but the scale curve (hours at 100k: `make bench-scale`).
bench: install web chromium
	for b in $(filter-out bench/scale/run.py,$(wildcard bench/*/run.py)); do \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# A sales team's read/write mix through the gateway at each number of virtual users, on a
# stack of its own with the demo data (bench/load/README.md).
USERS ?= 10,50,200
LOAD_SECONDS ?= 30
bench-load: install
	$(PY) bench/load/run.py --users $(USERS) --seconds $(LOAD_SECONDS)

# The scale curve: 10k and 100k deals (2x contacts, 10x interactions, 3x tasks) imported on
# a stack of its own, restarted, measured (bench/scale/README.md). Tens of minutes at 100k.
SCALE_SIZES ?= 10000,100000
bench-scale: install
	$(PY) bench/scale/run.py --sizes $(SCALE_SIZES)

# Screenshots of each screen on the demo data, into docs/screens/ (shown in the README).
screenshots: install web chromium
	$(PY) bench/web/run.py --screens docs/screens

clean:
	rm -rf .data
