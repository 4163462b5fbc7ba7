# Two entry points, both self-contained on a fresh machine (Python >= 3.11):
#   make demo  - set up and run the demonstration
#   make test  - set up, then ruff, mypy --strict, the layer contracts, promtool and pytest
#                (with Debian's chromium for the page's browser tests)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint typecheck layers tools bench proto clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check hashlist server node auditor witness tests bench
	$(BIN)/ruff format --check hashlist server node auditor witness tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# import-linter contracts in pyproject.toml: the core imports no app, apps do
# not import each other, protobuf stays at the edge.
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

# promtool checks deploy/alerts.yml (tests/unit/test_deploy.py), chromium runs
# the victim's page (tests/browser) and nginx serves the static tiles with client
# certificates (tests/e2e/test_tiles.py, each test its own nginx on a free port):
# Debian's packages. axe-core (npm) is the accessibility check the browser tests
# inject into the page.
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js
tools: $(AXE)
	@command -v promtool >/dev/null && command -v chromium >/dev/null \
	  && { command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends prometheus chromium fonts-dejavu-core nginx >/dev/null; }

$(AXE): $(STAMP)
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm 'axe-core@^4.10'

test: lint typecheck layers tools
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/hashlist demo

proto: $(STAMP)
	PATH=$(BIN):$$PATH scripts/gen_proto.sh

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.bench_merkle
	$(BIN)/python -m bench.bench_lthash
	$(BIN)/python -m bench.bench_delta
	$(BIN)/python -m bench.bench_bootstrap
	$(BIN)/python -m bench.bench_propagation
	$(BIN)/python -m bench.bench_fanout
	$(BIN)/python -m bench.bench_hash
	$(BIN)/python -m bench.bench_video_hash
	$(BIN)/python -m bench.bench_reports
	$(BIN)/python -m bench.bench_index_build
	$(BIN)/python -m bench.bench_match
	$(BIN)/python -m bench.bench_video_match
	$(BIN)/python -m bench.bench_audit
	$(BIN)/python -m bench.bench_cli
	$(BIN)/python -m bench.bench_check_latency
	$(BIN)/python -m bench.bench_check_batch
	$(BIN)/python -m bench.bench_page_hashing

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
