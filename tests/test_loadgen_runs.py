"""Real short LoadGen runs of all three scenarios on real OpenVINO, checked through the logs."""

from __future__ import annotations

import re

import pytest

from conftest import manifest, run_cli, run_dirs
from harness import loadgen_logs

DURATION_MS = "1500"


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory, imagenet_sample):
    """One test-mode performance run per scenario: mobilenet_v2_quant on 200 real images."""
    out = {}
    for scenario in ("Offline", "Server", "SingleStream"):
        results = tmp_path_factory.mktemp(f"results-{scenario}")
        proc = run_cli("run", "--model", "mobilenet_v2_quant", "--scenario", scenario,
                       "--dataset", str(imagenet_sample), "--count", "200",
                       "--duration-ms", DURATION_MS, "--results-dir", str(results))
        assert proc.returncode == 0, proc.stderr[-3000:]
        dirs = run_dirs(results)
        assert len(dirs) == 1
        out[scenario] = (proc, dirs[0])
    return out


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream"])
def test_run_writes_loadgen_logs_and_complete_manifest(scenario_runs, scenario):
    proc, run_dir = scenario_runs[scenario]
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "user.conf", "run.json"):
        assert (run_dir / name).is_file(), name
    m = manifest(run_dir)
    assert m["status"] == "complete"
    assert m["config"]["scenario"]["name"] == scenario
    assert m["config"]["execution"]["kind"] == "test"
    assert m["valid_for_submission"] is False
    assert "NOT valid for submission" in proc.stdout
    # the path encodes system/model/precision/scenario/mode; the precision is what the
    # model file holds (a uint8 TFLite run as given is uint8, not fp32)
    assert run_dir.parts[-5:-1] == ("mobilenet_v2_quant", "uint8", scenario, "performance")
    # LoadGen ran what the effective user.conf asked for
    detail = loadgen_logs.read_detail(run_dir / "mlperf_log_detail.txt")
    assert detail["effective_scenario"] == scenario
    assert detail["effective_min_duration_ms"] == int(DURATION_MS)
    assert detail["effective_performance_sample_count"] == 200  # capped at the dataset size
    assert detail["qsl_reported_total_count"] == 200
    assert detail["_errors"] == []
    # the manifest's key result equals LoadGen's own numbers
    assert m["result"]["validity"] == detail["result_validity"]
    assert m["result"]["p90_ms"] == pytest.approx(
        detail["result_90.00_percentile_latency_ns"] / 1e6)
    assert m["result"]["inference_errors"] == 0
    # FP32 means f32, set and recorded (this CPU would otherwise use bf16)
    assert m["backend"]["properties"]["INFERENCE_PRECISION_HINT"] == "<Type: 'float32'>"
    assert m["system"]["logical_cores"] >= 1 and m["system"]["cpu_model"]
    assert m["system"]["libraries"]["mlcommons-loadgen"].startswith("6.")
    assert m["started"] and m["ended"]


def test_offline_is_calibrated_and_valid(scenario_runs):
    _, run_dir = scenario_runs["Offline"]
    m = manifest(run_dir)
    conf = (run_dir / "user.conf").read_text()
    qps = m["calibration"]["samples_per_second"]
    assert qps > 0
    assert re.search(r"^\*\.Offline\.target_qps = [0-9.]+$", conf, re.M)
    summary = loadgen_logs.read_summary(run_dir / "mlperf_log_summary.txt")
    assert float(summary["Samples per second"]) == pytest.approx(
        m["result"]["samples_per_second"], rel=1e-4)
    # the calibrated expected QPS makes the run last its minimum duration
    assert summary["Min duration satisfied"] == "Yes"
    assert m["result"]["validity"] == "VALID"


def test_server_uses_recorded_target(scenario_runs):
    _, run_dir = scenario_runs["Server"]
    m = manifest(run_dir)
    detail = loadgen_logs.read_detail(run_dir / "mlperf_log_detail.txt")
    target = m["loadgen"]["server_target_qps"]["value"]
    assert detail["effective_target_qps"] == pytest.approx(target, rel=1e-3)
    assert "not a peak search" in m["loadgen"]["server_target_qps"]["source"]
    assert m["result"]["scheduled_qps"] > 0
    # resnet50 benchmark bound: 15 ms p99 (LoadGen's built-in mlperf.conf)
    assert detail["effective_target_latency_ns"] == 15_000_000
    if m["result"]["validity"] == "INVALID":
        assert m["result"]["invalid_reasons"], "an INVALID run must carry LoadGen's reasons"


def test_singlestream_answers_every_query(scenario_runs):
    _, run_dir = scenario_runs["SingleStream"]
    m = manifest(run_dir)
    detail = loadgen_logs.read_detail(run_dir / "mlperf_log_detail.txt")
    assert detail["result_query_count"] >= 100
    assert m["result"]["samples_answered"] == detail["result_query_count"]
    assert m["backend"]["settings"]["hint"] == "LATENCY"
    assert 0 < m["result"]["p90_ms"] <= m["result"]["p99_ms"]


def test_show_prints_the_runs(scenario_runs):
    _, run_dir = scenario_runs["Offline"]
    results = run_dir.parents[5]
    proc = run_cli("show", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr
    assert "mobilenet_v2_quant" in proc.stdout and "Offline" in proc.stdout
    qps = manifest(run_dir)["result"]["samples_per_second"]
    assert f"{qps:.2f}" in proc.stdout


@pytest.mark.slow
def test_default_offline_runs_resnet50_on_synthetic_data(tmp_path):
    """The `make offline` default: resnet50 FP32 Offline, test mode, no dataset, no weights."""
    proc = run_cli("run", "--duration-ms", "2000", "--results-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    m = manifest(run_dir)
    assert m["config"]["model"]["name"] == "resnet50" and m["config"]["scenario"]["name"] == "Offline"
    assert m["dataset"]["kind"] == "synthetic"
    assert "SYNTHETIC" in proc.stdout
    if m["weights"]["kind"] == "random":  # no torchvision weights cached: said plainly
        assert "RANDOM weights" in proc.stdout
        assert m["weights"]["trained"] is False
    assert m["result"]["samples_per_second"] > 0
    assert "samples/s" in proc.stdout
    # the converted IR is cached: the second run starts without conversion
    proc2 = run_cli("run", "--weights", "random", "--duration-ms", "1000",
                    "--results-dir", str(tmp_path))
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    assert "converting" not in proc2.stdout
    assert len(run_dirs(tmp_path)) == 2  # a run never overwrites an earlier one
