"""The OpenVINO backend's options, its INT8 (NNCF) calibration settings among them.

Checked here, once, for every way a config is made (command line, config file, a workflow):
the backend owns its options (optimum-benchmark's ``backends/openvino/config.py`` pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ... import system
from ...options import check, option
from ..config import BackendConfig

PRECISIONS = ("fp32", "bf16", "int8")
HINTS = ("THROUGHPUT", "LATENCY", "CUMULATIVE_THROUGHPUT")
#: Infer requests per stream when ``nireq`` is not given (see :class:`OpenVINOConfig`).
NIREQ_PER_STREAM = 2
#: The value of the streams or threads dimension of :meth:`OpenVINOConfig.search_space` that
#: leaves the choice to OpenVINO: the performance hint picks the streams (THROUGHPUT: by
#: cores and model; LATENCY: 1), and the threads are all the cores, shared among the streams.
AUTO = "auto"


#: The Server batching windows (us) ``harness optimize`` searches (0: no waiting).
SERVER_BATCH_TIMEOUTS_US = (0, 1000, 4000)
#: NNCF's ``OverflowFix`` values (nncf.quantization.advanced_parameters).
OVERFLOW_FIXES = ("enable", "first_layer_only", "disable")


@dataclass
class QuantizationConfig:
    """Calibration and accuracy-control settings of an INT8 build (NNCF).

    See :mod:`harness.backends.openvino.quantization` for what each does.
    """

    calibration_dataset: str | None = option(
        None, path=True, help="INT8: dataset folder of the calibration samples (default: --dataset; "
                   "none: synthetic). Give the same one to performance and accuracy runs so "
                   "both use one INT8 model")
    calibration_list: str | None = option(
        None, path=True, help="INT8: file of calibration image names, one per line (MLPerf style)")
    calibration_count: int | None = option(
        None, help="INT8: calibration samples (default: the card's, else 300; seeded draw "
                   "without a list)")
    max_accuracy_drop: float | None = option(
        None, help="INT8: accuracy-controlled quantization, max relative drop in (0, 1) "
                   "(0.01 = keep >= 99%%)")
    validation_count: int | None = option(
        None, help="INT8 with --max-accuracy-drop: held-out validation samples (default up "
                   "to 300)")
    validation_overlap: bool | None = option(
        None, help="INT8 with --max-accuracy-drop: validate on the evaluated samples instead "
                   "of held-out ones, recorded as 'validation overlaps evaluation' (default: "
                   "the card's [quantization] validation_overlap)")
    overflow_fix: str | None = option(
        None, help="INT8: NNCF's overflow fix (7-bit weights against int16 saturation): "
                   "enable (all layers), first_layer_only or disable (default: by the INT8 "
                   "kernels this run uses: enable without VNNI/AMX, else first_layer_only)")

    def __post_init__(self) -> None:
        if self.calibration_dataset == "":
            self.calibration_dataset = None
        check(self.calibration_count is None or self.calibration_count >= 1,
              "--calibration-count", f"{self.calibration_count} must be at least 1")
        check(self.max_accuracy_drop is None or 0 < self.max_accuracy_drop < 1,
              "--max-accuracy-drop", f"{self.max_accuracy_drop} must be a fraction in (0, 1), "
                                     f"e.g. 0.01 for MLPerf's 99% rule")
        check(self.validation_count is None or self.validation_count >= 1,
              "--validation-count", f"{self.validation_count} must be at least 1")
        check(self.overflow_fix in (None, *OVERFLOW_FIXES), "--overflow-fix",
              f"{self.overflow_fix!r}: use one of {', '.join(OVERFLOW_FIXES)}")

    def is_set(self) -> bool:
        """True when any setting differs from the defaults."""
        return self != QuantizationConfig()


@dataclass
class OpenVINOConfig(BackendConfig):
    """How OpenVINO compiles and runs the model.

    Attributes:
        name: ``openvino``.
        device: OpenVINO device (``CPU``).
        precision: ``fp32`` (``INFERENCE_PRECISION_HINT=f32``, set and recorded: this CPU
            would otherwise run FP32 models in bf16), ``bf16`` or ``int8`` (NNCF).
        hint: performance hint; None: the scenario's (THROUGHPUT; SingleStream LATENCY).
        streams, threads: inference streams and threads (None: the hint decides).
        nireq: infer requests in flight (None: twice the streams, at least OpenVINO's
            optimal number: with two requests per stream, a stream has the next request
            while Python answers the last; measured on bnas_a INT8, 2 streams: 2 requests
            169-173 samples/s, 4 requests 200-202, benchmark_app 183-194).
        batch: samples per inference request (None: 1); the model is reshaped to it.
            Offline, Server and MultiStream only (SingleStream is one sample per query).
        batch_timeout_us: Server with ``batch`` > 1: the dispatcher waits up to this many
            microseconds after a partial batch's first sample arrived for more samples,
            then starts it (Triton's ``max_queue_delay_microseconds``); None or 0: it starts
            what has arrived. Offline and MultiStream issue their samples together: nothing
            to wait for there (:attr:`harness.scenarios.Scenario.batch_window`).
        quantization: INT8 calibration settings (``precision = int8`` only).
    """

    #: OpenVINO reads the model file as given (.onnx, .tflite, .xml): its weight types name
    #: the run's precision.
    runs_model_file: ClassVar[bool] = True

    name: str = option("openvino", flag="--backend", help="inference backend")
    device: str = option("CPU", help="OpenVINO device")
    precision: str = option("fp32", help="fp32, bf16 or int8")
    hint: str | None = option(None, help="THROUGHPUT or LATENCY (default: the scenario's)")
    streams: int | None = option(None, help="inference streams (>= 1)")
    threads: int | None = option(None, help="inference threads (>= 1)")
    nireq: int | None = option(None, help="infer requests in flight (>= 1; default: twice "
                                          "the streams)")
    batch: int | None = option(None, help="samples per inference request (>= 1; the model "
                                          "is reshaped to it; not SingleStream)")
    batch_timeout_us: int | None = option(
        None, help="Server with --batch N > 1: wait up to this many microseconds for a "
                   "partial batch to fill (0, the default: start what has arrived)")
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)

    def __post_init__(self) -> None:
        check(self.name == "openvino", "--backend", f"'{self.name}' is not openvino")
        check(self.precision in PRECISIONS, "--precision",
              f"unknown precision '{self.precision}'; valid: {', '.join(PRECISIONS)}")
        if self.hint is not None:
            self.hint = self.hint.upper()
            check(self.hint in HINTS, "--hint", f"unknown performance hint '{self.hint}'; "
                                                f"valid: {', '.join(HINTS)}")
        for flag, value in (("--streams", self.streams), ("--threads", self.threads),
                            ("--nireq", self.nireq), ("--batch", self.batch)):
            check(value is None or value >= 1, flag, f"{value} must be at least 1")
        check(self.batch_timeout_us is None or self.batch_timeout_us >= 0,
              "--batch-timeout-us", f"{self.batch_timeout_us} must be 0 or more microseconds")
        check(not self.batch_timeout_us or (self.batch or 1) > 1, "--batch-timeout-us",
              "a batching window needs batches: give --batch N (N > 1) too")
        check(self.precision == "int8" or not self.quantization.is_set(),
              "--calibration-dataset/--calibration-list/--calibration-count/"
              "--max-accuracy-drop", "apply to PRECISION=int8 only")

    @classmethod
    def search_space(cls, scenario: str, cores: int) -> dict[str, list]:
        """The full space on ``cores`` CPUs: precision (``bf16`` where the CPU has it),
        streams and threads ``auto`` or 1..cores, infer requests per stream, hint, and
        batch (not for SingleStream). Measured on 16 cores, resnet50 bf16: the THROUGHPUT
        hint's own split gave 723 samples/s where the best of 15 trials with explicit
        threads only gave 557, so the hint's choices are points of the space, and explicit
        streams with all the cores, ``threads = auto``, too."""
        precisions = ["fp32", "int8"]
        if system.supports_bf16():
            precisions.insert(1, "bf16")
        return {"precision": precisions, "streams": [AUTO, *range(1, cores + 1)],
                "threads": [AUTO, *range(1, cores + 1)], "nireq_per_stream": [1, 2, 4],
                "hint": ["THROUGHPUT", "LATENCY"],
                "batch": [1] if scenario == "SingleStream" else [1, 2, 4, 8],
                # the Server batching window (a partial batch waits at most this long)
                "batch_timeout_us": list(SERVER_BATCH_TIMEOUTS_US) if scenario == "Server"
                else [0]}

    def at_point(self, point: dict[str, Any]) -> "OpenVINOConfig":
        """This config at one point of :meth:`search_space`: the device, and for INT8 the
        calibration settings, kept; every other option the point's or its default.
        ``auto`` streams or threads are left unset (the hint decides); with ``auto``
        streams the infer requests are the default (twice the streams the hint picks, at
        least OpenVINO's optimal number), else streams x ``nireq_per_stream``."""
        streams, threads = (None if point[k] == AUTO else point[k]
                            for k in ("streams", "threads"))
        return OpenVINOConfig(
            device=self.device, precision=point["precision"], hint=point["hint"],
            streams=streams, threads=threads,
            nireq=streams * point["nireq_per_stream"] if streams else None,
            batch=point["batch"] if point["batch"] > 1 else None,
            batch_timeout_us=point.get("batch_timeout_us") or None,
            quantization=self.quantization if point["precision"] == "int8"
            else QuantizationConfig())
