"""The process launcher: each run in a fresh Python process, as LoadGen requires.

The parent writes the run's config to a job file, starts ``python -m
harness.launchers.process JOB OUTCOME`` (pinned to the config's CPUs, like ``taskset -c``),
and reads the outcome file the child writes: the run directory as soon as it exists, then
the end (complete, failed with the error, or interrupted). The report comes from the run
directory's ``run.json``; nothing is parsed from the child's printed output (the pattern of
optimum-benchmark's process launcher, with files instead of a pipe so a crashed child still
leaves what it knew).

A child ends with its parent: if the process that launched it dies (SIGKILL, a crash) the
child gets SIGTERM (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a thread watching the
parent), marks its run ``interrupted`` and removes its temporary launch folder
(``$TMPDIR/harness-launch-<parent pid>-*``); the next launch also removes the folders of
launchers that are gone.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .. import system
from ..errors import HarnessError
from ..files import write_json_atomic
from ..run import benchmark
from ..run import report as report_mod
from ..run.config import RunConfig
from ..run.report import RunFailed, RunReport
from ..system import process_exists, process_running
from .base import Launcher

#: Lines of a captured child's output quoted in the error of a failed run.
TAIL_LINES = 5
#: The temporary launch folders: ``<prefix><launcher's pid>-<random>`` in ``$TMPDIR``.
FOLDER_PREFIX = "harness-launch-"
#: ``prctl`` option: the signal a process gets when its parent ends (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: How long (s) an interrupted child waits to learn whether its launcher has ended.
ORPHAN_WAIT_S = 2.0
#: Where ``prctl`` is missing, how often (s) a child checks that its parent still exists.
WATCH_PARENT_S = 1.0


class ProcessLauncher(Launcher):
    """Starts each run as ``python -m harness.launchers.process`` and waits for it.

    Args:
        capture: keep the child's output out of this terminal (in a temporary log whose
            last lines are quoted if the run fails); else it passes through.
        cwd: the child's working directory (default: this process's).
        env: extra environment variables for the child.
    """

    name = "process"
    isolated = True

    def __init__(self, capture: bool = False, cwd: Path | str | None = None,
                 env: dict[str, str] | None = None):
        self.capture = capture
        self.cwd = cwd
        self.env = env or {}

    def launch(self, config: RunConfig, command: list[str] | None = None) -> RunReport:
        """Run ``config`` in a child process; see :class:`Launcher` for what is raised.

        Raises:
            HarnessError: CPUs this machine lacks; the child's bad-input error; a child that
                died without an outcome (killed, crashed), naming its exit status.
            RunFailed: the run failed after its directory existed.
            KeyboardInterrupt: Ctrl-C or SIGTERM here (the child gets SIGTERM and marks its run
                interrupted first).
        """
        cpus = system.check_cpus(config.launcher.cores) if config.launcher.cores else None
        remove_stale_folders()
        with tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-") as tmp:
            job, outcome_path, log_path = (Path(tmp) / n for n in
                                           ("job.json", "outcome.json", "output.log"))
            write_json_atomic(job, {"config": config.to_dict(),
                                    "command": list(command or sys.argv)})
            argv = [sys.executable, "-m", "harness.launchers.process", str(job),
                    str(outcome_path), str(os.getpid())]
            with open(log_path, "w") as log:
                proc = subprocess.Popen(
                    argv, cwd=self.cwd, env={**os.environ, **self.env},
                    stdout=log if self.capture else None,
                    stderr=subprocess.STDOUT if self.capture else None,
                    preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
                try:
                    rc = proc.wait()
                except KeyboardInterrupt:
                    _stop(proc)
                    raise
            outcome = _read_outcome(outcome_path)
            tail = _tail(log_path) if self.capture else ""
        return _result(outcome, rc, tail, config)


def remove_stale_folders() -> list[Path]:
    """Remove the temporary launch folders (``$TMPDIR/harness-launch-<pid>-*``) whose
    launcher process no longer exists (killed with SIGKILL: no ``finally`` ran).

    Returns:
        The folders removed; one that cannot be removed is skipped.
    """
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-")[0]
        if not pid.isdigit() or process_exists(int(pid)) or not folder.is_dir() \
                or folder.is_symlink():
            continue
        try:
            shutil.rmtree(folder)
            removed.append(folder)
        except OSError:
            continue
    return removed


def _stop(proc: subprocess.Popen) -> None:
    """Let an interrupted child mark its run interrupted: a terminal's Ctrl-C reached it
    too; otherwise (SIGTERM to this process alone) it gets SIGTERM after a few seconds, and
    SIGKILL if it hangs. Not SIGINT: a process started in the background (``nohup``, ``&``)
    ignores SIGINT, and so does its child; the run turns SIGTERM into an interruption."""
    try:
        proc.wait(timeout=5)
        return
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _read_outcome(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-TAIL_LINES:])


def _result(outcome: dict[str, Any], rc: int, tail: str, config: RunConfig) -> RunReport:
    run_dir = outcome.get("run_dir")
    report = None
    if run_dir:
        try:
            report = report_mod.read(run_dir)
        except report_mod.UnreadableReport as exc:
            raise HarnessError(f"{config.label()}: {exc}") from None
    if outcome.get("end") == "complete" and report is not None and rc == 0:
        return report
    if outcome.get("end") == "interrupted":
        raise KeyboardInterrupt()
    error = outcome.get("error")
    if not error:
        error = (f"the run's process exited with status {rc} without finishing"
                 + (f"; its run directory {run_dir} is left "
                    f"{report.status if report else 'incomplete'}" if run_dir else "")
                 + (f"; last output: {tail}" if tail else ""))
    elif tail and outcome.get("end") == "failed":
        error = f"{error} (last output: {tail})"
    status = int(outcome.get("exit_status") or 2)
    if report is not None:
        raise RunFailed(error, report, status)
    exc = HarnessError(error)
    exc.exit_status = status
    raise exc


# --- the child ----------------------------------------------------------------------------

def _parent_gone(parent_pid: int, wait_s: float = 0.0) -> bool:
    """True when the launcher that started this process has ended (this process was handed
    to another parent), waiting up to ``wait_s`` seconds for it: the parent-death signal
    comes when the launcher's thread dies, which can be a moment before the kernel hands
    this process to another parent (seen on a loaded machine)."""
    deadline = time.monotonic() + wait_s
    while os.getppid() == parent_pid and process_running(parent_pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def end_with_parent(parent_pid: int) -> None:
    """Make the end of the launcher process ``parent_pid`` a SIGTERM to this process.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, then a check that the parent has not ended
    already (before the ``prctl``); elsewhere a daemon thread checks every
    :data:`WATCH_PARENT_S` seconds. SIGTERM becomes ``KeyboardInterrupt`` here (and in
    :func:`harness.run.benchmark.run`), so the run is marked interrupted.
    """
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(
                PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not armed:
        def watch() -> None:
            while not _parent_gone(parent_pid):
                time.sleep(WATCH_PARENT_S)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="watch-parent", daemon=True).start()
    elif _parent_gone(parent_pid):
        os.kill(os.getpid(), signal.SIGTERM)


def _sigterm_to_interrupt(*_):
    raise KeyboardInterrupt()


def child(job_path: str, outcome_path: str, parent_pid: int | None = None) -> int:
    """Run the job's config in this (fresh) process; write the outcome file.

    Args:
        parent_pid: the launcher's process id: when it ends, so does this run (marked
            interrupted, the launch folder removed; :func:`end_with_parent`).

    Returns:
        The exit status: 0 complete, the error's status otherwise (130 interrupted).
    """
    if parent_pid is not None:
        end_with_parent(parent_pid)
    outcome: dict[str, Any] = {}

    def write(**fields) -> None:
        outcome.update(fields)
        try:
            write_json_atomic(Path(outcome_path), outcome)
        except (OSError, HarnessError):
            if parent_pid is None or not _parent_gone(parent_pid):
                raise  # nobody reads it once the launcher has ended

    try:
        job = json.loads(Path(job_path).read_text())
        config = RunConfig.from_dict(job["config"])
        report = benchmark.run(config, job.get("command"),
                               on_start=lambda r: write(run_dir=r.run_dir))
    except RunFailed as exc:
        write(run_dir=exc.report.run_dir, end="failed", error=str(exc),
              exit_status=exc.exit_status)
        return exc.exit_status
    except HarnessError as exc:
        write(end="refused", error=str(exc), exit_status=exc.exit_status)
        return exc.exit_status
    except KeyboardInterrupt:
        write(end="interrupted")
        return 130
    else:
        write(run_dir=report.run_dir, end="complete")
        return 0
    finally:
        # an interrupted run may have been interrupted by its launcher's end: wait a moment
        # for the kernel to say so (a second SIGTERM from its end must not cut this short)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if parent_pid is not None and _parent_gone(
                parent_pid, ORPHAN_WAIT_S if outcome.get("end") == "interrupted" else 0.0):
            _orphaned(Path(job_path).parent, outcome.get("run_dir"), parent_pid)


def _orphaned(folder: Path, run_dir: str | None, parent_pid: int) -> None:
    """The launcher ended before this run: say so in an interrupted run's report, and
    remove the launch folder (nobody reads it any more)."""
    try:
        if run_dir:
            report = report_mod.read(run_dir)
            if report.status == report_mod.STATUS_INTERRUPTED:
                report.error = (f"interrupted: the process that launched it (pid {parent_pid}) "
                                f"ended")
                report.write()
    except HarnessError:
        pass
    if folder.name.startswith(FOLDER_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    status = child(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
    sys.stdout.flush()
    sys.stderr.flush()
    # LoadGen's threads may still be inside C++ after an interrupted test; a normal
    # interpreter exit could abort in their destructors, so leave at once
    os._exit(status)
