# The AWS face: template lint, Lambda builds, deploy. Included by the main Makefile
# (`include infra/lambda.mk`); see docs/deploy-aws.md.
#
#   make lint-template   cfn-lint + sam validate on template.yaml (offline), as it is, with
#                        custom domains, and as a China-partition stack; the admin's
#                        outputs (infra/check_template.py); the sam-local env file covers
#                        every variable and function (infra/check_sam_local_env.py); the
#                        deploy guides' cost tables add up (infra/check_cost_table.py)
#   make build-lambda    every yunqiao-lambda binary as target/lambda/<bin>/bootstrap.zip
#   make deploy          sam build + sam deploy (--guided the first time)
#   make sam-local       sam local start-api over a local DynamoDB and the WeChat mock
#                        (needs Docker; fails saying so without it)
#
# Variables: GUIDED=1|0 forces or skips the guided deploy; SAM_DEPLOY_ARGS is passed to
# `sam deploy` (e.g. SAM_DEPLOY_ARGS='--parameter-overrides AdminKey=…' to rotate a key);
# LAMBDA_ARCH=arm64|x86_64 is the processor the functions are built for (default: the
# Architecture saved in samconfig.toml's parameter_overrides, else arm64) — the stack's
# Architecture parameter must say the same; SAM_LOCAL_ARCH (default: this machine's) is
# the one `make sam-local` builds and runs.

# Wherever this file is included, it must not become the default goal.
_yq_lambda_default_goal := $(.DEFAULT_GOAL)

VENV ?= $(CURDIR)/.venv
CARGO ?= cargo
SAM_CONFIG ?= samconfig.toml
SAM_DEPLOY_ARGS ?=
PYTHON ?= python3

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

# The functions' processor. A deployed stack's is its Architecture parameter, which the
# guided deploy saves in samconfig.toml (parameter_overrides = "… Architecture=\"x86_64\" …").
SAVED_LAMBDA_ARCH := $(shell sed -nE 's/.*Architecture=\\?"?(arm64|x86_64).*/\1/p' $(SAM_CONFIG) 2>/dev/null | head -n 1)
LAMBDA_ARCH ?= $(or $(SAVED_LAMBDA_ARCH),arm64)
ifeq ($(filter arm64 x86_64,$(LAMBDA_ARCH)),)
$(error LAMBDA_ARCH must be arm64 or x86_64, not "$(LAMBDA_ARCH)")
endif
CARGO_LAMBDA_ARCH = $(if $(filter x86_64,$(1)),--x86-64,--arm64)
SAM_LOCAL_ARCH ?= $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
SAM_LOCAL_BUILD_DIR ?= .aws-sam/local

.PHONY: lint-template build-lambda deploy sam-local

lint-template: $(VENV)/.installed
	YUNQIAO_VENV="$(VENV)" infra/lint-template.sh
	$(PYTHON) infra/check_template.py
	$(PYTHON) infra/check_sam_local_env.py
	$(PYTHON) infra/check_cost_table.py

$(CARGO_LAMBDA_STAMP): $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
	  "cargo-lambda==$(CARGO_LAMBDA_VERSION)" "ziglang==$(ZIGLANG_VERSION)"
	touch $@

## Zips for upload by hand or for benchmarks (yq-hello included); honours CARGO_TARGET_DIR.
build-lambda: $(CARGO_LAMBDA_STAMP)
	$(LAMBDA_ENV) $(CARGO) lambda build --release $(call CARGO_LAMBDA_ARCH,$(LAMBDA_ARCH)) --output-format zip -p yunqiao-lambda
	@echo "zips: $${CARGO_TARGET_DIR:-target}/lambda/<binary>/bootstrap.zip"

## sam build runs `cargo lambda build --release --arm64 --bin <binary>` (--x86-64 when
## LAMBDA_ARCH=x86_64) per function (template.yaml Metadata) and puts the results in
## .aws-sam/build; sam deploy uploads them. The guided deploy offers LAMBDA_ARCH as the
## Architecture answer; a later deploy refuses a LAMBDA_ARCH that samconfig.toml's
## Architecture does not say (binaries for one processor on functions set to the other
## would not start).
deploy: $(CARGO_LAMBDA_STAMP) lint-template
	@if [ "$(GUIDED)" != 1 ] && [ "$(LAMBDA_ARCH)" != "$(or $(SAVED_LAMBDA_ARCH),arm64)" ]; then \
	  echo "deploy: LAMBDA_ARCH=$(LAMBDA_ARCH), but the stack's Architecture is $(or $(SAVED_LAMBDA_ARCH),arm64 (the default))." >&2; \
	  echo "  Put Architecture=\"$(LAMBDA_ARCH)\" in parameter_overrides in $(SAM_CONFIG), or deploy with GUIDED=1." >&2; \
	  exit 1; \
	fi
	$(LAMBDA_ENV) $(VENV)/bin/sam build --config-file $(SAM_CONFIG) \
	  --parameter-overrides Architecture=$(LAMBDA_ARCH)
	$(LAMBDA_ENV) $(VENV)/bin/sam deploy --config-file $(SAM_CONFIG) \
	  $(if $(filter 1,$(GUIDED)),--guided --parameter-overrides Architecture=$(LAMBDA_ARCH)) $(SAM_DEPLOY_ARGS)

## The HTTP API's functions under `sam local start-api` (Docker), built for this machine
## (SAM_LOCAL_ARCH) into their own build directory, over a moto server and the WeChat
## mock, with infra/sam-local-env.json. Checks for Docker before installing anything.
sam-local:
	@infra/sam-local.sh check
	$(MAKE) --no-print-directory $(VENV)/.installed $(CARGO_LAMBDA_STAMP)
	$(LAMBDA_ENV) $(VENV)/bin/sam build --config-file $(SAM_CONFIG) \
	  --build-dir $(SAM_LOCAL_BUILD_DIR) --parameter-overrides Architecture=$(SAM_LOCAL_ARCH)
	YUNQIAO_VENV="$(VENV)" infra/sam-local.sh run $(SAM_LOCAL_BUILD_DIR) $(SAM_LOCAL_ARCH)

.DEFAULT_GOAL := $(_yq_lambda_default_goal)
