# kmscli: `make demo` runs the main job on a throwaway vault; `make test` runs ruff, mypy and pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck pytest bench model completions man clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	bash tools/demo.sh $(BIN)/kmscli

lint: $(STAMP)
	$(BIN)/ruff check kmscli tests tools bench
	$(BIN)/ruff format --check kmscli tests tools bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

model: $(STAMP)
	$(BIN)/python tools/gen_model.py

completions: $(STAMP)
	$(BIN)/python -m kmscli.docgen.completions completions

man: $(STAMP)
	$(BIN)/python -m kmscli.docgen.manpages man

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
