"""``harness compliance``: the MLPerf compliance tests TEST01 and TEST04, run and verified.

Round v6.1 (mlcommons/inference ``compliance/``, ../shared/docs/mlperf-facts.md): ResNet-50
needs TEST01 and TEST04; TEST05 was retired upstream in 2024-11 and is not run.

Each test is a performance run of the submission run's config with a LoadGen
``audit.config`` given by path (``StartTestWithLogSettings(..., audit_config_filename)``),
never read from a working directory:

- ``scenarios/compliance/TEST01/<benchmark>/audit.config``: the card's benchmark's TEST01
  settings (resnet50: ``accuracy_log_sampling_target = 4096``, the detectors: 64, from
  upstream's yolo file), ``mode = 2``, the accuracy-log seed;
- ``scenarios/compliance/TEST04/audit.config``: per scenario, the same sample issued for
  every query (``performance_issue_same = 1``, index 3).

The audit run repeats the reference's load (Server target QPS, SingleStream/MultiStream
expected latency); an Offline audit run is sized for at least :data:`AUDIT_SIZE_FACTOR` x the
reference's samples/s (its expected QPS only sets how many samples LoadGen issues).

Verification follows the upstream scripts (mlcommons/inference ``compliance/TEST01``,
``compliance/TEST04``; ``verify_accuracy.py`` as in ``compliance/nvidia/TEST01``):

- TEST01 ``verify_accuracy.py``: every response logged during the performance run (about
  4096 sampled, or all when the run issues fewer) must equal, first element per QSL index,
  the accuracy run's; ``verify_performance.py`` (detail logs): both runs VALID, the score
  (Offline samples/s, Server completed samples/s, SingleStream/MultiStream early-stopping
  latency in ns) within 10% either way (20% for SingleStream <= 0.2 ms, MultiStream <=
  1.6 ms).
- TEST04 ``verify_performance.py`` (summaries): the score with one repeated sample must not
  be 10% or more above the reference (no caching); SingleStream/MultiStream latencies are
  turned into rates (1e9 / ns) first, and the 20% tolerance applies when that rate is at most
  200000 (SingleStream) or 1600000 (MultiStream), as upstream computes it. Stricter than
  upstream in two places: a summary without a score fails (upstream compares with 0), and
  the Server ``target_latency (ns)`` line is compared (upstream's regular expression,
  unescaped parentheses, never matches it).

Outputs per test, in ``<scenario dir>/compliance/<TEST>/<UTC stamp>/``: ``audit.config``,
``verify_accuracy.txt`` (TEST01), ``verify_performance.txt``, ``compliance.json`` and the
audit run under ``runs/``. The submission builder copies them into ``<scenario>/<TEST>/`` as
upstream's ``run_verification.py`` lays them out.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import cards, results_tree, scenarios
from ..errors import HarnessError
from ..files import write_json_atomic
from ..launchers import Launcher, for_many
from ..loadgen_logs import read_detail
from ..paths import scenarios_dir
from ..run import report as report_mod
from ..run.config import LAUNCHERS, ModeConfig, RunConfig
from ..run.report import RunReport

HELP = "run and verify the compliance tests TEST01 and TEST04 for a performance run"
TESTS = ("TEST01", "TEST04")
#: Response encodings the official verify_accuracy.py accepts (--dtype).
DTYPES = {"byte": np.byte, "float32": np.float32, "int32": np.int32, "int64": np.int64}
#: An Offline audit run is sized for at least this many times the reference's samples/s:
#: it can end early (INVALID) only by running this much faster than the reference, which
#: TEST01 (within 10%) and TEST04 (not 10% faster) fail anyway; otherwise a machine a
#: little faster during the audit than during the reference's calibration voids the test.
AUDIT_SIZE_FACTOR = 1.5
#: What LoadGen's detail log must show for each test's audit.config to have been applied.
APPLIED = {"TEST01": "effective_accuracy_log_sampling_target",
           "TEST04": "effective_performance_issue_same"}


def audit_config_path(test: str, benchmark: str) -> Path:
    """The audit.config of ``test`` for the LoadGen ``benchmark`` (e.g. ``resnet50``).

    Raises:
        HarnessError: unknown test, or no TEST01 settings for that benchmark.
    """
    if test not in TESTS:
        raise HarnessError(f"unknown compliance test '{test}'; valid: {', '.join(TESTS)} "
                           f"(TEST05 was retired upstream in 2024-11)")
    base = scenarios_dir() / "compliance" / test
    path = base / benchmark / "audit.config" if test == "TEST01" else base / "audit.config"
    if not path.is_file():
        raise HarnessError(f"no {test} audit.config for benchmark '{benchmark}' ({path}); "
                           f"add the upstream file there")
    return path


# --- verification (after mlcommons/inference compliance/TEST0x/verify_*.py) ---------------

def verify_accuracy(reference_json: Path, test_json: Path, dtype: str = "float32"
                    ) -> tuple[bool, str]:
    """TEST01's accuracy check, as upstream ``verify_accuracy.py`` does it.

    Compares the first element of each response (decoded as ``dtype``) logged in the
    performance run with the accuracy run's response for the same QSL index.

    Returns:
        ``(passed, report text)``; passed iff no mismatch and at least one index matched.
    """
    if dtype not in DTYPES:
        raise HarnessError(f"unknown dtype '{dtype}'; valid: {', '.join(DTYPES)}")
    acc = json.loads(Path(reference_json).read_text())
    perf = json.loads(Path(test_json).read_text())
    ref: dict[int, str] = {}
    dup = acc_mismatch = matched = perf_mismatch = missing = 0
    for s in acc:
        if s["qsl_idx"] in ref:
            dup += 1
            acc_mismatch += ref[s["qsl_idx"]] != s["data"]
        else:
            ref[s["qsl_idx"]] = s["data"]
    for s in perf:
        idx = s["qsl_idx"]
        data = np.frombuffer(bytes.fromhex(s["data"]), DTYPES[dtype])
        if idx in ref:
            matched += 1
            want = np.frombuffer(bytes.fromhex(ref[idx]), DTYPES[dtype])
            if want.size == 0 or data.size == 0:
                perf_mismatch += want.size != data.size
            elif data[0] != want[0]:
                perf_mismatch += 1
        else:
            missing += 1
        ref[idx] = s["data"]  # the official script compares repeats with the last seen
    passed = perf_mismatch == 0 and matched > 0
    text = "\n".join([
        "Verifying accuracy.",
        f"num_acc_log_entries = {len(acc)}", f"num_acc_log_duplicate_keys = {dup}",
        f"num_acc_log_data_mismatch = {acc_mismatch}", f"num_perf_log_entries = {len(perf)}",
        f"num_perf_log_qsl_idx_match = {matched}",
        f"num_perf_log_data_mismatch = {perf_mismatch}", f"num_missing_qsl_idxs = {missing}",
        "TEST PASS" if passed else "TEST FAIL", ""])
    return passed, text


def _detail_score(path: Path) -> dict[str, Any]:
    log = read_detail(path)
    name = log.get("effective_scenario")
    scenario = scenarios.get(name) if name else None
    value = log.get(scenario.detail_score_key) if scenario else None
    return {"scenario": scenario, "score": float(value) if value is not None else None,
            "valid": log.get("result_validity") == "VALID",
            "target_latency": log.get("effective_target_latency_ns"),
            "errors": len(log["_errors"])}


def verify_performance_test01(reference_detail: Path, test_detail: Path) -> tuple[bool, str]:
    """TEST01's performance check (upstream ``TEST01/verify_performance.py``, detail logs).

    Returns:
        ``(passed, report text)``: both VALID, same scenario (and Server latency bound), the
        test score within the tolerance of the reference either way.
    """
    lines = ["Verifying performance."]
    ref, new = _detail_score(reference_detail), _detail_score(test_detail)
    for name, r, path in (("reference", ref, reference_detail), ("test", new, test_detail)):
        if not r["valid"] or r["score"] is None:
            return False, "\n".join(lines + [f"TEST FAIL: Invalid results in {path}"]) + "\n"
        if r["errors"]:
            lines.append(f"WARNING: {r['errors']} ERROR reported in {path}")
    if new["scenario"].name != ref["scenario"].name:
        return False, "\n".join(lines + ["TEST FAIL: Test and reference scenarios do not "
                                         "match!"]) + "\n"
    if ref["target_latency"] != new["target_latency"] and ref["scenario"].name == "Server":
        return False, "\n".join(lines + ["TEST FAIL: Server target latency mismatch"]) + "\n"
    r, t = ref["score"], new["score"]
    lines += [f"Reference score = {r}", f"Test score = {t}"]
    threshold = ref["scenario"].compliance_threshold(r)
    passed = r * (1 - threshold) <= t <= r * (1 + threshold)
    lines.append("TEST PASS" if passed else "TEST FAIL: Test score invalid")
    return passed, "\n".join(lines) + "\n"


def _summary_score(path: Path) -> dict[str, Any]:
    """Scenario, score, validity and Server target latency of a summary, read line by line
    as upstream ``TEST04/verify_performance.py`` reads it."""
    out: dict[str, Any] = {"scenario": None, "score": None, "valid": None, "errors": 0,
                           "target_latency": None}
    for line in Path(path).read_text(errors="replace").splitlines():
        value = line.split(": ", 1)[1].strip() if ": " in line else ""
        if re.match("Scenario", line):
            out["scenario"] = scenarios.get(value.replace(" ", ""))
        elif out["scenario"] and re.match(out["scenario"].summary_score_line, line):
            score = float(value)
            out["score"] = 1e9 / score if out["scenario"].score_is_latency else score
        elif re.match(r"target_latency \(ns\)", line):
            out["target_latency"] = value
        elif re.match("Result is", line):
            out["valid"] = value == "VALID"
        elif re.match(r"\d+ ERROR", line):
            out["errors"] += int(line.split(" ", 1)[0])
    return out


def verify_performance_test04(reference_summary: Path, test_summary: Path
                              ) -> tuple[bool, str]:
    """TEST04's performance check (upstream ``TEST04/verify_performance.py``, summaries).

    Returns:
        ``(passed, report text)``: passed when the test score (a rate; latencies as 1e9/ns)
        is below the reference's x (1 + tolerance).
    """
    ref, new = _summary_score(reference_summary), _summary_score(test_summary)
    lines = ["Verifying performance."]

    def done(passed: bool, msg: str) -> tuple[bool, str]:
        lines.append(msg)
        return passed, "\n".join(lines) + "\n"

    if ref["valid"] is False:
        return done(False, "TEST FAIL: Reference results are invalid")
    if new["valid"] is False:
        return done(False, "TEST FAIL: Test results are invalid")
    if ref["scenario"] is None or new["scenario"] is None or \
            ref["scenario"].name != new["scenario"].name:
        return done(False, "Test and reference scenarios do not match!")
    if ref["scenario"].name == "Server" and ref["target_latency"] != new["target_latency"]:
        return done(False, "TEST FAIL: Server target latency mismatch")
    if ref["score"] is None or new["score"] is None:
        return done(False, "TEST FAIL: score missing from a summary")
    lines += [f"reference score = {ref['score']}", f"test score = {new['score']}"]
    threshold = ref["scenario"].compliance_threshold(ref["score"])
    passed = new["score"] < ref["score"] * (1 + threshold)
    return done(passed, "TEST PASS" if passed else "TEST FAIL: Test score invalid")


# --- running ------------------------------------------------------------------------------

def latest_accuracy_run(folder: Path) -> Path | None:
    """The newest complete run directly below ``folder`` (UTC stamps sort), audit runs left
    out; unreadable reports are skipped."""
    if not folder.is_dir():
        return None
    for d in sorted((p for p in folder.iterdir() if (p / "run.json").is_file()), reverse=True):
        try:
            rep = report_mod.read(d)
        except report_mod.UnreadableReport:
            continue
        if rep.complete and not rep.audit_config:
            return d
    return None


def _reference(perf_run: Path) -> RunReport:
    try:
        ref = report_mod.read(perf_run)
    except report_mod.UnreadableReport as exc:
        raise HarnessError(f"{perf_run}: not a run the compliance tests can compare with: "
                           f"{exc}") from None
    if not ref.complete or ref.config.accuracy:
        raise HarnessError(f"{perf_run} is not a complete performance run "
                           f"(status {ref.status}, mode {ref.config.mode.name})")
    if not ref.valid:
        raise HarnessError(f"{perf_run} is INVALID; compliance tests compare against a VALID "
                           f"performance run: repeat it first")
    return ref


def check_test(test: str, perf_run: Path, accuracy_run: Path | None = None
               ) -> tuple[RunReport, Path, Path | None, RunReport | None]:
    """Check what a compliance test needs, writing nothing: a known test, a VALID complete
    performance run of a model this harness knows, the test's audit.config for its
    benchmark, and TEST01's accuracy run.

    Returns:
        ``(reference report, audit.config path, accuracy run or None, its report or
        None)``.

    Raises:
        HarnessError: what is missing or unusable, and how to get it.
    """
    perf_run = Path(perf_run).resolve()
    ref = _reference(perf_run)
    audit = audit_config_path(test, ref.card.get("benchmark", ""))
    cfg = ref.config
    try:
        cards.load(cfg.model.name)
    except HarnessError as exc:
        raise HarnessError(f"{perf_run}: its audit run cannot be made: {exc}") from None
    if test != "TEST01":
        return ref, audit, None, None
    accuracy_dir = results_tree.mode_dir_beside(perf_run, "accuracy")
    accuracy_run = accuracy_run or latest_accuracy_run(accuracy_dir)
    if accuracy_run is None or not (Path(accuracy_run) / "mlperf_log_accuracy.json"
                                    ).is_file():
        raise HarnessError(
            f"TEST01 needs an accuracy run of {cfg.label()}: none under "
            f"{accuracy_dir}. Make one: harness run --model {cfg.model.name} "
            f"--precision {cfg.precision} --scenario {cfg.scenario.name} --mode accuracy "
            f"--dataset DATASET")
    accuracy_run = Path(accuracy_run).resolve()
    try:
        acc_report = report_mod.read(accuracy_run)
    except report_mod.UnreadableReport as exc:
        raise HarnessError(f"TEST01 accuracy run: {exc}") from None
    return ref, audit, accuracy_run, acc_report


def run_test(test: str, perf_run: Path, launcher: Launcher, accuracy_run: Path | None = None,
             execution: str = "test", duration_ms: int | None = 60000) -> dict[str, Any]:
    """Run one compliance test for a performance run and verify it.

    Args:
        test: TEST01 or TEST04.
        perf_run: the submission's performance run directory (the reference).
        launcher: starts the audit run (in a fresh process).
        accuracy_run: TEST01's accuracy run (default: the newest complete accuracy run of
            the same scenario folder).
        execution: ``test`` (``duration_ms`` long) or ``valid`` (official 600 s).
        duration_ms: minimum duration of a test-mode audit run (ms).

    Returns:
        the ``compliance.json`` record: ``{"test", "passed", "accuracy_passed",
        "performance_passed", "out_dir", "audit_run", "reference_run", "accuracy_run",
        "config"}``.

    Raises:
        HarnessError: missing or unusable runs (:func:`check_test`, before anything is
            written), or the audit run fails.
    """
    perf_run = Path(perf_run).resolve()
    ref, audit, accuracy_run, acc_report = check_test(test, perf_run, accuracy_run)
    out = results_tree.new_compliance_dir(perf_run, test)
    shutil.copy2(audit, out / "audit.config")
    audit_cfg = _audit_config(ref, acc_report, out, execution, duration_ms)
    print(f"{test}: {ref.label()} audit run in {out}", flush=True)
    try:
        audit_run = launcher.launch(audit_cfg)
    except HarnessError as exc:
        raise HarnessError(f"{test} audit run failed ({out}): {exc}") from None
    detail = read_detail(audit_run.path / "mlperf_log_detail.txt")
    if not detail.get(APPLIED[test]):
        raise HarnessError(f"{test}: LoadGen did not apply {out / 'audit.config'} "
                           f"({APPLIED[test]} is {detail.get(APPLIED[test])!r} in "
                           f"{audit_run.run_dir})")
    record: dict[str, Any] = {"test": test, "out_dir": str(out),
                              "audit_run": audit_run.run_dir, "reference_run": str(perf_run),
                              "execution": execution, "config": audit_cfg.to_dict()}
    record.update(_verify(test, perf_run, accuracy_run, acc_report, audit_run.path, out))
    write_json_atomic(out / "compliance.json", record)
    return record


def _audit_config(ref: RunReport, acc_report: RunReport | None, out: Path, execution: str,
                  duration_ms: int | None) -> RunConfig:
    """The audit run's config: the reference's, at its load and deployment, on the
    accuracy run's data (TEST01), with ``out``'s audit.config and results folder."""
    cfg = ref.config.with_absolute_paths(ref.cwd or ".")
    scenario = scenarios.get(cfg.scenario.name)
    data = cfg.data if acc_report is None else \
        acc_report.config.with_absolute_paths(acc_report.cwd or ".").data
    # the audit run repeats the reference's load (Server target QPS); where the expected QPS
    # only sizes the run (Offline), at least AUDIT_SIZE_FACTOR x the reference's samples/s
    target = scenario.target_used(ref.loadgen)
    floor = scenario.resized_target_qps(ref.result, AUDIT_SIZE_FACTOR)
    if floor is not None:
        target = max(target or 0.0, floor)
    chosen = ref.deployment.get("chosen")
    if chosen:  # the deployment the reference chose (Server's rule) is repeated, not re-chosen
        cfg = replace(cfg, backend=replace(cfg.backend, streams=chosen["streams"],
                                           threads=chosen["threads"]))
    audit_cfg = replace(
        cfg, data=data, mode=ModeConfig(name="performance"),
        scenario=replace(cfg.scenario, target_qps=target),
        execution=replace(cfg.execution, kind=execution,
                          duration_ms=duration_ms if execution == "test" else None,
                          results_dir=str(out / "runs"),
                          audit_config=str(out / "audit.config")))
    return audit_cfg


def _verify(test: str, perf_run: Path, accuracy_run: Path | None,
            acc_report: RunReport | None, audit_run: Path, out: Path) -> dict[str, Any]:
    """The test's verification of the audit run against the reference (and TEST01's
    accuracy run), its texts written to ``out``: the record's verdict keys."""
    verdict: dict[str, Any] = {}
    acc_ok = True
    if test == "TEST01":
        dtype = acc_report.card["postprocessing"].get("response_dtype", "float32")
        acc_ok, text = verify_accuracy(accuracy_run / "mlperf_log_accuracy.json",
                                       audit_run / "mlperf_log_accuracy.json", dtype)
        (out / "verify_accuracy.txt").write_text(text)
        verdict.update(accuracy_run=str(accuracy_run), accuracy_passed=acc_ok)
        perf_ok, text = verify_performance_test01(perf_run / "mlperf_log_detail.txt",
                                                  audit_run / "mlperf_log_detail.txt")
    else:
        perf_ok, text = verify_performance_test04(perf_run / "mlperf_log_summary.txt",
                                                  audit_run / "mlperf_log_summary.txt")
    (out / "verify_performance.txt").write_text(text)
    verdict.update(performance_passed=perf_ok, passed=acc_ok and perf_ok)
    return verdict


# --- CLI ----------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", help="performance run directories (the references)")
    p.add_argument("--tests", default=",".join(TESTS), help="comma list of TEST01,TEST04")
    p.add_argument("--accuracy-run", default=None,
                   help="TEST01 accuracy run (default: newest of the same scenario)")
    p.add_argument("--execution", default="test", choices=("test", "valid"),
                   help="test: audit runs of --duration-ms; valid: official 600 s runs")
    p.add_argument("--duration-ms", type=int, default=60000,
                   help="test-mode minimum duration of each audit run (ms)")
    p.add_argument("--launcher", default="process", choices=LAUNCHERS,
                   help="how audit runs are started (each in its own process)")


def main(args) -> int:
    tests = [t.strip().upper() for t in args.tests.split(",") if t.strip()]
    if not tests:
        raise HarnessError("--tests names no test; valid: " + ", ".join(TESTS))
    for t in tests:
        if t not in TESTS:
            audit_config_path(t, "")
    if args.duration_ms < 1:
        raise HarnessError(f"--duration-ms: {args.duration_ms} must be at least 1")
    launcher = for_many(args.launcher, capture=True)  # a launcher it cannot use: refused
    for run_dir in args.runs:  # every test can run before any is started
        for t in tests:
            check_test(t, Path(run_dir), args.accuracy_run)
    failed = 0
    for run_dir in args.runs:
        for t in tests:
            rec = run_test(t, Path(run_dir), launcher, args.accuracy_run, args.execution,
                           args.duration_ms)
            print(f"{t} {'PASS' if rec['passed'] else 'FAIL'}: {rec['out_dir']}")
            failed += not rec["passed"]
    if failed:
        print(f"{failed} compliance test(s) FAILED (see verify_*.txt)")
        return 1
    return 0


__all__ = ["TESTS", "audit_config_path", "verify_accuracy", "verify_performance_test01",
           "verify_performance_test04", "run_test"]
