# qtopo: two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench bench-smoke venv clean data readme

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Plan the bundled Dutch national network (SURFnet) and write a verified plan to out/demo
demo: $(STAMP)
	$(BIN)/qtopo plan data/surfnet/scenario.toml --out out/demo

## Check the architecture contracts (.importlinter), run the test suite (slow tests excluded), execute the notebooks
test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider tests
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=600 notebooks

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

## Full benchmark suite (about 2 h on 2 cores), then regenerate the results tables of both READMEs
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --suite full --out benchmarks/results; status=$$?; \
	$(BIN)/python -m benchmarks.render benchmarks/results --project-readme README.md; exit $$status

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.run --suite smoke --out benchmarks/results-smoke

## Regenerate every number of README.md from real runs (docs/readme_examples.py; --all: also budget mode and sweep)
readme: $(STAMP)
	$(BIN)/python docs/readme_examples.py --all

data: $(STAMP)
	$(BIN)/python data/build_data.py

clean:
	rm -rf $(VENV) out .pytest_cache build *.egg-info
