"""Readers for LoadGen's own logs.

- ``mlperf_log_detail.txt``: lines ``:::MLLOG {json}``, each with ``key`` and ``value``
  (LoadGen logging.cc).
- ``mlperf_log_summary.txt``: ``key : value`` text; after ``Result is : INVALID`` LoadGen
  lists the failed constraints as ``<check> satisfied : NO`` lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_MLLOG = ":::MLLOG "


def read_detail(path: Path) -> dict[str, Any]:
    """``{key: value}`` of every MLLOG entry (the last wins), plus ``error``/``warning`` lists.

    Raises:
        FileNotFoundError: no such file.
    """
    out: dict[str, Any] = {"_errors": [], "_warnings": [], "_truncated": False}
    for line in Path(path).read_text(errors="replace").splitlines():
        if not line.startswith(_MLLOG):
            continue
        try:
            entry = json.loads(line[len(_MLLOG):])
        except json.JSONDecodeError:
            out["_truncated"] = True
            continue
        key = entry.get("key")
        value = entry.get("value")
        if key == "error_invalid_test_duration" or (key or "").startswith("error"):
            out["_errors"].append({"key": key, "value": value})
        elif (key or "").startswith("warning"):
            out["_warnings"].append({"key": key, "value": value})
        out[key] = value
    return out


def read_summary(path: Path) -> dict[str, Any]:
    """``{key: value}`` of the summary's ``key : value`` lines, plus ``invalid_reasons``."""
    out: dict[str, Any] = {"invalid_reasons": []}
    for line in Path(path).read_text(errors="replace").splitlines():
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not key or not value:
            continue
        out[key] = value
        if key.endswith("satisfied") and value.upper() == "NO":
            out["invalid_reasons"].append(f"{key}: NO")
    return out


def _ms(ns: Any) -> float | None:
    try:
        return float(ns) / 1e6
    except (TypeError, ValueError):
        return None


def key_result(run_dir: Path, scenario: str) -> dict[str, Any]:
    """The key result of a performance run, from its LoadGen logs.

    Returns:
        ``validity`` (VALID/INVALID), ``invalid_reasons`` (list of str), ``samples_per_second``
        (Offline: samples/s; Server: completed samples/s), ``scheduled_qps`` (Server),
        ``p50_ms``, ``p90_ms``, ``p99_ms``, ``mean_ms`` (latencies in ms), ``early_stopping``
        fields where LoadGen reports them, and ``log_errors`` (error lines of the detail log).

    Raises:
        FileNotFoundError: a log is missing.
    """
    detail = read_detail(run_dir / "mlperf_log_detail.txt")
    summary = read_summary(run_dir / "mlperf_log_summary.txt")
    result: dict[str, Any] = {
        "validity": detail.get("result_validity") or summary.get("Result is"),
        "invalid_reasons": summary["invalid_reasons"],
        "samples_per_second": detail.get("result_samples_per_second"),
        "scheduled_qps": detail.get("result_scheduled_samples_per_sec"),
        "completed_qps": detail.get("result_completed_samples_per_sec"),
        "mean_ms": _ms(detail.get("result_mean_latency_ns")),
        "p50_ms": _ms(detail.get("result_50.00_percentile_latency_ns")),
        "p90_ms": _ms(detail.get("result_90.00_percentile_latency_ns")),
        "p99_ms": _ms(detail.get("result_99.00_percentile_latency_ns")),
        "min_duration_met": detail.get("result_min_duration_met"),
        "min_queries_met": detail.get("result_min_queries_met"),
        "perf_constraints_met": detail.get("result_perf_constraints_met"),
        "early_stopping_met": detail.get("early_stopping_met"),
        "early_stopping_latency_ss_ms": _ms(detail.get("early_stopping_latency_ss")),
        "query_count": detail.get("result_query_count"),
        "effective_min_duration_ms": detail.get("effective_min_duration_ms"),
        "effective_target_qps": detail.get("effective_target_qps"),
        "effective_target_latency_ns": detail.get("effective_target_latency_ns"),
        "performance_sample_count": detail.get("effective_performance_sample_count"),
        "num_errors": detail.get("num_errors"),
        "log_errors": detail["_errors"],
        "log_truncated": detail["_truncated"],
    }
    if scenario == "Server" and result["samples_per_second"] is None:
        result["samples_per_second"] = result["completed_qps"]
    if scenario == "Server" and summary.get("Scheduled samples per second"):
        result["scheduled_qps"] = float(summary["Scheduled samples per second"])
    return result
