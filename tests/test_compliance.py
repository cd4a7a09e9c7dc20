"""Compliance tests TEST01/TEST04: real audit runs (LoadGen reads the audit.config it is given
by path) and the verification rules of mlcommons/inference compliance/TEST0x/verify_*.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.launchers import ProcessLauncher
from harness.workflows import compliance

from conftest import run_cli

MODEL = ["--model", "mobilenet_v2_quant"]


def _run_dir(proc) -> Path:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))


def _detail(run_dir: Path) -> dict:
    out = {}
    for line in (run_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            e = json.loads(line[9:])
            out[e["key"]] = e["value"]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """A VALID short Offline performance run and an accuracy run on the same 64 images."""
    root = tmp_path_factory.mktemp("compliance")
    common = [*MODEL, "--dataset", str(imagenet_sample), "--count", "64",
              "--results-dir", str(root)]
    # an expected QPS above what this CPU reaches: LoadGen then issues more samples than the
    # minimum duration needs, so the run cannot end early (INVALID) whatever the load on the
    # machine; a calibrated value can, when the machine gets faster after calibration
    perf = _run_dir(run_cli("run", *common, "--scenario", "Offline", "--duration-ms", "2000",
                            "--target-qps", "400"))
    acc = _run_dir(run_cli("run", *common, "--scenario", "Offline", "--mode", "accuracy"))
    m = json.loads((perf / "run.json").read_text())
    if m["result"]["validity"] != "VALID":
        pytest.skip(f"reference run INVALID on this busy machine: {m['result']}")
    return perf, acc


def test_test01_audit_run_logs_accuracy_that_matches(runs):
    perf, acc = runs
    rec = compliance.run_test("TEST01", perf, ProcessLauncher(), acc, duration_ms=2000)
    out = Path(rec["out_dir"])
    audit = Path(rec["audit_run"])
    assert (out / "audit.config").is_file()
    detail = _detail(audit)
    assert detail["effective_accuracy_log_sampling_target"] == 4096
    assert detail["effective_accuracy_log_rng_seed"] == 720381539243781796
    assert json.loads((audit / "run.json").read_text())["audit_config"]
    # the accuracy part is deterministic: responses logged in performance mode match
    assert rec["accuracy_passed"] is True
    text = (out / "verify_accuracy.txt").read_text()
    assert "TEST PASS" in text and "num_perf_log_data_mismatch = 0" in text
    assert (out / "verify_performance.txt").is_file()
    # a logged response changed on purpose: the check fails
    logged = json.loads((audit / "mlperf_log_accuracy.json").read_text())
    assert logged, "TEST01 logged no responses"
    bad = out / "bad.json"
    logged[0]["data"] = "0000C842"  # float32 100.0: another class
    bad.write_text(json.dumps(logged))
    ok, text = compliance.verify_accuracy(acc / "mlperf_log_accuracy.json", bad, "float32")
    assert not ok and "num_perf_log_data_mismatch = 0" not in text and "TEST FAIL" in text


def test_test04_settings_reach_loadgen(runs):
    perf, _ = runs
    r4 = compliance.run_test("TEST04", perf, ProcessLauncher(), duration_ms=2000)
    d4 = _detail(Path(r4["audit_run"]))
    assert d4["effective_performance_issue_same"] is True
    assert d4["effective_performance_issue_same_index"] == 3
    text = (Path(r4["out_dir"]) / "verify_performance.txt").read_text()
    assert ("TEST PASS" in text) == r4["passed"]


def _summary_with(src: Path, dst: Path, score: float | None = None,
                  invalid: bool = False) -> Path:
    text = src.read_text()
    if score is not None:
        text = re.sub(r"^Samples per second: .*$", f"Samples per second: {score}", text,
                      flags=re.M)
    if invalid:
        text = text.replace("Result is : VALID", "Result is : INVALID")
    dst.write_text(text)
    return dst


def test_verify_performance_thresholds(runs, tmp_path):
    perf, _ = runs
    ref = perf / "mlperf_log_summary.txt"
    r = float(re.search(r"^Samples per second: (.+)$", ref.read_text(), re.M).group(1))
    same = _summary_with(ref, tmp_path / "same.txt", r)
    assert compliance.verify_performance_test04(ref, same)[0]
    # TEST04: 20% faster with one repeated sample = caching: fail
    fast = _summary_with(ref, tmp_path / "fast.txt", r * 1.2)
    ok, text = compliance.verify_performance_test04(ref, fast)
    assert not ok and "TEST FAIL: Test score invalid" in text
    # 5% faster: within the tolerance
    assert compliance.verify_performance_test04(ref, _summary_with(ref, tmp_path / "f5.txt",
                                                                   r * 1.05))[0]
    ok, text = compliance.verify_performance_test04(
        ref, _summary_with(ref, tmp_path / "inv.txt", r, invalid=True))
    assert not ok and "Test results are invalid" in text


def test_singlestream_score_is_the_early_stopping_estimate(tmp_path, imagenet_sample,
                                                          mobilenet_tflite):
    # LoadGen 6 writes "Early stopping 90.0th percentile estimate"; upstream TEST04 turns the
    # latency into a rate (1e9 / ns), so a faster (cached) test fails
    run = _run_dir(run_cli("run", *MODEL, "--dataset", str(imagenet_sample), "--count", "64",
                           "--results-dir", str(tmp_path), "--scenario", "SingleStream",
                           "--duration-ms", "1000"))
    ref = run / "mlperf_log_summary.txt"
    estimate = float(re.search(r"Early stopping 90\.0th percentile estimate: (\d+)",
                               ref.read_text()).group(1))
    got = compliance._summary_score(ref)
    assert got["scenario"].name == "SingleStream" and got["score"] == pytest.approx(
        1e9 / estimate)
    ok, text = compliance.verify_performance_test04(ref, ref)
    assert ok
    faster = tmp_path / "faster.txt"  # the repeated sample 30% faster (cached): fail
    faster.write_text(ref.read_text().replace(
        f"estimate: {int(estimate)}", f"estimate: {int(estimate / 1.3)}", 1))
    assert not compliance.verify_performance_test04(ref, faster)[0]
    slower = tmp_path / "slower.txt"  # slower is never caching
    slower.write_text(ref.read_text().replace(
        f"estimate: {int(estimate)}", f"estimate: {int(estimate * 1.3)}", 1))
    assert compliance.verify_performance_test04(ref, slower)[0]


def test_unknown_test_and_invalid_reference_are_refused(runs, tmp_path):
    perf, _ = runs
    with pytest.raises(compliance.HarnessError, match="unknown compliance test"):
        compliance.run_test("TEST99", perf, ProcessLauncher())
    with pytest.raises(compliance.HarnessError, match="TEST05 was retired"):
        compliance.run_test("TEST05", perf, ProcessLauncher())
    broken = tmp_path / "run"
    shutil.copytree(perf, broken)
    m = json.loads((broken / "run.json").read_text())
    m["result"]["validity"] = "INVALID"
    (broken / "run.json").write_text(json.dumps(m))
    with pytest.raises(compliance.HarnessError, match="INVALID"):
        compliance.run_test("TEST04", broken, ProcessLauncher())
