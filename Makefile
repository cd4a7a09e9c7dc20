# MLPerf-style inference harness. `make offline` and `make test` set up on first use.
#   make offline|singlestream|multistream|server MODEL=resnet50 PRECISION=fp32 DATASET=...
#   make accuracy MODEL=mobilenet_v2_quant DATASET=../shared/data/imagenet-sample
# Every target that runs something is one `harness` command; variables map to its options
# (empty ones take the harness defaults; `harness run --help` lists them all).

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
NIREQ    ?=
DURATION ?=
CORES    ?=
LAUNCHER ?=
ARGS     ?=
# INT8 calibration (PRECISION=int8): list file, sample count, accuracy-controlled max drop
CALIB    ?=
CALIB_COUNT ?=
MAX_DROP ?=

opt = $(if $(2),$(1) $(2))
RUN_ARGS = --model $(MODEL) --precision $(PRECISION) --backend $(BACKEND) --execution $(EXEC) \
	$(call opt,--dataset,$(DATASET)) $(call opt,--weights,$(WEIGHTS)) \
	$(call opt,--count,$(COUNT)) $(call opt,--streams,$(STREAMS)) \
	$(call opt,--threads,$(THREADS)) $(call opt,--nireq,$(NIREQ)) \
	$(call opt,--duration-ms,$(DURATION)) $(call opt,--cores,$(CORES)) \
	$(call opt,--launcher,$(LAUNCHER)) $(call opt,--calibration-list,$(CALIB)) \
	$(call opt,--calibration-count,$(CALIB_COUNT)) $(call opt,--max-accuracy-drop,$(MAX_DROP)) \
	$(ARGS)


.PHONY: lock setup offline singlestream multistream server accuracy show test lint bench bench-server \
	clean-cache compare submission find-peak compliance bench-zoo serve bench-network optimize

# Creates .venv with uv (installing uv from PyPI when absent) and installs exactly the versions
# pinned in $(LOCK) (`uv pip sync`: nothing more, nothing less), then this package in editable
# mode without resolving anything. `make lock` re-resolves $(LOCK) from setup.cfg (all extras:
# dev, serve, cluster; every Python from 3.10). uv resolves torch/torchvision from PyPI (the
# CPU-only torch wheel that plain pip picks on some machines cannot import torchvision).
LOCK ?= requirements.lock
UV_FIND = command -v uv || echo $$($(PYTHON) -m site --user-base)/bin/uv
$(VENV)/.installed: setup.cfg pyproject.toml $(LOCK)
	@command -v uv >/dev/null 2>&1 || test -x "$$($(PYTHON) -m site --user-base)/bin/uv" \
	  || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	@UV=$$($(UV_FIND)); \
	  test -d $(VENV) || $$UV venv --quiet --python $(PYTHON) $(VENV); \
	  VIRTUAL_ENV=$(VENV) $$UV pip sync --quiet $(LOCK) && \
	  VIRTUAL_ENV=$(VENV) $$UV pip install --quiet --no-deps -e .
	@touch $@

lock:
	@UV=$$($(UV_FIND)); $$UV pip compile setup.cfg --all-extras --universal \
	  --python-version 3.10 --quiet -o $(LOCK)

setup: $(VENV)/.installed

offline: setup
	$(HARNESS) run --scenario Offline --mode $(MODE) $(RUN_ARGS)

singlestream: setup
	$(HARNESS) run --scenario SingleStream --mode $(MODE) $(RUN_ARGS)

multistream: setup
	$(HARNESS) run --scenario MultiStream --mode $(MODE) $(RUN_ARGS)

server: setup
	$(HARNESS) run --scenario Server --mode $(MODE) $(RUN_ARGS)

accuracy: setup
	$(HARNESS) run --scenario Offline --mode accuracy $(RUN_ARGS)

show: setup
	$(HARNESS) show

# The import-layer contract (setup.cfg, [importlinter]) and the test suite.
test: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q tests

lint: setup
	$(VENV)/bin/lint-imports

bench: setup
	$(VENV)/bin/python benchmarks/bench_harness_vs_benchmark_app.py $(ARGS)

# Harness Server against a minimal reference SUT (LoadGen + AsyncInferQueue) on the same IR,
# configuration and target-QPS ladder: both peaks, the p99 at each load, the ratio of peaks.
#   make bench-server [ARGS="--bound-ms 100 --qps 40 60 80 --model bnas_a"]
bench-server: setup
	$(VENV)/bin/python benchmarks/bench_server.py $(ARGS)

# A card's model over KServe v2 (REST HTTP_PORT, gRPC GRPC_PORT) on 127.0.0.1 until Ctrl-C;
# point `harness run --backend kserve --endpoint 127.0.0.1:$(GRPC_PORT)` at it.
HTTP_PORT ?= 8080
GRPC_PORT ?= 8081
serve: setup
	$(HARNESS) serve $(MODEL) --precision $(PRECISION) --http-port $(HTTP_PORT) \
	  --grpc-port $(GRPC_PORT) $(call opt,--weights,$(WEIGHTS)) $(ARGS)

# The same models in-process and through `harness serve` on loopback (gRPC): Offline
# samples/s ratio and SingleStream p50 added latency (ms), resnet50 FP32 and
# mobilenet_v2_quant. Run it on a quiet machine.
bench-network: setup
	$(VENV)/bin/python benchmarks/bench_network.py $(ARGS)

clean-cache:
	rm -rf $${HARNESS_CACHE_DIR:-$$HOME/.cache/mlperf-ov-harness}

# --- comparison report (docs/reports.md) ----------------------------------------------------
# Short test-mode runs of several models, precisions and configurations, a Server peak
# search, then `harness report` into COMPARE_REPORT (the plan: harness/workflows/compare.py).
COMPARE_RESULTS ?= results/compare
COMPARE_REPORT  ?= results/report
COMPARE_MS      ?= 2000
COMPARE_DATASET ?= ../shared/data/imagenet-sample

compare: setup
	$(HARNESS) compare --results-dir $(COMPARE_RESULTS) --out $(COMPARE_REPORT) \
	  --duration-ms $(COMPARE_MS) --dataset $(COMPARE_DATASET) $(ARGS)

# --- submission (docs/submission.md) ----------------------------------------------------------
# `make submission MODELS="resnet50" PRECISION=int8 WEIGHTS=random`: `harness
# prepare-submission` runs, per model, the scenarios SYSTEM_TYPE requires (edge: SingleStream,
# MultiStream, Offline; datacenter,edge adds Server, after a find-peak search that may leave
# it out), an accuracy run each on ACC_DATASET, the compliance tests TEST01 and TEST04 (audits
# as long as the runs; COMPLIANCE_EXEC=test: COMPLIANCE_MS long), then builds the tree in
# SUB_DIR and checks it.
MODELS        ?= $(MODEL)
SYSTEM_TYPE   ?= edge
SCENARIOS     ?=
SUBMITTER     ?= MyOrg
SUB_SYSTEM    ?=
SYSTEM_FILE   ?=
SUB_RESULTS   ?= results
SUB_DIR       ?=
PERF_DATASET  ?=
ACC_DATASET   ?= ../shared/data/imagenet-sample
ACC_WEIGHTS   ?=
CALIB_DATASET ?=
COMPLIANCE_MS ?= 60000
COMPLIANCE_EXEC ?=
SUB_ARGS = --precision $(PRECISION) --backend $(BACKEND) --results-dir $(SUB_RESULTS) \
	$(call opt,--weights,$(WEIGHTS)) $(call opt,--streams,$(STREAMS)) \
	$(call opt,--threads,$(THREADS)) $(call opt,--calibration-dataset,$(CALIB_DATASET)) \
	$(call opt,--calibration-list,$(CALIB)) $(call opt,--calibration-count,$(CALIB_COUNT))

submission: setup
	$(HARNESS) prepare-submission --models $(MODELS) --system-type $(SYSTEM_TYPE) \
	  --accuracy-dataset $(ACC_DATASET) --compliance-ms $(COMPLIANCE_MS) \
	  $(call opt,--compliance-execution,$(COMPLIANCE_EXEC)) \
	  --submitter $(SUBMITTER) $(SUB_ARGS) $(call opt,--scenarios,$(SCENARIOS)) \
	  $(call opt,--perf-dataset,$(PERF_DATASET)) $(call opt,--accuracy-weights,$(ACC_WEIGHTS)) \
	  $(call opt,--tree-system,$(SUB_SYSTEM)) $(call opt,--system-file,$(SYSTEM_FILE)) \
	  $(call opt,-o,$(SUB_DIR)) $(ARGS)

find-peak: setup
	$(HARNESS) find-peak --model $(MODEL) $(SUB_ARGS) $(call opt,--dataset,$(PERF_DATASET)) $(ARGS)

# make compliance RUN=<performance run dir>
compliance: setup
	$(HARNESS) compliance $(RUN) --duration-ms $(COMPLIANCE_MS) $(ARGS)

# Offline INT8 speed of resnet50, bnas_a/b/c, resnext101 (random weights) with ratios to
# resnet50 beside the published ones, plus resnet50 INT8/FP32 and INT8/PyTorch eager FP32.
#   make bench-zoo [BENCH_ZOO_MS=10000] [ARGS="--models resnet50 bnas_a"]
BENCH_ZOO_MS ?= 10000
bench-zoo: setup
	$(VENV)/bin/python benchmarks/bench_zoo.py --duration-ms $(BENCH_ZOO_MS) $(ARGS)

# The fastest deployment that keeps 99% of FP32 accuracy (docs/optimize.md): an Optuna search
# over precision, streams, threads, infer requests, hint and batch, through real LoadGen
# runs; about 15 minutes with the defaults on a 2-core machine.
#   make optimize MODEL=resnet50                      (random weights: speed only)
#   make optimize MODEL=mobilenet_v2_quant OPT_DATASET=../shared/data/imagenet-sample
OPT_SCENARIO ?= Offline
OPT_TRIALS   ?= 12
OPT_MS       ?= 6000
OPT_DATASET  ?=
optimize: setup
	$(HARNESS) optimize --models $(MODELS) --scenario $(OPT_SCENARIO) --trials $(OPT_TRIALS) \
	  --duration-ms $(OPT_MS) $(call opt,--dataset,$(OPT_DATASET)) \
	  $(call opt,--weights,$(WEIGHTS)) $(ARGS)
