# make run   - the whole system locally (API :3000, Richpanel sandbox :4010, SQS, retry poller)
# make test  - lint, type-check and the full test suite
# make dlq / make redrive ARGS="--dry-run" - inspect / redrive the local DLQ (docs/operations.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv run test lint format unit integration fuzz clean docs dlq redrive redrive-aws

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m local.run --ready-file .local-stack.json

test: lint
	$(BIN)/python -m pytest

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv
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
	$(BIN)/mypy functions/ingest/app.py
	$(BIN)/mypy functions/retry/app.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

REDRIVE := PYTHONPATH=layers/common $(BIN)/python -m richpanel_destination.delivery.redrive

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

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

docs: venv
	PYTHONPATH=layers/common $(BIN)/python -m richpanel_destination.mapping.document > docs/mapping.md
