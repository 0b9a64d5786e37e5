# Denoising Diffusion from First Principles: build, test and maintenance.
#
#   make lab       open the course in JupyterLab (exercises/ first)
#   make book      build the HTML book into _build/html/
#   make pdf       print the whole course into _build/pdf/course.pdf
#   make test      unit tests, notebook checks, strict book build, browser tests
#   make check     quick loop: unit tests and the notebooks changed since main
#   make execute   re-run every notebook in book/ and solutions/, saving outputs
#   make bench     run the benchmark recipes
#   make clean     remove build outputs (keeps .venv/ and node_modules/)
#   make distclean also remove .venv/ and node_modules/
#
# Everything runs through .venv/bin/python, so no virtualenv needs activating.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# Another folder keeps a second environment beside the first, e.g.
# `make test PYTHON=python3.12 VENV=.venv-3.12`.
VENV ?= .venv
PY := $(VENV)/bin/python
JUPYTER_BOOK := $(PY) $(VENV)/bin/jupyter-book
INSTALL_STAMP := $(VENV)/.installed
VENDOR_STAMP := book/_static/vendor/.stamp.json

# Tests run on every core (pytest-xdist). A notebook's cells stay together on one
# worker (--dist loadfile), since they share one kernel.
XDIST := -n auto

# Environment for test runs. Unit tests draw figures off-screen (Agg).
# Notebook kernels are left on Jupyter's inline backend: with Agg, cells
# would lose their figure outputs and no longer match the stored ones.
TEST_ENV := PYTHONHASHSEED=0 MPLBACKEND=Agg
# The notebooks are checked on torch's portable kernels (ATEN_CPU_CAPABILITY=default),
# not the vector kernels (AVX2, AVX-512) that wrote them: a stored output that only
# reproduces on the processor that made it fails here, not first on someone else's.
# Figures of trained networks are compared within the bands of their cells
# (scripts/nbval_approx.py); every other output exactly.
KERNEL_ENV := env -u MPLBACKEND PYTHONHASHSEED=0 ATEN_CPU_CAPABILITY=default

# pytest exits with 5 when it selects no tests (e.g. before any browser test
# exists); that is not a failure here.
ALLOW_NO_TESTS := || [ $$? -eq 5 ]

BUILD_FLAGS := -W -n --keep-going

.PHONY: help python-check setup lab vendor book pdf check test test-units test-notebooks test-book test-built test-pdf chromium execute bench clean distclean

help:
	@sed -n '3,11p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# *//'

# --- environment -----------------------------------------------------------

# The Pythons the pinned packages are tested with. Checked before the venv is
# created, so nothing is downloaded for a Python outside the range.
PYTHON_MIN := 3.11
PYTHON_MAX := 3.13

python-check:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "make: no Python interpreter '$(PYTHON)' on the PATH. Install Python $(PYTHON_MIN)-$(PYTHON_MAX) and pass it as PYTHON=..., e.g. make book PYTHON=python3.12"; exit 1; }
	@$(PYTHON) -c 'import sys; lo, hi = "$(PYTHON_MIN)", "$(PYTHON_MAX)"; v = sys.version_info[:2]; key = lambda s: tuple(int(p) for p in s.split(".")); ok = key(lo) <= v <= key(hi); sys.stdout.write("" if ok else "make: %s is Python %d.%d; the course needs Python %s to %s (its pinned packages, torch 2.13 among them, are tested only there). Choose another interpreter with PYTHON=..., e.g. make book PYTHON=python3.12\n" % (sys.executable, v[0], v[1], lo, hi)); sys.exit(0 if ok else 1)'

$(PY): | python-check
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the requirements or the package metadata change. On
# Linux, torch is the CPU build from PyTorch's wheel index when that answers
# within a few seconds (scripts/install_requirements.py); else the pin comes
# from the configured index.
$(INSTALL_STAMP): requirements.txt pyproject.toml scripts/install_requirements.py | $(PY)
	$(PY) scripts/install_requirements.py requirements.txt
	$(PY) -m pip install -e .
	touch $@

setup: $(INSTALL_STAMP)

# JupyterLab from the course's venv, at the course root: open exercises/ first.
LAB_ARGS ?=
lab: $(INSTALL_STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS) exercises/01_normal_distribution.ipynb

# MathJax, RequireJS and the widget manager, served by the book itself.
$(VENDOR_STAMP): package.json package-lock.json scripts/vendor_assets.py | $(PY)
	$(PY) scripts/vendor_assets.py

vendor: $(VENDOR_STAMP)

# --- book ------------------------------------------------------------------

book: $(INSTALL_STAMP) $(VENDOR_STAMP)
	$(JUPYTER_BOOK) build . $(BUILD_FLAGS)
	@echo "Open _build/html/index.html in a browser."

# The whole course as one PDF: Sphinx's single-page HTML build, printed by the
# system Chromium (scripts/build_pdf.py). `--builder pdfhtml` is not used: it
# downloads a browser of its own.
PDF := _build/pdf/course.pdf

pdf: $(INSTALL_STAMP) $(VENDOR_STAMP) chromium
	rm -rf _build/singlehtml
	$(JUPYTER_BOOK) build . --builder singlehtml $(BUILD_FLAGS)
	$(PY) scripts/build_pdf.py _build/singlehtml $(PDF)

# --- tests -----------------------------------------------------------------

TEST_STEPS := test-units test-notebooks test-book test-built test-pdf
TEST_LOGS := _build/test-logs

# The steps run side by side, so that no core waits: the unit tests, the
# notebooks and the strict build start together; the checks of the built pages
# and the PDF start as soon as the build is done (the PDF's own build shares
# _build/.doctrees with it). The unit tests and the notebooks run at a lower
# priority (nice), so the build and the browser, which wait on each other, are
# never held up by them. Every step runs even after another failed, so one run
# reports all problems; each step's output is shown when it ends, with its time,
# and the target fails if any step failed. Logs: _build/test-logs/<step>.log.
test: $(INSTALL_STAMP) $(VENDOR_STAMP) chromium
	@mkdir -p $(TEST_LOGS); rm -f $(TEST_LOGS)/*.log $(TEST_LOGS)/*.status; \
	step() { local start=$$SECONDS rc=0; \
		$${NICE:-} $(MAKE) --no-print-directory $$1 > $(TEST_LOGS)/$$1.log 2>&1 || rc=$$?; \
		echo "$$rc $$((SECONDS - start))" > $(TEST_LOGS)/$$1.status; }; \
	start=$$SECONDS; \
	echo "==> make test: $(TEST_STEPS) (side by side; each step's output follows when it ends)"; \
	NICE="nice -n 10" step test-units & \
	NICE="nice -n 10" step test-notebooks & \
	{ step test-book; step test-built & step test-pdf & wait; } & \
	failed=""; shown=""; \
	while [ "$$(echo $$shown | wc -w)" -lt $(words $(TEST_STEPS)) ]; do \
		for s in $(TEST_STEPS); do \
			case " $$shown " in *" $$s "*) continue;; esac; \
			[ -f $(TEST_LOGS)/$$s.status ] || continue; \
			read rc seconds < $(TEST_LOGS)/$$s.status; \
			echo "==> make $$s"; cat $(TEST_LOGS)/$$s.log; \
			if [ "$$rc" -eq 0 ]; then verdict=passed; else verdict=FAILED; failed="$$failed $$s"; fi; \
			echo "==> make $$s: $$verdict in $$seconds s (at $$((SECONDS - start)) s)"; \
			shown="$$shown $$s"; \
		done; \
		sleep 1; \
	done; \
	wait; \
	echo "make test: $$((SECONDS - start)) s, load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: all steps passed"

# The quick loop while working on the course: the unit tests of the package
# (without the ones marked slow: the benchmark run and the exercise notebooks, which
# `make test` runs) and the strict nbval of the notebooks of book/ and solutions/
# that differ from the branch CHECK_BASE (committed or not, new ones included),
# side by side. The notebooks are checked as `make test-notebooks` checks them.
CHECK_BASE ?= main

check: $(INSTALL_STAMP)
	@git rev-parse --verify --quiet "$(CHECK_BASE)^{commit}" >/dev/null || { \
		echo "make check: no branch or commit '$(CHECK_BASE)' to compare the notebooks with; name one with CHECK_BASE=..."; exit 2; }; \
	base=$$(git merge-base HEAD "$(CHECK_BASE)"); \
	notebooks=$$( { git diff --name-only --diff-filter=d "$$base" -- 'book/*.ipynb' 'solutions/*.ipynb'; \
		git ls-files --others --exclude-standard -- 'book/*.ipynb' 'solutions/*.ipynb'; } | sort -u); \
	start=$$SECONDS; failed=""; mkdir -p _build; \
	echo "==> make check: notebooks changed since $(CHECK_BASE): $${notebooks:-none}"; \
	if [ -n "$$notebooks" ]; then \
		$(KERNEL_ENV) $(PY) -m pytest $(or $(NBVAL),--nbval --nbval-current-env --nbval-sanitize-with scripts/nbval_sanitize.cfg) \
			$$notebooks $(XDIST) --dist loadfile -q -p no:cacheprovider > _build/check-notebooks.log 2>&1 & nb=$$!; \
	fi; \
	$(TEST_ENV) $(PY) -m pytest $(XDIST) tests --ignore=tests/browser --ignore=tests/test_pdf.py \
		-m "not browser and not book and not slow" -q -p no:cacheprovider || failed="$$failed unit-tests"; \
	if [ -n "$$notebooks" ]; then \
		wait $$nb || failed="$$failed notebooks"; \
		echo "==> notebooks:"; cat _build/check-notebooks.log; \
	fi; \
	echo "make check: $$((SECONDS - start)) s, load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	if [ -n "$$failed" ]; then echo "make check: FAILED:$$failed"; exit 1; fi; \
	echo "make check: passed"

# Unit tests and the exercises check; no browser, no built book needed.
# tests/browser/ is left out of collection rather than deselected: with CI=true
# its conftest treats a deselected browser test as a failure. tests/test_pdf.py
# needs the PDF and runs in test-pdf.
# The coverage report costs about a quarter more processor time (measured on three
# test files: 20.6 -> 26.4 s); `make test COVERAGE=` leaves it out.
COVERAGE ?= --cov=ddpm_lessons --cov-report=term

test-units: $(INSTALL_STAMP)
	$(TEST_ENV) $(PY) -m pytest $(XDIST) tests --ignore=tests/browser --ignore=tests/test_pdf.py -m "not browser and not book" \
		$(COVERAGE) $(ALLOW_NO_TESTS)

# Re-run every stored notebook and compare with its saved outputs, one notebook
# per worker (a notebook's cells share one kernel). Cells tagged nbval-approx
# compare their numbers within a band (scripts/nbval_approx.py, loaded with -p).
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with scripts/nbval_sanitize.cfg -p scripts.nbval_approx

test-notebooks: $(INSTALL_STAMP)
	$(KERNEL_ENV) $(PY) -m pytest $(NBVAL) book solutions \
		$(XDIST) --dist loadfile $(ALLOW_NO_TESTS)

# Full, strict rebuild from scratch (no stale pages): any warning fails.
test-book: $(INSTALL_STAMP) $(VENDOR_STAMP)
	rm -rf _build/html _build/.doctrees
	$(JUPYTER_BOOK) build . $(BUILD_FLAGS) --all

# Checks of the built HTML (tests/test_book_offline.py) and the headless-browser
# tests (tests/browser/), in one process: every page is opened once per screen and
# all its tests read that visit (tests/browser/pages.py), which pytest-xdist would
# split across workers (its xdist_group marker has no effect with pytest 9). In
# `make test` the other steps use the core the browser leaves idle.
BUILT_TESTS := tests/browser tests/test_book_offline.py

test-built: $(INSTALL_STAMP)
	$(TEST_ENV) $(PY) -m pytest $(BUILT_TESTS) -m "book or browser" $(ALLOW_NO_TESTS)

# The course as one PDF, built and read back.
test-pdf: pdf
	$(TEST_ENV) $(PY) -m pytest tests/test_pdf.py

# Debian's Chromium for the browser tests and the PDF (driven by Playwright; nothing
# downloaded), and poppler-utils, with which the tests read the PDF.
chromium:
	scripts/install_browser.sh

# --- maintenance -------------------------------------------------------------

execute: $(INSTALL_STAMP)
	$(PY) scripts/execute_notebooks.py book solutions

bench: $(INSTALL_STAMP)
	$(PY) -m benchmarks.recipes

clean:
	rm -rf _build book/_static/vendor .pytest_cache .coverage htmlcov .hypothesis
	find . -path ./.venv -prune -o -path ./node_modules -prune -o \
		-type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules *.egg-info
