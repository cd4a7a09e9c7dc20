"""Offline: one query with every sample; the metric is samples/s (MLPerf rules, scenarios)."""

from __future__ import annotations

from typing import Any

from ..loadgen_logs import KeyResult
from .base import Scenario, TargetContext
from .settings import conf_value

#: offline_expected_qps = calibrated rate x this: LoadGen issues expected_qps x min_duration
#: samples, so a run faster than calibrated ends before min_duration (INVALID); a slower one
#: only lasts longer. Calibration on a busy machine errs either way.
MARGIN = 1.2
#: An Offline performance run INVALID only because it ended before its minimum duration
#: (the machine ran faster than calibrated) is re-run once, in the same process, with
#: offline_expected_qps = its measured throughput x this.
RERUN_MARGIN = 1.5


class Offline(Scenario):
    """Offline: the SUT spreads LoadGen's one big query over all infer requests."""

    reports_latency = False
    early_stopping = False
    detail_score_key = "result_samples_per_second"
    summary_score_line = "Samples per second"

    def target_lines(self, ctx: TargetContext) -> tuple[list[str], dict[str, Any]]:
        """``offline_expected_qps``: ``--target-qps``, else the user.conf's, else the
        calibrated throughput x :data:`MARGIN`."""
        base = conf_value(ctx.base_conf, self.name, "target_qps")
        if ctx.target_qps:
            qps, source = ctx.target_qps, "--target-qps"
        elif base is not None:
            return [], {"offline_expected_qps": {"value": float(base),
                                                 "source": ctx.base_conf_path}}
        elif ctx.calibration.get("samples_per_second"):
            qps = ctx.calibration["samples_per_second"] * MARGIN
            source = f"calibration run x {MARGIN} (margin against finishing early)"
        else:
            return [], {}
        return ([f"# offline_expected_qps from {source}", f"*.Offline.target_qps = {qps:.3f}"],
                {"offline_expected_qps": {"value": qps, "source": source}})

    def target_used(self, loadgen_notes: dict[str, Any]) -> float | None:
        return (loadgen_notes.get("offline_expected_qps") or {}).get("value")

    def resized_target_qps(self, result: KeyResult, factor: float) -> float | None:
        """LoadGen issues expected QPS x min_duration samples in one query: a higher expected
        QPS only makes the run longer, a lower one ends it early (INVALID)."""
        return factor * result.samples_per_second if result.samples_per_second else None

    def rerun_target(self, result: KeyResult) -> tuple[float, str] | None:
        """Measured samples/s x :data:`RERUN_MARGIN` when LoadGen's only objection was
        ``Min duration satisfied: NO``; else None."""
        reasons = result.invalid_reasons
        if (result.validity == "INVALID" and result.min_duration_met is False and reasons
                and all(r.startswith("Min duration satisfied") for r in reasons)
                and result.samples_per_second):
            measured = float(result.samples_per_second)
            return (measured * RERUN_MARGIN,
                    f"measured {measured:.2f} samples/s x {RERUN_MARGIN} (margin against "
                    f"finishing early)")
        return None

    def set_target(self, settings, qps: float, source: str
                   ) -> tuple[list[str], dict[str, Any]]:
        """``offline_expected_qps`` on the settings object, its user.conf line and note."""
        settings.offline_expected_qps = float(qps)
        return ([f"# offline_expected_qps from {source}", f"*.Offline.target_qps = {qps:.3f}"],
                {"offline_expected_qps": {"value": qps, "source": source}})

    def score_of(self, result: KeyResult) -> float | None:
        return result.samples_per_second

    def throughput(self, numbers: dict[str, Any]) -> float | None:
        return numbers.get("samples_per_s")
