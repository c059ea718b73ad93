# nufair — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install sysdeps run test lint bench clean
SHELL := /bin/bash

# System programs the test suite drives for real: headless Chromium (landing-page
# screenshots), STILTS (taplint, the IVOA TAP validator) and a RabbitMQ broker (the AMQP
# consumer's tests). Debian packages.
SYSDEPS := chromium:chromium stilts:stilts rabbitmq-server:rabbitmq-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -c 'import reco.kernel as k; k.warm()'  # compile the likelihood once, cached
	touch $(STAMP)

install: $(STAMP)

sysdeps:
	@missing=""; for pair in $(SYSDEPS); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "please install (Debian packages):$$missing" >&2; exit 1; fi; fi
	@if ! (echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
	  echo "starting rabbitmq-server"; rabbitmq-server -detached; \
	  for i in $$(seq 60); do (echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done; \
	fi

## Start the embedded PostgreSQL (unless NUFAIR_DATABASE_URL), migrate, load the sample, serve.
run: install
	$(BIN)/nufair run

## The whole test suite on real PostgreSQL (embedded, or NUFAIR_TEST_DATABASE_URL).
test: install sysdeps
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
