# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first,
# from requirements.lock (every runtime, dev and build dependency, pinned with hashes), so an
# upstream release cannot change what a fresh clone installs. `make lock` refreshes the lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock

.PHONY: demo test lint bench lock clean

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash example-missions/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict benchmarks example-missions/run_mesh.py
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_reconcile.py
	$(BIN)/python benchmarks/bench_claims.py
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_idle.py
	$(BIN)/python benchmarks/bench_mesh.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_signing.py
	$(BIN)/python benchmarks/bench_scopes.py
	$(BIN)/python benchmarks/bench_overlap_quality.py
	$(BIN)/python benchmarks/bench_overlap_speed.py

# Re-resolve every dependency to its newest allowed version (for Python 3.11+, all platforms).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip compile pyproject.toml requirements-build.in --extra dev --universal \
		--python-version 3.11 --generate-hashes --no-header --quiet -o $(LOCK)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
