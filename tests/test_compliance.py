"""Compliance tests TEST01/TEST04: real audit runs (LoadGen reads the audit.config it is given
by path) and the verification rules of mlcommons/inference compliance/TEST0x/verify_*.py.

Verdicts are asserted on real audit runs against references whose outcome is known: the
accuracy part of TEST01 is deterministic (same model, same images), and TEST04 is run
against copies of the reference whose logged score is made 4x higher (a pass whatever the
machine's noise) or 4x lower (a fail). Loads come from the machine (tests/machine_load.py).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from harness.launchers import ProcessLauncher
from harness.workflows import compliance

from conftest import run_cli
from machine_load import result_of, run_dir_of, valid_offline_run

MODEL = ["--model", "mobilenet_v2_quant"]


def _detail(run_dir: Path) -> dict:
    """``{key: value}`` of a detail log, first entry wins (independent of the harness)."""
    out: dict = {}
    for line in (Path(run_dir) / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            e = json.loads(line[9:])
            out.setdefault(e["key"], e["value"])
    return out


def _counts(text: str) -> dict[str, int]:
    """The ``name = number`` lines of a verify_accuracy.txt."""
    return {k: int(v) for k, v in re.findall(r"^(\w+) = (\d+)$", text, re.M)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """A VALID short Offline performance run and an accuracy run on the same 64 images."""
    root = tmp_path_factory.mktemp("compliance")
    common = [*MODEL, "--dataset", str(imagenet_sample), "--count", "64",
              "--results-dir", str(root)]
    perf = valid_offline_run(*common)
    acc = run_dir_of(run_cli("run", *common, "--scenario", "Offline", "--mode", "accuracy"))
    return perf, acc


def test_test01_compares_every_logged_response_when_fewer_than_4096(runs):
    perf, acc = runs
    rec = compliance.run_test("TEST01", perf, ProcessLauncher(), acc, duration_ms=2000)
    out, audit = Path(rec["out_dir"]), Path(rec["audit_run"])
    detail = _detail(audit)
    assert detail["effective_accuracy_log_sampling_target"] == 4096
    assert detail["effective_accuracy_log_rng_seed"] == 720381539243781796
    assert json.loads((audit / "run.json").read_text())["audit_config"]
    issued = detail["generated_query_count"] * detail["generated_samples_per_query"]
    assert issued < 4096, "this test needs an audit run of fewer than 4096 samples"
    logged = json.loads((audit / "mlperf_log_accuracy.json").read_text())
    # LoadGen logs each response with probability 4096 / expected samples (> 1 here): all
    assert len(logged) == issued
    counts = _counts((out / "verify_accuracy.txt").read_text())
    assert counts["num_acc_log_entries"] == 64
    assert counts["num_perf_log_entries"] == issued
    assert counts["num_perf_log_qsl_idx_match"] == issued  # every one compared
    assert counts["num_perf_log_data_mismatch"] == 0 and counts["num_missing_qsl_idxs"] == 0
    assert rec["accuracy_passed"] is True
    assert (out / "verify_accuracy.txt").read_text().splitlines()[-1] == "TEST PASS"
    # a logged response changed on purpose: the check fails and counts it (upstream compares
    # a repeated sample with its last logged response: the next repeat counts once more)
    bad = out / "bad.json"
    logged[0]["data"] = "0000C842"  # float32 100.0: another class
    bad.write_text(json.dumps(logged))
    ok, text = compliance.verify_accuracy(acc / "mlperf_log_accuracy.json", bad, "float32")
    repeated = any(e["qsl_idx"] == logged[0]["qsl_idx"] for e in logged[1:])
    assert not ok and _counts(text)["num_perf_log_data_mismatch"] == 1 + repeated
    assert text.splitlines()[-1] == "TEST FAIL"


def test_test01_samples_about_4096_of_a_longer_run(runs):
    """An audit run of more than 4096 samples logs about 4096 of them (LoadGen's sampling,
    probability 4096 / expected samples, seeded by the audit.config), and verify_accuracy
    compares each logged one with the accuracy run's response."""
    perf, acc = runs
    expected_qps = json.loads((perf / "run.json").read_text())["loadgen"][
        "offline_expected_qps"]["value"]
    duration_ms = math.ceil(5500 / expected_qps * 1000)  # about 5500 samples issued
    rec = compliance.run_test("TEST01", perf, ProcessLauncher(), acc, duration_ms=duration_ms)
    audit = Path(rec["audit_run"])
    detail = _detail(audit)
    issued = detail["generated_query_count"] * detail["generated_samples_per_query"]
    logged = len(json.loads((audit / "mlperf_log_accuracy.json").read_text()))
    assert issued > 5000 and logged < issued
    assert abs(logged - 4096) < 250, (logged, issued)  # binomial sd here is about 25
    counts = _counts((Path(rec["out_dir"]) / "verify_accuracy.txt").read_text())
    assert counts["num_perf_log_entries"] == logged
    assert counts["num_perf_log_qsl_idx_match"] == logged
    assert counts["num_perf_log_data_mismatch"] == 0 and rec["accuracy_passed"] is True


def _reference_copy(perf: Path, root: Path, factor: float) -> Path:
    """A copy of the reference run (same folder layout: <scenario>/performance/<stamp>)
    whose summary reports ``factor`` x its measured samples/s, and whose expected QPS (which
    the audit run repeats; it only sizes an Offline run) is 3x higher, so that the audit run
    cannot end early on a machine that got faster since."""
    copy = root / f"x{factor}" / "Offline" / "performance" / perf.name
    shutil.copytree(perf, copy)
    manifest = json.loads((copy / "run.json").read_text())
    manifest["loadgen"]["offline_expected_qps"]["value"] *= 3
    (copy / "run.json").write_text(json.dumps(manifest))
    summary = copy / "mlperf_log_summary.txt"
    text = summary.read_text()
    score = float(re.search(r"^Samples per second: (\S+)$", text, re.M).group(1))
    new = re.sub(r"^Samples per second: \S+$", f"Samples per second: {score * factor}", text,
                 flags=re.M)
    assert new != text
    summary.write_text(new)
    return copy


def test_harness_compliance_cli_gives_real_test04_verdicts(runs, tmp_path):
    """``harness compliance`` runs TEST04 (the same sample for every query) and compares its
    throughput with the reference's: against a reference 4x faster than this machine it
    passes (no caching can hide there), against one 4x slower it fails as caching would."""
    perf, _ = runs
    verdicts = {}
    for factor in (4.0, 0.25):
        ref = _reference_copy(perf, tmp_path, factor)
        proc = run_cli("compliance", str(ref), "--tests", "TEST04", "--duration-ms", "2000")
        line = re.search(r"^TEST04 (PASS|FAIL): (.+)$", proc.stdout, re.M)
        assert line, proc.stdout[-1500:] + proc.stderr[-1500:]
        out = Path(line.group(2))
        assert out.parent == ref.parent.parent / "compliance" / "TEST04"
        audit = Path(json.loads((out / "compliance.json").read_text())["audit_run"])
        d = _detail(audit)
        assert d["effective_performance_issue_same"] is True
        assert d["effective_performance_issue_same_index"] == 3
        assert d["effective_performance_issue_unique"] is False
        assert result_of(audit)["validity"] == "VALID"
        text = (out / "verify_performance.txt").read_text()
        ref_score = float(re.search(r"^reference score = (\S+)$", text, re.M).group(1))
        test_score = float(re.search(r"^test score = (\S+)$", text, re.M).group(1))
        assert ref_score == pytest.approx(result_of(perf)["samples_per_second"] * factor)
        # the audit run's own summary is what TEST04 compared
        assert test_score == pytest.approx(float(re.search(
            r"^Samples per second: (\S+)$", (audit / "mlperf_log_summary.txt").read_text(),
            re.M).group(1)))
        verdicts[factor] = (proc.returncode, line.group(1), text.splitlines()[-1])
    assert verdicts[4.0] == (0, "PASS", "TEST PASS")
    assert verdicts[0.25] == (1, "FAIL", "TEST FAIL: Test score invalid")


def test_harness_compliance_cli_refuses_bad_input(runs):
    perf, _ = runs
    proc = run_cli("compliance", str(perf), "--tests", "TEST05")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown compliance test 'TEST05'; valid: TEST01, TEST04 (TEST05 was retired "
        "upstream in 2024-11)"]
    proc = run_cli("compliance", str(perf.parent), "--tests", "TEST04")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert not (perf.parent.parent / "compliance" / "TEST04").exists()


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
    run = run_dir_of(run_cli("run", *MODEL, "--dataset", str(imagenet_sample), "--count",
                             "64", "--results-dir", str(tmp_path), "--scenario",
                             "SingleStream", "--duration-ms", "1000"))
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
