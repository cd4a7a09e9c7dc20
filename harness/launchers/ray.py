"""The Ray launcher: each run is a Ray task on a node of a Ray cluster (docs/scale-out.md).

A benchmark owns its machine: every node that may run benchmarks offers one ``bench_slot``
custom resource (``ray start ... --resources '{"bench_slot": 1}'``) and every task asks for
one, so Ray runs at most one benchmark per node at a time and queues the rest. On its node a
task runs the benchmark through the process launcher (a fresh Python process, as LoadGen
needs) into a temporary results root, then returns the run directory's files (``run.json``,
LoadGen's logs, ``user.conf``, accuracy files). This process writes them under its own
results root at the same relative place, ``<system>/<model>/<precision>/<scenario>/<mode>/
<stamp>``, so ``harness report`` compares machines without copying by hand. The system name
is the node's own (its default, unless the config names one).

What a node needs: this harness installed, same version (checked), in the Python that runs
``ray start``; the data and model files at the paths the config names (relative paths are
made absolute against this process's working directory before they are sent).

Failures: a run that fails on its node is ``failed`` with its reason (:class:`RunFailed`
with the report copied back, or :class:`HarnessError` when no run directory was made); a
node that dies, or a task's worker that is killed, fails that run only (Ray does not retry
it: a retry would run on another machine), with Ray's reason. :meth:`RayLauncher.launch_many`
yields each outcome, so a sweep goes on.

Ray traps handled here:

- Token authentication (Ray >= 2.5x): ``RAY_AUTH_MODE`` unset means "token" for some
  connections and "disabled" for others (``ray start`` and ``ray.init(address="auto")``
  switch token auth on when ``~/.ray/auth_token`` exists; ``ray.init("HOST:PORT")`` does
  not), and a mismatch with the cluster fails with ``InvalidAuthToken``. This driver sets it
  explicitly (:func:`auth_mode`).
- Ray sets ``OMP_NUM_THREADS=1`` in a worker whose task asks for no CPUs; the benchmark's
  process gets the node's own value instead (:func:`_node_omp_threads`).
- Usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``).

``ray`` is imported only when a Ray launcher connects: it is an optional dependency (the
``cluster`` extra) and takes about a second to import.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from .. import __version__
from ..errors import HarnessError
from ..results_tree import ResultsTree
from ..run import report as report_mod
from ..run import results
from ..run.config import RunConfig
from ..run.report import RunFailed, RunReport
from .base import Launcher
from .process import ProcessLauncher

#: The custom resource a node offers once per benchmark it may run at a time (one).
SLOT = "bench_slot"
#: Seconds between checks, while runs wait, that some live node still offers a slot.
WATCH_S = 10.0
#: How long the connection probe of a HOST:PORT address waits (s).
PROBE_S = 5.0


def auth_mode(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The ``RAY_AUTH_MODE`` this driver uses, and why.

    The environment's ``RAY_AUTH_MODE`` when set; else ``token`` when a token is at hand
    (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``: the rule ``ray
    start`` follows for a cluster), else ``disabled``.

    Returns:
        ``(mode, reason)``, e.g. ``("token", "~/.ray/auth_token exists")``.
    """
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_MODE"):
        return env["RAY_AUTH_MODE"], "RAY_AUTH_MODE is set"
    if env.get("RAY_AUTH_TOKEN"):
        return "token", "RAY_AUTH_TOKEN is set"
    if env.get("RAY_AUTH_TOKEN_PATH"):
        return "token", f"RAY_AUTH_TOKEN_PATH={env['RAY_AUTH_TOKEN_PATH']}"
    if (Path.home() / ".ray" / "auth_token").exists():
        return "token", "~/.ray/auth_token exists"
    return "disabled", "no token in RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token"


def _import_ray():
    """The ``ray`` module, imported after setting what Ray reads at import (its C++ config):
    ``RAY_AUTH_MODE`` (:func:`auth_mode`) and ``RAY_USAGE_STATS_ENABLED=0`` (unless set).

    Raises:
        HarnessError: Ray is not installed.
    """
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_AUTH_MODE"] = auth_mode()[0]
    try:
        import ray
    except ImportError:
        raise HarnessError("--launcher ray needs Ray: install the 'cluster' extra "
                           "(pip install -e '.[cluster]'; make setup does)") from None
    return ray


class RayLauncher(Launcher):
    """Starts each run as a Ray task on a cluster node that offers a ``bench_slot``.

    Args:
        address: the cluster's head, ``HOST:PORT`` (its GCS port), or ``auto``/None (the
            cluster this machine belongs to, or ``RAY_ADDRESS``). Ray drivers run on a
            cluster node (usually the head).
    """

    name = "ray"
    isolated = True

    def __init__(self, address: str | None = None):
        self.address = address or "auto"
        self._remote = None

    # --- the cluster ---------------------------------------------------------------------
    def check(self) -> None:
        """Connect this process to the cluster (once) and check it offers a ``bench_slot``.

        Raises:
            HarnessError: Ray is not installed; nothing listens at the address; Ray cannot
                connect (the reason, with the authentication mode when it was refused); no
                live node offers a ``bench_slot``.
        """
        mode, why = auth_mode()
        ray = _import_ray()
        if ray.is_initialized():
            return
        if self.address != "auto":
            host, _, port = self.address.rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=PROBE_S).close()
            except OSError as exc:
                raise HarnessError(
                    f"--address {self.address}: no Ray cluster answers there "
                    f"({exc.strerror or exc}); start its head with 'ray start --head --port "
                    f"{port}' (docs/scale-out.md) or give the head's HOST:PORT") from None
        try:
            ray.init(address=self.address, log_to_driver=False,
                     logging_level=logging.WARNING)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            reason = _chain(exc)
            if "InvalidAuthToken" in reason or "AuthenticationError" in reason:
                raise HarnessError(
                    f"the Ray cluster at {self.address} refused this driver's authentication "
                    f"(InvalidAuthToken; this driver used RAY_AUTH_MODE={mode}: {why}); run "
                    f"with the cluster's mode: RAY_AUTH_MODE=token and its token in "
                    f"~/.ray/auth_token or RAY_AUTH_TOKEN_PATH, or RAY_AUTH_MODE=disabled"
                ) from None
            raise HarnessError(f"cannot connect to the Ray cluster at {self.address} "
                               f"({_last_line(reason)}); is the cluster up, and is this "
                               f"machine one of its nodes (a Ray driver runs on a node, "
                               f"usually the head)?") from None
        if not self.slots():
            raise HarnessError(
                f"no node of the Ray cluster at {self.address} offers a '{SLOT}' resource; "
                f"start each benchmark node with ray start --address HEAD:PORT --resources "
                f"'{{\"{SLOT}\": 1}}' (docs/scale-out.md)")

    def slots(self) -> int:
        """How many ``bench_slot`` the cluster's live nodes offer (runs at once)."""
        ray = _import_ray()
        return int(ray.cluster_resources().get(SLOT, 0))

    # --- runs ----------------------------------------------------------------------------
    def launch(self, config: RunConfig, command: list[str] | None = None) -> RunReport:
        """Run ``config`` on a cluster node and copy its run directory here.

        Raises:
            HarnessError: bad input here or on the node (naming the node), no cluster, or a
                node or task that died (Ray's reason).
            RunFailed: the run failed on its node after its directory existed (the report
                is this machine's copy).
        """
        for _, outcome in self.launch_many([config], command):
            if isinstance(outcome, HarnessError):
                raise outcome
            return outcome
        raise AssertionError("launch_many yielded nothing")

    def launch_many(self, configs: list[RunConfig], command: list[str] | None = None,
                    on_start: Callable[[int], None] | None = None
                    ) -> Iterator[tuple[int, RunReport | HarnessError]]:
        """Hand every run to the cluster at once (Ray queues them by ``bench_slot``), then
        yield ``(index, report or error)`` in the order they end.

        Runs still waiting when no live node offers a slot any more fail with that reason.
        Ctrl-C cancels the runs not yet ended (Ray kills their workers and benchmark
        processes at once; nothing of them comes back) and goes through as
        ``KeyboardInterrupt``.

        Raises:
            HarnessError: no cluster, or no node offers a ``bench_slot``.
        """
        self.check()
        ray = _import_ray()
        pending: dict[Any, int] = {}
        try:
            for index, config in enumerate(configs):
                if on_start is not None:
                    on_start(index)
                try:
                    pending[self._submit(config, command)] = index
                except HarnessError as exc:
                    yield index, exc
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=WATCH_S)
                if not done:
                    if not self.slots():
                        for ref, index in list(pending.items()):
                            ray.cancel(ref, force=True)
                            del pending[ref]
                            yield index, HarnessError(
                                f"{configs[index].label()}: not run: no live node of the Ray "
                                f"cluster offers a '{SLOT}' any more (did the nodes die?)")
                    continue
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        yield index, self._receive(ref, configs[index])
                    except HarnessError as exc:
                        yield index, exc
        finally:
            # Ctrl-C, or the caller stopped early: Ray kills the tasks' workers and their
            # benchmark processes (a forced cancel; nothing of those runs comes back)
            for ref in pending:
                ray.cancel(ref, force=True)

    def _submit(self, config: RunConfig, command: list[str] | None):
        """Start ``config``'s task; returns its object reference.

        Raises:
            HarnessError: a config a node cannot run alone (an accuracy run held to an FP32
                reference run elsewhere), or a results root that cannot be written here.
        """
        ray = _import_ray()
        if config.mode.reference_run:
            raise HarnessError(f"{config.label()}: --launcher ray cannot run an accuracy run "
                               f"held to an FP32 reference (--reference-run names a run "
                               f"folder of this machine); run it on the node with "
                               f"--launcher process")
        results.check_writable(Path(config.execution.results_dir))
        if self._remote is None:
            self._remote = ray.remote(_run_on_node)
        job = config.with_absolute_paths(Path.cwd())
        # one bench_slot, no CPU resources (the slot owns the machine), no retry (a retry
        # would run on another machine)
        task = self._remote.options(resources={SLOT: 1}, num_cpus=0, max_retries=0,
                                    name=f"harness {config.label()}")
        return task.remote(job.to_dict(), list(command or sys.argv), __version__)

    def _receive(self, ref, config: RunConfig) -> RunReport:
        """The ended task's outcome: the report of this machine's copy of the run.

        Raises:
            HarnessError, RunFailed: as :meth:`launch`.
        """
        ray = _import_ray()
        try:
            outcome = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            raise HarnessError(f"{config.label()}: cancelled") from None
        except ray.exceptions.RayTaskError as exc:  # raised by the task itself
            raise HarnessError(
                f"{config.label()}: its Ray task failed on its node: {_task_reason(exc)} "
                f"(is this harness, same version, installed in the Python that runs 'ray "
                f"start' there?)") from None
        except ray.exceptions.RayError as exc:
            raise HarnessError(
                f"{config.label()}: its Ray task failed, nothing came back: "
                f"{exc.__class__.__name__}: {_task_reason(exc)} (the node died, or the "
                f"task's worker was killed)") from None
        where = f"on {outcome['node']}"
        report = _store(outcome, config) if outcome.get("files") else None
        if outcome["end"] == "complete" and report is not None:
            return report
        error = f"{config.label()} {where}: {outcome['error']}"
        if report is not None:
            raise RunFailed(error, report, outcome.get("exit_status") or 2)
        exc = HarnessError(error)
        exc.exit_status = outcome.get("exit_status") or 2
        raise exc


# --- on the driver: the copy -------------------------------------------------------------

def _store(outcome: dict[str, Any], config: RunConfig) -> RunReport:
    """Write a run directory that came back from a node under ``config``'s results root.

    The report's ``run_dir`` becomes this copy, its results root the one the config gave;
    a run the node left ``incomplete`` (its process died) is marked ``failed`` with the
    reason.

    Raises:
        HarnessError: a path that leaves the run directory, a ``run.json`` this harness
            cannot read, or the copy cannot be written.
    """
    rel = PurePosixPath(outcome["rel"])
    names = list(outcome["files"])
    if rel.is_absolute() or ".." in rel.parts or len(rel.parts) != 6 or any(
            PurePosixPath(n).is_absolute() or ".." in PurePosixPath(n).parts for n in names):
        raise HarnessError(f"{config.label()}: the node sent a run directory with unsafe "
                           f"paths ({rel})")
    files = outcome["files"]
    try:
        data = json.loads(files[report_mod.FILE_NAME])
    except (KeyError, ValueError) as exc:
        raise HarnessError(f"{config.label()}: the node sent no readable run.json "
                           f"({exc})") from None
    report = report_mod.RunReport.from_dict(data, f"run.json of {outcome['node']}")
    dest = ResultsTree(config.execution.results_dir).claim_run_dir(rel)
    try:
        for name, content in files.items():
            if name != report_mod.FILE_NAME:
                path = dest / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    except OSError as exc:
        raise HarnessError(f"cannot write the run copied back into {dest}: "
                           f"{exc.strerror or exc}") from None
    report.run_dir = str(dest.resolve())
    report.config = replace(report.config, execution=replace(
        report.config.execution, results_dir=config.execution.results_dir))
    if report.status == report_mod.STATUS_INCOMPLETE and outcome["end"] != "complete":
        report.status = report_mod.STATUS_FAILED
        report.error = outcome["error"]
    report.write()
    return report


def _chain(exc: BaseException) -> str:
    """The messages of an exception and its causes, joined."""
    parts = []
    while exc is not None and len(parts) < 5:
        parts.append(f"{exc.__class__.__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _last_line(text: str) -> str:
    """The last line of ``text`` (the innermost cause), at most 300 characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no reason given"


def _task_reason(exc: BaseException) -> str:
    """Ray's reason for a failed task in one line: for an exception raised in the task,
    where it ran (``ray::... (pid=..., ip=...)``) and the exception's last line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Ray colours the task's name
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no reason given"
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"[:600]


# --- on the node: the Ray task -----------------------------------------------------------

def _run_on_node(config_data: dict[str, Any], command: list[str], driver_version: str
                 ) -> dict[str, Any]:
    """The Ray task: run one config on this node through the process launcher.

    Returns:
        ``{"node", "end" (complete | failed | refused), "error", "exit_status", "rel" (the
        run directory relative to the results root), "files" ({relative path: bytes})}``;
        ``rel`` and ``files`` only when a run directory exists.
    """
    import ray

    node = f"node {socket.gethostname()} ({ray.util.get_node_ip_address()})"
    if driver_version != __version__:
        return {"node": node, "end": "refused", "exit_status": 2,
                "error": f"this node runs harness {__version__}, the driver {driver_version}; "
                         f"install the same version on every node"}
    _node_omp_threads()
    try:
        config = RunConfig.from_dict(config_data)
    except HarnessError as exc:
        return {"node": node, "end": "refused", "exit_status": 2, "error": str(exc)}
    with tempfile.TemporaryDirectory(prefix="harness-ray-") as tmp:
        root = Path(tmp).resolve()
        local = replace(config, execution=replace(config.execution, results_dir=str(root)))
        try:
            report = ProcessLauncher(capture=True).launch(local, command)
            out = {"end": "complete", "error": None, "exit_status": 0}
        except RunFailed as exc:
            report = exc.report
            out = {"end": "failed", "error": str(exc), "exit_status": exc.exit_status}
        except HarnessError as exc:
            return {"node": node, "end": "refused", "error": str(exc),
                    "exit_status": exc.exit_status}
        run_dir = report.path.resolve()
        files = {p.relative_to(run_dir).as_posix(): p.read_bytes()
                 for p in sorted(run_dir.rglob("*")) if p.is_file()}
        return {"node": node, **out, "rel": run_dir.relative_to(root).as_posix(),
                "files": files}


def _node_omp_threads() -> None:
    """Give the benchmark's process the node's ``OMP_NUM_THREADS``, not Ray's.

    Ray sets ``OMP_NUM_THREADS=1`` in a worker whose task asks for no CPUs (ours ask for a
    ``bench_slot`` only) when the node's environment has none; PyTorch would then use one
    thread. The node's environment is that of the worker's parent, the raylet.
    """
    import psutil

    if "OMP_NUM_THREADS" not in os.environ:
        return
    try:
        node_env = psutil.Process().parent().environ()
    except (psutil.Error, AttributeError):
        return
    if "OMP_NUM_THREADS" not in node_env:
        del os.environ["OMP_NUM_THREADS"]


__all__ = ["RayLauncher", "SLOT", "auth_mode"]
