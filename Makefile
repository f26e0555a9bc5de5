# AU Workbench — the two commands a newcomer runs: `make workbook` and `make test`.
# Both create .venv on first use (Python 3.11; torch 2.14.1 + torchvision 0.29.1 pinned).

PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= tiny
JOBS    ?= 1
ONLY    ?=
STAMP   := $(VENV)/.installed

.PHONY: workbook test setup data lab bench clean help

help:
	@echo "make workbook  set up, prepare SynthAU, run every notebook at PROFILE=$(PROFILE) (cached)"
	@echo "make test      set up, run the test suite (executes every notebook at the smoke profile)"
	@echo "make lab       JupyterLab on notebooks/ with the venv's kernel"
	@echo "make bench     benchmarks -> results/bench.json"
	@echo "make clean     remove results/ and caches (keeps .venv and data/)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import aulib, torch, torchvision, papermill, dlib, cv2" \
	  || (echo "setup failed: see the pip output above"; exit 1)
	@touch $(STAMP)

data: setup
	@if [ -f aulib/synth/__main__.py ]; then $(PY) -m aulib.synth prepare --profile $(PROFILE); fi

workbook: data
	$(PY) -m aulib.workbook run --profile $(PROFILE) --jobs $(JOBS) $(if $(ONLY),--only '$(ONLY)',)

test: setup
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lab: setup
	$(PY) -c "from aulib.workbook.runner import ensure_kernel; ensure_kernel()"
	JUPYTER_PATH=$(CURDIR)/.cache/jupyter $(PY) -m jupyter lab notebooks/

bench: setup
	$(PY) -m aulib.bench

clean:
	rm -rf results/smoke results/tiny results/paper results/bench.json .cache .pytest_cache
