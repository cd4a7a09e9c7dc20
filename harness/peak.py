"""``harness find-peak``: search the highest Server target QPS that is VALID at the latency bound.

MLPerf's Server metric is the scheduled QPS of a VALID run: Poisson arrivals at
``server_target_qps`` whose 99th-percentile latency stays within the benchmark's bound
(resnet50: 15 ms; LoadGen's built-in mlperf.conf, ``*.Server.target_latency``) and whose
early-stopping estimate confirms it. The submitter picks the target; this module finds it:

1. a short Offline run measures samples/s: an upper bound of any Server rate;
2. bisection on ``[0, Offline samples/s]`` with short Server test runs (each in its own
   process, see :mod:`harness.scenarios`), each long enough for ``--min-queries`` queries
   (LoadGen's early stopping needs a few hundred to confirm a p99);
3. a longer confirming run at the best VALID point, stepping down 10% until one confirms;
4. the points (target QPS, p99 latency, valid or not, bound, run directory) are saved to
   ``<results>/<system>/<model>/<precision>/Server/peak_search/<stamp>/peak_search.json``
   (plus a plot), and the peak is recorded per backend configuration in
   ``<results>/<system>/<model>/<precision>/Server/peak.json``. Later Server runs of the same
   system, model, precision and configuration use it when neither ``--target-qps`` nor the
   user.conf sets a target (:func:`recorded_peak`, read by :mod:`harness.runner`).

LoadGen also has a FindPeakPerformance mode; it runs in one process for a long time and
reports nothing about the points it tried, so the harness drives the search itself.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import HarnessError, NoValidServerTarget

HELP = "search the highest VALID Server target QPS at the latency bound and record it"

#: Fraction the confirming target is lowered by when the confirming run is INVALID. 10%
#: steps: near saturation the p99 of a longer run swings widely on a shared machine (on a
#: 2-core VM, 5% steps from 51.6 QPS failed three times at a 100 ms bound).
CONFIRM_STEP_DOWN = 0.90
#: Confirming attempts before giving up.
CONFIRM_ATTEMPTS = 3
#: An INVALID point whose p99 is within this fraction of the p99 at twice its load shows a
#: latency floor: the tail is the system's, not the queue's (see :func:`_plateau`).
PLATEAU_TOLERANCE = 0.15
PEAK_FILE = "peak.json"


def config_key(settings: dict[str, Any]) -> str:
    """The backend configuration a peak belongs to, e.g.
    ``device=CPU hint=THROUGHPUT streams=None threads=None nireq=None``.

    Args:
        settings: :meth:`harness.backends.BackendSettings.to_dict` of the run.
    """
    return " ".join(f"{k}={settings.get(k)}" for k in ("device", "hint", "streams", "threads",
                                                       "nireq"))


def server_dir(results_dir: Path, system: str, model: str, precision_folder: str) -> Path:
    """``<results>/<system>/<model>/<precision>/Server``."""
    return Path(results_dir) / system / model / precision_folder / "Server"


def recorded_peak(results_dir: Path, system: str, model: str, precision_folder: str,
                  settings: dict[str, Any]) -> dict[str, Any] | None:
    """The Server peak ``harness find-peak`` recorded for this configuration, or None.

    Returns:
        ``{"target_qps": float (samples/s), "file": str, "search": str, ...}``.
    """
    path = server_dir(results_dir, system, model, precision_folder) / PEAK_FILE
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text()).get(config_key(settings))
    except (OSError, json.JSONDecodeError):
        return None
    if not entry or not entry.get("target_qps"):
        return None
    return {**entry, "file": str(path)}


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)


def record_peak(results_dir: Path, system: str, model: str, precision_folder: str,
                settings: dict[str, Any], entry: dict[str, Any]) -> Path:
    """Add or replace this configuration's entry in ``peak.json`` (atomic write)."""
    path = server_dir(results_dir, system, model, precision_folder) / PEAK_FILE
    data = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            data = {}
    data[config_key(settings)] = entry
    _write_json_atomic(path, data)
    return path


# --- the search ---------------------------------------------------------------------------

def _run_args(args, scenario: str) -> list[str]:
    out = ["--model", args.model, "--scenario", scenario, "--precision", args.precision,
           "--backend", args.backend, "--execution", "test", "--device", args.device]
    for flag, value in (("--dataset", args.dataset), ("--count", args.count),
                        ("--weights", args.weights), ("--hint", args.hint),
                        ("--streams", args.streams), ("--threads", args.threads),
                        ("--nireq", args.nireq), ("--system", args.system),
                        ("--user-conf", args.user_conf),
                        ("--calibration-dataset", args.calibration_dataset),
                        ("--calibration-list", args.calibration_list),
                        ("--calibration-count", args.calibration_count)):
        if value not in (None, ""):
            out += [flag, str(value)]
    return out


def _one_run(args, scenario: str, out_dir: Path, duration_ms: int,
             target_qps: float | None) -> dict[str, Any]:
    """One short test-mode run in its own process; returns its manifest and run dir."""
    from .results import read_manifest
    from .runner import run_subprocess

    cmd = _run_args(args, scenario) + ["--results-dir", str(out_dir),
                                       "--duration-ms", str(int(duration_ms))]
    if target_qps is not None:
        cmd += ["--target-qps", f"{target_qps:.3f}"]
    proc = run_subprocess(cmd, capture_output=True, text=True)
    m = re.search(r"^run directory: (.+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not m:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HarnessError(f"{scenario} run at {target_qps} QPS failed: {' | '.join(tail)}")
    run_dir = Path(m.group(1).strip())
    return {"run_dir": run_dir, "manifest": read_manifest(run_dir)}


def _unreachable(point: dict[str, Any]) -> bool:
    """True when even the fastest query of an INVALID point missed the latency bound.

    A query's latency is at least its service time, which a lower load cannot shorten, so
    when the minimum latency is above the bound every load is INVALID and halving the target
    further (each run longer than the last) only spends time.
    """
    return bool(point.get("min_ms") and point.get("latency_bound_ms")
                and point["min_ms"] > point["latency_bound_ms"])


def _plateau(points: list[dict[str, Any]]) -> bool:
    """True when halving the load no longer lowers the p99 of INVALID points.

    Queueing delay falls steeply with load (at 10% utilisation a query rarely waits), so
    when the p99 at a load is still within :data:`PLATEAU_TOLERANCE` of the p99 at the
    previous, higher load and both miss the bound, the tail comes from the system itself
    (service-time jitter, cold caches after idle gaps, other tenants of the machine), and
    lower loads, each run longer than the last, only spend time.

    Args:
        points: the search's points so far, in order (``target_qps``, ``p99_ms``, ``valid``).
    """
    invalid = [p for p in points if not p.get("valid") and p.get("p99_ms")]
    if len(invalid) < 2:
        return False
    prev, last = invalid[-2], invalid[-1]
    return (last["target_qps"] < prev["target_qps"]
            and last["p99_ms"] >= (1.0 - PLATEAU_TOLERANCE) * prev["p99_ms"])


def _point(run: dict[str, Any], target_qps: float) -> dict[str, Any]:
    res = run["manifest"].get("result", {})
    bound_ns = res.get("effective_target_latency_ns")
    return {"target_qps": round(target_qps, 3),
            "scheduled_qps": res.get("scheduled_qps"),
            "p99_ms": res.get("p99_ms"),
            "min_ms": res.get("min_ms"),
            "valid": res.get("validity") == "VALID",
            "invalid_reasons": res.get("invalid_reasons", []),
            "latency_bound_ms": float(bound_ns) / 1e6 if bound_ns else None,
            "duration_ms": res.get("effective_min_duration_ms"),
            "run_dir": str(run["run_dir"])}


def search(args) -> dict[str, Any]:
    """Run the whole search; returns the saved search record (see the module docstring).

    Raises:
        HarnessError: a run fails.
        NoValidServerTarget: no target QPS is VALID (the lowest tried is named), or the
            best one was not confirmed (exit status 3).
    """
    from tqdm import tqdm

    from . import cards, results, system

    card = cards.load(args.model)
    sys_name = args.system or system.default_system_name()
    prec = results.precision_folder(args.backend, args.precision)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    sdir = server_dir(Path(args.results_dir), sys_name, card.name, prec) / "peak_search" / stamp
    sdir.mkdir(parents=True, exist_ok=False)
    runs_dir = sdir / "runs"
    record: dict[str, Any] = {"status": "incomplete", "model": card.name,
                              "benchmark": card.benchmark, "system": sys_name,
                              "precision": prec, "points": [], "command": sys.argv,
                              "started": datetime.now(timezone.utc).isoformat()}
    out = sdir / "peak_search.json"
    _write_json_atomic(out, record)

    print(f"find-peak: Offline reference run ({args.offline_duration_ms} ms) ...", flush=True)
    off = _one_run(args, "Offline", runs_dir, args.offline_duration_ms, None)
    offline_sps = float(off["manifest"]["result"]["samples_per_second"])
    record.update(offline_samples_per_second=offline_sps, offline_run_dir=str(off["run_dir"]))
    settings: dict[str, Any] = {}
    lo, hi = 0.0, (args.high or offline_sps)
    if args.low:
        lo = float(args.low)
    best: float | None = None

    def server_point(q: float, duration_ms: int, kind: str) -> dict[str, Any]:
        dur = max(duration_ms, int(1000.0 * args.min_queries / q) + 1)
        r = _one_run(args, "Server", runs_dir, dur, q)
        settings.update(r["manifest"]["backend"]["settings"])
        record["config"] = config_key(settings)
        p = _point(r, q)
        p["kind"] = kind
        record["points"].append(p)
        _write_json_atomic(out, record)
        return p

    bar = tqdm(range(args.steps), desc="find-peak", unit="run", file=sys.stdout)
    for _ in bar:
        mid = (lo + hi) / 2
        p = server_point(mid, args.duration_ms, "bisection")
        bar.set_postfix_str(f"{mid:.1f} QPS p99 {p['p99_ms'] or float('nan'):.1f} ms "
                            f"{'VALID' if p['valid'] else 'INVALID'}")
        if p["valid"]:
            best = lo = mid
        else:
            hi = mid
            if _unreachable(p):
                hint = ("try fewer streams, e.g. STREAMS=1, or more threads per stream"
                        if settings.get("streams") != 1 else
                        "one inference alone exceeds the bound: more threads or a faster "
                        "machine")
                record["stopped"] = (f"the fastest query took {p['min_ms']:.2f} ms, above the "
                                     f"{p['latency_bound_ms']:.2f} ms bound: no load can be "
                                     f"VALID with this configuration ({hint})")
                print(f"find-peak: {record['stopped']}", flush=True)
                break
            if best is None and _plateau(record["points"]):
                a, b = [p for p in record["points"] if not p["valid"]][-2:]
                record["stopped"] = (f"p99 stayed at {b['p99_ms']:.1f} ms when the load fell "
                                     f"from {a['target_qps']:.1f} to {b['target_qps']:.1f} "
                                     f"QPS: the latency tail is the system's, not the queue's, "
                                     f"and lower loads will not meet the "
                                     f"{b['latency_bound_ms']:.2f} ms bound (the tail needs "
                                     f"a machine with more or quieter cores)")
                print(f"find-peak: {record['stopped']}", flush=True)
                break
        if best is not None and (hi - lo) / hi < args.tolerance:
            break
    bar.close()
    if best is None:
        record["status"] = "failed"
        _write_json_atomic(out, record)
        lowest = min(p["target_qps"] for p in record["points"])
        why = record.get("stopped") or (
            "the latency bound cannot be met on this system with this configuration, or the "
            "runs are too short: raise --min-queries")
        raise NoValidServerTarget(f"no Server target was VALID (lowest tried: {lowest:.2f} "
                                  f"QPS, see {out}); {why}")

    confirmed = None
    q = best
    for _ in range(CONFIRM_ATTEMPTS):
        p = server_point(q, args.confirm_duration_ms, "confirm")
        print(f"find-peak: confirming run at {q:.2f} QPS: p99 {p['p99_ms']:.2f} ms "
              f"{'VALID' if p['valid'] else 'INVALID'}", flush=True)
        if p["valid"]:
            confirmed = q
            break
        q *= CONFIRM_STEP_DOWN
    record["status"] = "complete" if confirmed else "unconfirmed"
    record["peak_target_qps"] = confirmed
    record["server_to_offline_ratio"] = confirmed / offline_sps if confirmed else None
    record["ended"] = datetime.now(timezone.utc).isoformat()
    _write_json_atomic(out, record)
    _plot(record, sdir / "peak_search.png")
    if not confirmed:
        raise NoValidServerTarget(f"the best bisection point {best:.2f} QPS was not confirmed "
                                  f"by {CONFIRM_ATTEMPTS} longer runs (see {out}); nothing "
                                  f"recorded")
    peak_file = record_peak(Path(args.results_dir), sys_name, card.name, prec, settings, {
        "target_qps": confirmed, "search": str(out), "p99_ms": p["p99_ms"],
        "latency_bound_ms": p["latency_bound_ms"], "offline_samples_per_second": offline_sps,
        "found": record["ended"]})
    record["peak_file"] = str(peak_file)
    _write_json_atomic(out, record)
    return record


def _plot(record: dict[str, Any], path: Path) -> None:
    """p99 latency against target QPS, VALID points filled, the bound dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in record["points"] if p.get("p99_ms") is not None]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for valid, marker in ((True, "o"), (False, "x")):
        sel = [p for p in pts if p["valid"] is valid]
        ax.scatter([p["target_qps"] for p in sel], [p["p99_ms"] for p in sel], marker=marker,
                   label="VALID" if valid else "INVALID")
    bound = next((p["latency_bound_ms"] for p in pts if p.get("latency_bound_ms")), None)
    if bound:
        ax.axhline(bound, linestyle="--", color="grey", label=f"bound {bound:g} ms")
    ax.set_xlabel("Server target QPS (samples/s)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title(f"{record['model']} {record['precision']} Server peak search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- CLI ----------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("--model", default="resnet50")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--backend", default="openvino")
    p.add_argument("--dataset", default=None, help="dataset folder (none: synthetic data)")
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="CPU")
    p.add_argument("--hint", default=None)
    p.add_argument("--streams", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--nireq", type=int, default=None)
    p.add_argument("--system", default=None)
    p.add_argument("--calibration-dataset", default=None,
                   help="INT8: dataset folder of the calibration samples (as harness run)")
    p.add_argument("--calibration-list", default=None, help="INT8: as harness run")
    p.add_argument("--calibration-count", type=int, default=None, help="INT8: as harness run")
    p.add_argument("--user-conf", default=None,
                   help="user.conf for every run (e.g. a different *.Server.target_latency)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--steps", type=int, default=7, help="bisection runs at most")
    p.add_argument("--tolerance", type=float, default=0.03,
                   help="stop when the bracket is narrower than this fraction")
    p.add_argument("--duration-ms", type=int, default=5000,
                   help="minimum duration of each bisection run (ms)")
    p.add_argument("--min-queries", type=int, default=1000,
                   help="each run lasts long enough for this many queries (early stopping)")
    p.add_argument("--confirm-duration-ms", type=int, default=30000,
                   help="minimum duration of the confirming run (ms)")
    p.add_argument("--offline-duration-ms", type=int, default=3000,
                   help="duration of the Offline run that bounds the search (ms)")
    p.add_argument("--low", type=float, default=None, help="known VALID target QPS")
    p.add_argument("--high", type=float, default=None,
                   help="upper bound of the search (default: Offline samples/s)")


def run(args) -> int:
    if args.steps < 1 or args.min_queries < 1:
        raise HarnessError("--steps and --min-queries must be at least 1")
    rec = search(args)
    print(f"Server peak: {rec['peak_target_qps']:.2f} QPS "
          f"(Offline {rec['offline_samples_per_second']:.2f} samples/s, ratio "
          f"{rec['server_to_offline_ratio']:.2f}); recorded in {rec['peak_file']}")
    print(f"search points: {Path(rec['peak_file']).parent / 'peak_search'}")
    return 0
