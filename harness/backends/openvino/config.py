"""The OpenVINO backend's options, its INT8 (NNCF) calibration settings among them.

Checked here, once, for every way a config is made (command line, config file, a workflow):
the backend owns its options (optimum-benchmark's ``backends/openvino/config.py`` pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...options import check, option

PRECISIONS = ("fp32", "bf16", "int8")
HINTS = ("THROUGHPUT", "LATENCY", "CUMULATIVE_THROUGHPUT")
#: Infer requests per stream when ``nireq`` is not given (see :class:`OpenVINOConfig`).
NIREQ_PER_STREAM = 2


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

    def is_set(self) -> bool:
        """True when any setting differs from the defaults."""
        return self != QuantizationConfig()


@dataclass
class OpenVINOConfig:
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
