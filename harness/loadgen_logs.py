"""Readers for LoadGen's own logs.

- ``mlperf_log_detail.txt``: lines ``:::MLLOG {json}``, each with ``key`` and ``value``
  (LoadGen logging.cc).
- ``mlperf_log_summary.txt``: ``key : value`` text; after ``Result is : INVALID`` LoadGen
  lists the failed constraints as ``<check> satisfied : NO`` lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnreadableLog, shorten

_MLLOG = ":::MLLOG "


def read_detail(path: Path) -> dict[str, Any]:
    """``{key: value}`` of every MLLOG entry (the last wins), plus ``error``/``warning`` lists.

    A line that is not JSON sets ``_truncated`` (a log cut short, e.g. by a full disk). A
    line whose JSON is not an MLLOG entry (an object with a string ``key``, and
    ``metadata``, when present, an object) is refused: LoadGen never writes one, and the
    MLCommons checker (``log_parser.MLPerfLog``) stops on it too, so the log was edited.

    Raises:
        FileNotFoundError: no such file.
        UnreadableLog: a line that is JSON but no MLLOG entry (file and line named).
    """
    out: dict[str, Any] = {"_errors": [], "_warnings": [], "_truncated": False}
    for lineno, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        if not line.startswith(_MLLOG):
            continue
        try:
            entry = json.loads(line[len(_MLLOG):])
        except json.JSONDecodeError:
            out["_truncated"] = True
            continue
        meta = entry.get("metadata") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or \
                not isinstance(meta, (dict, type(None))):
            raise UnreadableLog(
                path, f"line {lineno} is not a LoadGen MLLOG entry (an object with a "
                f"string \"key\" and a \"value\"): {shorten(line, 80)}; LoadGen never "
                f"writes such a line: the log was edited or damaged")
        key = entry["key"]
        value = entry.get("value")
        meta = meta or {}
        if meta.get("is_error") or key.startswith("error"):
            out["_errors"].append({"key": key, "value": value})
        elif meta.get("is_warning") or key.startswith("warning"):
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


@dataclass
class KeyResult:
    """The key result of a performance run, read from LoadGen's own logs.

    Latencies in ms, rates in samples/s. ``metric``/``score`` are the scenario's reported
    result (Offline samples/s, Server scheduled samples/s, SingleStream p90 and MultiStream
    p99 early-stopping latency estimates in ms), set by the scenario
    (:meth:`harness.scenarios.Scenario.read_result`); None when the logs lack it. The last
    four fields are the SUT's counts, set by the run.
    """

    validity: str | None = None
    invalid_reasons: list[str] = field(default_factory=list)
    metric: str | None = None
    score: float | None = None
    samples_per_second: float | None = None
    scheduled_qps: float | None = None
    completed_qps: float | None = None
    mean_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    early_stopping_latency_ms: float | None = None
    min_duration_met: bool | None = None
    min_queries_met: bool | None = None
    perf_constraints_met: bool | None = None
    early_stopping_met: bool | None = None
    query_count: int | None = None
    effective_min_duration_ms: int | None = None
    effective_target_qps: float | None = None
    effective_target_latency_ns: int | None = None
    performance_sample_count: int | None = None
    num_errors: int | None = None
    log_errors: list[dict[str, Any]] = field(default_factory=list)
    log_truncated: bool = False
    wall_seconds: float | None = None
    inference_errors: int = 0
    first_inference_error: str | None = None
    samples_answered: int = 0

    @property
    def latency_bound_ms(self) -> float | None:
        """The effective target latency (the Server p99 bound), ms."""
        ns = self.effective_target_latency_ns
        return ns / 1e6 if ns else None


def key_result(run_dir: Path, per_query: bool = False) -> KeyResult:
    """The key result of a run, from its LoadGen logs (``metric``/``score`` left for the
    scenario to fill).

    ``per_query`` (MultiStream): mean, min and p50/p90/p99 latencies per query of N samples
    (LoadGen's ``result_*_per_query_latency_ns``, the summary's percentile line), not per
    sample.

    A missing log gives an empty result (validity None), never an exception: the caller
    decides that a run without LoadGen's result failed.
    """
    detail_path = Path(run_dir) / "mlperf_log_detail.txt"
    summary_path = Path(run_dir) / "mlperf_log_summary.txt"
    detail = read_detail(detail_path) if detail_path.is_file() else \
        {"_errors": [], "_warnings": [], "_truncated": True}
    summary = read_summary(summary_path) if summary_path.is_file() else {"invalid_reasons": []}
    numbers = _from_detail(detail)  # the same detail-key mapping the reports use
    if per_query:
        per_query_ns = {"mean_ms": "result_mean_query_latency_ns",
                        "min_ms": "result_min_query_latency_ns",
                        **{percentile_column(p): f"result_{p}_percentile_per_query_latency_ns"
                           for p in ("50.00", "90.00", "99.00")}}
        numbers.update({name: _ms(detail[key]) for name, key in per_query_ns.items()
                        if detail.get(key) is not None})
    es = detail.get("early_stopping_latency_ss", detail.get("early_stopping_latency_ms"))
    scheduled = numbers["scheduled_qps"]
    if summary.get("Scheduled samples per second"):
        scheduled = _num(summary["Scheduled samples per second"])
    return KeyResult(
        validity=numbers["validity"] or summary.get("Result is"),
        invalid_reasons=summary["invalid_reasons"],
        samples_per_second=numbers["samples_per_s"], scheduled_qps=scheduled,
        completed_qps=numbers["completed_qps"], mean_ms=numbers["mean_ms"],
        min_ms=numbers["min_ms"], p50_ms=numbers["p50_ms"], p90_ms=numbers["p90_ms"],
        p99_ms=numbers["p99_ms"], early_stopping_latency_ms=_ms(es),
        min_duration_met=detail.get("result_min_duration_met"),
        min_queries_met=detail.get("result_min_queries_met"),
        perf_constraints_met=detail.get("result_perf_constraints_met"),
        early_stopping_met=detail.get("early_stopping_met"),
        query_count=detail.get("result_query_count"),
        effective_min_duration_ms=detail.get("effective_min_duration_ms"),
        effective_target_qps=detail.get("effective_target_qps"),
        effective_target_latency_ns=detail.get("effective_target_latency_ns"),
        performance_sample_count=detail.get("effective_performance_sample_count"),
        num_errors=detail.get("num_errors"), log_errors=detail["_errors"],
        log_truncated=bool(detail["_truncated"]) or not summary_path.is_file())


# --- Reading any run's logs for reports (harness.reports) -------------------------------

#: Latency percentiles LoadGen reports (detail keys ``result_<p>_percentile_latency_ns``,
#: summary lines ``<p> percentile latency (ns)``; LoadGen results.cc).
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")

LOG_OK = "ok"
LOG_SUMMARY_ONLY = "summary only"
LOG_MISSING = "missing"
LOG_TRUNCATED = "truncated"
LOG_UNREADABLE = "unreadable"


def percentile_column(p: str) -> str:
    """Table column of a LoadGen percentile: ``"90.00"`` -> ``p90_ms``, ``"99.90"`` -> ``p999_ms``."""
    return "p" + p.rstrip("0").rstrip(".").replace(".", "") + "_ms"


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _from_detail(detail: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scenario": detail.get("effective_scenario") or detail.get("requested_scenario"),
        "test_mode": detail.get("effective_test_mode") or detail.get("requested_test_mode"),
        "validity": detail.get("result_validity"),
        "samples_per_s": _num(detail.get("result_samples_per_second")),
        "scheduled_qps": _num(detail.get("result_scheduled_samples_per_sec")),
        "completed_qps": _num(detail.get("result_completed_samples_per_sec")),
        "qps_with_overhead": _num(detail.get("result_qps_with_loadgen_overhead")),
        "target_qps": _num(detail.get("effective_target_qps")),
        "latency_bound_ms": _ms(detail.get("effective_target_latency_ns")) or None,
        "min_ms": _ms(detail.get("result_min_latency_ns")),
        "max_ms": _ms(detail.get("result_max_latency_ns")),
        "mean_ms": _ms(detail.get("result_mean_latency_ns")),
        "early_stopping_p90_ms": _ms(detail.get("early_stopping_latency_ss")),
        "query_count": _num(detail.get("result_query_count")),
        "loadgen_version": detail.get("loadgen_version"),
    }
    for p in PERCENTILES:
        out[percentile_column(p)] = _ms(
            detail.get(f"result_{p}_percentile_latency_ns"))
    return out


def _from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scenario": summary.get("Scenario"),
        "test_mode": summary.get("Mode"),
        "validity": summary.get("Result is"),
        "samples_per_s": _num(summary.get("Samples per second")),
        "scheduled_qps": _num(summary.get("Scheduled samples per second")),
        "completed_qps": _num(summary.get("Completed samples per second")),
        "qps_with_overhead": _num(summary.get("QPS w/ loadgen overhead")),
        "target_qps": _num(summary.get("target_qps")),
        "latency_bound_ms": _ms(summary.get("target_latency (ns)")) or None,
        "min_ms": _ms(summary.get("Min latency (ns)")),
        "max_ms": _ms(summary.get("Max latency (ns)")),
        "mean_ms": _ms(summary.get("Mean latency (ns)")),
        "early_stopping_p90_ms": None,
        "query_count": None,
        "loadgen_version": None,
    }
    for p in PERCENTILES:
        out[percentile_column(p)] = _ms(
            summary.get(f"{p} percentile latency (ns)"))
    return out


def performance_numbers(run_dir: Path) -> dict[str, Any]:
    """The numbers of one LoadGen performance run, read from its logs; never raises on bad logs.

    Reads ``mlperf_log_detail.txt`` (the MLLOG lines); when it is missing, reads the
    numbers from ``mlperf_log_summary.txt`` (published v2.0 trees sometimes hold only the
    summary). Keys ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p97_ms``, ``p99_ms``, ``p999_ms``,
    ``min_ms``, ``max_ms``, ``mean_ms`` (latencies, ms); ``samples_per_s`` (Offline),
    ``scheduled_qps`` / ``completed_qps`` (Server, samples/s), ``qps_with_overhead``
    (SingleStream, queries/s); ``target_qps``; ``latency_bound_ms`` (the effective target
    latency: the Server p99 bound); ``early_stopping_p90_ms`` (SingleStream's reported
    metric); ``validity``; ``scenario``; ``test_mode``.

    ``log_status`` says how the logs were: ``ok`` (detail log complete), ``summary only``,
    ``missing`` (no LoadGen log at all), ``truncated`` (a log ends before LoadGen wrote its
    result, or holds a broken line), ``unreadable`` (a detail-log line that is no MLLOG
    entry: no numbers are read from such a log); ``log_problem`` says what exactly, in
    words.
    Missing numbers are None.
    """
    run_dir = Path(run_dir)
    detail_path = run_dir / "mlperf_log_detail.txt"
    summary_path = run_dir / "mlperf_log_summary.txt"
    try:
        detail = read_detail(detail_path) if detail_path.is_file() else None
    except UnreadableLog as exc:
        out = _from_summary({})
        out.update(log_errors=None, log_status=LOG_UNREADABLE, log_problem=str(exc))
        return out
    if detail is not None and len(detail) <= 3 and summary_path.is_file():
        detail = None  # an empty detail log (published trees): the summary has the numbers
    if detail is not None:
        out = _from_detail(detail)
        out["log_errors"] = len(detail["_errors"])
        if detail["_truncated"] or detail.get("result_validity") is None:
            out.update(log_status=LOG_TRUNCATED,
                       log_problem=f"{detail_path.name} ends before LoadGen's result"
                       + (" (a broken MLLOG line)" if detail["_truncated"] else ""))
        else:
            out.update(log_status=LOG_OK, log_problem=None)
        return out
    if summary_path.is_file():
        summary = read_summary(summary_path)
        out = _from_summary(summary)
        out["log_errors"] = None
        if out["validity"] is None:
            out.update(log_status=LOG_TRUNCATED,
                       log_problem=f"{summary_path.name} has no 'Result is' line "
                                   f"and {detail_path.name} is missing")
        else:
            out.update(log_status=LOG_SUMMARY_ONLY,
                       log_problem=f"{detail_path.name} "
                                   f"{'empty' if detail_path.is_file() else 'missing'}; "
                                   f"numbers from the summary")
        return out
    out = _from_summary({})
    out.update(log_errors=None, log_status=LOG_MISSING,
               log_problem=f"no {detail_path.name} or {summary_path.name} in {run_dir}")
    return out


def latency_percentiles(numbers: dict[str, Any]) -> list[tuple[float, float]]:
    """``[(percentile 0..100, latency ms)]`` of a :func:`performance_numbers` result, sorted.

    The points LoadGen logs (min as 0, p50 ... p99.9, max as 100): an empirical CDF at those
    percentiles. LoadGen's logs hold no per-query latencies unless tracing is on.
    """
    points = [(0.0, numbers.get("min_ms"))]
    for p in PERCENTILES:
        points.append((float(p), numbers.get(percentile_column(p))))
    points.append((100.0, numbers.get("max_ms")))
    return [(p, v) for p, v in points if v is not None]


_ACCURACY_RE = re.compile(r"(accuracy|mAP)\s*=\s*([0-9.]+)\s*%")


def read_accuracy_txt(path: Path) -> dict[str, Any] | None:
    """``{"metric": "top1"|"mAP", "value": percent}`` from an ``accuracy.txt``, else None.

    Format (MLCommons accuracy-imagenet.py / accuracy-coco.py, as in published submissions):
    ``accuracy=76.166%, good=38083, total=50000`` or ``mAP=22.91%``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    match = _ACCURACY_RE.search(path.read_text(errors="replace"))
    if not match:
        return None
    return {"metric": "top1" if match.group(1) == "accuracy" else "mAP",
            "value": float(match.group(2))}
