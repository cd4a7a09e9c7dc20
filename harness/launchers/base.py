"""What every launcher does: start one run from its config and give back its report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Iterator

from ..errors import HarnessError
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

    def check(self) -> None:
        """Check this launcher can start runs at all, before a workflow starts any (a
        cluster launcher connects); nothing to check for a local one.

        Raises:
            HarnessError: it cannot (the message says why and what to do).
        """

    def launch_many(self, configs: list[RunConfig], command: list[str] | None = None,
                    on_start: Callable[[int], None] | None = None
                    ) -> Iterator[tuple[int, RunReport | HarnessError]]:
        """Run every config; yield ``(index, report)`` as each run ends, or ``(index,
        error)`` for one that failed (a :class:`RunFailed` or :class:`HarnessError`), so
        the caller goes on with the others.

        This one runs them one after the other, calling ``on_start(index)`` before each; a
        launcher that can run several at once (:class:`harness.launchers.ray.RayLauncher`)
        starts them all, calls ``on_start`` as it hands each over, and yields in the order
        they end. ``KeyboardInterrupt`` goes through.
        """
        for index, config in enumerate(configs):
            if on_start is not None:
                on_start(index)
            try:
                yield index, self.launch(config, command)
            except HarnessError as exc:
                yield index, exc

    def fresh(self) -> "Launcher":
        """A launcher that starts each run in a fresh process (``self`` when it does)."""
        return self
