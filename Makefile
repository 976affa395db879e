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

.PHONY: demo test lint bench fuzz venv system-tools clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# plink2 and bcftools are only used by cross-check tests, which skip without them.
system-tools:
	@if ! command -v bcftools >/dev/null 2>&1 || ! command -v plink2 >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq plink2 bcftools >/dev/null) \
	      || echo "note: could not install plink2/bcftools; the cross-check tests will skip"; \
	  else echo "note: plink2/bcftools not installed; the cross-check tests will skip"; fi; \
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

clean:
	rm -rf $(VENV) demo_output .pytest_cache
