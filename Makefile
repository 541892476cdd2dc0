# The two commands a new user needs: `make run` serves, `make test` tests.
# Both create .venv on first use and install the project into it (editable, so
# the bundled specs/ and fixtures/ are found next to the package).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The providers' own published documents, read where they lie (never copied here).
REFERENCE ?= ../shared/reference

.PHONY: run test lint conformance screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/sandbox serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# Checks against the providers' own documents; needs REFERENCE, so it is not part of `make test`.
# The observer (conformance/observer.py) also checks every response Payt and Debitura send in
# these behaviour tests against the provider's own document, for its status.
OBSERVED_TESTS ?= tests/test_payt*.py tests/test_debitura*.py tests/test_bad_input.py tests/test_readme_walkthroughs.py
conformance: $(VENV)/.installed-test
	SANDBOX_REFERENCE=$(abspath $(REFERENCE)) $(BIN)/python -m pytest -n auto -p conformance.observer \
		conformance $(OBSERVED_TESTS) $(PYTEST_ARGS)

# The README's dashboard pictures, taken by the browser tests into docs/.
screenshots: $(VENV)/.installed-test
	SANDBOX_SCREENSHOTS=1 $(BIN)/python -m pytest -p no:xdist tests/test_dashboard_browser.py

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info
