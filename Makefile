# The two set-up commands of the README: `make scan` and `make test`. Each installs the
# environment on first use (scripts/install.sh), so a fresh clone needs nothing else.
VENV ?= .venv
STAMP := $(VENV)/.installed
LS_STAMP := .venv-ls/.installed
RUN ?= miscomp-run

.PHONY: install scan test lint wheel-check clean

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh
	touch $@

$(LS_STAMP): annotation/install_ls.sh
	bash annotation/install_ls.sh
	touch $@

install: $(STAMP)

# TAEF2's weights are third-party (MIT) and not shipped: use the shared copy when it is beside us.
TAEF2_DIR := $(wildcard $(abspath ..)/shared/models/taef2)
ifneq ($(TAEF2_DIR),)
export MISCOMP_TAEF2_DIR ?= $(TAEF2_DIR)
endif

# The main job on the bundled default: sample photos + rendered scenes through offline codecs.
scan: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/miscomp scan --out $(RUN)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The installed wheel, outside this checkout, runs the bundled scan with the in-house codec.
wheel-check: $(STAMP)
	VENV=$(VENV) bash scripts/check_wheel.sh

test: $(STAMP) $(LS_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q
	VENV=$(VENV) bash scripts/check_wheel.sh

clean:
	rm -rf $(RUN) .pytest_cache .ruff_cache
