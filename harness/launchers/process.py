"""The process launcher: each run in a fresh Python process, as LoadGen requires.

The parent writes the run's config to a job file, starts ``python -m
harness.launchers.process JOB OUTCOME`` (pinned to the config's CPUs, like ``taskset -c``),
and reads the outcome file the child writes: the run directory as soon as it exists, then
the end (complete, failed with the error, or interrupted). The report comes from the run
directory's ``run.json``; nothing is parsed from the child's printed output (the pattern of
optimum-benchmark's process launcher, with files instead of a pipe so a crashed child still
leaves what it knew).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import system
from ..errors import HarnessError
from ..files import write_json_atomic
from ..run import benchmark
from ..run import report as report_mod
from ..run.config import RunConfig
from ..run.report import RunFailed, RunReport
from .base import Launcher

#: Lines of a captured child's output quoted in the error of a failed run.
TAIL_LINES = 5


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
        with tempfile.TemporaryDirectory(prefix="harness-launch-") as tmp:
            job, outcome_path, log_path = (Path(tmp) / n for n in
                                           ("job.json", "outcome.json", "output.log"))
            write_json_atomic(job, {"config": config.to_dict(),
                                    "command": list(command or sys.argv)})
            argv = [sys.executable, "-m", "harness.launchers.process", str(job),
                    str(outcome_path)]
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

def child(job_path: str, outcome_path: str) -> int:
    """Run the job's config in this (fresh) process; write the outcome file.

    Returns:
        The exit status: 0 complete, the error's status otherwise (130 interrupted).
    """
    job = json.loads(Path(job_path).read_text())
    outcome: dict[str, Any] = {}

    def write(**fields) -> None:
        outcome.update(fields)
        write_json_atomic(Path(outcome_path), outcome)

    try:
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
    write(run_dir=report.run_dir, end="complete")
    return 0


if __name__ == "__main__":
    status = child(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    # LoadGen's threads may still be inside C++ after an interrupted test; a normal
    # interpreter exit could abort in their destructors, so leave at once
    os._exit(status)
