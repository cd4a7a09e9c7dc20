"""MultiStream: queries of 8 samples (resnet50), the next after completion; the metric is
the p99 latency's early-stopping estimate (MLPerf rules, scenarios table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import loadgen_logs
from ..loadgen_logs import KeyResult
from .base import Scenario, TargetContext
from .settings import conf_value

#: Samples per MultiStream query (LoadGen's built-in mlperf.conf).
SAMPLES_PER_QUERY = 8


class MultiStream(Scenario):
    """MultiStream: each query's samples are spread over the infer requests."""

    score_is_latency = True
    detail_score_key = "early_stopping_latency_ms"
    summary_score_line = r".*Early stopping 99(\.0)?th percentile estimate"
    compliance_small_score_ns = 1_600_000

    def target_lines(self, ctx: TargetContext) -> tuple[list[str], dict[str, Any]]:
        """The expected query latency: 8 samples at the full calibrated rate, a lower bound,
        so LoadGen pre-generates enough queries for min_duration (a higher expected latency
        ends the run early: INVALID)."""
        rate = ctx.calibration.get("samples_per_second")
        if not rate or conf_value(ctx.base_conf, self.name, "target_latency") is not None:
            return [], {}
        ms = max(1, int(SAMPLES_PER_QUERY * 1000.0 / rate))
        return (["# expected latency (ms) of an 8-sample query from calibration",
                 f"*.MultiStream.target_latency = {ms}"],
                {"multi_stream_expected_latency_ms": {"value": ms,
                                                      "source": "calibration run"}})

    def read_result(self, run_dir: Path) -> KeyResult:
        """The key result with MultiStream's latencies: per query of 8 samples (LoadGen's
        ``result_*_per_query_latency_ns``, the summary's percentile line), not per sample."""
        result = super().read_result(run_dir)
        detail_path = Path(run_dir) / "mlperf_log_detail.txt"
        if not detail_path.is_file():
            return result
        detail = loadgen_logs.read_detail(detail_path)
        for name, key in (("mean_ms", "result_mean_query_latency_ns"),
                          ("min_ms", "result_min_query_latency_ns"),
                          ("p50_ms", "result_50.00_percentile_per_query_latency_ns"),
                          ("p90_ms", "result_90.00_percentile_per_query_latency_ns"),
                          ("p99_ms", "result_99.00_percentile_per_query_latency_ns")):
            if detail.get(key) is not None:
                setattr(result, name, float(detail[key]) / 1e6)
        return result

    def score_of(self, result: KeyResult) -> float | None:
        return result.early_stopping_latency_ms
