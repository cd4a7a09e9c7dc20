"""Faults a result must survive (issue 21): a launcher killed under its run, a KServe server
that stops answering, an interrupted or damaged optimize study, and bad input of the
workflows (refused in one line, exit status 2, before anything runs or is written).

Every case is real: real ``harness`` processes, signals, a real server on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.run.records import OptimizeTrials

from conftest import ROOT, manifest, mllog, run_cli, run_dirs

MODEL = ["--model", "mobilenet_v2_quant"]


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the command ended first (status {proc.returncode})")
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


# --- 4. a killed launcher ends its run ------------------------------------------------------

def test_a_killed_launcher_ends_its_run_marked_interrupted(tmp_path, mobilenet_tflite):
    tmp = tmp_path / "tmp"  # the launch folders of this test only
    tmp.mkdir()
    results = tmp_path / "results"
    log = open(tmp_path / "harness.log", "w")
    parent = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", *MODEL, "--launcher", "process",
         "--count", "64", "--duration-ms", "20000", "--results-dir", str(results)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)},
        start_new_session=True)
    try:
        run_dir = _wait(lambda: (run_dirs(results) or [None])[0], 240, "the run directory",
                        parent)
        m = manifest(run_dir)
        assert m["status"] == "incomplete"
        child = m["pid"]  # the process running the LoadGen test
        assert child != parent.pid and psutil.pid_exists(child)
        assert list(tmp.glob(f"harness-launch-{parent.pid}-*"))
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait(lambda: _gone(child), 20, "the run's process ending with its launcher")
    finally:
        if parent.poll() is None:
            parent.kill()
        try:
            os.killpg(parent.pid, signal.SIGKILL)  # whatever is left of this test
        except ProcessLookupError:
            pass
    m = manifest(run_dir)
    assert m["status"] == "interrupted", m["status"]
    assert f"pid {parent.pid}" in m["error"] and "ended" in m["error"]
    assert m.get("result") is None
    assert not list(tmp.glob("harness-launch-*"))  # the child removed its launch folder


def test_a_launch_folder_left_by_a_dead_launcher_is_removed():
    """The folder of a launcher killed before its child started (nobody else removes it)
    goes at the next launch; a live launcher's folder stays."""
    from harness.launchers import process

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    root = Path(process.tempfile.gettempdir())
    stale = root / f"{process.FOLDER_PREFIX}{dead}-test"
    live = root / f"{process.FOLDER_PREFIX}{os.getpid()}-test"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "job.json").write_text("{}")
    try:
        removed = process.remove_stale_folders()
        assert stale in removed and not stale.exists()
        assert live.exists()
    finally:
        for folder in (stale, live):
            if folder.exists():
                (folder / "job.json").unlink()
                folder.rmdir()


# --- 5. a KServe server that stops answering ------------------------------------------------

def test_a_server_that_stops_answering_fails_the_run_fast(tmp_path, mobilenet_tflite):
    from harness import cards
    from harness.backends.kserve.backend import KServeBackend
    from harness.backends.kserve.config import KServeConfig
    from harness.errors import HarnessError
    from test_kserve import Server

    srv = Server()
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", *MODEL, "--backend", "kserve",
             "--endpoint", srv.endpoint, "--timeout-s", "2", "--count", "64", "--scenario",
             "Offline", "--duration-ms", "20000", "--results-dir", str(tmp_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: run_dirs(tmp_path) and (run_dirs(tmp_path)[0] / "mlperf_log_detail.txt"
                                              ).exists(), 240, "LoadGen's start", run)
        time.sleep(1.0)  # LoadGen has issued its query; the samples are on their way
        os.killpg(srv.proc.pid, signal.SIGSTOP)  # frozen, not closed: no answer, no error
        stopped = time.time()
        _, err = run.communicate(timeout=600)
        took = time.time() - stopped
        # the server still frozen: the checks before a run honour --timeout-s
        backend = KServeBackend()
        t0 = time.time()
        with pytest.raises(HarnessError, match="did not answer within --timeout-s 2 s"):
            backend.load(cards.load("mobilenet_v2_quant"), None,
                         KServeConfig(endpoint=srv.endpoint, timeout_s=2.0))
        ready_took = time.time() - t0
    finally:
        if srv.proc.poll() is None:
            os.killpg(srv.proc.pid, signal.SIGCONT)
        srv.stop(signal.SIGKILL)
    # thousands of samples were queued; each waiting its own 2 s would take many minutes
    print(f"froze: run ended {took:.1f} s later; readiness {ready_took:.1f} s; {err[-400:]}")
    assert took < 30, f"{took:.0f} s after the server froze"
    assert 1.5 < ready_took < 6, ready_took
    assert run.returncode == 2 and "Traceback" not in err, err[-2000:]
    assert "stopped answering" in err
    (d,) = run_dirs(tmp_path)
    m = manifest(d)
    assert m["status"] == "failed"
    assert "stopped answering" in m["error"] and "--timeout-s 2 s" in m["error"]
    res = m["result"]
    assert res["validity"] == "INVALID" and res["inference_errors"] > 0
    log = mllog(d / "mlperf_log_detail.txt")
    # LoadGen got an answer for every sample it issued (empty for the failed ones)
    assert res["samples_answered"] == log["generated_samples_per_query"]


# --- 7. an interrupted optimize, a damaged journal ------------------------------------------

def _optimize_args(results: Path, duration_ms: int) -> list[str]:
    """A speed-only search of one point (the default hint's), one trial."""
    return ["optimize", "--models", MODEL[1], "--trials", "1",
            "--duration-ms", str(duration_ms), "--precisions", "fp32", "--streams", "auto",
            "--threads", "auto", "--nireq-per-stream", "2", "--hints", "THROUGHPUT",
            "--batches", "1", "--baseline-rounds", "0", "--study", "faults",
            "--results-dir", str(results), "--system", "box"]


def _ctrl_c_ready():
    os.setsid()  # its own process group, which Ctrl-C signals as a terminal would
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # not ignored as under nohup


def test_ctrl_c_in_optimize_and_a_damaged_journal_resume(tmp_path, mobilenet_tflite):
    import optuna

    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "harness",
                             *_optimize_args(results, 20000)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_ctrl_c_ready)
    try:
        # the first trial's LoadGen run is under way
        _wait(lambda: any((d / "mlperf_log_detail.txt").exists() for d in run_dirs(results)),
              300, "the first trial's run", proc)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, err[-3000:]
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted; 0 trials done, resume with the same command"], err
    root = results / "box" / "optimize"
    assert not list(root.glob("*/trials.json"))  # no outputs of a search not done
    journal = root / "faults.journal"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal)))
    (trial,) = optuna.load_study(study_name="faults", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.user_attrs["interrupted"]
    (run,) = [d for d in run_dirs(results) if manifest(d)["status"] != "complete"]
    assert manifest(run)["status"] == "interrupted"

    # a write cut short: the journal's last line has no end
    intact = journal.read_bytes()
    journal.write_bytes(intact + b'{"op_code": 6, "worker_id": "cut-sh')
    proc = run_cli(*_optimize_args(results, 800), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "ended in 1 damaged line(s)" in proc.stdout
    (kept,) = root.glob("faults.journal.damaged-*")
    assert kept.read_bytes().startswith(intact) and len(kept.read_bytes()) > len(intact)
    (trials_file,) = root.glob("*/trials.json")
    trials = OptimizeTrials.read(trials_file).trials
    # the interrupted trial did not count toward --trials 1: its point was measured now
    assert [t["state"] for t in trials] == ["INTERRUPTED", "COMPLETE"], trials
    assert trials[1]["params"] == trials[0]["params"] and trials[1]["score"] > 0


# --- bad input of the workflows: one line, exit 2, before anything runs -----------------------

def _refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The one ``error:`` line of a command refused for bad input."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stdout
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me\n")
    results = tmp_path / "results"
    for args, flag in (
            (["report", str(tmp_path), "--out", str(afile)], "--out"),
            (["report", str(tmp_path), "--out", str(afile / "sub")], "--out"),
            (["compare", "--out", str(afile), "--results-dir", str(results)], "--out"),
            (["submission", "--submitter", "Org", "--system", "box", "--results-dir",
              str(results), "-o", str(afile)], "-o/--output"),
            (["prepare-submission", "--models", "mobilenet_v2_quant", "--accuracy-dataset",
              str(tmp_path), "--results-dir", str(results), "-o", str(afile)],
             "-o/--output")):
        _refused(run_cli(*args, timeout=300), flag, str(afile), "not a folder")
        assert afile.read_text() == "keep me\n" and not results.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_prepare_submission_refuses_an_existing_tree_before_running(tmp_path):
    tree = tmp_path / "tree"
    (tree / "open" / "Org").mkdir(parents=True)
    proc = run_cli("prepare-submission", "--models", "mobilenet_v2_quant", "--submitter", "Org",
                   "--accuracy-dataset", str(tmp_path), "--results-dir",
                   str(tmp_path / "results"), "-o", str(tree), timeout=300)
    _refused(proc, "already exists")
    assert not (tmp_path / "results").exists()


def test_a_sweep_checks_every_model_and_dataset_before_any_point_runs(tmp_path,
                                                                     imagenet_sample):
    results = tmp_path / "results"
    proc = run_cli("sweep", "--model", "mobilenet_v2_quant,no_such_model", "--count", "16",
                   "--duration-ms", "300", "--results-dir", str(results), timeout=300)
    _refused(proc, "model=no_such_model", "unknown model 'no_such_model'")
    # the detector's point cannot read an ImageNet folder as COCO: refused before the
    # classifier's point runs
    proc = run_cli("sweep", "--model", "mobilenet_v2_quant,yolox_nano", "--dataset",
                   str(imagenet_sample), "--count", "16", "--duration-ms", "300",
                   "--results-dir", str(results), timeout=300)
    _refused(proc, "model=yolox_nano", "annotation")
    proc = run_cli("sweep", "--model", "mobilenet_v2_quant", "--dataset",
                   str(tmp_path / "missing"), "--results-dir", str(results), timeout=300)
    _refused(proc, "does not exist")
    assert not results.exists()


def test_a_config_of_a_newer_schema_version_is_refused(tmp_path):
    from harness.run.report import SCHEMA_VERSION

    newer = tmp_path / "run.json"
    newer.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "status": "complete",
                                 "config": {"model": {"name": "mobilenet_v2_quant"}}}))
    results = tmp_path / "results"
    proc = run_cli("run", "--config", str(newer), "--results-dir", str(results), timeout=300)
    _refused(proc, f"schema_version {SCHEMA_VERSION + 1}", "does not know")
    assert not results.exists()


def test_compliance_of_an_unknown_model_writes_nothing(tmp_path, mobilenet_tflite):
    results = tmp_path / "results"
    proc = run_cli("run", *MODEL, "--count", "32", "--duration-ms", "500", "--results-dir",
                   str(results), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = run_dirs(results)
    # a run of a card this harness does not have (a newer harness's, or one renamed)
    m = manifest(run)
    m["config"]["model"]["name"] = "retired_model"
    m["result"]["validity"] = "VALID"  # a VALID reference: only the model is wrong
    (run / "run.json").write_text(json.dumps(m))
    before = sorted(p for p in results.rglob("*"))
    proc = run_cli("compliance", str(run), "--tests", "TEST04", "--duration-ms", "500",
                   timeout=300)
    _refused(proc, "unknown model 'retired_model'")
    assert sorted(p for p in results.rglob("*")) == before  # no compliance/ folder
