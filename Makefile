# yunqiao — `make test` runs every test; it installs what it needs itself.
CARGO ?= cargo
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
export YUNQIAO_VENV := $(VENV)

.PHONY: serve test fast test-clients build-clients run-clients test-console test-console-run chromium contract-venv client-venv lint unit venv bench bench-lambda fmt clean

serve:
	$(CARGO) run --release -- serve

## Every test: formatting, clippy, the template lint, unit tests, the store conformance
## suite on the embedded store and on DynamoDB (moto server), the HTTP/WebSocket
## acceptance suite on every face (the server, and the Lambda functions behind the API
## Gateway stand-in), crash tests, the README's examples, the JS SDK on both faces.
## Every part runs even when an earlier one fails; the exit status says whether all passed.
test: lint venv lint-template contract-venv client-venv
	$(CARGO) test --workspace --no-run
	$(MAKE) --no-print-directory build-clients
	@status=0; \
	infra/with-emulators.sh $(CARGO) test --workspace --no-fail-fast || status=1; \
	$(MAKE) --no-print-directory run-clients || status=1; \
	exit $$status

## The fast tier, alone and without emulators: every crate's unit tests, the store
## conformance suite (one test per case) on the memory and embedded stores, and the
## in-process API tests (server/tests/inproc: the embedded face's routers, no binary
## started, no port). The DynamoDB cases say once that they need the emulators.
FAST_TESTS := --lib --bins --test memory --test conformance --test inproc
fast:
	env -u YUNQIAO_TEST_DYNAMODB_ENDPOINT -u YUNQIAO_TEST_DYNAMODB_ENDPOINTS \
		$(CARGO) test --workspace $(FAST_TESTS)

unit: fast

## What clients see: the README's examples against a fresh server, the admin console
## in headless Chromium (test-console-run), the API contract
## (the OpenAPI document validates; schemathesis as admin, user and anonymous finds no
## answer outside it), a client generated from that document (openapi-python-client)
## logging in, defining a table, querying with conditions and calling a function, the
## JS SDK's suite (Node's test runner) against
## `yunqiao serve` and against the Lambda face (the functions behind the API Gateway
## stand-in, on moto), and the 会聊 example's pages under miniprogram-simulate against
## both faces too.
CONTRACT_VENV ?= $(VENV)-contract
CLIENT_VENV ?= $(VENV)-client
# What runs on the Lambda face, in groups (`--`, each a package directory, settings and
# test files) that run side by side, each on its own face over its own moto server: the
# SDK's channel suite (web and wx apart: moto slows as a table grows), the SDK's other
# suites, and 会聊 (applied there with `yunqiao apply`; its WeChat suite on a face of its
# own: it counts what that face's WeChat mock was asked), and the admin console in
# headless Chromium (served by yq-admin there).
# The pay suites' faces get the pay settings their tests use (`yunqiao serve` gets them
# from the tests themselves: sdk/js/test/pay.test.mjs, examples/huiliao/test/harness.mjs).
SDK_PAY_FACE_ENV := YUNQIAO_PAY_TABLES=sdk_pay_items,YUNQIAO_PAY_ON_PAID=sdk_pay.paid,YUNQIAO_PAY_CLIENT_AMOUNT_MIN=1,YUNQIAO_PAY_CLIENT_AMOUNT_MAX=5000
HUILIAO_PAY_FACE_ENV := YUNQIAO_PAY_TABLES=pins,YUNQIAO_PAY_ON_PAID=chatroom.paid
LAMBDA_JS_SUITES ?= sdk/js YUNQIAO_TEST_PLATFORMS=web test/channel.test.mjs -- \
	sdk/js YUNQIAO_TEST_PLATFORMS=wx test/channel.test.mjs -- \
	sdk/js YUNQIAO_FACE_ENV=$(SDK_PAY_FACE_ENV) test/auth.test.mjs test/tables.test.mjs test/kv.test.mjs test/fn.test.mjs test/files.test.mjs test/build.test.mjs test/pay.test.mjs -- \
	examples/huiliao YUNQIAO_FACE_ENV=$(HUILIAO_PAY_FACE_ENV) test/huiliao.test.mjs test/pay.test.mjs -- \
	examples/huiliao test/wechat.test.mjs -- \
	console YUNQIAO_FACE_ENV=YUNQIAO_PAY_TABLES=console_plans test/console.test.mjs
test-clients: venv contract-venv client-venv
	$(MAKE) --no-print-directory build-clients
	$(MAKE) --no-print-directory run-clients

# Everything the client suites need built or installed (binaries, npm packages, Chromium).
build-clients:
	$(CARGO) build -p yunqiao -p yunqiao-lambda -p yunqiao-standin --bins
	cd sdk/js && npm ci --no-audit --no-fund --loglevel=error
	cd examples/huiliao && npm ci --no-audit --no-fund --loglevel=error
	cd console && npm ci --no-audit --no-fund --loglevel=error
	infra/ensure-chromium.sh

run-clients:
	@status=0; \
	YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao $(PYTHON) tests/readme/run_readme.py || status=1; \
	CONTRACT_VENV=$(CONTRACT_VENV) YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao $(PYTHON) tests/contract/run_contract.py || status=1; \
	CLIENT_VENV=$(CLIENT_VENV) YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao $(CLIENT_VENV)/bin/python tests/client/run_client.py || status=1; \
	(cd sdk/js && YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao npm test) || status=1; \
	(cd examples/huiliao && YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao npm test) || status=1; \
	(cd console && YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao npm test) || status=1; \
	YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao infra/with-emulators.sh infra/js-on-lambda.sh $(TARGET_DIR)/debug $(LAMBDA_JS_SUITES) || status=1; \
	exit $$status

## The admin console (console/): its committed dist/ against a fresh build of its
## sources, then the pages in headless Chromium (Debian's /usr/bin/chromium, driven by
## playwright-core) against `yunqiao serve`, in English and Chinese; screenshots go to
## target/console-screens.
test-console:
	$(CARGO) build -p yunqiao --bins
	$(MAKE) --no-print-directory test-console-run

test-console-run:
	infra/ensure-chromium.sh
	cd console && npm ci --no-audit --no-fund --loglevel=error && YUNQIAO_BIN=$(TARGET_DIR)/debug/yunqiao npm test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

venv: $(VENV)/.installed

contract-venv: $(CONTRACT_VENV)/.installed

client-venv: $(CLIENT_VENV)/.installed

$(CONTRACT_VENV)/.installed: infra/requirements-contract.txt
	$(PYTHON) -m venv $(CONTRACT_VENV)
	$(CONTRACT_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-contract.txt
	cp infra/requirements-contract.txt $@

$(CLIENT_VENV)/.installed: infra/requirements-client.txt
	$(PYTHON) -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-client.txt
	cp infra/requirements-client.txt $@

$(VENV)/.installed: infra/requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-test.txt
	cp infra/requirements-test.txt $@

## Store and HTTP figures beside same-run baselines (see README "Performance").
bench:
	$(CARGO) run --release -p yunqiao-bench

## Lambda binary sizes (arm64, stripped) and local cold starts beside a minimal Rust Lambda.
TARGET_DIR = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
bench-lambda: build-lambda
	$(CARGO) build --release -p yunqiao-lambda
	$(CARGO) run --release -p yunqiao-standin --bin lambda-bench -- $(TARGET_DIR)/lambda $(TARGET_DIR)/release

include infra/lambda.mk

clean:
	rm -rf $(VENV) data
