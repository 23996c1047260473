# make run   - the whole system locally (API :3000, Richpanel sandbox :4010, SQS, retry poller)
# make test  - lint, type-check, sam build and the full test suite (needs python3.12, docs/deploy.md)
# make dlq / make redrive ARGS="--dry-run" - inspect / redrive the local DLQ (docs/operations.md)
# make replay ARGS="SOURCE [options]" - backfill history / replay after a fix (docs/operations.md)
# make build - sam build (pure pip, no Docker) into .aws-sam/build, for arm64 (what deploys);
#   make build-host - the same for this machine's CPU into .aws-sam/host/build (what tests run)
# make validate - sam validate --lint
# make build-test - build both, check the arm64 one, run the host one's handlers on events/
# make deploy [GUIDED=1] [ARGS="..."] - build, then sam deploy [--guided] ARGS (docs/deploy.md)
# make test-deployed STACK=name - smoke test a deployed stack (tests/deployed; AWS credentials)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# npm ci from the lock file: @segment/analytics-node (tests/integration/test_real_clients.py),
# @segment/analytics-next and puppeteer-core (tests/browser, on the system Chromium)
NODE_DIR   := tests/e2e/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed-stamp

.PHONY: venv node-deps run test test-deployed lint format unit integration fuzz bench clean docs dlq redrive redrive-aws verify

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: the analytics-node and real-browser tests will be skipped"; fi

node-deps: $(NODE_STAMP)
	@command -v chromium >/dev/null 2>&1 || [ -n "$$CHROMIUM" ] || echo "no chromium: \
the real-browser test (tests/browser) will be skipped; apt-get install chromium"

# make run API_KIND=http - the same stack behind the local HTTP API (payload format 2.0)
run: venv
	$(BIN)/python -m local.run --ready-file .local-stack.json --log-file .local-stack/logs.jsonl \
		$(if $(API_KIND),--parameter ApiKind=$(API_KIND))

# Includes tests/packaging: the `sam build` artifact's handlers, run as Lambda would.
test: lint node-deps build build-host lambda-runtime
	$(ARTIFACT_ENV) $(BIN)/python -m pytest --durations=15

# One identify and one track for the synthetic customer richpanel-destination-smoke-test;
# the write key from the stack's inbound secret, or SMOKE_WRITE_KEY. Skipped without STACK.
test-deployed: venv
	AWS_SAM_STACK_NAME=$(STACK) $(BIN)/python -m pytest tests/deployed -p no:cacheprovider $(ARGS)

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv node-deps
	$(BIN)/python -m pytest tests/integration tests/local

# Hypothesis (>= 10,000 requests in-process) and Schemathesis (over HTTP to the local stack),
# long profile; prints the cases run and the server errors/crashes found. `make test` runs few.
fuzz: venv
	FUZZ_PROFILE=long $(BIN)/python -m pytest tests/fuzz --timeout=900 --durations=5

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml
	$(BIN)/mypy layers/common/richpanel_destination
	$(BIN)/mypy ops
	$(BIN)/mypy functions/ingest/app.py
	$(BIN)/mypy functions/retry/app.py
	$(BIN)/mypy functions/canary/app.py
	$(BIN)/mypy functions/audit/app.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# ops/ (operator tools, not in the artifact) runs from the root: it needs local/ and the layer.
REDRIVE := PYTHONPATH=layers/common $(BIN)/python -m ops.redrive

# The DLQ of a running `make run`, by reason (moves nothing).
dlq: venv
	$(REDRIVE) --local --dry-run $(ARGS)

# Move the local DLQ back to the retry queue: make redrive ARGS="--status 400 --limit 10"
redrive: venv
	$(REDRIVE) --local $(ARGS)

# A deployed stack: make redrive-aws STACK=richpanel-destination ARGS="--dry-run"
# (or ARGS="--source DLQ_URL --destination RETRY_URL"); AWS credentials from your environment.
redrive-aws: venv
	$(REDRIVE) $(if $(STACK),--stack $(STACK)) $(ARGS)

# Prove arrival (docs/operations.md#verify-arrival): the local stack, or Richpanel with RICHPANEL_*.
verify: venv
	PYTHONPATH=layers/common $(BIN)/python -m ops.verify $(ARGS)

# Backfill or replay (docs/operations.md#backfill-and-replay), to the running `make run` stack
# by default: make replay ARGS="segment-logs/ --dry-run" (or ARGS="... --url URL --write-key K")
.PHONY: replay
replay: venv
	PYTHONPATH=layers/common $(BIN)/python -m ops.replay $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (a harness, not a test): table, bench/results/results.json and bench.png
bench: venv build-host
	PYTHON312="$(PY312_BIN)python3.12" $(BIN)/python -m bench.run

docs: venv
	PYTHONPATH=layers/common $(BIN)/python -m richpanel_destination.mapping.document > docs/mapping.md

# --- Packaging (docs/deploy.md) -------------------------------------------------------------
# The SAM CLI lives in its own venv: its pins clash with the test tools of .venv.
.PHONY: sam build build-host validate build-test lambda-runtime
SAM_CLI_VERSION := 1.170.0
SAM_VENV  := .sam-venv
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
# What the python3.12 runtime provides and the layer does not ship: boto3 (pinned like .venv's).
LAMBDA_RUNTIME := $(SAM_VENV)/lambda-runtime
BOTO3_PIN      := $(shell grep -m1 '^boto3==' requirements-dev.txt)
BUILT := .aws-sam/build/template.yaml
BUILD_SOURCES := template.yaml samconfig.toml $(shell find functions layers/common -type f \
	-not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)
# sam build needs the runtime's exact Python: pyenv's 3.12.1, else a python3.12 on PATH.
PY312_BIN := $(firstword $(foreach d,$(shell pyenv prefix 3.12.1 2>/dev/null)/bin/ \
	/root/.pyenv/versions/3.12.1/bin/ $(dir $(shell command -v python3.12 2>/dev/null)),\
	$(if $(wildcard $(d)python3.12),$(d))))
NEED_PY312 = @test -n "$(PY312_BIN)" || { echo "error: sam build needs Python 3.12 (the Lambda \
runtime) as python3.12 on PATH; install it (e.g. pyenv install 3.12.1) and retry" >&2; exit 1; }
SAM := PATH="$(PY312_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

$(SAM_STAMP):
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $(SAM_STAMP)

sam: $(SAM_STAMP)

$(BUILT): $(SAM_STAMP) $(BUILD_SOURCES)
	$(NEED_PY312)
	$(SAM) build
	touch $(BUILT)

build: $(BUILT)

# The functions and layer again, the layer's wheels for this machine's CPU (LAYER_PLATFORM,
# layers/common/Makefile; sam build passes the environment on to make): the arm64 artifact's
# compiled modules (rpds, wrapt, charset_normalizer) cannot load on an x86_64 host, so the
# handler tests and make bench run this one. Its own build.toml and cache: SAM's cache does
# not know LAYER_PLATFORM and would hand one build's layer to the other.
HOST_BUILD := .aws-sam/host/build
HOST_BUILT := $(HOST_BUILD)/template.yaml
HOST_LAYER_PLATFORM := manylinux2014_$(shell uname -m)

$(HOST_BUILT): $(SAM_STAMP) $(BUILD_SOURCES)
	$(NEED_PY312)
	LAYER_PLATFORM="$(HOST_LAYER_PLATFORM)" $(SAM) build --build-dir $(HOST_BUILD) \
		--cache-dir .aws-sam/host/cache
	touch $(HOST_BUILT)

build-host: $(HOST_BUILT)

validate: $(SAM_STAMP)
	$(SAM) validate --lint

.PHONY: deploy
deploy: build
	$(SAM) deploy $(if $(filter 1,$(GUIDED)),--guided) $(ARGS)

$(LAMBDA_RUNTIME)/.stamp: $(SAM_STAMP) requirements-dev.txt
	$(NEED_PY312)
	rm -rf $(LAMBDA_RUNTIME)
	$(PY312_BIN)python3.12 -m pip install --quiet --disable-pip-version-check \
		--target $(LAMBDA_RUNTIME) "$(BOTO3_PIN)"
	touch $@

lambda-runtime: $(LAMBDA_RUNTIME)/.stamp

ARTIFACT_ENV = REQUIRE_ARTIFACT=1 PYTHON312="$(PY312_BIN)python3.12" LAMBDA_RUNTIME="$(LAMBDA_RUNTIME)"

# The arm64 artifact's contents and machine code (tests/packaging/test_arm64.py), and the
# host build's handlers in a fresh python3.12 -I, on the built function + layer + boto3 only.
build-test: venv build build-host lambda-runtime
	$(ARTIFACT_ENV) $(BIN)/python -m pytest tests/packaging

# Find one event (docs/operations.md#find-one-event): make trace ARGS="--message-id m-1"
# (--user-id U, --order-id O, --email E; add --stack NAME [--since 3d] for a deployed stack).
.PHONY: trace audit
TRACE_ENV := PYTHONPATH=layers/common
trace: venv
	$(TRACE_ENV) $(BIN)/python -m ops.trace $(ARGS)

# Accepted events with no final fate: make audit ARGS="--since 2h" (or --stack NAME --since 26h)
audit: venv
	$(TRACE_ENV) $(BIN)/python -m ops.audit $(ARGS)
