"""Server: Poisson arrivals at a target QPS, each query held to a p99 latency bound.

The metric is the scheduled samples/s of a VALID run (MLPerf rules, scenarios table;
resnet50's bound: p99 <= 15 ms, LoadGen's built-in mlperf.conf). The target comes from, in
order: ``--target-qps``; the user.conf; the peak ``harness find-peak`` recorded for this
system, model, precision and backend configuration (``peak.json``, written and read here);
else half the calibrated Offline throughput, recorded as "not a peak search".

Deployment (:meth:`Server.deploy`): a query's latency is its wait in the queue plus its
inference, and OpenVINO's THROUGHPUT hint makes the inference long (on 16 cores its 16
streams x 1 thread took ~10 ms of resnet50's 15 ms bound, leaving 5 ms for queueing: Server
reached 0.37 of Offline there). So when the user gives no ``--streams``, ``--threads``,
``--nireq`` or ``--hint``, a Server performance run measures a few splits of the cores into
streams x threads (1, 2, 4, ... streams sharing all the threads), each with every stream
busy, and keeps the one of highest throughput whose median inference latency, plus the
batching window, is at most :data:`LATENCY_FRACTION` of the latency bound. The report's
``deployment`` records the candidates, their latencies, the rule and the choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import results_tree
from ..files import write_json_atomic
from ..loadgen_logs import KeyResult
from .base import DeployContext, Scenario, TargetContext, measure_width
from .settings import conf_value, server_latency_bound_ms

#: Server target when nothing else sets one: this fraction of the calibrated Offline rate.
SERVER_FRACTION = 0.5
PEAK_FILE = results_tree.PEAK_FILE
#: The deployment rule: a split's inference latency under load (plus the batching window)
#: may take at most this fraction of the latency bound; the rest is room for queueing. A
#: rule of thumb, not an optimum: with Poisson arrivals the p99 wait for a free stream is a
#: few inference times near saturation (Erlang C: at most 2 inference times in 99% of
#: cases up to 59% load with 4 streams, 77% with 8, for exponential inference times;
#: CNN inference times vary far less), and the THROUGHPUT hint's 2/3 left too little
#: (Server/Offline 0.37 on 16 cores, issue 23). ``harness optimize --scenario Server``
#: searches the splits and the batching window directly.
LATENCY_FRACTION = 1 / 3
#: Each candidate split is measured this long (s), after a warm-up round.
DEPLOY_SECONDS = 1.0


def widths(cores: int) -> list[int]:
    """Stream counts tried on ``cores`` CPUs: 1, 2, 4, ... up to the cores, and the cores
    (all sharing all the threads), narrowest (lowest latency) first."""
    out, s = [], 1
    while s < cores:
        out.append(s)
        s *= 2
    return out + [max(1, cores)]


class Server(Scenario):
    """Server: the SUT starts each query on a free infer request as it arrives, on
    LoadGen's thread when not batching."""

    issue_direct = True
    detail_score_key = "result_completed_samples_per_sec"
    summary_score_line = "Completed samples per second"
    batch_window = True

    def deploy(self, backend, qsl, ctx: DeployContext) -> dict[str, Any] | None:
        """Measure the splits of :func:`widths` (narrowest first, stopping after the first
        over the limit: wider ones only take longer) and set the backend to the one of
        highest throughput within the rule (:data:`LATENCY_FRACTION`); when none is, the
        lowest-latency one. None when the backend cannot set its streams and threads.

        Returns:
            ``{"source": "server latency rule", "rule", "latency_bound_ms", "limit_ms",
            "candidates": [{"streams", "threads", "latency_ms", "latency_p90_ms",
            "samples_per_second", "within_rule"}], "chosen": {"streams", "threads"},
            "why"}``.
        """
        bound = server_latency_bound_ms(ctx.base_conf, ctx.benchmark)
        window_ms = ctx.batch_timeout_us / 1e3
        limit = LATENCY_FRACTION * bound
        candidates: list[dict[str, Any]] = []
        tried = widths(ctx.cores)
        for streams in tried:
            if not backend.set_width(streams, ctx.cores):
                return None
            m = measure_width(backend, qsl, streams, DEPLOY_SECONDS)
            c = {"streams": streams, "threads": ctx.cores,
                 **{k: round(v, 3) for k, v in m.items()}}
            c["within_rule"] = c["latency_ms"] + window_ms <= limit
            candidates.append(c)
            print(f"deployment: {streams} streams x {ctx.cores} threads: inference "
                  f"{c['latency_ms']:.2f} ms under load, {c['samples_per_second']:.1f} "
                  f"samples/s{'' if c['within_rule'] else ' (over the limit)'}", flush=True)
            if not c["within_rule"]:
                break
        ok = [c for c in candidates if c["within_rule"]]
        if ok:
            pick = max(ok, key=lambda c: c["samples_per_second"])
            why = "the highest throughput within the rule"
        else:
            pick = min(candidates, key=lambda c: c["latency_ms"])
            why = ("no split is within the rule: the lowest latency (the bound may not be "
                   "met at any load; see harness find-peak)")
        if pick is not candidates[-1]:
            backend.set_width(pick["streams"], pick["threads"])
        window = f" + the {window_ms:g} ms batching window" if window_ms else ""
        rule = (f"median inference latency under load{window} <= {LATENCY_FRACTION:.2f} x "
                f"the {bound:g} ms p99 bound ({limit:.2f} ms); of those, the highest "
                f"throughput")
        untried = [s for s in tried if s not in {c["streams"] for c in candidates}]
        record = {"source": "server latency rule", "rule": rule, "latency_bound_ms": bound,
                  "limit_ms": round(limit, 3), "candidates": candidates,
                  "chosen": {"streams": pick["streams"], "threads": pick["threads"]},
                  "why": why}
        if untried:
            record["not_measured"] = (f"streams {', '.join(map(str, untried))}: a narrower "
                                      f"split was already over the limit")
        print(f"deployment: {pick['streams']} streams x {pick['threads']} threads ({why}; "
              f"limit {limit:.2f} ms of the {bound:g} ms bound)", flush=True)
        return record

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
    if settings.get("batch_timeout_us"):  # so does no batching window
        text += f" batch_timeout_us={settings['batch_timeout_us']}"
    return text


def peak_file(results_dir: Path, system: str, model: str, precision_folder: str) -> Path:
    """``<results>/<system>/<model>/<precision>/Server/peak.json``."""
    return results_tree.ResultsTree(results_dir).peak_file(system, model, precision_folder)


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


__all__ = ["Server", "SERVER_FRACTION", "LATENCY_FRACTION", "widths", "peak_key", "peak_file",
           "recorded_peak", "record_peak"]
