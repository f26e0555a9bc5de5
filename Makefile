# AU Workbench — the two commands a newcomer runs: `make workbook` and `make test`.
# Both create .venv on first use (Python 3.11; torch 2.14.1 + torchvision 0.29.1 pinned).

PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= tiny
JOBS    ?= 1
ONLY    ?=
STAMP   := $(VENV)/.installed

.PHONY: workbook test paper-check book course setup git-filter data lab bench clean help

help:
	@echo "make workbook  set up, prepare SynthAU, run every notebook at PROFILE=$(PROFILE) (cached)"
	@echo "make test      set up, run the test suite (executes every notebook at the smoke profile)"
	@echo "make paper-check  every notebook at the paper profile's shapes on stand-ins, loops cut (numbers meaningless)"
	@echo "make book      HTML book of PROFILE's executed notebooks -> results/PROFILE/book/ (no re-execution)"
	@echo "               CHECK=1: then open every page in headless Chromium (links, images, console; screenshots)"
	@echo "make course    nbgrader student (release/) and teacher (source/) versions of the tutorials -> results/course/"
	@echo "make lab       JupyterLab on notebooks/ with the venv's kernel (outputs never reach git)"
	@echo "make bench     benchmarks -> results/bench.json"
	@echo "make clean     remove results/ and caches (keeps .venv and data/)"

setup: $(STAMP)
	@$(MAKE) --no-print-directory git-filter

# nbstripout as this clone's git filter (the ecosystem's standard): a notebook saved with
# outputs in the lab keeps them on disk, but `git add` / `git diff` / `git status` see it
# without outputs, execution counts or widget state, so the repository never holds them.
# --keep-id keeps the committed cell ids (nbstripout would renumber them). Needs the venv
# (VENV=...); does nothing outside a git work tree or when already set up for this $(PY).
NBSTRIP := "$(abspath $(PY))" -m nbstripout --keep-id
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
	  && [ "$$(git config --get filter.nbstripout.clean)" != '$(NBSTRIP)' ]; then \
	  $(PY) -m nbstripout --install \
	  && git config filter.nbstripout.clean '$(NBSTRIP)' \
	  && git config diff.ipynb.textconv '$(NBSTRIP) -t' \
	  && echo "git: notebooks are staged without outputs (nbstripout filter in .git/config)"; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test,book,course,cluster]" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import aulib, torch, torchvision, papermill, dlib, cv2" \
	  || (echo "setup failed: see the pip output above"; exit 1)
	@touch $(STAMP)

# SynthAU for the smoke / tiny profiles; the paper profile reads the real datasets (AULIB_DATA),
# so it prepares nothing here: its data check runs first and reports what is missing.
data: setup
	@if [ "$(PROFILE)" = paper ]; then echo "PROFILE=paper reads the real datasets (AULIB_DATA); no SynthAU to prepare"; \
	elif [ -f aulib/synth/__main__.py ]; then $(PY) -m aulib.synth prepare --profile $(PROFILE); fi

workbook: data
	$(PY) -m aulib.workbook run --profile $(PROFILE) --jobs $(JOBS) $(if $(ONLY),--only '$(ONLY)',)

test: setup
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

# The paper check (README "The paper check"): every registered notebook at the paper profile's
# settings and shapes on stand-ins (SynthAU at paper size, random-init weights in the published
# formats), loops cut to a handful. Its own target, not part of `make test` (hours of CPU at the
# paper's shapes); the last successful run is recorded in results/check/paper/manifest.json.
paper-check: setup
	$(PY) -m aulib.workbook run --profile paper --check $(if $(ONLY),--only '$(ONLY)',)

# The HTML book of a profile's executed notebooks (README "The book"): no re-execution.
book: setup
	$(PY) -m aulib.workbook.book --profile $(PROFILE) $(if $(CHECK),--check,)

# nbgrader student / teacher versions of the tutorials -> results/course/ (README "Course mode")
course: setup
	$(PY) -m aulib.workbook.course --profile $(PROFILE)

# as root (containers, cluster nodes) JupyterLab refuses to start without --allow-root
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
lab: setup
	$(PY) -c "from aulib.workbook.runner import ensure_kernel; ensure_kernel()"
	JUPYTER_PATH=$(CURDIR)/.cache/jupyter $(PY) -m jupyter lab $(LAB_ROOT) $(LAB_ARGS) notebooks/

bench: setup
	$(PY) -m aulib.bench

clean:
	rm -rf results/smoke results/tiny results/paper results/check results/course results/book-screenshots results/bench.json .cache .pytest_cache
