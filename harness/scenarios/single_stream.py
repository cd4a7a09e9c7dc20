"""SingleStream: one sample per query, the next after completion; the metric is the p90
latency's early-stopping estimate (MLPerf rules, scenarios table; LoadGen 6)."""

from __future__ import annotations

from typing import Any

from ..loadgen_logs import KeyResult
from .base import Scenario, TargetContext, calibrate_latency
from .settings import conf_value


class SingleStream(Scenario):
    """SingleStream: answered synchronously on LoadGen's thread, LATENCY hint."""

    synchronous = True
    score_is_latency = True
    detail_score_key = "early_stopping_latency_ss"
    summary_score_line = r".*Early stopping 90(\.0)?th percentile estimate"
    compliance_small_score_ns = 200_000

    def calibrate(self, backend, qsl) -> dict[str, Any]:
        return {"median_latency_ms": calibrate_latency(backend, qsl)}

    def target_lines(self, ctx: TargetContext) -> tuple[list[str], dict[str, Any]]:
        """The expected latency (whole ms, rounded down) that sizes the run: LoadGen issues
        min_duration / expected latency queries."""
        median = ctx.calibration.get("median_latency_ms")
        if median is None or conf_value(ctx.base_conf, self.name, "target_latency") is not None:
            return [], {}
        ms = max(1, int(median))
        return (["# expected latency (ms) from a calibration run, sizes the run",
                 f"*.SingleStream.target_latency = {ms}"],
                {"single_stream_expected_latency_ms": {"value": ms,
                                                       "source": "calibration run"}})

    def score_of(self, result: KeyResult) -> float | None:
        return result.early_stopping_latency_ms
