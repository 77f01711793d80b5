# yunqiao — `make test` runs every test; it installs what it needs itself.
CARGO ?= cargo
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
export YUNQIAO_VENV := $(VENV)

.PHONY: serve test lint unit venv bench fmt clean

serve:
	$(CARGO) run --release -- serve

## Every test: formatting, clippy, unit tests, the store conformance suite on the
## embedded store and on DynamoDB (moto server), HTTP acceptance and crash tests.
test: lint venv
	infra/with-emulators.sh $(CARGO) test --workspace

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

clean:
	rm -rf $(VENV) data
