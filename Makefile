# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is pinned here (not in pyproject) so pip takes the CPU build that lies on this disk;
# a bare `torch` would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
# The Surrey Face Model (non-commercial licence) is used by the demo when it lies here.
SFM_DIR := ../shared/data/sfm

.PHONY: demo test lint bench fuzz venv system-tools clean web

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# plink2 and bcftools are only used by cross-check tests, chromium by the browser tests (Playwright drives
# Debian's chromium; it cannot download its own browser here); each of those tests skips without its tool.
SYSTEM_TOOLS := plink2 bcftools chromium
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "note: could not install$$missing; the tests that need them will skip"; \
	  else echo "note:$$missing not installed; the tests that need them will skip"; fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/genoface demo --out demo_output $(if $(wildcard $(SFM_DIR)/sfm_shape_3448.npz),--shape-model $(SFM_DIR))

test: $(STAMP) system-tools
	$(PY) -m pytest -n 2 -q

# The house rules: ruff (style, imports, likely bugs) and import-linter (the layer order, private
# modules inside their package, no import cycles; contracts in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP)
	$(PY) bench/run_all.py

# Fuzz the readers of user files (VCF, PLINK, covariates, meshes, model directories, consumer and
# PGS files) for FUZZ_MINUTES in all; `make fuzz FUZZ_ARGS="--reader covariates"` picks one.
FUZZ_MINUTES ?= 10
fuzz: $(STAMP)
	$(PY) bench/fuzz_readers.py --minutes $(FUZZ_MINUTES) $(FUZZ_ARGS)

# The browser front end (web/: the serve pages and the report's face viewer) bundled by esbuild into
# src/genoface/server/static/genoface.js and src/genoface/report/static/face_viewer.js; the bundles are
# committed, so only a change under web/ needs Node (20+) and this target.
web:
	cd web && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) demo_output .pytest_cache
