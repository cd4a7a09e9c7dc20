"""``harness find-peak``: search the highest Server target QPS that is VALID at the latency bound.

MLPerf's Server metric is the scheduled QPS of a VALID run: Poisson arrivals at
``server_target_qps`` whose 99th-percentile latency stays within the benchmark's bound
(resnet50: 15 ms; LoadGen's built-in mlperf.conf, ``*.Server.target_latency``) and whose
early-stopping estimate confirms it. The submitter picks the target; this module finds it:

1. a short Offline run measures samples/s: an upper bound of any Server rate;
2. bisection on ``[0, Offline samples/s]`` with short Server test runs (each in its own
   process, through the launcher), each long enough for ``--min-queries`` queries
   (LoadGen's early stopping needs a few hundred to confirm a p99);
3. a longer confirming run at the best VALID point, stepping down 10% until one confirms;
4. the points (target QPS, p99 latency, valid or not, bound, run directory) are saved to
   ``<results>/<system>/<model>/<precision>/Server/peak_search/<stamp>/peak_search.json``
   (plus a plot), and the peak is recorded per backend configuration in
   ``<results>/<system>/<model>/<precision>/Server/peak.json``. Later Server runs of the same
   system, model, precision and configuration use it when neither ``--target-qps`` nor the
   user.conf sets a target (:mod:`harness.scenarios.server` reads and writes ``peak.json``).

LoadGen also has a FindPeakPerformance mode; it runs in one process for a long time and
reports nothing about the points it tried, so the harness drives the search itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import cards, results_tree, system
from .. import options as fields
from ..errors import HarnessError, NoValidServerTarget
from ..launchers import Launcher, for_many
from ..options import option
from ..run import config as run_config
from ..run.benchmark import precision_of
from ..run.config import RunConfig
from ..run.records import PeakSearch
from ..run.report import RunReport
from ..results_tree import ResultsTree
from ..run.results import precision_folder
from ..scenarios import server as server_scenario

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


def _where(config: RunConfig) -> tuple[ResultsTree, tuple[str, str, str]]:
    """The results tree of ``config``'s runs and their system, model and precision folder
    (that of the runs' label, as the Server runs find it)."""
    return ResultsTree(config.execution.results_dir), (
        config.execution.system or system.default_system_name(), config.model.name,
        precision_folder(config.backend, precision_of(config)["label"]))


def search_dir(config: RunConfig) -> Path:
    """``<results>/<system>/<model>/<precision>/Server``: where searches and peak.json go
    (:class:`harness.results_tree.ResultsTree`)."""
    tree, where = _where(config)
    return tree.server_dir(*where)


# --- the search ---------------------------------------------------------------------------

def _one_run(launcher: Launcher, base: RunConfig, scenario: str, out_dir: Path,
             duration_ms: int, target_qps: float | None) -> RunReport:
    """One short test-mode run through the launcher."""
    cfg = replace(base,
                  scenario=replace(base.scenario, name=scenario, target_qps=target_qps),
                  execution=replace(base.execution, kind="test", duration_ms=int(duration_ms),
                                    results_dir=str(out_dir)))
    try:
        return launcher.launch(cfg)
    except HarnessError as exc:
        raise HarnessError(f"{scenario} run at {target_qps} QPS failed: {exc}") from None


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


def _point(report: RunReport, target_qps: float) -> dict[str, Any]:
    res = report.result
    return {"target_qps": round(target_qps, 3),
            "scheduled_qps": res.scheduled_qps, "p99_ms": res.p99_ms, "min_ms": res.min_ms,
            "valid": res.validity == "VALID", "invalid_reasons": res.invalid_reasons,
            "latency_bound_ms": res.latency_bound_ms,
            "duration_ms": res.effective_min_duration_ms, "run_dir": report.run_dir}


@dataclass
class SearchOptions:
    """How the search runs (times in ms; see the module docstring and ``--help``); each
    field is a find-peak option (:func:`harness.options.add_arguments`)."""

    steps: int = option(7, help="bisection runs at most")
    tolerance: float = option(0.03,
                              help="stop when the bracket is narrower than this fraction")
    duration_ms: int = option(5000, help="minimum duration of each bisection run (ms)")
    min_queries: int = option(
        1000, help="each run lasts long enough for this many queries (early stopping)")
    confirm_duration_ms: int = option(30000,
                                      help="minimum duration of the confirming run (ms)")
    offline_duration_ms: int = option(
        3000, help="duration of the Offline run that bounds the search (ms)")
    low: float | None = option(None, help="known VALID target QPS")
    high: float | None = option(None,
                                help="upper bound of the search (default: Offline samples/s)")

    def __post_init__(self) -> None:
        for flag, value in (("--steps", self.steps), ("--min-queries", self.min_queries),
                            ("--duration-ms", self.duration_ms),
                            ("--confirm-duration-ms", self.confirm_duration_ms),
                            ("--offline-duration-ms", self.offline_duration_ms)):
            if value < 1:
                raise HarnessError(f"{flag}: {value} must be at least 1")
        if not 0 < self.tolerance < 1:
            raise HarnessError(f"--tolerance: {self.tolerance} must be a fraction in (0, 1)")
        for flag, value in (("--low", self.low), ("--high", self.high)):
            if value is not None and value <= 0:
                raise HarnessError(f"{flag}: {value} must be a positive rate (samples/s)")


class _Search:
    """The state of one search: its runs, the backend settings they reported, its record
    (written after every point)."""

    def __init__(self, base: RunConfig, options: SearchOptions, launcher: Launcher,
                 runs_dir: Path, record: dict[str, Any], out: Path) -> None:
        self.base, self.options, self.launcher = base, options, launcher
        self.runs_dir, self.record, self.out = runs_dir, record, out
        self.settings: dict[str, Any] = {}

    def offline(self) -> float:
        """The Offline run that bounds the search; its samples/s."""
        print(f"find-peak: Offline reference run ({self.options.offline_duration_ms} ms) ...",
              flush=True)
        off = _one_run(self.launcher, self.base, "Offline", self.runs_dir,
                       self.options.offline_duration_ms, None)
        offline_sps = float(off.result.samples_per_second)
        self.record.update(offline_samples_per_second=offline_sps, offline_run_dir=off.run_dir)
        return offline_sps

    def point(self, q: float, duration_ms: int, kind: str) -> dict[str, Any]:
        """One Server run at ``q`` QPS, long enough for ``--min-queries``; its point."""
        dur = max(duration_ms, int(1000.0 * self.options.min_queries / q) + 1)
        r = _one_run(self.launcher, self.base, "Server", self.runs_dir, dur, q)
        self.settings.update(r.backend.get("settings") or {})
        self.record["config"] = server_scenario.peak_key(self.settings)
        p = _point(r, q)
        p["kind"] = kind
        self.record["points"].append(p)
        PeakSearch.from_dict(self.record).write(self.out)
        return p

    def bisect(self, lo: float, hi: float) -> float | None:
        """Bisection on ``[lo, hi]``: the best VALID target (None: none), stopping early
        when no lower load can be VALID (:meth:`stop_reason`)."""
        from tqdm import tqdm

        best: float | None = None
        bar = tqdm(range(self.options.steps), desc="find-peak", unit="run", file=sys.stdout)
        for _ in bar:
            mid = (lo + hi) / 2
            p = self.point(mid, self.options.duration_ms, "bisection")
            bar.set_postfix_str(f"{mid:.1f} QPS p99 {p['p99_ms'] or float('nan'):.1f} ms "
                                f"{'VALID' if p['valid'] else 'INVALID'}")
            if p["valid"]:
                best = lo = mid
            else:
                hi = mid
                stopped = self.stop_reason(p, best)
                if stopped:
                    self.record["stopped"] = stopped
                    print(f"find-peak: {self.record['stopped']}", flush=True)
                    break
            if best is not None and (hi - lo) / hi < self.options.tolerance:
                break
        bar.close()
        return best

    def stop_reason(self, p: dict[str, Any], best: float | None) -> str | None:
        """Why no lower load than INVALID point ``p`` can be VALID, or None."""
        if _unreachable(p):
            hint = ("try fewer streams, e.g. STREAMS=1, or more threads per stream"
                    if self.settings.get("streams") != 1 else
                    "one inference alone exceeds the bound: more threads or a faster "
                    "machine")
            return (f"the fastest query took {p['min_ms']:.2f} ms, above the "
                    f"{p['latency_bound_ms']:.2f} ms bound: no load can be "
                    f"VALID with this configuration ({hint})")
        if best is None and _plateau(self.record["points"]):
            a, b = [p for p in self.record["points"] if not p["valid"]][-2:]
            return (f"p99 stayed at {b['p99_ms']:.1f} ms when the load fell "
                    f"from {a['target_qps']:.1f} to {b['target_qps']:.1f} "
                    f"QPS: the latency tail is the system's, not the queue's, "
                    f"and lower loads will not meet the "
                    f"{b['latency_bound_ms']:.2f} ms bound (the tail needs "
                    f"a machine with more or quieter cores)")
        return None

    def confirm(self, best: float) -> tuple[float | None, dict[str, Any]]:
        """Longer runs from ``best`` down, :data:`CONFIRM_STEP_DOWN` at a time: the first
        VALID target (None: none in :data:`CONFIRM_ATTEMPTS`) and the last point."""
        q = best
        for _ in range(CONFIRM_ATTEMPTS):
            p = self.point(q, self.options.confirm_duration_ms, "confirm")
            print(f"find-peak: confirming run at {q:.2f} QPS: p99 {p['p99_ms']:.2f} ms "
                  f"{'VALID' if p['valid'] else 'INVALID'}", flush=True)
            if p["valid"]:
                return q, p
            q *= CONFIRM_STEP_DOWN
        return None, p


def search(base: RunConfig, options: SearchOptions, launcher: Launcher) -> dict[str, Any]:
    """Run the whole search; returns the saved search record (see the module docstring).

    Args:
        base: the run config every point starts from (its scenario, execution mode and
            duration are the search's own).
        options: the search's settings.
        launcher: starts each run (each in a fresh process).

    Raises:
        HarnessError: a run fails.
        NoValidServerTarget: no target QPS is VALID (the lowest tried is named), or the
            best one was not confirmed (exit status 3).
    """
    card = cards.load(base.model.name)
    tree, where = _where(base)
    sdir = tree.new_search_dir(*where)
    runs_dir = sdir / "runs"
    record: dict[str, Any] = PeakSearch(
        status="incomplete", model=card.name, benchmark=card.benchmark,
        system=base.execution.system or system.default_system_name(),
        precision=where[2], points=[], command=sys.argv,
        base_config=base.to_dict(), started=datetime.now(timezone.utc).isoformat()).to_dict()
    out = sdir / PeakSearch.FILE
    PeakSearch.from_dict(record).write(out)

    run = _Search(base, options, launcher, runs_dir, record, out)
    offline_sps = run.offline()
    best = run.bisect(float(options.low or 0.0), float(options.high or offline_sps))
    if best is None:
        record["status"] = "failed"
        PeakSearch.from_dict(record).write(out)
        lowest = min(p["target_qps"] for p in record["points"])
        why = record.get("stopped") or (
            "the latency bound cannot be met on this system with this configuration, or the "
            "runs are too short: raise --min-queries")
        raise NoValidServerTarget(f"no Server target was VALID (lowest tried: {lowest:.2f} "
                                  f"QPS, see {out}); {why}")

    confirmed, p = run.confirm(best)
    record["status"] = "complete" if confirmed else "unconfirmed"
    record["peak_target_qps"] = confirmed
    record["server_to_offline_ratio"] = confirmed / offline_sps if confirmed else None
    record["ended"] = datetime.now(timezone.utc).isoformat()
    PeakSearch.from_dict(record).write(out)
    _plot(record, sdir / "peak_search.png")
    if not confirmed:
        raise NoValidServerTarget(f"the best bisection point {best:.2f} QPS was not confirmed "
                                  f"by {CONFIRM_ATTEMPTS} longer runs (see {out}); nothing "
                                  f"recorded")
    peak_file = server_scenario.record_peak(
        tree.peak_file(*where), server_scenario.peak_key(run.settings), {
            "target_qps": confirmed, "search": str(out), "p99_ms": p["p99_ms"],
            "latency_bound_ms": p["latency_bound_ms"],
            "offline_samples_per_second": offline_sps, "found": record["ended"]})
    record["peak_file"] = str(peak_file)
    PeakSearch.from_dict(record).write(out)
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

#: Run options find-peak sets itself.
_OWN = ("--scenario", "--mode", "--execution", "--duration-ms", "--target-qps",
        "--reference-run", "--audit-config", "--allow-random-accuracy")


def add_arguments(p) -> None:
    run_config.add_arguments(p, exclude=_OWN)
    fields.add_arguments(p, SearchOptions)


def options_from(args) -> SearchOptions:
    return fields.from_arguments(args, SearchOptions)


def main(args) -> int:
    options = options_from(args)
    base = run_config.from_arguments(args, exclude=_OWN)
    base = replace(base, scenario=replace(base.scenario, name="Server"))
    rec = search(base, options, for_many(base.launcher.name, capture=True))
    print(f"Server peak: {rec['peak_target_qps']:.2f} QPS "
          f"(Offline {rec['offline_samples_per_second']:.2f} samples/s, ratio "
          f"{rec['server_to_offline_ratio']:.2f}); recorded in {rec['peak_file']}")
    print(f"search points: {results_tree.searches_dir_beside(rec['peak_file'])}")
    return 0
