# Everything here sets itself up from nothing but a Python 3.11+ interpreter.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Playwright drives the system Chromium (scripts/ensure_chromium.sh); it never downloads one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: test demo bench lint typecheck format clean chromium mutate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,redis,cli,bench]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# tests/typing/api.py must type-check; every line of tests/typing/typos.py must be a
# type error: its `# type: ignore[code]` goes unused (an error) if a typo ever passes.
# Every example is held to the same bar as the package: users copy them.
typecheck: $(STAMP)
	$(PY) -m mypy --strict dhmad_async
	$(PY) -m mypy --strict --warn-unused-ignores tests/typing/
	$(PY) -m mypy --strict --warn-unused-ignores examples/

# The browser tests need Chromium: installed from the system packages when missing and we can.
chromium:
	@scripts/ensure_chromium.sh

# Redis (and later services) are started privately when none answers: scripts/with_services.sh.
test: lint typecheck chromium
	scripts/with_services.sh $(PY) $(PY) -m pytest

# Each deliberate bug in scripts/mutate.py, applied to a temporary copy, must fail the tests
# named for it (docs/testing.md, "Mutation check"). Not part of `make test`: about 2 minutes.
mutate: $(STAMP)
	scripts/with_services.sh $(PY) $(PY) scripts/mutate.py

demo: $(STAMP)
	$(PY) -m dhmad_async demo

bench: $(STAMP)
	scripts/with_services.sh $(PY) $(PY) -m benchmarks

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
