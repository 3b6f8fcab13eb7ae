# The two commands a newcomer needs:
#   make run    install everything and start the daemon (SQLite, the shipped config/)
#   make test   install the test tools and run lint, type checks and the whole test suite,
#               once on SQLite and once on PostgreSQL
# CI (.ci/run) runs `make test`.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test lint install install-test bench eval-topics lock clean

run: install
	$(BIN)/monitor check
	$(BIN)/monitor run

# The suite runs twice: on SQLite, then on PostgreSQL (127.0.0.1:5432, database `test`;
# MONITOR_TEST_PG overrides). Tests about SQLite itself run only in the first pass. Under CI
# an unreachable PostgreSQL fails the run; elsewhere its tests are skipped with the reason.
test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	MONITOR_TEST_DATABASE=sqlite $(BIN)/pytest -q -n 2
	MONITOR_TEST_DATABASE=postgresql $(BIN)/pytest -q -n 2

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

bench: install-test
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python bench/run.py

# The shipped topics on real published text, held-back split (texts rebuilt as
# bench/data/README.md says; they are not in the repository).
eval-topics: install
	$(BIN)/python bench/eval_topics.py --split test

# Refresh the pinned versions after changing dependencies in pyproject.toml.
# Refresh the pins from a throw-away environment, so nothing installed by hand leaks in.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test,bench]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
