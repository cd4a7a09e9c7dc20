"""Real short LoadGen runs of all four scenarios on real OpenVINO, checked through the logs.

LoadGen's logs are read here with the test's own readers (``conftest.mllog``,
``conftest.summary``), never with ``harness.loadgen_logs``: a broken reader in the harness
must not be checked against itself. The Server run's load comes from this machine: a
recorded peak (``peak.json``, as ``harness find-peak`` writes it) at a fraction of the
Offline run's samples/s.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import manifest, mllog, run_cli, run_dirs, summary, summary_failed_checks

DURATION_MS = "1500"
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
#: The Server run's target: this fraction of the Offline run's samples/s, with a relaxed
#: latency bound, so the run is VALID also on a busy machine.
SERVER_LOAD = 0.25
#: Server queries: more than LoadGen's early stopping needs to confirm a p99 (662).
SERVER_QUERIES = 800
SERVER_BOUND_MS = 2000
#: The peak.json key of a default OpenVINO configuration (harness.scenarios.server.peak_key).
PEAK_KEY = "device=CPU hint=THROUGHPUT streams=None threads=None nireq=None"


def _run(results, scenario, imagenet_sample, *extra):
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--scenario", scenario,
                   "--dataset", str(imagenet_sample), "--count", "200",
                   "--results-dir", str(results), *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dirs = run_dirs(results)
    assert len(dirs) == 1
    return proc, dirs[0]


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory, imagenet_sample):
    """One test-mode performance run per scenario: mobilenet_v2_quant on 200 real images."""
    out = {}
    for scenario in ("Offline", "SingleStream", "MultiStream"):
        out[scenario] = _run(tmp_path_factory.mktemp(f"results-{scenario}"), scenario,
                             imagenet_sample, "--duration-ms", DURATION_MS)
    offline_sps = float(summary(out["Offline"][1] / "mlperf_log_summary.txt")
                        ["Samples per second"])
    target = round(SERVER_LOAD * offline_sps, 3)
    results = tmp_path_factory.mktemp("results-Server")
    peak = results / "t" / "mobilenet_v2_quant" / "uint8" / "Server" / "peak.json"
    peak.parent.mkdir(parents=True)
    peak.write_text(json.dumps({PEAK_KEY: {"target_qps": target, "search": "by hand"}}))
    conf = results / "relaxed.conf"
    conf.write_text(f"*.Server.target_latency = {SERVER_BOUND_MS}\n")
    duration_ms = max(int(DURATION_MS), int(1000 * SERVER_QUERIES / target))
    out["Server"] = _run(results, "Server", imagenet_sample, "--system", "t",
                         "--user-conf", str(conf), "--duration-ms", str(duration_ms))
    out["server_target"] = target
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
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
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert detail["effective_scenario"] == scenario
    assert detail["effective_min_duration_ms"] >= int(DURATION_MS)
    assert f"*.{scenario}.min_duration = {detail['effective_min_duration_ms']}" in \
        (run_dir / "user.conf").read_text()
    assert detail["effective_performance_sample_count"] == 200  # capped at the dataset size
    assert detail["qsl_reported_total_count"] == 200
    assert detail["num_errors"] == 0
    # the manifest's key result equals LoadGen's own numbers, and its verdict LoadGen's
    text = summary(run_dir / "mlperf_log_summary.txt")
    assert m["result"]["validity"] == detail["result_validity"] == text["Result is"]
    assert m["result"]["invalid_reasons"] == summary_failed_checks(
        run_dir / "mlperf_log_summary.txt")
    if scenario != "Offline":
        pct = "99.00" if scenario in ("MultiStream", "Server") else "90.00"
        key = ("result_99.00_percentile_per_query_latency_ns" if scenario == "MultiStream"
               else f"result_{pct}_percentile_latency_ns")
        field = "p99_ms" if pct == "99.00" else "p90_ms"
        assert m["result"][field] == pytest.approx(detail[key] / 1e6)
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
    expected = float(re.search(r"^\*\.Offline\.target_qps = ([0-9.]+)$", conf, re.M)[1])
    assert mllog(run_dir / "mlperf_log_detail.txt")["effective_target_qps"] == \
        pytest.approx(expected, rel=1e-4)
    text = summary(run_dir / "mlperf_log_summary.txt")
    assert float(text["Samples per second"]) == pytest.approx(
        m["result"]["samples_per_second"], rel=1e-4)
    # the calibrated expected QPS makes the run last its minimum duration
    assert text["Min duration satisfied"] == "Yes"
    assert m["result"]["validity"] == "VALID"


def test_server_runs_at_the_recorded_target_and_is_valid(scenario_runs):
    """The recorded peak sets the target; LoadGen schedules that load; the run is VALID at a
    quarter of the Offline rate within a 2 s bound."""
    _, run_dir = scenario_runs["Server"]
    target = scenario_runs["server_target"]
    m = manifest(run_dir)
    chosen = m["loadgen"]["server_target_qps"]
    assert chosen["source"] == "harness find-peak" and chosen["value"] == target
    assert chosen["peak_file"].endswith("t/mobilenet_v2_quant/uint8/Server/peak.json")
    assert f"*.Server.target_qps = {target:.3f}" in (run_dir / "user.conf").read_text()
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert detail["effective_target_qps"] == pytest.approx(target, rel=1e-3)
    assert detail["effective_target_latency_ns"] == SERVER_BOUND_MS * 1_000_000
    # Poisson arrivals at the target: over 800 queries the scheduled rate is within a few
    # percent of it (one standard deviation is 1/sqrt(800) = 3.5%)
    text = summary(run_dir / "mlperf_log_summary.txt")
    scheduled = float(text["Scheduled samples per second"])
    assert detail["result_query_count"] >= SERVER_QUERIES * 0.9
    assert scheduled == pytest.approx(target, rel=0.15)
    assert m["result"]["scheduled_qps"] == pytest.approx(scheduled, rel=1e-6)
    assert m["result"]["score"] == m["result"]["scheduled_qps"]
    # the verdict, unconditionally: VALID, as LoadGen says, with the p99 inside the bound
    assert text["Result is"] == "VALID", run_dir / "mlperf_log_summary.txt"
    assert m["result"]["validity"] == "VALID" and m["result"]["invalid_reasons"] == []
    assert 0 < m["result"]["p99_ms"] <= SERVER_BOUND_MS


def test_singlestream_answers_every_query(scenario_runs):
    _, run_dir = scenario_runs["SingleStream"]
    m = manifest(run_dir)
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert detail["result_query_count"] >= 100
    assert m["result"]["samples_answered"] == detail["result_query_count"]
    assert m["backend"]["settings"]["hint"] == "LATENCY"
    assert 0 < m["result"]["p90_ms"] <= m["result"]["p99_ms"]


def test_multistream_answers_8_samples_per_query_and_is_valid(scenario_runs):
    """MultiStream: 8-sample queries, every sample answered; the score is LoadGen's
    early-stopping p99 estimate of the query latency, and the test-mode run is VALID."""
    proc, run_dir = scenario_runs["MultiStream"]
    m = manifest(run_dir)
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert detail["effective_samples_per_query"] == 8
    assert detail["result_query_count"] >= 662  # enough for early stopping
    assert m["result"]["samples_answered"] == 8 * detail["result_query_count"]
    # the expected query latency from calibration reached LoadGen
    expected_ms = int(re.search(r"^\*\.MultiStream\.target_latency = (\d+)$",
                                (run_dir / "user.conf").read_text(), re.M)[1])
    assert detail["requested_multi_stream_expected_latency_ns"] == expected_ms * 1e6
    assert m["loadgen"]["multi_stream_expected_latency_ms"]["value"] == expected_ms
    text = summary(run_dir / "mlperf_log_summary.txt")
    assert text["Result is"] == "VALID", run_dir / "mlperf_log_summary.txt"
    assert m["result"]["validity"] == "VALID"
    # " * Early stopping 99.0th percentile estimate: 466508867" (ns)
    estimate = next(float(v) for k, v in text.items()
                    if re.fullmatch(r"\*? *Early stopping 99(\.0)?th percentile estimate", k))
    assert m["result"]["score"] == pytest.approx(estimate / 1e6)
    assert m["result"]["p99_ms"] == pytest.approx(
        float(text["99.0th percentile latency (ns)"]) / 1e6)
    assert m["backend"]["settings"]["hint"] == "THROUGHPUT"
    assert f"p99 {m['result']['p99_ms']:.2f} ms VALID" in proc.stdout


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
