# The AWS face: template lint, Lambda builds, deploy. Included by the main Makefile
# (`include infra/lambda.mk`); see docs/deploy-aws.md.
#
#   make lint-template   cfn-lint + sam validate on template.yaml (offline)
#   make build-lambda    every yunqiao-lambda binary as target/lambda/<bin>/bootstrap.zip
#   make deploy          sam build + sam deploy (--guided the first time)
#
# Variables: GUIDED=1|0 forces or skips the guided deploy; SAM_DEPLOY_ARGS is passed to
# `sam deploy` (e.g. SAM_DEPLOY_ARGS='--parameter-overrides AdminKey=…' to rotate a key).

# Wherever this file is included, it must not become the default goal.
_yq_lambda_default_goal := $(.DEFAULT_GOAL)

VENV ?= $(CURDIR)/.venv
CARGO ?= cargo
SAM_CONFIG ?= samconfig.toml
SAM_DEPLOY_ARGS ?=

# cargo-lambda (and the zig it cross-compiles with) only for building and deploying:
# ~400 MB that `make test` does not need, so they stay out of requirements-test.txt.
CARGO_LAMBDA_VERSION ?= 1.9.2
ZIGLANG_VERSION ?= 0.16.0
CARGO_LAMBDA_STAMP := $(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)-zig-$(ZIGLANG_VERSION)

# The venv's bin first: `cargo lambda` finds cargo-lambda there and sam finds both;
# cargo-lambda runs zig as `python3 -m ziglang` with the venv's python.
LAMBDA_ENV = PATH="$(VENV)/bin:$$PATH" CARGO_ZIGBUILD_PYTHON_PATH="$(VENV)/bin/python3" \
  SAM_CLI_TELEMETRY=$${SAM_CLI_TELEMETRY:-0}

# First use: no `parameter_overrides` in samconfig.toml yet (the guided deploy records
# the non-secret answers there). GUIDED=1 or GUIDED=0 on the command line decides instead.
GUIDED ?= $(if $(shell grep -Eqs '^[[:space:]]*parameter_overrides[[:space:]]*=' $(SAM_CONFIG) && echo done),0,1)

.PHONY: lint-template build-lambda deploy

lint-template: $(VENV)/.installed
	YUNQIAO_VENV="$(VENV)" infra/lint-template.sh

$(CARGO_LAMBDA_STAMP): $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
	  "cargo-lambda==$(CARGO_LAMBDA_VERSION)" "ziglang==$(ZIGLANG_VERSION)"
	touch $@

## Zips for upload by hand or for benchmarks (yq-hello included); honours CARGO_TARGET_DIR.
build-lambda: $(CARGO_LAMBDA_STAMP)
	$(LAMBDA_ENV) $(CARGO) lambda build --release --arm64 --output-format zip -p yunqiao-lambda
	@echo "zips: $${CARGO_TARGET_DIR:-target}/lambda/<binary>/bootstrap.zip"

## sam build runs `cargo lambda build --release --arm64 --bin <binary>` per function
## (template.yaml Metadata) and puts the results in .aws-sam/build; sam deploy uploads them.
deploy: $(CARGO_LAMBDA_STAMP) lint-template
	$(LAMBDA_ENV) $(VENV)/bin/sam build --config-file $(SAM_CONFIG)
	$(LAMBDA_ENV) $(VENV)/bin/sam deploy --config-file $(SAM_CONFIG) \
	  $(if $(filter 1,$(GUIDED)),--guided) $(SAM_DEPLOY_ARGS)

.DEFAULT_GOAL := $(_yq_lambda_default_goal)
