"""Trees you can trust: `harness submission` builds from the files it is pointed at (a
results folder copied elsewhere, its original edited, moved away), refuses a copy that lacks
a run's file; `harness check-submission` recomputes accuracy.txt's hash and accuracy from
the tree's log; a detail-log line that is JSON but no MLLOG entry is one clear error in
`check-submission` and `harness report`, never a traceback. Real short runs (Offline
performance, a 50-image accuracy run, TEST04), edited on purpose in copies."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.submission import checker

from conftest import run_cli
from machine_load import run_dir_of, valid_offline_run

MODEL = ["--model", "mobilenet_v2_quant"]
SYSTEM = {"status": "available", "system_type": "edge", "cooling": "air",
          "host_storage_type": "SSD", "host_networking": "none",
          "host_network_card_count": "0", "host_memory_configuration": "unknown DIMMs"}
SCENARIO = Path("box") / "mobilenet_v2_quant" / "uint8" / "Offline"
RESULT = Path("open") / "ORG" / "results" / "box" / "mobilenet_v2_quant" / "Offline"
NOT_MLLOG = ["42", '["a"]', '{"value": 1}']


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    return proc


@pytest.fixture(scope="module")
def results(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """``<root>/results``: a VALID Offline performance run (synthetic inputs), a 50-image
    accuracy run (its log is whole in a tree: under the checker's 10 KiB) and TEST04."""
    root = tmp_path_factory.mktemp("trust_sub")
    r = ["--results-dir", str(root / "results"), "--system", "box"]
    perf = valid_offline_run(*MODEL, *r, duration_ms=1000)
    run_dir_of(run_cli("run", *MODEL, *r, "--mode", "accuracy", "--dataset",
                       str(imagenet_sample), "--count", "50", "--scenario", "Offline"))
    proc = run_cli("compliance", str(perf), "--tests", "TEST04", "--duration-ms", "1000")
    assert proc.returncode in (0, 1), proc.stdout[-1500:] + proc.stderr[-1500:]
    (root / "system.json").write_text(json.dumps(SYSTEM))
    return root


def _build(results, runs: Path, out: Path, *extra):
    return run_cli("submission", "--submitter", "ORG", "--system", "box", "--system-file",
                   str(results / "system.json"), "--min-duration-s", "1", str(runs),
                   "-o", str(out), *extra)


@pytest.fixture(scope="module")
def tree(results):
    out = results / "tree"
    _ok(_build(results, results / "results", out))
    return out


def _only(folder: Path) -> Path:
    """The one run directory below ``folder``."""
    runs = sorted(p.parent for p in folder.rglob("run.json"))
    assert len(runs) == 1, runs
    return runs[0]


def _sources(results_root: Path) -> dict[str, Path]:
    """Where each file of the Offline result folder must come from, found independently in
    a results folder: tree path (relative to the result folder) -> file."""
    scen = results_root / SCENARIO
    perf, acc = _only(scen / "performance"), _only(scen / "accuracy")
    out = {"user.conf": perf / "user.conf"}
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        out[f"performance/run_1/{f}"] = perf / f
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt",
              "mlperf_log_accuracy.json"):
        out[f"accuracy/{f}"] = acc / f
    test04 = next((scen / "compliance" / "TEST04").iterdir())
    audit = _only(test04 / "runs")
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        out[f"TEST04/performance/run_1/{f}"] = audit / f
    if (test04 / "verify_performance.txt").is_file():
        out["TEST04/verify_performance.txt"] = test04 / "verify_performance.txt"
    return out


def _copied_files(tree: Path) -> set[str]:
    """The files of the Offline result folder that are copies of run files (not the ones
    the builder writes: README.md, measurements.json)."""
    d = tree / RESULT
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()} - {
        "README.md", "measurements.json"}


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


# --- harness submission: the files it was pointed at ------------------------------------

def test_tree_from_a_copy_holds_the_copys_files_also_with_the_original_gone(results,
                                                                            tmp_path):
    original = results / "results"
    copy = tmp_path / "elsewhere" / "results"
    shutil.copytree(original, copy)
    src = _sources(copy)
    _append(src["performance/run_1/mlperf_log_summary.txt"], "\n# edited in the copy\n")
    _append(src["user.conf"], "# edited in the copy\n")
    src.pop("TEST04/verify_performance.txt").unlink()  # deleted in the copy only
    assert (_sources(original)["TEST04/verify_performance.txt"]).is_file()

    out = tmp_path / "tree"
    proc = _ok(_build(results, copy, out))
    assert str(original) not in proc.stdout
    assert _copied_files(out) == set(src)
    for rel, f in src.items():
        assert (out / RESULT / rel).read_bytes() == f.read_bytes(), rel
    record = json.loads((out / "harness_submission.json").read_text())
    (used,) = record["results"]
    assert used["performance_run"] == str(src["user.conf"].parent.resolve())
    assert used["accuracy_run"] == str(src["accuracy/accuracy.txt"].parent.resolve())
    assert Path(used["compliance"]["TEST04"]).is_relative_to(copy.resolve())
    readme = (out / RESULT / "README.md").read_text()  # TEST04 against the copy's run
    assert f"harness compliance {src['user.conf'].parent.resolve()} --tests TEST04" in readme

    moved = results / "moved_away"
    original.rename(moved)
    try:
        again = tmp_path / "tree_again"
        proc = _ok(_build(results, copy, again))
        assert "Traceback" not in proc.stderr
        assert _copied_files(again) == set(src)
        for rel, f in src.items():
            assert (again / RESULT / rel).read_bytes() == f.read_bytes(), rel
    finally:
        moved.rename(original)


@pytest.mark.parametrize("lost", ["performance/run_1/mlperf_log_detail.txt",
                                  "accuracy/mlperf_log_accuracy.json",
                                  "TEST04/performance/run_1/mlperf_log_summary.txt"])
def test_a_run_file_missing_in_the_copy_is_refused(results, tmp_path, lost):
    copy = tmp_path / "copy"
    shutil.copytree(results / "results", copy)
    gone = _sources(copy)[lost]
    gone.unlink()
    for extra in ([], ["--dry-run"]):
        out = tmp_path / f"tree{len(extra)}"
        proc = _build(results, copy, out, *extra)
        assert proc.returncode == 2, proc.stdout[-1500:] + proc.stderr[-1500:]
        assert "Traceback" not in proc.stderr
        assert re.search(r"^error: cannot build the submission: files of the selected runs "
                         r"are missing", proc.stderr, re.M), proc.stderr
        assert f"  {gone.resolve()}\n" in proc.stderr
        assert not out.exists()
        assert not list(tmp_path.glob(".tree*"))  # no partial tree beside it


# --- harness check-submission: recomputed hash and accuracy -----------------------------

def _copy_tree(tree: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    return copy, copy / RESULT


def _new_errors(tree: Path, copy: Path) -> list[str]:
    base = {f"{p}: {m}" for p, m in checker.check_tree(tree, min_duration_s=1).errors}
    return [e for p, m in checker.check_tree(copy, min_duration_s=1).errors
            if (e := f"{p}: {m}".replace(str(copy), str(tree))) not in base]


def _float32_hex(value: float) -> str:
    return np.float32(value).tobytes().hex().upper()


def test_good_tree_is_rescored_without_complaint(tree):
    rep = checker.check_tree(tree, min_duration_s=1)
    about_accuracy = [f"{p}: {m}" for p, m in rep.errors + rep.warnings
                      if p.endswith(("accuracy.txt", "mlperf_log_accuracy.json"))]
    assert about_accuracy == []  # re-scored against the dataset: no "not re-scored" either


def test_edited_accuracy_line_fails_naming_accuracy_txt(tree, tmp_path):
    copy, d = _copy_tree(tree, tmp_path)
    txt = d / "accuracy" / "accuracy.txt"
    text = txt.read_text()
    value = float(re.search(r"^accuracy=([\d.]+)%", text, re.M).group(1))
    txt.write_text(re.sub(r"^accuracy=[\d.]+%", f"accuracy={value + 1:.3f}%", text,
                          flags=re.M))
    new = _new_errors(tree, copy)
    assert len(new) == 1, new
    assert new[0].startswith(f"{tree / RESULT / 'accuracy' / 'accuracy.txt'}: says top1 "
                             f"{value + 1:.3f}%")
    assert f"gives top1 {value:.3f}%" in new[0]
    proc = run_cli("check-submission", str(copy), "--min-duration-s", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert re.search(rf"^ERROR {re.escape(str(txt))}: says top1 {value + 1:.3f}%; "
                     rf"mlperf_log_accuracy.json re-scored", proc.stdout, re.M), proc.stdout


def test_edited_accuracy_log_fails_naming_the_log(tree, tmp_path):
    copy, d = _copy_tree(tree, tmp_path)
    js = d / "accuracy" / "mlperf_log_accuracy.json"
    entries = json.loads(js.read_text())
    entries[0]["data"] = _float32_hex(-5.0)  # a class no label has
    js.write_text(json.dumps(entries))
    digest = hashlib.sha256(js.read_bytes()).hexdigest()
    new = _new_errors(tree, copy)
    assert len(new) == 1, new
    assert new[0].startswith(f"{tree / RESULT / 'accuracy' / 'mlperf_log_accuracy.json'}: "
                             f"its sha256 is {digest}, accuracy.txt says hash=")
    proc = run_cli("check-submission", str(copy), "--min-duration-s", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert re.search(rf"^ERROR {re.escape(str(js))}: its sha256 is {digest}", proc.stdout,
                     re.M), proc.stdout


def test_log_and_hash_edited_together_fail_on_the_rescored_accuracy(tree, tmp_path):
    """A consistent forgery (every response wrong, hash= updated) is caught by re-scoring."""
    copy, d = _copy_tree(tree, tmp_path)
    js, txt = d / "accuracy" / "mlperf_log_accuracy.json", d / "accuracy" / "accuracy.txt"
    entries = json.loads(js.read_text())
    for e in entries:
        e["data"] = _float32_hex(-5.0)
    js.write_text(json.dumps(entries))
    digest = hashlib.sha256(js.read_bytes()).hexdigest()
    txt.write_text(re.sub(r"^hash=\w+$", f"hash={digest}", txt.read_text(), flags=re.M))
    new = _new_errors(tree, copy)
    assert len(new) == 1, new
    assert new[0].startswith(f"{tree / RESULT / 'accuracy' / 'accuracy.txt'}: says top1 ")
    assert "gives top1 0.000%" in new[0]


def test_without_the_dataset_the_hash_is_still_checked(tree, tmp_path):
    copy, d = _copy_tree(tree, tmp_path)
    meas = json.loads((d / "measurements.json").read_text())
    meas["dataset_accuracy"]["path"] = str(tmp_path / "no_such_dataset")
    (d / "measurements.json").write_text(json.dumps(meas))
    rep = checker.check_tree(copy, min_duration_s=1)
    assert any(p == str(d / "accuracy" / "accuracy.txt") and
               m.startswith("accuracy not re-scored from mlperf_log_accuracy.json: its "
                            "dataset is not available here") for p, m in rep.warnings)
    js = d / "accuracy" / "mlperf_log_accuracy.json"
    js.write_bytes(js.read_bytes().replace(b"}", b"} ", 1))  # same JSON, other bytes
    new = _new_errors(tree, copy)
    assert len(new) == 1 and "mlperf_log_accuracy.json: its sha256 is" in new[0], new


# --- a detail-log line that is JSON but no MLLOG entry ----------------------------------

@pytest.mark.parametrize("line", NOT_MLLOG)
@pytest.mark.parametrize("log", ["performance/run_1", "accuracy",
                                 "TEST04/performance/run_1"])
def test_checker_names_a_non_mllog_line(tree, tmp_path, log, line):
    copy, d = _copy_tree(tree, tmp_path)
    detail = d / log / "mlperf_log_detail.txt"
    n = len(detail.read_text().splitlines()) + 1
    _append(detail, f":::MLLOG {line}\n")
    new = _new_errors(tree, copy)
    assert new == [f"{tree / RESULT / log / 'mlperf_log_detail.txt'}: line {n} is not a "
                   f"LoadGen MLLOG entry (an object with a string \"key\" and a \"value\"): "
                   f":::MLLOG {line}; LoadGen never writes such a line: the log was edited "
                   f"or damaged"], new


def test_check_submission_and_report_refuse_a_non_mllog_line_clearly(results, tree,
                                                                     tmp_path):
    copy, d = _copy_tree(tree, tmp_path)
    detail = d / "performance" / "run_1" / "mlperf_log_detail.txt"
    n = len(detail.read_text().splitlines()) + 1
    _append(detail, ":::MLLOG 42\n")
    proc = run_cli("check-submission", str(copy), "--min-duration-s", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert f"ERROR {detail}: line {n} is not a LoadGen MLLOG entry" in proc.stdout

    runs = tmp_path / "runs"
    shutil.copytree(results / "results", runs)
    perf = _sources(runs)["performance/run_1/mlperf_log_detail.txt"]
    n = len(perf.read_text().splitlines()) + 1
    _append(perf, ':::MLLOG ["a"]\n')
    proc = run_cli("report", str(runs), "--out", str(tmp_path / "report"), "--formats",
                   "png")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert f"WARNING: {perf.parent}: status complete, logs unreadable: {perf}: " \
           f"line {n} is not a LoadGen MLLOG entry" in proc.stdout, proc.stdout
