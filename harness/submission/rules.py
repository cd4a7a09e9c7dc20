"""Submission rules of the open division, round v6.1, as the MLCommons checker applies them.

Source: mlcommons/inference ``tools/submission/submission_checker/`` —
``constants.py`` (``MODEL_CONFIG[<round>]``: models, required scenarios per system type,
accuracy targets, performance sample counts, dataset sizes, seeds, latency constraints,
min queries, ``models_TEST01``/``models_TEST04``; ``SYSTEM_DESC_*`` fields,
``SYSTEM_IMP_REQUIRED_FILES``, ``REQUIRED_*_FILES``, ``MAX_ACCURACY_LOG_SIZE``,
``TEST_DURATION_MS``, ``ACC_PATTERN``), ``checks/{performance,accuracy,system,
measurements,compliance}_check.py`` and ``results.py`` (what is checked), ``loader.py``
(the tree layout). The newest table the stored checker holds is ``v6.0``; round v6.1's
table is that one with the round's seeds, which are the ones LoadGen 6.0.17 builds in
(docs/submission.md, "Official checker and LoadGen 6.0.17").
"""

from __future__ import annotations

ROUND = "v6.1"
DIVISIONS = ("open", "closed", "network")
AVAILABILITIES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")

#: Round v6.1's seeds: LoadGen 6.0.17's built-in mlperf.conf, and the checker's v6.1 table.
#: (The checker's v6.0 table has 2465351861681999779 / 14276810075590677512 /
#: 3936089224930324775: a v6.1 tree checked with --version v6.0 fails on seeds.)
SEEDS = {"qsl_rng_seed": 2085463073848966840,
         "sample_index_rng_seed": 2747215439041700203,
         "schedule_rng_seed": 16159082839903944936}

TEST_DURATION_MS = 600_000           # performance_check.min_duration_check: 600 s
MAX_ACCURACY_LOG_SIZE = 10 * 1024    # accuracy_check.accuracy_json_check: at most 10 KiB
VIEWABLE_SIZE = 4096                 # truncate_accuracy_log.py: head and tail kept

REQUIRED_PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
REQUIRED_ACC_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt",
                      "mlperf_log_accuracy.json")
REQUIRED_MEASURE_FILES = ("user.conf", "README.md")
MEASUREMENTS_REQUIRED_FIELDS = ("input_data_types", "retraining", "starting_weights_filename",
                                "weight_data_types", "weight_transformations")
#: compliance_check.compliance_performance_check: TEST01/TEST04 ``performance/run_1`` holds
#: exactly these (``mlperf_log_accuracy.json`` tolerated).
REQUIRED_COMP_PER_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")

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
#: results.py computes ``int(number_of_nodes) * int(accelerators_per_node)`` for every
#: valid result: anything else stops the official checker with a traceback.
SYSTEM_INTEGER_FIELDS = ("number_of_nodes", "accelerators_per_node")
#: system_check.network_check / performance_check.network_check: ``is_network`` must be
#: "true" exactly in the network division.
SYSTEM_IS_NETWORK = "is_network"
#: What a network-division system JSON adds (constants.py,
#: ``SYSTEM_DESC_REQUIRED_FIELDS_NETWORK_MODE``), and what its SUT name must contain
#: (``NETWORK_MODE_REQUIRED_SUBSTRING_IN_SUT_NAME``; LoadGen logs it as ``sut_name``).
SYSTEM_REQUIRED_FIELDS_NETWORK = (
    SYSTEM_IS_NETWORK, "network_type", "network_media", "network_rate", "nic_loadgen",
    "number_nic_loadgen", "net_software_stack_loadgen", "network_protocol",
    "number_connections", "nic_sut", "number_nic_sut", "net_software_stack_sut",
    "network_topology")
NETWORK_SUT_NAME = "Network SUT"

#: Official model names of round v6.1 the harness's benchmarks map to, and the checker's
#: own name mapping (constants.py ``model_mapping``).
OFFICIAL_MODELS = ("resnet", "retinanet", "yolo-95", "yolo-99")
BUILTIN_MODEL_MAPPING = {"resnet50": "resnet", "mobilenet": "resnet",
                         "ssd-resnet34": "retinanet"}
#: LoadGen benchmark name (model cards' ``benchmark``) -> checker model name. Round v6.1's
#: detection benchmark is YOLO; the harness's COCO detectors (LoadGen's ssd-mobilenet
#: settings) go in the open division mapped to ``yolo-99`` (its 99% accuracy target).
LOADGEN_TO_CHECKER = {"resnet50": "resnet", "ssd-mobilenet": "yolo-99",
                      "retinanet": "retinanet", "yolo": "yolo-99"}

PERFORMANCE_SAMPLE_COUNT = {"resnet": 1024, "retinanet": 64, "yolo-95": 64, "yolo-99": 64}
DATASET_SIZE = {"resnet": 50000, "retinanet": 24781, "yolo-95": 1525, "yolo-99": 1525}
DATASET_NAME = {"resnet": "ImageNet 2012 validation set (50,000 images)",
                "retinanet": "OpenImages MLPerf validation subset (24,781 images)",
                "yolo-95": "YOLO benchmark's evaluation set (1,525 images)",
                "yolo-99": "YOLO benchmark's evaluation set (1,525 images)"}
ACCURACY_TARGET = {"resnet": ("acc", 76.46 * 0.99), "retinanet": ("mAP", 37.55 * 0.99),
                   "yolo-95": ("mAP", 53.4 * 0.95), "yolo-99": ("mAP", 53.4 * 0.99)}
ACC_PATTERN = {"acc": r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*",
               "mAP": r".*(?:mAP=|'Total':)\s*([\d.]+)"}
HASH_PATTERN = r"^hash=([\w\d]+)$"
#: Server p99 latency bound (ns) per benchmark.
LATENCY_CONSTRAINT_NS = {"resnet": {"Server": 15_000_000},
                         "retinanet": {"Server": 100_000_000}}
#: Minimum query counts of scenarios without early stopping (Offline).
MIN_QUERIES = {m: {"Offline": 1} for m in OFFICIAL_MODELS}
EARLY_STOPPING_SCENARIOS = ("Server", "SingleStream", "MultiStream")
#: LoadGen errors the checker tolerates (with --submission-exceptions).
IGNORED_ERRORS = ("Loadgen built with uncommitted changes!",)
#: Compliance tests per model (``models_TEST01``, ``models_TEST04``): run for every result,
#: required in the closed division, skipped by the checker in the open one.
COMPLIANCE_TESTS = {"resnet": ("TEST01", "TEST04"), "retinanet": ("TEST01",),
                    "yolo-95": ("TEST01",), "yolo-99": ("TEST01",)}
#: The compliance tests of round v6.1 the harness runs (TEST05 retired upstream in 2024-11).
COMPLIANCE_TESTS_RUN = ("TEST01", "TEST04")
RETIRED_TESTS = ("TEST05",)

#: Scenarios a system type requires per model (constants.py ``required-scenarios-edge``,
#: ``-datacenter``, ``-datacenter-edge`` of round v6.x): ResNet-50 is an edge benchmark
#: (SingleStream, MultiStream, Offline; ``datacenter,edge`` adds Server) and has no
#: datacenter-only entry; retinanet is listed only for ``datacenter,edge``.
REQUIRED_SCENARIOS = {
    "edge": {"resnet": ("SingleStream", "MultiStream", "Offline"),
             "yolo-95": ("SingleStream", "MultiStream", "Offline"),
             "yolo-99": ("SingleStream", "MultiStream", "Offline")},
    "datacenter": {},
    "datacenter,edge": {"resnet": ("SingleStream", "MultiStream", "Offline", "Server"),
                        "retinanet": ("SingleStream", "Offline", "MultiStream", "Server"),
                        "yolo-95": ("SingleStream", "MultiStream", "Offline"),
                        "yolo-99": ("SingleStream", "MultiStream", "Offline")},
}
REQUIRED_SCENARIOS["edge,datacenter"] = REQUIRED_SCENARIOS["datacenter,edge"]


def checker_model(benchmark: str) -> str:
    """The checker's model name for a LoadGen benchmark name (a card's ``benchmark``)."""
    return LOADGEN_TO_CHECKER.get(benchmark, benchmark)


def required_scenarios(system_type: str, model: str) -> tuple[str, ...] | None:
    """The scenarios ``system_type`` requires of checker model ``model``; None when the
    round lists none (the model is no benchmark of that system type)."""
    return REQUIRED_SCENARIOS.get(system_type, {}).get(model)
