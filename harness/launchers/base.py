"""What every launcher does: start one run from its config and give back its report."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..run.config import RunConfig
from ..run.report import RunReport


class Launcher(ABC):
    """Starts runs. A launcher is the only code that calls :func:`harness.run.benchmark.run`.

    :meth:`launch` returns the report of a complete run; it raises
    :class:`harness.run.report.RunFailed` (with the report) for a run that failed after its
    directory existed, :class:`harness.errors.HarnessError` for bad input (nothing was
    written), and lets ``KeyboardInterrupt`` through (the run is marked interrupted).
    """

    name = "base"
    #: Every run gets a process of its own (LoadGen applies its mlperf.conf once per
    #: process), so one launcher can start many runs.
    isolated = False

    @abstractmethod
    def launch(self, config: RunConfig, command: list[str] | None = None) -> RunReport:
        """Run ``config``; ``command`` is recorded as the command line that asked for it."""

    def fresh(self) -> "Launcher":
        """A launcher that starts each run in a fresh process (``self`` when it does)."""
        return self
