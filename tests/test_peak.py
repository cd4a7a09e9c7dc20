"""`harness find-peak`: the Server target search and its use by later Server runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import NoValidServerTarget
from harness.launchers.base import Launcher
from harness.loadgen_logs import KeyResult
from harness.run.config import ExecutionConfig, ModelConfig, RunConfig
from harness.run.report import RunReport
from harness.scenarios import server as server_scenario
from harness.workflows import find_peak as peak

from conftest import run_cli, summary

MODEL = ["--model", "mobilenet_v2_quant"]
SETTINGS = {"device": "CPU", "precision": "fp32", "hint": "THROUGHPUT", "streams": None,
            "threads": None, "nireq": None}


def test_recorded_peak_round_trip(tmp_path):
    path = server_scenario.peak_file(tmp_path, "sys", "m", "int8")
    assert path == tmp_path / "sys" / "m" / "int8" / "Server" / "peak.json"
    key = server_scenario.peak_key(SETTINGS)
    assert server_scenario.recorded_peak(path, key) is None
    assert server_scenario.record_peak(path, key, {"target_qps": 12.5}) == path
    got = server_scenario.recorded_peak(path, key)
    assert got["target_qps"] == 12.5 and got["file"] == str(path)
    other = server_scenario.peak_key({**SETTINGS, "streams": 2})  # another configuration
    assert server_scenario.recorded_peak(path, other) is None
    path.write_text("[1, 2]")  # a file that is not a peak table: no peak, and replaced
    assert server_scenario.recorded_peak(path, key) is None
    server_scenario.record_peak(path, key, {"target_qps": 3.0})
    assert server_scenario.recorded_peak(path, key)["target_qps"] == 3.0


def test_plateau_stops_the_search_only_when_lower_load_no_longer_helps():
    def pt(q, p99, valid=False):
        return {"target_qps": q, "p99_ms": p99, "valid": valid}
    # queueing: the p99 falls steeply as the load halves -> keep searching
    assert not peak._plateau([pt(45, 134.0), pt(22, 50.0), pt(11, 27.2)])
    # the tail stays (27.2 -> 25.7 ms at half the load): the system's, not the queue's
    assert peak._plateau([pt(45, 134.0), pt(22, 50.0), pt(11, 27.2), pt(5.5, 25.7)])
    # one point, or a VALID point in between, is no plateau
    assert not peak._plateau([pt(11, 27.2)])
    assert not peak._plateau([pt(11, 27.2), pt(5.5, 14.0, valid=True)])


def test_find_peak_records_points_and_later_server_runs_use_it(tmp_path, imagenet_sample,
                                                               mobilenet_tflite):
    # a relaxed latency bound (2 s) so that this busy test machine has VALID points
    conf = tmp_path / "relaxed.conf"
    conf.write_text("*.Server.target_latency = 2000\n")
    common = [*MODEL, "--dataset", str(imagenet_sample), "--count", "64", "--system", "t",
              "--results-dir", str(tmp_path)]
    proc = run_cli("find-peak", *common, "--user-conf", str(conf), "--steps", "1",
                   "--high", "40", "--min-queries", "500", "--duration-ms", "1000",
                   "--confirm-duration-ms", "1000", "--offline-duration-ms", "1500",
                   timeout=900)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    server = tmp_path / "t" / "mobilenet_v2_quant" / "uint8" / "Server"
    (search,) = list(server.glob("peak_search/*/peak_search.json"))
    rec = json.loads(search.read_text())
    assert rec["status"] == "complete"
    assert [p["kind"] for p in rec["points"]] == ["bisection", "confirm"]
    for p in rec["points"]:
        assert {"target_qps", "p99_ms", "valid", "latency_bound_ms", "run_dir"} <= set(p)
        assert p["latency_bound_ms"] == 2000.0
        assert Path(p["run_dir"], "mlperf_log_detail.txt").is_file()
    assert rec["points"][0]["target_qps"] == 20.0  # first bisection point: half of --high
    assert rec["peak_target_qps"] == 20.0
    # the ratio to the Offline run's samples/s, as LoadGen's summary of that run says
    offline = float(summary(Path(rec["offline_run_dir"]) / "mlperf_log_summary.txt")
                    ["Samples per second"])
    assert rec["server_to_offline_ratio"] == pytest.approx(20.0 / offline, rel=1e-6)
    assert (search.parent / "peak_search.png").is_file()
    recorded = json.loads((server / "peak.json").read_text())
    (entry,) = recorded.values()
    assert entry["target_qps"] == 20.0 and entry["search"] == str(search)

    # a later Server run of the same configuration uses the recorded peak
    proc = run_cli("run", *common, "--scenario", "Server", "--duration-ms", "500")
    assert proc.returncode == 0, proc.stderr[-1500:]
    run_dir = Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))
    m = json.loads((run_dir / "run.json").read_text())
    assert m["loadgen"]["server_target_qps"]["source"] == "harness find-peak"
    assert m["loadgen"]["server_target_qps"]["value"] == 20.0
    assert "*.Server.target_qps = 20.000" in (run_dir / "user.conf").read_text()
    # --target-qps still wins
    proc = run_cli("run", *common, "--scenario", "Server", "--duration-ms", "500",
                   "--target-qps", "7")
    run_dir = Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))
    m = json.loads((run_dir / "run.json").read_text())
    assert m["loadgen"]["server_target_qps"] == {"value": 7.0, "source": "--target-qps"}


def test_find_peak_fails_cleanly_when_nothing_is_valid(tmp_path, imagenet_sample,
                                                       mobilenet_tflite):
    # a 1 ms bound no CPU meets: no VALID point, an error naming the search file
    conf = tmp_path / "tight.conf"
    conf.write_text("*.Server.target_latency = 1\n")
    proc = run_cli("find-peak", *MODEL, "--dataset", str(imagenet_sample), "--count", "32",
                   "--system", "t", "--results-dir", str(tmp_path), "--user-conf", str(conf),
                   "--steps", "1", "--high", "20", "--min-queries", "20",
                   "--duration-ms", "500", "--offline-duration-ms", "1000", timeout=600)
    assert proc.returncode == 3  # "no VALID target", told apart from a failed run (2)
    assert "no Server target was VALID" in proc.stderr
    # the fastest query (> 1 ms) already misses the bound: the search stops at once
    assert "fastest query took" in proc.stderr
    assert not list(tmp_path.rglob("peak.json"))
    (search,) = list(tmp_path.rglob("peak_search.json"))
    record = json.loads(search.read_text())
    assert record["status"] == "failed"
    assert record["stopped"] and record["points"][0]["min_ms"] > 1


# --- the search beyond one step: a launcher that fabricates reports ------------------------

BOUND_MS = 15.0


class FakeLauncher(Launcher):
    """Answers every run with a fabricated complete report, instead of running it.

    Offline runs report ``offline_sps`` samples/s. A Server run at target ``q`` reports the
    p99 ``p99(q, duration_ms)`` (ms), VALID when it is within the 15 ms bound, and
    ``min_ms`` as its fastest query.

    Attributes:
        calls: ``(scenario, target_qps, duration_ms)`` of every run asked for, in order.
    """

    name = "fake"
    isolated = True

    def __init__(self, p99, offline_sps: float = 100.0, min_ms: float = 2.0):
        self.p99 = p99
        self.offline_sps = offline_sps
        self.min_ms = min_ms
        self.calls: list[tuple[str, float | None, int]] = []

    def launch(self, config, command=None) -> RunReport:
        scenario, q = config.scenario.name, config.scenario.target_qps
        duration = config.execution.duration_ms
        self.calls.append((scenario, q, duration))
        run_dir = Path(config.execution.results_dir) / f"run-{len(self.calls)}"
        if scenario == "Offline":
            result = KeyResult(validity="VALID", samples_per_second=self.offline_sps)
        else:
            p99 = self.p99(q, duration)
            result = KeyResult(validity="VALID" if p99 <= BOUND_MS else "INVALID",
                               scheduled_qps=q, p99_ms=p99, min_ms=self.min_ms,
                               effective_target_latency_ns=int(BOUND_MS * 1e6),
                               effective_min_duration_ms=duration)
        return RunReport(config=config, run_dir=str(run_dir), status="complete",
                         result=result, backend={"settings": SETTINGS})

    def server_targets(self) -> list[float]:
        return [q for s, q, _ in self.calls if s == "Server"]


def _base(tmp_path) -> RunConfig:
    return RunConfig(model=ModelConfig(name="mobilenet_v2_quant"),
                     execution=ExecutionConfig(results_dir=str(tmp_path), system="t"))


def _peak_json(tmp_path):
    return tmp_path / "t" / "mobilenet_v2_quant" / "uint8" / "Server" / "peak.json"


def test_bisection_narrows_to_the_capacity_stops_at_the_tolerance_and_records_it(tmp_path):
    """A system that meets the bound up to 37 QPS (p99 grows with the load): the bracket
    halves on every point until it is narrower than 3%, then one longer run confirms."""
    fake = FakeLauncher(p99=lambda q, _: BOUND_MS * q / 37.0)
    opts = peak.SearchOptions(steps=10, tolerance=0.03, duration_ms=1000, min_queries=1000,
                              confirm_duration_ms=30000)
    rec = peak.search(_base(tmp_path), opts, fake)
    # Offline first (its samples/s bound the search), then bisection on [0, 100]
    assert fake.calls[0] == ("Offline", None, opts.offline_duration_ms)
    assert fake.server_targets() == [50.0, 25.0, 37.5, 31.25, 34.375, 35.9375, 36.71875,
                                     36.71875]
    kinds = [p["kind"] for p in rec["points"]]
    assert kinds == ["bisection"] * 7 + ["confirm"]  # 7 of 10 steps: (37.5-36.72)/37.5 < 3%
    assert [p["valid"] for p in rec["points"]] == [False, True, False, True, True, True,
                                                   True, True]
    # each run lasts long enough for --min-queries queries at its target
    assert fake.calls[1][2] == 20001 and fake.calls[2][2] == 40001
    assert fake.calls[-1][2] == 30000  # the confirming run: --confirm-duration-ms
    assert rec["status"] == "complete" and rec["peak_target_qps"] == 36.71875
    assert rec["server_to_offline_ratio"] == pytest.approx(0.3671875)
    on_disk = json.loads(Path(rec["peak_file"]).read_text())
    assert Path(rec["peak_file"]) == _peak_json(tmp_path)
    assert on_disk[server_scenario.peak_key(SETTINGS)]["target_qps"] == 36.71875
    saved = json.loads((Path(on_disk[server_scenario.peak_key(SETTINGS)]["search"]))
                       .read_text())
    assert saved["points"] == rec["points"] and saved["status"] == "complete"


#: Bisection runs of at most 1.6 s (10 queries at >= 6.25 QPS), confirming runs of 30 s.
LONG_CONFIRM = peak.SearchOptions(steps=10, duration_ms=1000, min_queries=10,
                                  confirm_duration_ms=30000)


def test_confirm_steps_down_10_percent_until_a_longer_run_is_valid(tmp_path):
    """Short runs meet the bound up to 37 QPS, 30 s runs only up to 30 QPS: the confirming
    target falls by 10% per INVALID attempt (36.72 -> 33.05 -> 29.74)."""
    def p99(q, duration_ms):
        capacity = 30.0 if duration_ms >= 30000 else 37.0
        return BOUND_MS * q / capacity

    fake = FakeLauncher(p99=p99)
    rec = peak.search(_base(tmp_path), LONG_CONFIRM, fake)
    confirms = [p for p in rec["points"] if p["kind"] == "confirm"]
    assert [p["target_qps"] for p in confirms] == [36.719, 33.047, 29.742]
    assert [p["valid"] for p in confirms] == [False, False, True]
    assert rec["peak_target_qps"] == pytest.approx(36.71875 * 0.9 * 0.9)
    recorded = json.loads(_peak_json(tmp_path).read_text())
    assert recorded[server_scenario.peak_key(SETTINGS)]["target_qps"] == \
        rec["peak_target_qps"]


def test_unconfirmed_peak_is_not_recorded(tmp_path):
    fake = FakeLauncher(p99=lambda q, d: BOUND_MS * q / (20.0 if d >= 30000 else 37.0))
    with pytest.raises(NoValidServerTarget, match="36.72 QPS was not confirmed by 3"):
        peak.search(_base(tmp_path), LONG_CONFIRM, fake)
    assert len(fake.server_targets()) == 7 + 3
    assert not _peak_json(tmp_path).exists()
    (search,) = list(tmp_path.rglob("peak_search.json"))
    assert json.loads(search.read_text())["status"] == "unconfirmed"


def test_plateau_stops_when_halving_the_load_leaves_the_p99(tmp_path):
    """A tail of 40 ms at any load (the system's, not the queue's): two INVALID points, the
    second at half the load with the same p99, and the search stops."""
    fake = FakeLauncher(p99=lambda q, _: 40.0)
    with pytest.raises(NoValidServerTarget,
                       match=r"lowest tried: 25.00 QPS.*p99 stayed at 40.0 ms when the load "
                             r"fell from 50.0 to 25.0 QPS"):
        peak.search(_base(tmp_path), peak.SearchOptions(steps=7), fake)
    assert fake.server_targets() == [50.0, 25.0]
    assert not _peak_json(tmp_path).exists()
    (search,) = list(tmp_path.rglob("peak_search.json"))
    record = json.loads(search.read_text())
    assert record["status"] == "failed" and "latency tail" in record["stopped"]


def test_queueing_latency_keeps_the_search_going_down(tmp_path):
    """p99 proportional to the load (queueing) is no plateau: the search halves the target
    until a point meets the bound (7.5 QPS here), then bisects above it."""
    fake = FakeLauncher(p99=lambda q, _: BOUND_MS * q / 7.5)
    rec = peak.search(_base(tmp_path), peak.SearchOptions(steps=5), fake)
    assert fake.server_targets()[:4] == [50.0, 25.0, 12.5, 6.25]
    assert [p["valid"] for p in rec["points"][:4]] == [False, False, False, True]
    assert fake.server_targets()[4] == 9.375  # between 6.25 (VALID) and 12.5 (INVALID)
    assert 6.25 <= rec["peak_target_qps"] <= 7.5


def test_unreachable_bound_stops_after_the_first_point(tmp_path):
    """The fastest query (20 ms) already misses the 15 ms bound: no lower load helps."""
    fake = FakeLauncher(p99=lambda q, _: 80.0, min_ms=20.0)
    with pytest.raises(NoValidServerTarget, match="fastest query took 20.00 ms, above the "
                                                  "15.00 ms bound.*fewer streams"):
        peak.search(_base(tmp_path), peak.SearchOptions(steps=7), fake)
    assert fake.server_targets() == [50.0]
