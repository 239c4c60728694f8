# The project's verbs. `make demo` and `make test` are the two set-up commands of the README.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
# checkov gets a virtual environment of its own: its boto3/packaging pins contradict sam's.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
# vectorbt, a benchmark reference only, gets one too: it needs a newer numpy than Lambda's pin.
VECTORBT_VENV := $(VENV)/vectorbt
VECTORBT_INSTALLED := $(VECTORBT_VENV)/.installed

.PHONY: install demo up test lint format typecheck validate unit stress bench clean

$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (the Lambda runtime is python3.11)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_INSTALLED): tools/checkov-requirements.txt $(INSTALLED)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r tools/checkov-requirements.txt
	touch $@

$(VECTORBT_INSTALLED): benchmarks/vectorbt-requirements.txt
	test -x $(VECTORBT_VENV)/bin/python || $(PYTHON) -m venv $(VECTORBT_VENV)
	$(VECTORBT_VENV)/bin/pip install --quiet --upgrade pip
	$(VECTORBT_VENV)/bin/pip install --quiet -r benchmarks/vectorbt-requirements.txt
	touch $@

install: $(INSTALLED) $(NODE_INSTALLED) $(CHECKOV_INSTALLED) ## create .venv/ and node_modules/ with everything the project needs

demo: $(INSTALLED) ## run the trading workflow end to end on the bundled sample data
	$(BIN)/stp run --data data/stocks.csv --corporate-actions data/corporate_actions.csv --cash-fraction 0.25 --out out

up: $(INSTALLED) ## the platform as one local AWS endpoint until Ctrl-C; state kept in .stp/
	mkdir -p .stp
	$(BIN)/stp up --state-dir .stp --env-file .stp/env.sh

test: install lint typecheck validate unit ## every check: lint, types, templates, ASL, tests

lint: $(INSTALLED)
	$(BIN)/ruff check src tools tests benchmarks scripts strategies
	$(BIN)/ruff format --check src tools tests benchmarks scripts strategies

format: $(INSTALLED)
	$(BIN)/ruff check --fix src tools tests benchmarks scripts strategies
	$(BIN)/ruff format src tools tests benchmarks scripts strategies

typecheck: $(INSTALLED)
	$(BIN)/mypy src tools

validate: install ## cfn-lint, sam validate --lint, checkov, least privilege, ASL and workflow checks
	$(BIN)/stp validate

unit: $(INSTALLED)
	$(BIN)/pytest -q -n 2 --dist loadgroup

STRESS_COUNT ?= 20
stress: $(INSTALLED) ## loop the concurrency tests STRESS_COUNT times (default 20): they must never flake
	$(BIN)/pytest -q -n 2 -m concurrency --count=$(STRESS_COUNT)

bench: $(INSTALLED) $(VECTORBT_INSTALLED) ## performance figures, printed as ratios against baselines measured in the same run
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) node_modules out .aws-sam .pytest_cache .mypy_cache .ruff_cache
