"""Server dynamic batching (--batch-timeout-us) and the Server-aware deployment: real Server
runs give the same responses batched as unbatched, a lone query waits no longer than the
window (LoadGen's own latencies say so), the deployment rule is recorded and the user's
options win; the optimize search space holds the window."""

from __future__ import annotations

import pytest

from harness.backends.openvino.config import SERVER_BATCH_TIMEOUTS_US, OpenVINOConfig
from harness.run.config import RunConfig
from harness.workflows import optimize

from conftest import manifest, mllog, run_cli, run_dirs, summary
from test_batching import _responses, batchable  # noqa: F401 (a fixture)

MODEL = "mobilenet_v2_quant"


def _ms(ns: str) -> float:
    return float(ns) / 1e6


def test_server_accuracy_batched_in_a_window_equals_batch_one(batchable, imagenet_sample,
                                                              tmp_path):
    # 50 queries/s and a 20 ms window: most queries find company in their window (queries
    # are grouped), and some batches are partial (padded)
    runs = {}
    for name, extra in (("one", []), ("window", ["--batch", "4", "--batch-timeout-us",
                                                 "20000"])):
        proc = run_cli("run", "--model", MODEL, "--weights", str(batchable), "--scenario",
                       "Server", "--mode", "accuracy", "--dataset", str(imagenet_sample),
                       "--count", "100", "--target-qps", "50", *extra,
                       "--results-dir", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-2000:]
        (runs[name],) = run_dirs(tmp_path / name)
    one, window = _responses(runs["one"]), _responses(runs["window"])
    assert len(one) == len(window) == 100
    assert one == window  # every sample's answer, byte for byte
    m1, m4 = manifest(runs["one"]), manifest(runs["window"])
    assert m4["accuracy"]["value"] == m1["accuracy"]["value"]
    assert m4["accuracy"]["good"] > 70  # the trained model: ~88% top-1
    assert m4["config"]["backend"]["batch_timeout_us"] == 20000  # the config, recorded whole
    batching = m4["deployment"]["batching"]
    assert batching["batch_size"] == 4 and batching["batch_timeout_us"] == 20000
    assert m4["result"]["samples_answered"] == 100  # padding rows never answered
    # queries were grouped (fewer requests than samples), and some batches were padded
    assert batching["requests"] < 100
    assert batching["full_requests"] < batching["requests"]
    # accuracy mode has no latency bound to meet: the hint's deployment
    assert m4["deployment"]["source"] == "default"


def test_a_lone_query_waits_at_most_the_window(batchable, imagenet_sample, tmp_path):
    # 8 queries/s with a 60 ms window: most queries (about 2 in 3) open a batch, which
    # waits the whole window for company that does not fill it; none may wait much longer.
    # A 500 ms bound leaves the deployment rule room for the window.
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_latency = 500\n")
    window_ms = 60.0
    proc = run_cli("run", "--model", MODEL, "--weights", str(batchable), "--scenario",
                   "Server", "--dataset", str(imagenet_sample), "--count", "64",
                   "--target-qps", "8", "--batch", "4",
                   "--batch-timeout-us", str(int(window_ms * 1000)),
                   "--user-conf", str(conf), "--duration-ms", "1000",
                   "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = run_dirs(tmp_path / "r")
    m = manifest(run)
    dep = m["deployment"]
    # the rule read the bound LoadGen used (its detail log, read here independently)
    assert dep["latency_bound_ms"] == _ms(mllog(run / "mlperf_log_detail.txt")
                                          ["effective_target_latency_ns"]) == 500.0
    chosen = next(c for c in dep["candidates"] if c["streams"] == dep["chosen"]["streams"])
    # LoadGen's own latencies: most queries waited the window, and about no longer
    s = summary(run / "mlperf_log_summary.txt")
    p50 = _ms(s["50.00 percentile latency (ns)"])
    assert window_ms <= p50 <= window_ms + chosen["latency_p90_ms"] + 50.0, p50
    # the dispatcher's own record (from a request's first sample's issue to its start):
    # partial batches waited the window, and hardly longer (thread wake-ups on a busy
    # machine: measured +0.2 ms; its tail adds the wait for a free infer request)
    b = dep["batching"]
    assert b["requests"] > b["full_requests"]
    assert 0.95 * window_ms <= b["wait_ms"]["p50"] <= window_ms + 20.0


def test_the_deployment_rule_is_recorded_and_user_options_win(imagenet_sample, tmp_path):
    common = ["--model", MODEL, "--scenario", "Server", "--dataset", str(imagenet_sample),
              "--count", "32", "--target-qps", "20", "--duration-ms", "500"]
    proc = run_cli("run", *common, "--results-dir", str(tmp_path / "rule"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = run_dirs(tmp_path / "rule")
    m = manifest(run)
    dep = m["deployment"]
    assert dep["source"] == "server latency rule"
    # resnet50's bound (mobilenet stands for it): LoadGen's built-in 15 ms, as LoadGen used
    assert dep["latency_bound_ms"] == _ms(mllog(run / "mlperf_log_detail.txt")
                                          ["effective_target_latency_ns"]) == 15.0
    assert dep["limit_ms"] == pytest.approx(5.0)
    assert dep["candidates"] and dep["candidates"][0]["streams"] == 1
    for c in dep["candidates"]:
        assert c["latency_ms"] > 0 and c["samples_per_second"] > 0
        assert c["within_rule"] == (c["latency_ms"] <= dep["limit_ms"])
    within = [c for c in dep["candidates"] if c["within_rule"]]
    pick = (max(within, key=lambda c: c["samples_per_second"]) if within else
            min(dep["candidates"], key=lambda c: c["latency_ms"]))
    assert dep["chosen"] == {"streams": pick["streams"], "threads": pick["threads"]}
    # what OpenVINO compiled is the choice; settings say nothing was asked
    props = m["backend"]["properties"]
    assert int(props["NUM_STREAMS"]) == pick["streams"]
    assert int(props["INFERENCE_NUM_THREADS"]) == pick["threads"]
    assert m["backend"]["settings"]["streams"] is None

    proc = run_cli("run", *common, "--streams", "2", "--results-dir", str(tmp_path / "user"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = run_dirs(tmp_path / "user")
    m = manifest(run)
    assert m["deployment"]["source"] == "user" and m["deployment"]["streams"] == 2
    assert "candidates" not in m["deployment"]
    assert int(m["backend"]["properties"]["NUM_STREAMS"]) == 2
    assert "deployment:" not in proc.stdout  # nothing was measured


def test_a_batching_window_is_refused_without_batches(tmp_path):
    for options, message in ((["--batch-timeout-us", "1000"], "a batching window needs batches"),
                             (["--batch", "4", "--batch-timeout-us", "-5"],
                              "must be 0 or more microseconds")):
        proc = run_cli("run", "--model", MODEL, "--scenario", "Server", *options,
                       "--results-dir", str(tmp_path))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-1000:]
        assert "Traceback" not in proc.stderr
    proc = run_cli("optimize", "--models", MODEL, "--scenario", "Offline",
                   "--batch-timeouts-us", "0", "1000", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "only Server waits for a batch" in proc.stderr
    assert not run_dirs(tmp_path)


def test_optimize_searches_the_window_for_server_only(tmp_path):
    ov = OpenVINOConfig()
    space = optimize.default_space(ov, [MODEL], "Server", False, None, cores=4)
    assert space.batch_timeout_us == list(SERVER_BATCH_TIMEOUTS_US)
    assert 0 in space.batch_timeout_us
    assert optimize.default_space(ov, [MODEL], "Offline", False, None, 4).batch_timeout_us == [0]
    point = {**optimize.default_params(space, MODEL, "fp32"), "batch": 1,
             "batch_timeout_us": 1000}
    assert optimize.invalid_point(space, point, []) == "a batching window needs batch > 1"
    assert optimize.invalid_point(space, {**point, "batch": 4}, []) is None
    search = optimize.Search(base=RunConfig(), space=space,
                             options=optimize.Options(scenario="Server"), launcher=None,
                             out=tmp_path, accuracy_dataset=None, trained={MODEL: False})
    cfg = optimize.trial_config(search, {**point, "batch": 4})
    assert (cfg.backend.batch, cfg.backend.batch_timeout_us) == (4, 1000)
    assert cfg.scenario.name == "Server"
    cfg = optimize.trial_config(search, optimize.default_params(space, MODEL, "fp32"))
    assert cfg.backend.batch_timeout_us is None and cfg.backend.batch is None


def test_a_peak_belongs_to_its_batching_window():
    from harness.scenarios.server import peak_key

    settings = {"device": "CPU", "hint": "THROUGHPUT", "streams": None, "threads": None,
                "nireq": None, "batch": 4, "batch_timeout_us": None}
    # no window: the key of peaks recorded before windows existed
    assert peak_key(settings) == ("device=CPU hint=THROUGHPUT streams=None threads=None "
                                  "nireq=None batch=4")
    assert peak_key({**settings, "batch_timeout_us": 2000}) == (
        peak_key(settings) + " batch_timeout_us=2000")
