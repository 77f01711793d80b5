# yunqiao — `make test` runs every test; it installs what it needs itself.
CARGO ?= cargo
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
export YUNQIAO_VENV := $(VENV)

.PHONY: serve test lint unit venv bench bench-lambda fmt clean

serve:
	$(CARGO) run --release -- serve

## Every test: formatting, clippy, the template lint, unit tests, the store conformance
## suite on the embedded store and on DynamoDB (moto server), the HTTP/WebSocket
## acceptance suite on every face (the server, and the Lambda functions behind the API
## Gateway stand-in), crash tests.
test: lint venv lint-template
	infra/with-emulators.sh $(CARGO) test --workspace --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

venv: $(VENV)/.installed

$(VENV)/.installed: infra/requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-test.txt
	cp infra/requirements-test.txt $@

## Store and HTTP figures beside same-run baselines (see README "Performance").
bench:
	$(CARGO) run --release -p yunqiao --bin yunqiao-bench

## Lambda binary sizes (arm64, stripped) and local cold starts beside a minimal Rust Lambda.
TARGET_DIR = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
bench-lambda: build-lambda
	$(CARGO) build --release -p yunqiao-lambda
	$(CARGO) run --release -p yunqiao-standin --bin lambda-bench -- $(TARGET_DIR)/lambda $(TARGET_DIR)/release

include infra/lambda.mk

clean:
	rm -rf $(VENV) data
