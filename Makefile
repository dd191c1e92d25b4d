# kmscli: `make demo` runs the main job on a throwaway vault; `make test` runs ruff, mypy and pytest (also at the dependencies' floors).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
LINT_PATHS := kmscli tests tools $(wildcard bench)

.PHONY: demo test lint typecheck pytest test-lowest bench bench-readme bench-audit-5m model completions man vectors table-vectors clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# the demo needs kmscli only, not the test tools
DEMO_STAMP := $(VENV)/.installed
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	bash tools/demo.sh $(BIN)/kmscli

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tools

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest test-lowest

# The suite again, in a second venv, with every dependency at the lowest version pyproject.toml
# allows (tools/lowest_constraints.py; their own dependencies as the resolver picks): every lower
# bound is then a version that was tested.
LOWEST_VENV := .venv-lowest
LOWEST_STAMP := $(LOWEST_VENV)/.installed-lowest
$(LOWEST_STAMP): pyproject.toml tools/lowest_constraints.py
	$(PYTHON) -m venv $(LOWEST_VENV)
	mkdir -p build
	$(PYTHON) tools/lowest_constraints.py > build/lowest-constraints.txt
	$(LOWEST_VENV)/bin/python -m pip install -q -e '.[test]' -c build/lowest-constraints.txt
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_VENV)/bin/python -m pytest -p no:cacheprovider

# the peers (AWS CLI v1 + moto server) live in their own venv, away from kmscli's dependencies
BENCH_VENV := bench/.venv
$(BENCH_VENV)/bin/moto_server:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q awscli 'moto[server]'

BENCH_KMSCLI := bench/.venv-kmscli

# kmscli as a user installs it (a regular, non-editable install): an editable install's import
# hook alone adds tens of milliseconds to every start-up and would distort the figures. The venv
# holds kmscli and its dependencies only, as pipx or `uv tool install` make it: Python 3.11 seeds
# new venvs with setuptools, whose distutils-precedence.pth would run at every start-up.
bench: $(STAMP) $(BENCH_VENV)/bin/moto_server
	test -x $(BENCH_KMSCLI)/bin/python || $(PYTHON) -m venv $(BENCH_KMSCLI)
	rm -rf build/bench-wheel && $(BIN)/python -m pip wheel -q --no-deps -w build/bench-wheel .
	$(BENCH_KMSCLI)/bin/python -m pip install -q --force-reinstall --no-deps build/bench-wheel/*.whl
	$(BENCH_KMSCLI)/bin/python -m pip install -q "$$(ls build/bench-wheel/*.whl)[serve]"
	$(BENCH_KMSCLI)/bin/python -m pip uninstall -q -y setuptools
	$(BENCH_KMSCLI)/bin/python bench/run_all.py $(BENCH_ARGS)

# the same run, its figures written into the tracked bench/README.md (commit them deliberately)
bench-readme:
	$(MAKE) bench BENCH_ARGS=--update-readme

# opt-in: generates a 5M-event log (about 5.7 GiB and 15 minutes on 2 cores), times the selective
# audit queries with the index, then deletes it (bench/audit_scale.py)
bench-audit-5m: $(STAMP)
	$(BIN)/python bench/audit_scale.py --events 5000000 --runs 3 --selective-only

model: $(STAMP)
	$(BIN)/python tools/gen_model.py

completions: $(STAMP)
	$(BIN)/python -m kmscli.docgen.completions completions

man: $(STAMP)
	$(BIN)/python -m kmscli.docgen.manpages man

# test vectors of every file format (docs/format.md, section 5) and of the ciphertext blob
vectors: $(STAMP)
	$(BIN)/python tools/gen_format_vectors.py
	$(BIN)/python tools/gen_vectors.py

# golden `--output table` outputs from the AWS CLI's own formatter (the awscli test dependency)
table-vectors: $(STAMP)
	$(BIN)/python tools/gen_table_vectors.py

clean:
	rm -rf $(VENV) $(LOWEST_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
