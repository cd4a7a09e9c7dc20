"""Results you can trust (issue 14): no run that looks valid and is not, no traceback for bad
input.

Each case is made to happen for real (real LoadGen, OpenVINO, images, a real full disk on a
tmpfs where the test may mount one, real SIGINT and SIGKILL) and its clear outcome asserted:
the exit status, one ``error:`` line without a traceback, the run's status, and nothing left
that looks valid.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, manifest, run_cli, run_dirs
from harness import cards, loadgen_logs, model_precision
from harness.errors import HarnessError, shorten
from harness.reports import collect
from harness.weights import from_file, random_weights

MODEL = ["--model", "mobilenet_v2_quant"]
SYSTEM = {"status": "available", "system_type": "edge", "cooling": "air",
          "host_storage_type": "SSD", "host_networking": "none",
          "host_network_card_count": "0", "host_memory_configuration": "unknown DIMMs"}


# --- helpers ------------------------------------------------------------------------------

def _one_error(proc, expect: str, status: int = 2) -> str:
    """The process exited with ``status`` after exactly one ``error:`` line, without a
    traceback, and the error (that line and any list under it) holds ``expect``; returns
    the line."""
    text = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == status, text
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert expect in proc.stderr[proc.stderr.index(errors[0]):], proc.stderr[-3000:]
    return errors[0]


def _refused(proc, expect: str, results: Path) -> str:
    """Bad input: one error line, exit status 2, and no run directory."""
    line = _one_error(proc, expect)
    assert run_dirs(results) == []
    return line


def _imagenet_copy(root: Path, source: Path, n: int) -> Path:
    """The first ``n`` images of the ImageNet sample with their val_map lines, to break."""
    root.mkdir(parents=True)
    lines = (source / "val_map.txt").read_text().splitlines()[:n]
    for line in lines:
        shutil.copy(source / line.split()[0], root)
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")
    return root


def _temps(folder: Path) -> list[Path]:
    """Temporary files and folders of the harness (``.<name>@<host>@<pid>@...``) below."""
    return [p for p in Path(folder).rglob(".*@*@*@*")]


class _Started:
    """A ``harness run`` in the background whose output lines are collected as they come."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", *args], cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # a suite started in the background passes on an ignored SIGINT; give the run
            # the default back so that Python turns SIGINT into KeyboardInterrupt
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, condition, what: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail(f"never saw {what}; output: {''.join(self.lines)[-2000:]}")

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        self.reader.join(10)
        return self.proc.returncode, err


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size)`` -> a folder on a tmpfs of that size (a disk that fills up); the test
    is skipped where this process may not mount (not root)."""
    mounted = []

    def mount(size: str) -> Path:
        path = tmp_path / f"tmpfs{len(mounted)}"
        path.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory, mobilenet_tflite) -> Path:
    """A real complete VALID Offline run (MobileNetV2 as given, synthetic inputs, 1 s); tests
    copy its results folder before adding to it."""
    root = tmp_path_factory.mktemp("complete") / "results"
    proc = run_cli("run", *MODEL, "--duration-ms", "1000", "--target-qps", "2000",
                   "--results-dir", str(root), "--system", "box")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(root)
    assert manifest(run_dir)["status"] == "complete"
    return run_dir


# --- 1. stale preprocessed data -----------------------------------------------------------

def test_replaced_images_are_preprocessed_again_and_the_key_is_recorded(tmp_path,
                                                                         imagenet_sample,
                                                                         mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 8)
    args = ["run", *MODEL, "--mode", "accuracy", "--dataset", str(data),
            "--results-dir", str(tmp_path / "r")]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (first,) = run_dirs(tmp_path / "r")
    before = manifest(first)
    # every image now holds the next one's picture (another class): the old pixels would
    # still score ~7/8, the new ones score ~0/8
    names = [line.split()[0] for line in (data / "val_map.txt").read_text().splitlines()]
    pictures = [(data / n).read_bytes() for n in names]
    for i, name in enumerate(names):
        (data / name).write_bytes(pictures[(i + 1) % len(names)])
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (second,) = [d for d in run_dirs(tmp_path / "r") if d != first]
    after = manifest(second)
    assert before["accuracy"]["good"] >= 6, before["accuracy"]
    assert after["accuracy"]["good"] <= 2, after["accuracy"]
    assert before["dataset"]["content_key"] != after["dataset"]["content_key"]
    assert "modification time" in after["dataset"]["content_key_covers"]
    assert after["dataset"]["content_key"] in after["dataset"]["cache"]


# --- 2. a cut LoadGen log -----------------------------------------------------------------

def _limit_file_size(limit: int):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_a_cut_loadgen_log_fails_the_run_and_no_tree_takes_it(tmp_path, complete_run,
                                                              imagenet_sample):
    # a file size limit of 24 KiB (ulimit -f 24) cuts LoadGen's 28 KB detail log; the
    # caches are warm from the complete run
    results = tmp_path / "cut"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", *MODEL, "--duration-ms", "1000",
         "--target-qps", "2000", "--results-dir", str(results), "--system", "box"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        preexec_fn=_limit_file_size(24 * 1024))
    _one_error(proc, "lack its result")
    assert "file size limit" in proc.stderr
    (run_dir,) = run_dirs(results)
    m = manifest(run_dir)
    assert m["status"] == "failed" and "lack its result" in m["error"]
    assert m["result"]["validity"] is None  # nothing claims VALID
    assert (run_dir / "mlperf_log_detail.txt").stat().st_size <= 24 * 1024
    # the tree builder refuses it: no complete VALID run
    (tmp_path / "system.json").write_text(json.dumps(SYSTEM))
    sub = ["submission", "--submitter", "ORG", "--system", "box", "--system-file",
           str(tmp_path / "system.json"), "--min-duration-s", "1"]
    proc = run_cli(*sub, "--results-dir", str(results), "-o", str(tmp_path / "t1"))
    _one_error(proc, "no complete VALID")
    assert not (tmp_path / "t1").exists()
    # and the checker refuses a tree whose performance log was cut the same way
    good = tmp_path / "good"
    shutil.copytree(complete_run.parents[5], good)
    proc = run_cli("run", *MODEL, "--mode", "accuracy", "--dataset", str(imagenet_sample),
                   "--count", "16", "--results-dir", str(good), "--system", "box")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(*sub, "--results-dir", str(good), "-o", str(tmp_path / "t2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (perf_log,) = (tmp_path / "t2").rglob("performance/run_1/mlperf_log_detail.txt")
    shutil.copy(run_dir / "mlperf_log_detail.txt", perf_log)
    proc = run_cli("check-submission", str(tmp_path / "t2"), "--min-duration-s", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert re.search(rf"ERROR {re.escape(str(perf_log))}: result is None, not VALID",
                     proc.stdout), proc.stdout


# --- 3. class indices out of range --------------------------------------------------------

def test_val_map_classes_outside_the_models_range_are_refused(tmp_path, imagenet_sample,
                                                              mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 4)
    lines = (data / "val_map.txt").read_text().splitlines()
    lines[1] = lines[1].split()[0] + " 5000"
    lines[3] = lines[3].split()[0] + " -7"
    (data / "val_map.txt").write_text("\n".join(lines) + "\n")
    proc = run_cli("run", *MODEL, "--mode", "accuracy", "--dataset", str(data),
                   "--results-dir", str(tmp_path / "r"))
    line = _refused(proc, "2 class indices are outside 0..999", tmp_path / "r")
    assert "line 2: class 5000" in line and "line 4: class -7" in line
    assert "mobilenet_v2_quant (1001 outputs, class offset -1)" in line


# --- 4. user.conf lines LoadGen would drop ------------------------------------------------

@pytest.mark.parametrize("line,expect", [
    ("mobilenet_v2_quant.Offline.min_query_count = 3000",
     "LoadGen is given the benchmark name 'resnet50'"),
    ("resnt50.Offline.min_duration = 1000", "would ignore a line for 'resnt50'"),
    ("*.Offlin.min_duration = 1000", "unknown scenario 'Offlin'"),
])
def test_user_conf_lines_loadgen_would_ignore_are_refused(tmp_path, line, expect,
                                                          mobilenet_tflite):
    conf = tmp_path / "user.conf"
    conf.write_text(line + "\n")
    proc = run_cli("run", *MODEL, "--user-conf", str(conf), "--results-dir",
                   str(tmp_path / "r"))
    _refused(proc, expect, tmp_path / "r")


def test_a_binary_user_conf_gets_one_line(tmp_path, mobilenet_tflite):
    conf = tmp_path / "user.conf"
    conf.write_bytes(b"\xff\xfe\x00\x89PNG\x00\x00")
    proc = run_cli("run", *MODEL, "--user-conf", str(conf), "--results-dir",
                   str(tmp_path / "r"))
    _refused(proc, "is not a text file", tmp_path / "r")


# --- 5. COCO annotations that would give a wrong or no mAP --------------------------------

def _coco_copy(root: Path, source: Path, n: int, edit) -> Path:
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    data = json.loads((source / "annotations" / "instances_val2017.json").read_text())
    for img in data["images"][:n]:
        shutil.copy(source / "val2017" / img["file_name"], root / "val2017")
    edit(data)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return root


def test_coco_categories_not_covering_the_model_are_refused(tmp_path, coco_subset):
    def five_categories(data):
        data["categories"] = data["categories"][:5]

    data = _coco_copy(tmp_path / "coco", coco_subset, 4, five_categories)
    proc = run_cli("run", "--model", "yolox_nano", "--mode", "accuracy", "--dataset",
                   str(data), "--count", "4", "--results-dir", str(tmp_path / "r"))
    line = _refused(proc, "lists 5 of the 80 COCO categories yolox_nano detects",
                    tmp_path / "r")
    assert "missing ids: 6, 7," in line


def test_a_coco_annotation_without_image_id_is_refused_before_the_run(tmp_path, coco_subset):
    def drop_image_id(data):
        del data["annotations"][3]["image_id"]

    data = _coco_copy(tmp_path / "coco", coco_subset, 4, drop_image_id)
    proc = run_cli("run", "--model", "yolox_nano", "--mode", "accuracy", "--dataset",
                   str(data), "--count", "4", "--results-dir", str(tmp_path / "r"))
    _refused(proc, "annotations[3] lacks image_id", tmp_path / "r")
    assert "converting" not in proc.stdout  # refused before any model work


# --- 6. a results folder that cannot be written -------------------------------------------

def test_an_unwritable_results_folder_is_refused_before_any_work(tmp_path, mobilenet_tflite):
    proc = run_cli("run", *MODEL, "--dataset", str(tmp_path / "nope"),
                   "--results-dir", "/proc/harness-results")
    _one_error(proc, "results folder /proc/harness-results cannot be written")
    assert "--results-dir" in proc.stderr
    # checked first: before the dataset (missing here) and before the model
    assert "does not exist" not in proc.stderr and "calibration" not in proc.stdout


# --- 7. disk full -------------------------------------------------------------------------

def test_a_full_results_disk_marks_the_run_failed_and_leaves_no_temp_files(tmpfs,
                                                                           complete_run):
    results = tmpfs("40k")
    proc = run_cli("run", *MODEL, "--duration-ms", "1000", "--target-qps", "2000",
                   "--results-dir", str(results), "--system", "box")
    _one_error(proc, "is full")
    assert _temps(results) == []
    dirs = run_dirs(results)
    for d in dirs:  # run.json rewritten in place where the atomic write had no room
        m = manifest(d)
        assert m["status"] == "failed" and "is full" in m["error"], m["status"]
    if not dirs:  # no room even for the first run.json: no report at all, never a result
        assert "cannot write" in proc.stderr


def test_a_full_cache_disk_is_one_line_and_no_temp_files(tmpfs, tmp_path, imagenet_sample,
                                                          mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 4)
    for size, expect in (("64k", "cannot write the preprocessed samples"),
                         ("1m", "cannot write the OpenVINO IR")):
        cache = tmpfs(size)
        proc = run_cli("run", *MODEL, "--dataset", str(data), "--duration-ms", "500",
                       "--results-dir", str(tmp_path / "r"),
                       env={"HARNESS_CACHE_DIR": str(cache)})
        line = _refused(proc, expect, tmp_path / "r")
        assert f"the disk holding {cache}" in line and "HARNESS_CACHE_DIR" in line
        assert _temps(cache) == []


# --- 8. SIGKILL: abandoned, never hiding the last complete run ----------------------------

def test_a_killed_run_is_abandoned_and_show_keeps_the_complete_one(tmp_path, complete_run):
    results = tmp_path / "results"
    shutil.copytree(complete_run.parents[5], results)
    run = _Started([*MODEL, "--duration-ms", "60000", "--target-qps", "2000",
                    "--results-dir", str(results), "--system", "box"])
    run.wait_for(lambda: any((d / "mlperf_log_detail.txt").exists()
                             for d in run_dirs(results) if d.name != complete_run.name),
                 "the run start")
    run.proc.kill()
    run.finish()
    (killed,) = [d for d in run_dirs(results) if d.name != complete_run.name]
    m = manifest(killed)
    assert m["status"] == "incomplete" and m["pid"] == run.proc.pid and m["host"]
    proc = run_cli("show", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "mobilenet_v2_quant" in line]
    assert len(rows) == 1, proc.stdout
    assert "complete" in rows[0] and "VALID" in rows[0] and complete_run.name in rows[0]
    assert "newer unfinished: 1 abandoned" in rows[0]
    proc = run_cli("show", "--results-dir", str(results), "--all")
    assert re.search(rf"abandoned .*{killed.name}", proc.stdout), proc.stdout
    df = collect.collect([results])
    assert dict(zip(df["run_dir"], df["status"]))[str(killed)] == "abandoned"
    assert str(killed) in set(collect.problems(df)["run_dir"])


# --- 9. unreadable run.json files ---------------------------------------------------------

BAD_REPORTS = {"binary": b"\x00\xff\xfe\x01 not json", "list": b"[]",
               "wrong-types": None}


def _bad_reports(results: Path, complete_run: Path) -> dict[str, Path]:
    out = {}
    for name, content in BAD_REPORTS.items():
        d = results / "box" / "mobilenet_v2_quant" / "uint8" / "Offline" / "performance" / name
        d.mkdir(parents=True)
        if content is None:
            data = manifest(complete_run)
            data["status"], data["pid"] = 3, "x"
            content = json.dumps(data).encode()
        (d / "run.json").write_bytes(content)
        out[name] = d
    return out


def test_show_and_report_list_unreadable_reports_and_go_on(tmp_path, complete_run):
    results = tmp_path / "results"
    shutil.copytree(complete_run.parents[5], results)
    bad = _bad_reports(results, complete_run)
    proc = run_cli("show", "--results-dir", str(results))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert complete_run.name in proc.stdout
    for d in bad.values():
        assert re.search(rf"unreadable .*{re.escape(str(d))}", proc.stdout), proc.stdout
    proc = run_cli("report", str(results), "--out", str(tmp_path / "report"),
                   "--formats", "png")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    for d in bad.values():
        assert f"{d}: status unreadable" in proc.stdout
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert (runs["status"] == "complete").sum() == 1


def test_compliance_on_a_missing_or_garbage_run_json_is_one_line(tmp_path, complete_run):
    results = tmp_path / "results"
    shutil.copytree(complete_run.parents[5], results)
    bad = _bad_reports(results, complete_run)
    empty = tmp_path / "no-run"
    empty.mkdir()
    for d, expect in ((empty, "does not exist: not a run directory"),
                      (bad["binary"], "cannot be read"), (bad["list"], "not a run report"),
                      (bad["wrong-types"], "field status is int")):
        proc = run_cli("compliance", str(d), "--tests", "TEST04")
        line = _one_error(proc, expect)
        assert "not a run the compliance tests can compare with" in line
        assert not (d / "compliance").exists() and not (d.parent / "compliance").exists()


# --- 10. a published tree whose detail log is missing or empty ----------------------------

#: The published MLPerf Inference v2.0 Intel BootstrapNAS-A Offline result, laid out as that
#: tree is (mlcommons/inference_results_v2.0, open/Intel): a summary in LoadGen's v2.0
#: format, the v2.0 measurements layout, systems/<system>.json.
V20_SYSTEM = "1-node-2s-icx-openvino-INT8"
V20_SUMMARY = """================================================
MLPerf Results Summary
================================================
SUT name : SUT
Scenario : Offline
Mode     : PerformanceOnly
Samples per second: 10679
Result is : VALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes

================================================
Additional Stats
================================================
Min latency (ns)                : 661297910447
Max latency (ns)                : 661297910447
Mean latency (ns)               : 661297910447
50.00 percentile latency (ns)   : 661297910447
90.00 percentile latency (ns)   : 661297910447
99.00 percentile latency (ns)   : 661297910447

================================================
Test Parameters Used
================================================
samples_per_query : 7062000
target_qps : 10700
min_duration (ms): 600000
performance_sample_count : 1024

No errors encountered during test.
"""


@pytest.mark.parametrize("detail", ["missing", "empty"])
def test_a_published_summary_only_result_is_plotted_from_its_summary(tmp_path, detail):
    org = tmp_path / "tree" / "open" / "Intel"
    run = org / "results" / V20_SYSTEM / "resnet50_bootstrapnasA" / "Offline" / \
        "performance" / "run_1"
    run.mkdir(parents=True)
    (run / "mlperf_log_summary.txt").write_text(V20_SUMMARY)
    if detail == "empty":
        (run / "mlperf_log_detail.txt").write_text("")
    meas = org / "measurements" / V20_SYSTEM / "resnet50_bootstrapnasA" / "Offline"
    meas.mkdir(parents=True)
    (meas / f"{V20_SYSTEM}_Offline.json").write_text(json.dumps(
        {"weight_data_types": "int8", "input_data_types": "int8"}))
    (org / "systems").mkdir()
    (org / "systems" / f"{V20_SYSTEM}.json").write_text(json.dumps(
        {"system_name": V20_SYSTEM, "framework": "OpenVINO", "status": "available",
         "host_processor_model_name": "Intel(R) Xeon(R) Platinum 8380 CPU"}))
    df = collect.collect([tmp_path / "tree"])
    (row,) = df.to_dict("records")
    assert row["layout"] == "submission v2.0" and row["precision"] == "int8"
    assert row["log_status"] == "summary only", row["log_problem"]
    assert row["throughput"] == 10679.0 and row["validity"] == "VALID"
    assert collect.problems(df).empty
    summ = collect.summary(df)
    assert summ.loc[0, "offline_samples_per_s"] == 10679.0
    proc = run_cli("report", str(tmp_path / "tree"), "--out", str(tmp_path / "report"),
                   "--baseline", "resnet50_bootstrapnasA:int8:openvino", "--formats", "png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 runs, 0 with problems" in proc.stdout
    assert (tmp_path / "report" / "1_relative_throughput.png").is_file()


# --- tracebacks instead of one clear line -------------------------------------------------

def _bomb_header(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF0/SOF2) claims ``width`` x ``height`` pixels."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = jpeg.find(marker)
        if at >= 0:
            return (jpeg[:at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big")
                    + jpeg[at + 9:])
    raise AssertionError("no SOF marker")


def test_an_image_header_of_20000x20000_is_one_line(tmp_path, imagenet_sample,
                                                    mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 3)
    victim = (data / "val_map.txt").read_text().split()[2]
    (data / victim).write_bytes(_bomb_header((data / victim).read_bytes(), 20000, 20000))
    with pytest.raises(Image.DecompressionBombError, match="400000000 pixels"):
        Image.open(data / victim)  # what a bare Pillow call would raise
    proc = run_cli("run", *MODEL, "--dataset", str(data), "--results-dir",
                   str(tmp_path / "r"))
    line = _refused(proc, "is too large to decode safely", tmp_path / "r")
    assert victim in line
    # the OpenCV recipe (YOLOX) checks the header first too
    from harness.datasets.preprocessing import preprocess

    with pytest.raises(HarnessError, match="too large to decode safely"):
        preprocess(data / victim, cards.load("yolox_nano").preprocessing)


def test_an_empty_val_map_names_the_val_map_not_the_model(tmp_path, mobilenet_tflite):
    data = tmp_path / "data"
    data.mkdir()
    (data / "val_map.txt").write_text("\n\n")
    proc = run_cli("run", *MODEL, "--dataset", str(data), "--results-dir",
                   str(tmp_path / "r"))
    line = _refused(proc, "val_map.txt lists no images", tmp_path / "r")
    assert "model" not in line


def test_long_library_messages_are_cut_at_a_word_with_a_mark():
    text = ("Exception from src/inference/src/cpp/core.cpp:84:\nUnable to read the model: "
            + "frontend " * 80)
    short = shorten(text, 300)
    assert len(short) <= 300 and short.endswith(" [...]") and "\n" not in short
    kept = short[:-len(" [...]")]
    assert " ".join(text.split()).startswith(kept)
    assert kept.split()[-1] in text.split()  # the last word is whole


def test_check_submission_on_a_binary_or_list_system_file_is_one_error_each(tmp_path):
    tree = tmp_path / "tree"
    (tree / "open" / "ORG" / "results" / "box").mkdir(parents=True)
    (tree / "open" / "ORG" / "src").mkdir()
    systems = tree / "open" / "ORG" / "systems"
    systems.mkdir()
    for content, expect in ((b"\x00\xff\xfe binary", "not valid JSON"),
                            (b"[1, 2]", "not a system description (a JSON list")):
        (systems / "box.json").write_bytes(content)
        proc = run_cli("check-submission", str(tree))
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"ERROR {systems / 'box.json'}: {expect}" in proc.stdout, proc.stdout


def test_ctrl_c_before_the_run_directory_exists_says_nothing_was_marked(tmp_path):
    cache = tmp_path / "cache"
    run = _Started(["--weights", "random", "--duration-ms", "1000", "--results-dir",
                    str(tmp_path / "r")], env={"HARNESS_CACHE_DIR": str(cache)})
    run.wait_for(lambda: any("converting" in line for line in run.lines), "the conversion")
    run.proc.send_signal(signal.SIGINT)
    rc, err = run.finish(timeout=300)
    assert rc == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "marked" not in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() or run_dirs(tmp_path / "r") == []
    assert _temps(cache) == []  # the conversion's temporary folder went with it


def test_sigkill_during_conversion_leaves_a_temp_folder_the_next_run_removes(tmp_path,
                                                                             mobilenet_tflite):
    cache = tmp_path / "cache"
    run = _Started(["--weights", "random", "--duration-ms", "1000", "--results-dir",
                    str(tmp_path / "r")], env={"HARNESS_CACHE_DIR": str(cache)})
    run.wait_for(lambda: bool(_temps(cache / "ir")) if (cache / "ir").is_dir() else False,
                 "the conversion's temporary folder")
    run.proc.kill()
    run.finish()
    (stale,) = _temps(cache / "ir")
    assert f"@{run.proc.pid}@" in stale.name
    proc = run_cli("run", *MODEL, "--duration-ms", "500", "--results-dir",
                   str(tmp_path / "r"), env={"HARNESS_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not stale.exists() and _temps(cache) == []


def test_the_accuracy_line_is_printed_once(tmp_path, imagenet_sample, mobilenet_tflite):
    proc = run_cli("run", *MODEL, "--mode", "accuracy", "--dataset", str(imagenet_sample),
                   "--count", "8", "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if "top1" in line]
    assert len(lines) == 1 and lines[0].startswith("accuracy: top1 = "), proc.stdout


# --- labels that mislead ------------------------------------------------------------------

def test_an_fp32_model_stays_fp32_and_a_uint8_file_is_uint8(mobilenet_tflite, shared_dir):
    yolox = cards.load("yolox_nano")
    fp32 = model_precision.describe(yolox, from_file(yolox.source_file(), yolox),
                                    "openvino", "fp32")
    assert fp32["label"] == "fp32" and next(iter(fp32["weight_types"])) == "fp32"
    resnet = model_precision.describe(cards.load("resnet50"), random_weights(), "openvino",
                                      "fp32")
    assert resnet["label"] == "fp32" and resnet["as_given"] == "fp32"
    card = cards.load("mobilenet_v2_quant")
    given = model_precision.describe(card, from_file(mobilenet_tflite, card), "openvino",
                                     "fp32")
    assert given["label"] == "uint8" and given["requested"] == "fp32"
    assert given["weight_types"]["uint8"] > 3_000_000  # 3.4 MB of uint8 weights
    again = model_precision.describe(card, from_file(mobilenet_tflite, card), "openvino",
                                     "int8")
    assert again["label"] == "int8" and again["requantized_from"] == "uint8"
    assert model_precision.label("bf16", "uint8") == "uint8+bf16"


@pytest.fixture(scope="module")
def int8_results(tmp_path_factory, imagenet_sample, mobilenet_tflite) -> Path:
    """MobileNetV2 re-quantized by NNCF: an accuracy run (its as-given reference run first)
    and an Offline performance run, on 32 real images."""
    res = tmp_path_factory.mktemp("int8") / "results"
    common = [*MODEL, "--precision", "int8", "--dataset", str(imagenet_sample), "--count",
              "32", "--calibration-count", "16", "--results-dir", str(res), "--system", "box"]
    proc = run_cli("run", *common, "--mode", "accuracy", timeout=1200)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    proc = run_cli("run", *common, "--duration-ms", "1000", "--target-qps", "2000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return res


def test_runs_are_labelled_with_what_ran(int8_results, tmp_path):
    by_label = {}
    for d in run_dirs(int8_results):
        m = manifest(d)
        assert d.parts[-4] == m["precision"]["label"]  # the results folder says it too
        by_label.setdefault(m["precision"]["label"], []).append(m)
    assert set(by_label) == {"uint8", "int8"}  # never "fp32" for this model
    (ref,) = by_label["uint8"]
    assert ref["config"]["backend"]["precision"] == "fp32"  # --precision fp32 still works
    assert ref["precision"]["as_given"] == "uint8"
    for m in by_label["int8"]:
        assert m["precision"]["requantized_from"] == "uint8"
        assert "re-quantized from the uint8 model" in m["precision"]["note"]
    gate = next(m["accuracy_gate"] for m in by_label["int8"] if m["accuracy_gate"])
    assert gate["reference_precision"] == "uint8"
    proc = run_cli("show", "--results-dir", str(int8_results))
    table = [line.split("|")[3].strip() for line in proc.stdout.splitlines()
             if "mobilenet_v2_quant" in line]
    assert sorted(set(table)) == ["int8", "uint8"], proc.stdout
    proc = run_cli("report", str(int8_results), "--out", str(tmp_path / "report"),
                   "--baseline", "mobilenet_v2_quant:uint8:openvino", "--formats", "png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Precision labels" in text and "re-quantized from the uint8 model" in text
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert set(runs["precision"]) == {"uint8", "int8"}
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert "fp32" not in set(summary["precision"])


# --- Offline that ends early --------------------------------------------------------------

def test_an_offline_run_that_ends_early_is_run_once_more_and_both_are_kept(tmp_path,
                                                                           mobilenet_tflite):
    # an expected rate far below this CPU's: LoadGen issues 2 s x 40 = 80 samples, done in
    # well under the 2 s minimum duration, so the first attempt is INVALID for that alone
    proc = run_cli("run", *MODEL, "--duration-ms", "2000", "--target-qps", "40",
                   "--results-dir", str(tmp_path / "r"))
    (run_dir,) = run_dirs(tmp_path / "r")
    m = manifest(run_dir)
    (first,) = m["attempts"]
    assert first["result"]["validity"] == "INVALID"
    assert first["result"]["invalid_reasons"] == ["Min duration satisfied: NO"]
    assert first["target_before"] == 40.0
    measured = first["result"]["samples_per_second"]
    assert first["target_after"] == pytest.approx(measured * 1.5)
    assert "ended before its minimum duration" in proc.stdout
    assert "attempt 2" in proc.stdout
    # both attempts' LoadGen logs are kept, each its own
    old = loadgen_logs.read_detail(run_dir / first["logs"] / "mlperf_log_detail.txt")
    new = loadgen_logs.read_detail(run_dir / "mlperf_log_detail.txt")
    assert old["result_validity"] == "INVALID" and old["effective_target_qps"] == 40.0
    assert new["effective_target_qps"] == pytest.approx(first["target_after"], rel=1e-3)
    # the same TestSettings object: mlperf.conf's seeds and sample count in both attempts
    for key in ("effective_qsl_rng_seed", "effective_sample_index_rng_seed",
                "effective_performance_sample_count"):
        assert old[key] == new[key] is not None, key
    conf = (run_dir / "user.conf").read_text()
    assert conf.strip().endswith(f"*.Offline.target_qps = {first['target_after']:.3f}")
    assert (run_dir / first["logs"] / "user.conf").read_text().strip().endswith(
        "*.Offline.target_qps = 40.000")
    assert m["loadgen"]["offline_expected_qps"]["value"] == first["target_after"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert m["status"] == "complete" and m["result"]["validity"] == "VALID", m["result"]


# --- the gate's verdict counts ------------------------------------------------------------

def test_a_gate_fail_exits_1_blocks_the_tree_and_fills_the_report(int8_results, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(int8_results, results)
    # a reference far above the real one, newest: the same INT8 accuracy run FAILs the gate
    (ref,) = [d for d in run_dirs(results) if "/uint8/" in str(d)]
    fake = manifest(ref)
    fake["accuracy"]["value"], fake["started"] = 99.9, "9999-01-01T00:00:00+00:00"
    fake_dir = ref.parent / "99990101T000000Z"
    fake_dir.mkdir()
    fake["run_dir"] = str(fake_dir)
    (fake_dir / "run.json").write_text(json.dumps(fake))
    proc = run_cli(*("run", *MODEL, "--precision", "int8", "--mode", "accuracy", "--dataset",
                     manifest(ref)["dataset"]["path"], "--count", "32", "--calibration-count",
                     "16", "--results-dir", str(results), "--system", "box"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "accuracy gate FAIL" in proc.stderr and "Traceback" not in proc.stderr
    failed = max((d for d in run_dirs(results) if "/int8/" in str(d) and "/accuracy/" in str(d)),
                 key=lambda d: d.name)
    assert manifest(failed)["accuracy_gate"]["result"] == "FAIL"
    # the tree builder refuses it, or marks it loudly when told to accept it
    (tmp_path / "system.json").write_text(json.dumps(SYSTEM))
    sub = ["submission", "--submitter", "ORG", "--system", "box", "--system-file",
           str(tmp_path / "system.json"), "--results-dir", str(results),
           "--min-duration-s", "1", "--precision", "int8"]
    proc = run_cli(*sub, "-o", str(tmp_path / "t1"))
    _one_error(proc, "FAILED the 99% gate")
    assert not (tmp_path / "t1").exists()
    proc = run_cli(*sub, "-o", str(tmp_path / "t2"), "--allow-gate-fail")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (readme,) = (tmp_path / "t2").rglob("Offline/README.md")
    assert "ACCURACY GATE FAIL" in readme.read_text()
    # the report's gate columns are filled
    df = collect.collect([results])
    acc = df[(df["mode"] == "accuracy") & (df["precision"] == "int8")].set_index("run_dir")
    assert acc.loc[str(failed), "gate_pass"] is False or acc.loc[str(failed), "gate_pass"] == 0
    assert acc.loc[str(failed), "gate_ratio"] == pytest.approx(
        manifest(failed)["accuracy_gate"]["ratio"])
    assert acc["gate_ratio"].notna().all()
    assert np.isfinite(acc["gate_ratio"]).all()
