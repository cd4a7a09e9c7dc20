"""``harness compliance``: MLPerf compliance tests TEST01, TEST04 and TEST05, run and verified.

Each test is a performance run with an ``audit.config`` in the working directory: LoadGen
reads ``./audit.config`` at StartTest and overrides the run's settings from it (its detail log
then warns "Found Audit Config file (audit.config)"). The harness copies
``scenarios/compliance/<TEST>/audit.config`` into a fresh folder, runs ``harness run`` there
in its own process, and verifies the result the way the official scripts do
(mlcommons/inference ``compliance/nvidia/<TEST>/run_verification.py``):

- TEST01 (``verify_accuracy.py`` + ``verify_performance.py``): accuracy samples logged during
  the performance run (``accuracy_log_sampling_target``) must equal, first response element
  per QSL index, the accuracy run's; and the performance must be within 10% of the
  submission run's (20% for SingleStream <= 0.2 ms, MultiStream <= 1.6 ms).
- TEST04 (``TEST04/verify_performance.py``): the same sample issued over and over
  (``performance_issue_same``) must not be more than 10% (20%) faster than the run with
  distinct samples: no caching of repeated samples. The official rule compares the scores
  as-is (samples/s, or latency in ns for the stream scenarios): ``test < ref * (1 + t)``.
- TEST05 (``TEST05/verify_performance.py``): the run with other seeds must reach at least
  95% of the submission's throughput (Offline, Server), or a latency at most 5% (20%) higher.

Outputs per test, in ``<scenario dir>/compliance/<TEST>/<UTC stamp>/``: ``audit.config``,
``verify_accuracy.txt`` (TEST01), ``verify_performance.txt``, ``compliance.json`` (passed,
reference and audit run directories) and the audit run under ``runs/``. The submission
builder copies them into ``<scenario>/<TEST>/`` as run_verification.py lays them out.

LoadGen 6.0.17 ignores RNG seeds written in conf files, audit.config included (verified:
the effective seeds stay the built-in ones), so TEST05's seeds are applied on the
TestSettings object instead (:func:`apply_audit_seeds`, called by the runner).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HarnessError
from .paths import scenarios_dir

HELP = "run and verify the compliance tests TEST01, TEST04, TEST05 for a performance run"
TESTS = ("TEST01", "TEST04", "TEST05")
#: Response encodings the official verify_accuracy.py accepts (--dtype).
DTYPES = {"byte": np.byte, "float32": np.float32, "int32": np.int32, "int64": np.int64}
_SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


def audit_config_path(test: str) -> Path:
    """``scenarios/compliance/<TEST>/audit.config``.

    Raises:
        HarnessError: unknown test.
    """
    path = scenarios_dir() / "compliance" / test / "audit.config"
    if test not in TESTS or not path.is_file():
        raise HarnessError(f"unknown compliance test '{test}'; valid: {', '.join(TESTS)}")
    return path


def apply_audit_seeds(settings, audit_text: str) -> dict[str, int] | None:
    """Apply an audit.config's ``*.*.<seed> = N`` lines to LoadGen TestSettings (TEST05).

    LoadGen 6.0.17 ignores seeds in conf files; its TEST05 mechanism (``test05`` plus the
    ``test05_*_rng_seed`` fields of TestSettings) does take them.

    Returns:
        the seeds applied, or None when the text names none.
    """
    seeds = {}
    for line in audit_text.splitlines():
        m = re.match(r"^\s*[\w*-]+\.[\w*]+\.(\w+)\s*=\s*(\d+)\s*$", line.split("#", 1)[0])
        if m and m[1] in _SEED_KEYS:
            seeds[m[1]] = int(m[2])
    if not seeds:
        return None
    settings.test05 = True
    for key, value in seeds.items():
        setattr(settings, f"test05_{key}", value)
    return seeds


# --- verification (after compliance/nvidia/TEST0x/verify_*.py) -----------------------------

def verify_accuracy(reference_json: Path, test_json: Path, dtype: str = "float32"
                    ) -> tuple[bool, str]:
    """TEST01 accuracy check, as ``compliance/nvidia/TEST01/verify_accuracy.py`` does it.

    Compares the first element of each response (decoded as ``dtype``) logged in the
    performance run against the accuracy run's response for the same QSL index.

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


#: Summary line of each scenario's score. LoadGen 6.x writes "90.0th"; older ones "90th".
_SCORE_LINES = {"SingleStream": r".*Early stopping 90(\.0)?th percentile estimate",
                "MultiStream": r".*Early stopping 99(\.0)?th percentile estimate",
                "Server": "Completed samples per second",
                "Offline": "Samples per second"}


def _summary_score(path: Path) -> dict[str, Any]:
    """Scenario, score, validity, error count and Server target latency of a summary."""
    out: dict[str, Any] = {"scenario": "", "score": None, "valid": None, "errors": 0,
                           "target_latency": None}
    for line in Path(path).read_text(errors="replace").splitlines():
        value = line.split(": ", 1)[1].strip() if ": " in line else ""
        if re.match("Scenario", line):
            out["scenario"] = value.replace(" ", "")
        elif out["scenario"] in _SCORE_LINES and re.match(_SCORE_LINES[out["scenario"]], line):
            out["score"] = float(value)
        elif re.match(r"target_latency \(ns\)", line):
            out["target_latency"] = value
        elif re.match("Result is", line):
            out["valid"] = value == "VALID"
        elif re.match(r"\d+ ERROR", line):
            out["errors"] += int(line.split(" ", 1)[0])
    return out


def verify_performance(test: str, reference_summary: Path, test_summary: Path
                       ) -> tuple[bool, str]:
    """The performance check of TEST01, TEST04 or TEST05 (``verify_performance.py``).

    Scores: Offline samples/s, Server completed samples/s, SingleStream / MultiStream the
    early-stopping latency estimate (ns).

    Returns:
        ``(passed, report text)``.
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
    if ref["scenario"] != new["scenario"]:
        return done(False, "Test and reference scenarios do not match!")
    if ref["scenario"] == "Server" and ref["target_latency"] != new["target_latency"]:
        return done(False, "TEST FAIL: Server target latency mismatch")
    if ref["score"] is None or new["score"] is None:
        return done(False, "TEST FAIL: score missing from a summary")
    lines += [f"reference score = {ref['score']}", f"test score = {new['score']}"]
    scen, r, t = ref["scenario"], ref["score"], new["score"]
    threshold = 0.05 if test == "TEST05" else 0.10
    if (scen == "SingleStream" and r <= 200000) or (scen == "MultiStream" and r <= 1600000):
        threshold = 0.20
    if test == "TEST01":
        passed = r * (1 - threshold) < t < r * (1 + threshold)
    elif test == "TEST04":
        passed = t < r * (1 + threshold)
    else:  # TEST05
        passed = (t > r * (1 - threshold)) if scen in ("Offline", "Server") else \
            (t < r * (1 + threshold))
    return done(passed, "TEST PASS" if passed else "TEST FAIL: Test score invalid")


# --- running ------------------------------------------------------------------------------

_RUN_KEYS = ("model", "precision", "backend", "device", "weights", "hint", "streams",
             "threads", "nireq", "cores", "system", "user_conf", "calibration_dataset",
             "calibration_list", "calibration_count", "max_accuracy_drop")
#: Paths the audit run (started in the compliance folder) gets as absolute paths.
_PATH_KEYS = ("user_conf", "calibration_dataset", "calibration_list")


def _run_command(ref_cfg: dict[str, Any], data_cfg: dict[str, Any], scenario: str,
                 results_dir: Path, execution: str, duration_ms: int | None,
                 target_qps: float | None) -> list[str]:
    args = ["--scenario", scenario, "--mode", "performance", "--execution", execution,
            "--results-dir", str(results_dir)]
    for key in _RUN_KEYS:
        if ref_cfg.get(key) not in (None, ""):
            value = ref_cfg[key]
            if key in _PATH_KEYS or (key == "weights" and Path(str(value)).exists()):
                value = Path(value).resolve()
            args += [f"--{key.replace('_', '-')}", str(value)]
    for key in ("dataset", "count"):
        if data_cfg.get(key) not in (None, ""):
            value = data_cfg[key]
            args += [f"--{key}", str(Path(value).resolve()) if key == "dataset" else str(value)]
    if execution == "test" and duration_ms:
        args += ["--duration-ms", str(int(duration_ms))]
    if target_qps:
        args += ["--target-qps", f"{target_qps:.3f}"]
    return args


def latest_run(parent: Path) -> Path | None:
    """The newest complete run directory directly below ``parent`` (UTC stamps sort)."""
    from .results import read_manifest

    if not parent.is_dir():
        return None
    for d in sorted((p for p in parent.iterdir() if (p / "run.json").is_file()), reverse=True):
        m = read_manifest(d)
        if m.get("status") == "complete" and not m.get("audit_config"):
            return d
    return None


def run_test(test: str, perf_run: Path, accuracy_run: Path | None = None,
             execution: str = "test", duration_ms: int | None = 60000) -> dict[str, Any]:
    """Run one compliance test for a performance run and verify it.

    Args:
        test: TEST01, TEST04 or TEST05.
        perf_run: the submission's performance run directory (the reference).
        accuracy_run: TEST01's accuracy run (default: the newest complete accuracy run of
            the same scenario folder).
        execution: ``test`` (``duration_ms`` long) or ``valid`` (official 600 s).
        duration_ms: minimum duration of a test-mode audit run (ms).

    Returns:
        the ``compliance.json`` record: ``{"test", "passed", "accuracy_passed",
        "performance_passed", "out_dir", "audit_run", "reference_run", "accuracy_run"}``.

    Raises:
        HarnessError: missing runs, or the audit run fails.
    """
    from .results import read_manifest
    from .runner import run_subprocess

    audit = audit_config_path(test)
    perf_run = Path(perf_run).resolve()
    ref = read_manifest(perf_run)
    cfg = ref["config"]
    if ref.get("status") != "complete" or cfg.get("mode") != "performance":
        raise HarnessError(f"{perf_run} is not a complete performance run")
    if (ref.get("result") or {}).get("validity") != "VALID":
        raise HarnessError(f"{perf_run} is INVALID; compliance tests compare against a VALID "
                           f"performance run: repeat it first")
    scenario_dir = perf_run.parent.parent
    if test == "TEST01":
        accuracy_run = accuracy_run or latest_run(scenario_dir / "accuracy")
        if accuracy_run is None or not (Path(accuracy_run) / "mlperf_log_accuracy.json").is_file():
            raise HarnessError(
                f"TEST01 needs an accuracy run of {cfg['model']} {cfg['precision']} "
                f"{cfg['scenario']}: none under {scenario_dir / 'accuracy'}. Make one: harness "
                f"run --model {cfg['model']} --precision {cfg['precision']} --scenario "
                f"{cfg['scenario']} --mode accuracy --dataset DATASET")
        accuracy_run = Path(accuracy_run).resolve()
        data_cfg = read_manifest(accuracy_run)["config"]
    else:
        data_cfg = cfg
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = scenario_dir / "compliance" / test / stamp
    out.mkdir(parents=True, exist_ok=False)
    shutil.copy2(audit, out / "audit.config")
    # the audit run uses the reference's load: Server target QPS, Offline expected QPS
    lg_notes = ref.get("loadgen", {})
    target = (lg_notes.get("server_target_qps") or lg_notes.get("offline_expected_qps")
              or {}).get("value")
    args = _run_command(cfg, data_cfg, cfg["scenario"], out / "runs", execution, duration_ms,
                        target if cfg["scenario"] in ("Server", "Offline") else None)
    print(f"{test}: {cfg['model']} {cfg['precision']} {cfg['scenario']} audit run in {out}",
          flush=True)
    proc = run_subprocess(args, cwd=out, capture_output=True, text=True)
    m = re.search(r"^run directory: (.+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not m:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HarnessError(f"{test} audit run failed ({out}): {' | '.join(tail)}")
    audit_run = (out / m.group(1).strip()).resolve()
    detail = (audit_run / "mlperf_log_detail.txt").read_text(errors="replace")
    if "Found Audit Config file" not in detail:
        raise HarnessError(f"{test}: LoadGen did not read {out / 'audit.config'} "
                           f"(no 'Found Audit Config file' in {audit_run})")
    record: dict[str, Any] = {"test": test, "out_dir": str(out), "audit_run": str(audit_run),
                              "reference_run": str(perf_run), "execution": execution,
                              "command": [sys.executable, "-m", "harness", "run", *args]}
    acc_ok = True
    if test == "TEST01":
        dtype = read_manifest(accuracy_run)["card"]["postprocessing"].get("response_dtype",
                                                                          "float32")
        acc_ok, text = verify_accuracy(accuracy_run / "mlperf_log_accuracy.json",
                                       audit_run / "mlperf_log_accuracy.json", dtype)
        (out / "verify_accuracy.txt").write_text(text)
        record.update(accuracy_run=str(accuracy_run), accuracy_passed=acc_ok)
    perf_ok, text = verify_performance(test, perf_run / "mlperf_log_summary.txt",
                                       audit_run / "mlperf_log_summary.txt")
    (out / "verify_performance.txt").write_text(text)
    record.update(performance_passed=perf_ok, passed=acc_ok and perf_ok)
    (out / "compliance.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def latest_result(scenario_dir: Path, test: str) -> dict[str, Any] | None:
    """The newest ``compliance.json`` of ``test`` below a scenario folder, or None."""
    base = Path(scenario_dir) / "compliance" / test
    if not base.is_dir():
        return None
    for d in sorted(base.iterdir(), reverse=True):
        if (d / "compliance.json").is_file():
            return json.loads((d / "compliance.json").read_text())
    return None


# --- CLI ----------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", help="performance run directories (the references)")
    p.add_argument("--tests", default=",".join(TESTS), help="comma list of TEST01,TEST04,TEST05")
    p.add_argument("--accuracy-run", default=None,
                   help="TEST01 accuracy run (default: newest of the same scenario)")
    p.add_argument("--execution", default="test",
                   help="test: audit runs of --duration-ms; valid: official 600 s runs")
    p.add_argument("--duration-ms", type=int, default=60000,
                   help="test-mode minimum duration of each audit run (ms)")


def run(args) -> int:
    tests = [t.strip().upper() for t in args.tests.split(",") if t.strip()]
    for t in tests:
        audit_config_path(t)
    failed = 0
    for run_dir in args.runs:
        for t in tests:
            rec = run_test(t, Path(run_dir), args.accuracy_run, args.execution,
                           args.duration_ms)
            print(f"{t} {'PASS' if rec['passed'] else 'FAIL'}: {rec['out_dir']}")
            failed += not rec["passed"]
    if failed:
        print(f"{failed} compliance test(s) FAILED (see verify_*.txt)")
        return 1
    return 0
