"""MultiStream: queries of 8 samples (resnet50), the next after completion; the metric is
the p99 latency's early-stopping estimate (MLPerf rules, scenarios table)."""

from __future__ import annotations

from typing import Any

from ..loadgen_logs import KeyResult
from .base import Scenario, TargetContext
from .settings import conf_value

#: Samples per MultiStream query (LoadGen's built-in mlperf.conf).
SAMPLES_PER_QUERY = 8


class MultiStream(Scenario):
    """MultiStream: each query's samples are spread over the infer requests, started from
    LoadGen's thread, which waits for them (no dispatcher hop: the next query comes only
    after this one completes)."""

    synchronous = True
    score_is_latency = True
    per_query_latency = True
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

    def score_of(self, result: KeyResult) -> float | None:
        return result.early_stopping_latency_ms
