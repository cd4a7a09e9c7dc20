"""`harness find-peak`: the Server target search and its use by later Server runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.scenarios import server as server_scenario
from harness.workflows import find_peak as peak

from conftest import run_cli

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
    assert rec["server_to_offline_ratio"] == 20.0 / rec["offline_samples_per_second"]
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
