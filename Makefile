# MLPerf-style inference harness. `make offline` and `make test` set up on first use.
#   make offline|singlestream|server MODEL=resnet50 PRECISION=fp32 DATASET=... MODE=performance
#   make accuracy MODEL=mobilenet_v2_quant DATASET=../shared/data/imagenet-sample
# Variables map to `harness run` options; empty ones take the harness defaults.

PYTHON   ?= python3
VENV     ?= .venv
HARNESS  := $(VENV)/bin/harness
MODEL    ?= resnet50
PRECISION?= fp32
BACKEND  ?= openvino
MODE     ?= performance
EXEC     ?= test
DATASET  ?=
WEIGHTS  ?=
COUNT    ?=
STREAMS  ?=
THREADS  ?=
DURATION ?=
ARGS     ?=

RUN_ARGS = --model $(MODEL) --precision $(PRECISION) --backend $(BACKEND) \
	--execution $(EXEC) $(if $(DATASET),--dataset $(DATASET)) $(if $(WEIGHTS),--weights $(WEIGHTS)) \
	$(if $(COUNT),--count $(COUNT)) $(if $(STREAMS),--streams $(STREAMS)) \
	$(if $(THREADS),--threads $(THREADS)) $(if $(DURATION),--duration-ms $(DURATION)) $(ARGS)

.PHONY: setup offline singlestream server accuracy show test bench clean-cache

# Creates .venv with uv (installing uv from PyPI when absent) and installs the package with
# its dev extras. uv resolves torch/torchvision from PyPI (the CPU-only torch wheel that plain
# pip picks on some machines cannot import torchvision).
$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	@UV=$$(command -v uv || echo $$($(PYTHON) -m site --user-base)/bin/uv); \
	  test -d $(VENV) || $$UV venv --quiet --python $(PYTHON) $(VENV); \
	  VIRTUAL_ENV=$(VENV) $$UV pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed

offline: setup
	$(HARNESS) run --scenario Offline --mode $(MODE) $(RUN_ARGS)

singlestream: setup
	$(HARNESS) run --scenario SingleStream --mode $(MODE) $(RUN_ARGS)

server: setup
	$(HARNESS) run --scenario Server --mode $(MODE) $(RUN_ARGS)

accuracy: setup
	$(HARNESS) run --scenario Offline --mode accuracy $(RUN_ARGS)

show: setup
	$(HARNESS) show

test: setup
	$(VENV)/bin/python -m pytest -q tests

bench: setup
	$(VENV)/bin/python benchmarks/bench_harness_vs_benchmark_app.py

clean-cache:
	rm -rf $${HARNESS_CACHE_DIR:-$$HOME/.cache/mlperf-ov-harness}
