"""Server: Poisson arrivals at a target QPS, each query held to a p99 latency bound.

The metric is the scheduled samples/s of a VALID run (MLPerf rules, scenarios table;
resnet50's bound: p99 <= 15 ms, LoadGen's built-in mlperf.conf). The target comes from, in
order: ``--target-qps``; the user.conf; the peak ``harness find-peak`` recorded for this
system, model, precision and backend configuration (``peak.json``, written and read here);
else half the calibrated Offline throughput, recorded as "not a peak search".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import write_json_atomic
from ..loadgen_logs import KeyResult
from .base import Scenario, TargetContext
from .settings import conf_value

#: Server target when nothing else sets one: this fraction of the calibrated Offline rate.
SERVER_FRACTION = 0.5
PEAK_FILE = "peak.json"


class Server(Scenario):
    """Server: the SUT starts each query on a free infer request as it arrives, on
    LoadGen's thread when not batching."""

    issue_direct = True
    detail_score_key = "result_completed_samples_per_sec"
    summary_score_line = "Completed samples per second"

    def target_lines(self, ctx: TargetContext) -> tuple[list[str], dict[str, Any]]:
        base = conf_value(ctx.base_conf, self.name, "target_qps")
        if ctx.target_qps:
            return ([f"# server_target_qps from --target-qps",
                     f"*.Server.target_qps = {ctx.target_qps:.3f}"],
                    {"server_target_qps": {"value": ctx.target_qps, "source": "--target-qps"}})
        if base is not None:
            return [], {"server_target_qps": {"value": float(base),
                                              "source": ctx.base_conf_path}}
        peak = recorded_peak(ctx.peak_file, ctx.peak_key) if ctx.peak_file else None
        if peak:
            qps = float(peak["target_qps"])
            return ([f"# server_target_qps: peak found by 'harness find-peak' ({peak['file']})",
                     f"*.Server.target_qps = {qps:.3f}"],
                    {"server_target_qps": {"value": qps, "source": "harness find-peak",
                                           "peak_file": peak["file"],
                                           "search": peak.get("search")}})
        rate = ctx.calibration.get("samples_per_second")
        if not rate:
            return [], {}
        qps = SERVER_FRACTION * rate
        return ([f"# server_target_qps: {SERVER_FRACTION:.0%} of the calibrated Offline "
                 f"throughput (no peak search was run)", f"*.Server.target_qps = {qps:.3f}"],
                {"server_target_qps": {
                    "value": qps, "source": f"{SERVER_FRACTION:.0%} of calibrated throughput "
                                            f"{rate:.2f} samples/s (not a peak search)"}})

    def target_used(self, loadgen_notes: dict[str, Any]) -> float | None:
        return (loadgen_notes.get("server_target_qps") or {}).get("value")

    def read_result(self, run_dir: Path) -> KeyResult:
        result = super().read_result(run_dir)
        if result.samples_per_second is None:
            result.samples_per_second = result.completed_qps
        return result

    def score_of(self, result: KeyResult) -> float | None:
        return result.scheduled_qps

    def throughput(self, numbers: dict[str, Any]) -> float | None:
        return numbers.get("scheduled_qps") or numbers.get("completed_qps")


# --- the recorded peak (peak.json) -------------------------------------------------------

def peak_key(settings: dict[str, Any]) -> str:
    """The backend configuration a peak belongs to, e.g.
    ``device=CPU hint=THROUGHPUT streams=None threads=None nireq=None``.

    Args:
        settings: the run's backend settings (effective hint).
    """
    keys = ("device", "hint", "streams", "threads", "nireq")
    text = " ".join(f"{k}={settings.get(k)}" for k in keys)
    if (settings.get("batch") or 1) > 1:  # batch 1 keeps the key of earlier peak files
        text += f" batch={settings['batch']}"
    return text


def peak_file(results_dir: Path, system: str, model: str, precision_folder: str) -> Path:
    """``<results>/<system>/<model>/<precision>/Server/peak.json``."""
    return Path(results_dir) / system / model / precision_folder / "Server" / PEAK_FILE


def recorded_peak(path: Path, key: str) -> dict[str, Any] | None:
    """The peak recorded in ``path`` for configuration ``key``, or None.

    Returns:
        ``{"target_qps": float (samples/s), "file": str, "search": str, ...}``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        entry = data.get(key) if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or not entry.get("target_qps"):
        return None
    return {**entry, "file": str(path)}


def record_peak(path: Path, key: str, entry: dict[str, Any]) -> Path:
    """Add or replace configuration ``key``'s entry in ``path`` (atomic write); an
    unreadable file is replaced.

    Raises:
        HarnessError: the file cannot be written.
    """
    data: dict[str, Any] = {}
    if Path(path).is_file():
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
    data[key] = entry
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)
    return Path(path)


__all__ = ["Server", "SERVER_FRACTION", "peak_key", "peak_file", "recorded_peak",
           "record_peak"]
