"""Per-run telemetry (where the samples' time went inside the SUT) and the lean synchronous
paths, on real short LoadGen runs of mobilenet_v2_quant on real ImageNet images.

LoadGen's latencies are read from its detail log with the test's own reader
(``conftest.mllog``), never with ``harness.loadgen_logs``.
"""

from __future__ import annotations

import json

import pytest

from conftest import manifest, mllog, run_cli, run_dirs

COUNT = "50"
DURATION_MS = "1000"
#: The Server run's load (samples/s) and latency bound: light enough for a busy 2-core
#: machine, many queries for the p99.
SERVER_QPS = "20"
SERVER_BOUND_MS = 5000
STAGES = ("queue", "inference", "response")


def _run(results, *args):
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--results-dir", str(results),
                   *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def perf_runs(tmp_path_factory, imagenet_sample):
    """Short test-mode performance runs of SingleStream, Offline and Server in one results
    root: ``{scenario: run_dir}``."""
    results = tmp_path_factory.mktemp("results-telemetry")
    conf = results / "relaxed.conf"
    conf.write_text(f"*.Server.target_latency = {SERVER_BOUND_MS}\n")
    common = ("--dataset", str(imagenet_sample), "--count", COUNT, "--duration-ms", DURATION_MS)
    _run(results, "--scenario", "SingleStream", *common)
    _run(results, "--scenario", "Offline", *common)
    _run(results, "--scenario", "Server", "--target-qps", SERVER_QPS, "--user-conf", str(conf),
         *common)
    return {manifest(d)["config"]["scenario"]["name"]: d for d in run_dirs(results)}


@pytest.mark.parametrize("scenario", ("SingleStream", "Offline", "Server"))
def test_telemetry_is_recorded_and_consistent(perf_runs, scenario):
    run_dir = perf_runs[scenario]
    m = manifest(run_dir)
    assert m["schema_version"] == 2
    t = m["telemetry"]
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    # every sample LoadGen counted was issued to, timed by and answered by the SUT
    assert t["samples"] == t["issued"] == m["result"]["samples_answered"] > 0
    if scenario != "Offline":  # queries of one sample (Offline: one query of them all)
        assert t["samples"] == detail["result_query_count"]
    assert t["requests"] == (1 if scenario == "SingleStream" else
                             int(m["backend"]["properties"]["NUM_INFER_REQUESTS"]))
    assert 0 < t["utilisation"] <= 1
    assert 0 < t["busy_ms"] <= t["requests"] * t["wall_ms"] * 1.0001
    for stage in (*STAGES, "sut_latency"):
        s = t[stage]
        assert 0 <= s["p50_ms"] <= s["p99_ms"] <= s["max_ms"], (stage, s)
        assert 0 <= s["mean_ms"] <= s["max_ms"], (stage, s)
    assert t["inference"]["mean_ms"] > 0
    # the stages add up to the SUT's part of each sample's latency
    parts = sum(t[stage]["mean_ms"] for stage in STAGES)
    assert parts == pytest.approx(t["sut_latency"]["mean_ms"], rel=1e-3, abs=2e-3)
    # ... which is LoadGen's latency less LoadGen's own part (issue and completion are
    # stamped inside LoadGen's calls): a little smaller, never larger
    loadgen_mean = detail["result_mean_latency_ns"] / 1e6
    sut_mean = t["sut_latency"]["mean_ms"]
    assert sut_mean <= loadgen_mean + 0.05, (sut_mean, loadgen_mean)
    assert sut_mean >= loadgen_mean - max(1.0, 0.25 * loadgen_mean), (sut_mean, loadgen_mean)


def test_show_prints_the_telemetry(perf_runs):
    results = next(iter(perf_runs.values())).parents[5]
    proc = run_cli("show", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr
    for scenario, run_dir in perf_runs.items():
        t = manifest(run_dir)["telemetry"]
        line = next(row for row in proc.stdout.splitlines() if f"| {scenario} " in row)
        assert f"infer {t['inference']['p50_ms']:.2f}" in line, line
        assert f"busy {t['utilisation']:.0%}" in line, line


def test_report_shows_where_the_time_went(perf_runs, tmp_path):
    results = next(iter(perf_runs.values())).parents[5]
    out = tmp_path / "report"
    proc = run_cli("report", str(results), "--out", str(out), "--formats", "png")
    assert proc.returncode == 0, proc.stderr
    text = (out / "report.md").read_text()
    section = text.split("## Where the time went inside the SUT", 1)[1].split("\n## ", 1)[0]
    for scenario, run_dir in perf_runs.items():
        t = manifest(run_dir)["telemetry"]
        row = next(r for r in section.splitlines() if f"| {scenario} " in r)
        assert f"{t['inference']['p50_ms']:.2f}" in row, row


def test_a_version_1_report_still_reads(perf_runs, tmp_path):
    """run.json written before telemetry (schema_version 1) is read, with none."""
    data = manifest(perf_runs["Offline"])
    data["schema_version"] = 1
    del data["telemetry"]
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    data["run_dir"] = str(run_dir)
    (run_dir / "run.json").write_text(json.dumps(data))
    from harness.run import report

    rep = report.read(run_dir)
    assert rep.telemetry is None and rep.schema_version == 2
    assert rep.result.samples_per_second == data["result"]["samples_per_second"]


def _responses(run_dir) -> dict[int, str]:
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    return {e["qsl_idx"]: e["data"] for e in entries}


def test_lean_paths_answer_as_the_offline_path(tmp_path, imagenet_sample):
    """Accuracy mode on 100 images: SingleStream (one synchronous inference, outputs read in
    place) and MultiStream (samples started from LoadGen's thread) give every image the same
    response, and so the same top-1, as Offline (the dispatcher and asynchronous requests)."""
    runs = {}
    for scenario in ("Offline", "SingleStream", "MultiStream"):
        results = tmp_path / scenario
        _run(results, "--scenario", scenario, "--mode", "accuracy", "--dataset",
             str(imagenet_sample), "--count", "100")
        (runs[scenario],) = run_dirs(results)
    offline = _responses(runs["Offline"])
    assert sorted(offline) == list(range(100))
    for scenario in ("SingleStream", "MultiStream"):
        assert _responses(runs[scenario]) == offline, scenario
        acc = manifest(runs[scenario])["accuracy"]
        assert acc["good"] == manifest(runs["Offline"])["accuracy"]["good"]
        assert acc["total"] == 100
        m = manifest(runs[scenario])  # MultiStream: whole queries of 8 (104 samples)
        assert m["telemetry"]["samples"] == m["result"]["samples_answered"] >= 100


@pytest.mark.parametrize("scenario", ("Server", "MultiStream"))
def test_failed_inferences_on_the_direct_paths_are_answered(tmp_path, imagenet_sample,
                                                            scenario):
    """Server (samples started on LoadGen's thread, failures found by the dispatcher's
    poll) and MultiStream (started on LoadGen's thread, waited for) with a model that fails
    on every image but the first: every sample is answered, the last ones included, and
    the run ends failed and INVALID."""
    from test_sut_failures import _means, failing_classifier

    first = _means(imagenet_sample, 1)[0]
    model = failing_classifier(tmp_path / "failing.xml", first - 0.5, first + 0.5)
    conf = tmp_path / "relaxed.conf"
    conf.write_text(f"*.Server.target_latency = {SERVER_BOUND_MS}\n")
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(model),
                   "--scenario", scenario, "--target-qps", SERVER_QPS, "--user-conf", str(conf),
                   "--dataset", str(imagenet_sample), "--count", "32", "--duration-ms", "500",
                   "--results-dir", str(tmp_path / "results"), timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path / "results")
    m = manifest(run_dir)
    assert m["status"] == "failed" and "samples failed inference" in m["error"]
    res = m["result"]
    assert 0 < res["inference_errors"] < res["samples_answered"]
    detail = mllog(run_dir / "mlperf_log_detail.txt")  # every sample of the run's queries
    assert res["samples_answered"] == \
        detail["result_query_count"] * detail["generated_samples_per_query"]
