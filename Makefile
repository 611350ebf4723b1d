# backprop-bench: the two commands a user needs are `make bench` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast perf lint bench report clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev,distributed,fast]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/perf -q

# the tests not marked slow: a check in under 30 s while editing (`make test` runs them all)
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/perf -q -m "not slow"

perf: $(STAMP)
	$(BIN)/python -m pytest tests/perf --benchmark-only --benchmark-columns=median,iqr,rounds -q

bench: $(STAMP)
	$(BIN)/python -m bench run --suite default --out results/default

report: $(STAMP)
	$(BIN)/python -m bench report results/default

lint: $(STAMP)
	$(BIN)/ruff check backprop bench tests scripts
	$(BIN)/ruff format --check backprop bench tests scripts

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
