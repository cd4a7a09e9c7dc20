"""SIGTERM (a batch system's stop, ``timeout``, ``docker stop``) and Ctrl-C (SIGINT) to a real
``harness run``: the run is marked interrupted and the command exits with 130, with the
inline launcher and through the process launcher, whose child runs the test.

The command is started as under ``nohup`` or ``&`` (SIGINT ignored, inherited by its
children), so the stop cannot lean on SIGINT reaching anyone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import ROOT, manifest, run_dirs


def _start_and_wait_for_loadgen(results, *args, sigint=signal.SIG_IGN
                                ) -> tuple[subprocess.Popen, object]:
    """Start ``harness run`` with SIGINT set to ``sigint`` in the child (SIG_IGN: as under
    nohup; SIG_DFL: a terminal's Ctrl-C) and return once LoadGen has started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--model", "mobilenet_v2_quant",
         "--count", "64", "--duration-ms", "60000", "--results-dir", str(results), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    deadline = time.time() + 240
    while time.time() < deadline:
        dirs = run_dirs(results)
        if dirs and (dirs[0] / "mlperf_log_detail.txt").exists():
            # LoadGen has started; a moment later its queries are issued and the SUT busy
            # with them (a stop must not wait for them all)
            time.sleep(3)
            return proc, dirs[0]
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"the run never started: {out[-1500:]} {err[-1500:]}")


@pytest.mark.parametrize("launcher", ["inline", "process"])
def test_sigterm_marks_the_run_interrupted_and_exits_130(tmp_path, launcher,
                                                         mobilenet_tflite):
    proc, run_dir = _start_and_wait_for_loadgen(tmp_path / "results", "--launcher", launcher)
    m = manifest(run_dir)
    assert m["status"] == "incomplete"
    runner_pid = m["pid"]  # the process running the LoadGen test
    assert (runner_pid == proc.pid) == (launcher == "inline")
    started = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    m = manifest(run_dir)
    assert m["status"] == "interrupted"
    assert "SIGTERM" in m["error"]
    assert m.get("result") is None  # no result of an interrupted test
    assert m["ended"]
    # the stop took seconds, not the 60 s test, and left no process behind
    assert time.time() - started < 60
    assert not psutil.pid_exists(runner_pid) or \
        psutil.Process(runner_pid).status() == psutil.STATUS_ZOMBIE


def test_ctrl_c_leaves_the_run_marked_interrupted(tmp_path, mobilenet_tflite):
    # a suite started in the background (nohup, `&` in a script) passes on an ignored
    # SIGINT, and Python then installs no Ctrl-C handler: give the run the default back
    proc, run_dir = _start_and_wait_for_loadgen(tmp_path / "results", sigint=signal.SIG_DFL)
    assert manifest(run_dir)["status"] == "incomplete"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    m = manifest(run_dir)
    assert m["status"] == "interrupted"
    assert m.get("result") is None  # no result of an interrupted test
