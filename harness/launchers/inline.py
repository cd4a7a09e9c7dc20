"""The inline launcher: the run happens in this process (``harness run``'s default).

LoadGen applies its built-in mlperf.conf only once per process, so an inline launcher runs
one test per process; :meth:`InlineLauncher.fresh` gives a process launcher for more (the
FP32 reference of an accuracy gate, for instance).
"""

from __future__ import annotations

import os

from .. import system
from ..run import benchmark
from ..run.config import RunConfig
from ..run.report import RunReport
from .base import Launcher
from .process import ProcessLauncher


class InlineLauncher(Launcher):
    """Runs in this process, pinned to ``config.launcher.cores`` when given."""

    name = "inline"

    def __init__(self) -> None:
        self.used = False

    def launch(self, config: RunConfig, command: list[str] | None = None) -> RunReport:
        """Pin this process (``os.sched_setaffinity``, like ``taskset -c``), then run.

        Raises:
            HarnessError: a second run in this process, CPUs this machine lacks, or the
                run's own errors (see :class:`Launcher`).
        """
        if config.launcher.cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, system.check_cpus(config.launcher.cores))
        self.used = True
        return benchmark.run(config, command)

    def fresh(self) -> Launcher:
        return ProcessLauncher()
