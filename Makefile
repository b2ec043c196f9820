# Investment AI Agent. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
HOST ?= 127.0.0.1
PORT ?= 8000
# jsii (the CDK's bridge to its JavaScript core) runs on Node: a current release from npm, in .tools/
TOOLS := .tools
NODE_VERSION ?= 22
JSII_NODE := $(CURDIR)/$(TOOLS)/node_modules/.bin/node
export JSII_NODE
CDK_OUT ?= build/cdk.out
TEST_WORKERS ?= 2

.PHONY: install run test test-fast lint bench clean synth lambda-package lambda-report docker-lint security smoke

install: $(STAMP) $(JSII_NODE)

$(STAMP): pyproject.toml constraints.txt infra/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --quiet -c constraints.txt -e '.[local,aws,dev,infra]'
	@touch $(STAMP)

$(JSII_NODE):
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent node@$(NODE_VERSION)
	@$(JSII_NODE) --version

run: install  ## install, prepare the data directory, serve on http://$(HOST):$(PORT)
	$(BIN)/investai serve --host $(HOST) --port $(PORT)

test: install lint  ## lint, type-check, then every test suite (one test file per worker; TEST_WORKERS=0: serial)
	$(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

test-fast: install  ## unit, contract and architecture tests only
	$(BIN)/python -m pytest -q -m "not slow" tests/unit tests/contract tests/architecture

lint: install
	$(BIN)/ruff check src tests benchmarks infra deploy ops
	$(BIN)/ruff format --check src tests benchmarks infra deploy ops
	$(BIN)/mypy src deploy

bench: install  ## measured figures; see benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run

synth: install  ## synthesise dev, staging and prod (no AWS credentials) with cdk-nag, then cfn-lint them
	rm -rf $(CDK_OUT)
	cd infra && CDK_OUTDIR=$(CURDIR)/$(CDK_OUT) $(CURDIR)/$(BIN)/python app.py
	$(BIN)/cfn-lint --config-file infra/.cfnlintrc -- $(CDK_OUT)/*.template.json

lambda-package: install  ## the scheduler function's zip, from wheels for the Lambda runtime (size-checked)
	$(BIN)/python deploy/lambda_package.py --function scheduler --out build/lambda

docker-lint: install  ## lint the Lambda image and Fargate worker Dockerfiles (they are built at deploy time)
	$(BIN)/hadolint --failure-threshold warning deploy/Dockerfile.lambda deploy/Dockerfile.worker

lambda-report: install  ## what the whole AWS dependency set would weigh as a zip (it does not fit: see README)
	$(BIN)/python deploy/lambda_package.py --function full --report-only --out build/lambda

security: install  ## bandit over src and deploy (reasoned skips in deploy/bandit.yaml)
	$(BIN)/bandit -q -c deploy/bandit.yaml -r src deploy

smoke: install  ## smoke-test a deployment: make smoke URL=https://... (SMOKE_USERNAME/SMOKE_PASSWORD sign in)
	$(BIN)/python deploy/smoke.py --url $(URL)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache build
