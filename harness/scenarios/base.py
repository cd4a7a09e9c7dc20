"""What every scenario object does; the declarative part comes from scenarios/scenarios.toml.

A scenario owns everything about it that differs from the others (MLPerf Inference rules,
"Scenarios"; LoadGen's ``TestScenario``):

- how the SUT answers (:attr:`Scenario.synchronous`: in LoadGen's issue call, or through the
  dispatcher and the backend's asynchronous requests);
- how the backend is deployed when the user leaves it open (:meth:`Scenario.deploy`: Server
  chooses streams x threads for its latency bound) and whether a partial batch may wait for
  more samples (:attr:`Scenario.batch_window`);
- how the run is calibrated before LoadGen (:meth:`Scenario.calibrate`);
- its target policy: the user.conf lines that size or load the run (:meth:`target_lines`);
- its test-mode user.conf lines (short runs, :meth:`test_mode_lines`);
- how its result is read from LoadGen's logs (:meth:`read_result`, :meth:`score_of`) and
  described (:meth:`describe`).

``harness.run`` composes these; nothing outside ``harness.scenarios`` compares scenario
names.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import loadgen_logs
from ..backends.base import POLL_SECONDS
from ..loadgen_logs import KeyResult

#: Pre-run calibration: measure at least this long (s).
CALIBRATION_SECONDS = 3.0


@dataclass(frozen=True)
class Definition:
    """One table of ``scenarios/scenarios.toml``.

    Attributes:
        name: the scenario's name (``Offline``).
        loadgen: the ``mlperf_loadgen.TestScenario`` member.
        hint: default OpenVINO performance hint.
        metric: the scenario's result, in words.
        test_mode: user.conf lines of execution mode ``test``.
    """

    name: str
    loadgen: str
    hint: str
    metric: str
    test_mode: tuple[str, ...]


@dataclass
class TargetContext:
    """What a scenario's target policy may use.

    Attributes:
        base_conf: text of the run's base user.conf (validated).
        base_conf_path: where it comes from (for notes).
        target_qps: ``--target-qps`` (samples/s), or None.
        calibration: :meth:`Scenario.calibrate`'s result, or {} (accuracy runs).
        peak_file: where a Server peak of this system, model and precision is recorded.
        peak_key: the backend configuration the peak belongs to.
    """

    base_conf: str
    base_conf_path: str
    target_qps: float | None
    calibration: dict[str, Any]
    peak_file: Path | None = None
    peak_key: str | None = None


@dataclass
class DeployContext:
    """What :meth:`Scenario.deploy` may use.

    Attributes:
        base_conf: text of the run's base user.conf (validated), e.g. its
            ``*.Server.target_latency``.
        benchmark: the official benchmark name (``resnet50``), whose LoadGen bounds apply.
        cores: CPUs the run may use.
        batch_timeout_us: the batching window the SUT will use (0: none).
    """

    base_conf: str
    benchmark: str
    cores: int
    batch_timeout_us: int = 0


class Scenario:
    """One LoadGen scenario. Subclasses set the behaviour; :class:`Definition` the data."""

    #: The SUT answers in ``issue_queries`` (on LoadGen's thread, before it returns: one
    #: sample synchronously, or a query's samples on the asynchronous requests, waited for)
    #: instead of dispatching to the backend's asynchronous requests from its own thread.
    synchronous = False
    #: Without batching, the SUT starts each sample on LoadGen's thread in
    #: ``issue_queries`` (no dispatcher hop); the wait for a free request is the queue.
    issue_direct = False
    #: The scenario reports latency percentiles (Offline's latencies are time to
    #: completion of one big query: no metric).
    reports_latency = True
    #: LoadGen's early-stopping estimate decides the result (MLPerf rules, early stopping).
    early_stopping = True
    #: Compliance: the score is a latency (lower is better) rather than a rate.
    score_is_latency = False
    #: key results carry latencies per query (MultiStream's 8-sample queries), not per sample
    per_query_latency = False
    #: The summary line holding the score (upstream ``TEST04/verify_performance.py``).
    summary_score_line = ""
    #: The detail-log key holding the score (upstream ``TEST01/verify_performance.py``).
    detail_score_key = ""
    #: Score (ns) at or below which the compliance tolerance is 20% instead of 10%.
    compliance_small_score_ns: float | None = None
    #: The SUT may hold a partial batch up to the batching window (``--batch-timeout-us``)
    #: for more samples: queries arrive one at a time (Server). Elsewhere LoadGen issues a
    #: query's samples together, and the window is not used.
    batch_window = False

    def __init__(self, definition: Definition):
        self.definition = definition

    name = property(lambda self: self.definition.name)
    loadgen = property(lambda self: self.definition.loadgen)
    hint = property(lambda self: self.definition.hint)
    metric = property(lambda self: self.definition.metric)

    def __repr__(self) -> str:
        return f"<scenario {self.name}>"

    # --- before LoadGen --------------------------------------------------------------------
    def deploy(self, backend, qsl, ctx: "DeployContext") -> dict[str, Any] | None:
        """Choose the backend's parallelism for this scenario (streams x threads) when the
        user left it open; return the record of the choice for the report, or None: the
        backend's defaults (its performance hint) stand. Default: None."""
        return None

    def calibrate(self, backend, qsl) -> dict[str, Any]:
        """Measure the backend on loaded samples: ``{"samples_per_second": float}``."""
        return {"samples_per_second": calibrate_throughput(backend, qsl)}

    def test_mode_lines(self, duration_ms: int | None) -> list[str]:
        """user.conf lines of a test-mode run (short, not valid for submission)."""
        lines = ["# execution mode 'test': short run, NOT valid for submission",
                 *self.definition.test_mode]
        if duration_ms is not None:
            lines.append(f"*.{self.name}.min_duration = {int(duration_ms)}")
        return lines

    def target_lines(self, ctx: TargetContext) -> tuple[list[str], dict[str, Any]]:
        """user.conf lines that set the run's target, and notes on where each came from."""
        return [], {}

    def target_used(self, loadgen_notes: dict[str, Any]) -> float | None:
        """The target QPS a finished run used (for audit runs, which repeat its load)."""
        return None

    def resized_target_qps(self, result: KeyResult, factor: float) -> float | None:
        """A target QPS that only sizes a run (``factor`` x the samples/s ``result``
        measured), for scenarios whose expected QPS sets how many samples LoadGen issues
        and nothing else; None for the others (Server's target is the load itself)."""
        return None

    def rerun_target(self, result: KeyResult) -> tuple[float, str] | None:
        """``(target samples/s, where it comes from in words)`` to run LoadGen once more
        with when ``result`` is INVALID only because the run ended before its minimum
        duration; None: no re-run (the default: only Offline sizes its run from an
        expected rate)."""
        return None

    def set_target(self, settings, qps: float, source: str
                   ) -> tuple[list[str], dict[str, Any]]:
        """Put ``qps`` into LoadGen ``settings`` directly (``FromConfig`` runs once per
        process; one ``TestSettings`` object serves several ``StartTest`` calls); return
        the user.conf lines that record it and the notes for the report's ``loadgen``."""
        raise NotImplementedError(f"{self.name} has no re-run target")

    # --- after LoadGen ---------------------------------------------------------------------
    def read_result(self, run_dir: Path) -> KeyResult:
        """The key result from LoadGen's logs, with the scenario's metric and score."""
        result = loadgen_logs.key_result(Path(run_dir), per_query=self.per_query_latency)
        result.metric = self.metric
        result.score = self.score_of(result)
        return result

    def score_of(self, result: KeyResult) -> float | None:
        """The scenario's reported number from a result."""
        return result.samples_per_second

    def throughput(self, numbers: dict[str, Any]) -> float | None:
        """The throughput the scenario reports, samples/s, from
        :func:`harness.loadgen_logs.performance_numbers` (MLPerf rules, scenarios table)."""
        return numbers.get("qps_with_overhead") or numbers.get("samples_per_s")

    def describe(self, result: KeyResult | None) -> str:
        """The result in a few words, e.g. ``86.52 samples/s p90 13.60 ms VALID``."""
        if result is None:
            return "no result"
        parts = []
        if result.samples_per_second is not None:
            parts.append(f"{float(result.samples_per_second):.2f} samples/s")
        if self.reports_latency:
            if result.p90_ms is not None:
                parts.append(f"p90 {result.p90_ms:.2f} ms")
            if result.p99_ms is not None:
                parts.append(f"p99 {result.p99_ms:.2f} ms")
        if result.validity is not None:
            parts.append(str(result.validity))
        if result.invalid_reasons:
            parts.append("(" + "; ".join(result.invalid_reasons) + ")")
        return " ".join(parts)

    def compliance_threshold(self, reference_score: float, base: float = 0.10) -> float:
        """The tolerance of TEST01/TEST04's performance check (upstream
        ``verify_performance.py``: 20% for very short latencies)."""
        if self.compliance_small_score_ns is not None and \
                reference_score <= self.compliance_small_score_ns:
            return 0.20
        return base


# --- calibration ---------------------------------------------------------------------------

def calibrate_throughput(backend, qsl, seconds: float = CALIBRATION_SECONDS) -> float:
    """The backend's asynchronous throughput (samples/s) on the samples the QSL holds.

    Runs for ``seconds`` (after one warm-up inference per request) cycling over the loaded
    samples; Offline sets ``offline_expected_qps`` from it so a run lasts its minimum
    duration.
    """
    indices = sorted(qsl.samples)
    b = backend.batch_size()

    def request(k: int) -> np.ndarray:  # request k: b consecutive loaded samples
        if b == 1:
            return qsl.get(indices[k % len(indices)])
        return np.concatenate([qsl.get(indices[(k * b + j) % len(indices)])
                               for j in range(b)], axis=0)

    backend.set_callback(lambda _outputs, _userdata, _error: None)
    for i in range(backend.parallelism()):
        data = request(i)
        backend.start_async(data, data)  # the userdata keeps a stacked batch alive
    backend.wait_all()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds or n < 2 * backend.parallelism():
        data = request(n)
        backend.start_async(data, data)
        n += 1
    backend.wait_all()
    return n * b / (time.perf_counter() - start)


def calibrate_latency(backend, qsl, seconds: float = 1.0) -> float:
    """Median synchronous latency (ms) on loaded samples, for SingleStream's expected latency.

    LoadGen sizes a SingleStream run as min_duration / expected latency queries; an expected
    latency above the real one ends the run before min_duration (INVALID).
    """
    indices = sorted(qsl.samples)
    backend.infer_view(qsl.get(indices[0]))  # warm-up; the path SingleStream's SUT takes
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        backend.infer_view(qsl.get(indices[len(times) % len(indices)]))
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def measure_width(backend, qsl, in_flight: int, seconds: float = 1.0) -> dict[str, float]:
    """Latency and throughput of the backend with ``in_flight`` requests kept busy.

    With as many requests in flight as the backend has streams, each request runs as soon as
    it is started, so its time from start to callback is the inference latency under full
    load (not the lone, idle-machine latency: all streams share the cores and memory).
    Discards one round of warm-up inferences, then runs for ``seconds`` (at least four
    rounds).

    A failed inference frees its request like a finished one (the backend reports some
    failures only when polled: :meth:`harness.backends.Backend.poll`, asked while waiting);
    its time is not counted, and the run's LoadGen test meets the failure again.

    Returns:
        ``{"latency_ms": median per request (ms), "latency_p90_ms", "samples_per_second"}``
        (NaN latencies and 0 samples/s when every inference failed).
    """
    indices = sorted(qsl.samples)
    b = backend.batch_size()

    def request(k: int) -> np.ndarray:
        if b == 1:
            return qsl.get(indices[k % len(indices)])
        return np.concatenate([qsl.get(indices[(k * b + j) % len(indices)])
                               for j in range(b)], axis=0)

    slots = threading.Semaphore(in_flight)
    times: list[float] = []

    def done(_outputs, userdata, error) -> None:
        if error is None:
            times.append((time.perf_counter() - userdata[0]) * 1e3)
        slots.release()

    backend.set_callback(done)
    n = 0
    start = time.perf_counter()
    while True:
        if n == in_flight:  # warm-up round done: measure from here
            backend.wait_all()
            times.clear()
            start = time.perf_counter()
        elif n > in_flight and time.perf_counter() - start >= seconds \
                and n >= 5 * in_flight:
            break
        while not slots.acquire(timeout=POLL_SECONDS):
            backend.poll()  # a failed inference frees its request only when polled
        data = request(n)
        backend.start_async(data, (time.perf_counter(), data))  # data alive till callback
        n += 1
    backend.wait_all()
    elapsed = time.perf_counter() - start
    if not times:
        return {"latency_ms": float("nan"), "latency_p90_ms": float("nan"),
                "samples_per_second": 0.0}
    return {"latency_ms": float(np.median(times)),
            "latency_p90_ms": float(np.percentile(times, 90)),
            "samples_per_second": len(times) * b / elapsed}
