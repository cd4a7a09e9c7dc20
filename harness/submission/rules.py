"""Submission rules of the open division, round v6.1, as the MLCommons checker applies them.

Source: mlcommons/inference ``tools/submission/submission_checker/constants.py`` (required
files and keys, ``MAX_ACCURACY_LOG_SIZE``, ``TEST_DURATION_MS``, accuracy patterns,
per-benchmark performance sample counts, dataset sizes, latency constraints) and
``checks/{performance,accuracy,system,measurements}_check.py`` (what is checked). The round's
RNG seeds are the ones built into LoadGen 6.0.17 (its mlperf.conf, the v6.1 seeds; the
checker's v6.0 table predates them).
"""

from __future__ import annotations

ROUND = "v6.1"
DIVISIONS = ("open", "closed", "network")
AVAILABILITIES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")

#: LoadGen 6.0.17's built-in seeds (mlperf.conf of round v6.1).
SEEDS = {"qsl_rng_seed": 2085463073848966840,
         "sample_index_rng_seed": 2747215439041700203,
         "schedule_rng_seed": 16159082839903944936}

TEST_DURATION_MS = 600_000           # min_duration_check: 600 s
MAX_ACCURACY_LOG_SIZE = 10 * 1024    # accuracy_json_check: truncated log at most 10 KiB
VIEWABLE_SIZE = 4096                 # truncate_accuracy_log.py: head and tail kept

REQUIRED_PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
REQUIRED_ACC_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt",
                      "mlperf_log_accuracy.json")
REQUIRED_MEASURE_FILES = ("user.conf", "README.md")
MEASUREMENTS_REQUIRED_FIELDS = ("input_data_types", "retraining", "starting_weights_filename",
                                "weight_data_types", "weight_transformations")

SYSTEM_REQUIRED_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_storage_capacity", "host_storage_type",
    "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack",
    "host_processor_frequency", "host_processor_caches", "host_memory_configuration",
    "host_processor_interconnect", "host_networking", "host_networking_topology",
    "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes",
    "host_network_card_count", "system_type_detail")
SYSTEM_MEANINGFUL_FIELDS = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity",
    "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name",
    "accelerator_memory_capacity", "accelerator_host_interconnect",
    "accelerator_memory_configuration", "accelerator_interconnect", "cooling", "framework",
    "operating_system", "other_software_stack")

#: Official benchmark names of the checker, and the checker's own name mapping.
OFFICIAL_MODELS = ("resnet", "retinanet")
BUILTIN_MODEL_MAPPING = {"resnet50": "resnet", "mobilenet": "resnet",
                         "ssd-resnet34": "retinanet"}
#: LoadGen benchmark name (model cards' ``benchmark``) -> checker model name.
LOADGEN_TO_CHECKER = {"resnet50": "resnet", "retinanet": "retinanet"}

PERFORMANCE_SAMPLE_COUNT = {"resnet": 1024, "retinanet": 64}
DATASET_SIZE = {"resnet": 50000, "retinanet": 24781}
DATASET_NAME = {"resnet": "ImageNet 2012 validation set (50,000 images)",
                "retinanet": "OpenImages MLPerf validation subset (24,781 images)"}
ACCURACY_TARGET = {"resnet": ("acc", 76.46 * 0.99), "retinanet": ("mAP", 37.55 * 0.99)}
ACC_PATTERN = {"acc": r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*",
               "mAP": r".*(?:mAP=|'Total':)\s*([\d.]+)"}
HASH_PATTERN = r"^hash=([\w\d]+)$"
#: Server p99 latency bound (ns) per benchmark.
LATENCY_CONSTRAINT_NS = {"resnet": {"Server": 15_000_000},
                         "retinanet": {"Server": 100_000_000}}
#: Minimum query counts of scenarios without early stopping (Offline).
MIN_QUERIES = {"resnet": {"Offline": 1}, "retinanet": {"Offline": 1}}
EARLY_STOPPING_SCENARIOS = ("Server", "SingleStream", "MultiStream")
#: LoadGen errors the checker tolerates (ignore_uncommited).
IGNORED_ERRORS = ("Loadgen built with uncommitted changes!",)
#: Compliance tests the round asks of each benchmark (closed; optional in open).
COMPLIANCE_TESTS = {"resnet": ("TEST01", "TEST04"), "retinanet": ("TEST01",)}
#: The compliance tests of round v6.1 (TEST05 was retired upstream in 2024-11).
COMPLIANCE_TESTS_RUN = ("TEST01", "TEST04")
RETIRED_TESTS = ("TEST05",)

#: Scenarios a system type requires per benchmark (constants.py ``REQUIRED_*`` tables of
#: round v6.1): ResNet-50 on ``edge`` needs SingleStream, MultiStream and Offline;
#: ``datacenter`` Server and Offline; ``datacenter,edge`` all four.
REQUIRED_SCENARIOS = {
    "edge": {"resnet": ("SingleStream", "MultiStream", "Offline"),
             "retinanet": ("SingleStream", "MultiStream", "Offline")},
    "datacenter": {"resnet": ("Server", "Offline"), "retinanet": ("Server", "Offline")},
    "datacenter,edge": {"resnet": ("SingleStream", "MultiStream", "Offline", "Server"),
                        "retinanet": ("SingleStream", "MultiStream", "Offline", "Server")},
}
REQUIRED_SCENARIOS["edge,datacenter"] = REQUIRED_SCENARIOS["datacenter,edge"]
