"""Launchers: the only code that starts runs (:mod:`.base` says what one does).

- ``inline`` (:mod:`.inline`): in this process; one LoadGen test per process.
- ``process`` (:mod:`.process`): a fresh Python process per run.

A new launcher (a cluster scheduler) is one module here plus its name in :data:`LAUNCHERS`
and in :data:`harness.run.config.LAUNCHERS`.
"""

from __future__ import annotations

from ..errors import HarnessError
from .base import Launcher
from .inline import InlineLauncher
from .process import ProcessLauncher

LAUNCHERS = {"inline": InlineLauncher, "process": ProcessLauncher}


def create(name: str, **options) -> Launcher:
    """A launcher by name; ``options`` go to its constructor (e.g. ``capture=True``).

    Raises:
        HarnessError: unknown launcher.
    """
    if name not in LAUNCHERS:
        raise HarnessError(f"unknown launcher '{name}'; valid: {', '.join(LAUNCHERS)}")
    return LAUNCHERS[name](**options) if name != "inline" else InlineLauncher()


def for_many(name: str, **options) -> Launcher:
    """A launcher for a workflow that starts several runs: each in a process of its own
    (``inline`` becomes ``process``)."""
    return ProcessLauncher(**options) if name == "inline" else create(name, **options)


__all__ = ["Launcher", "InlineLauncher", "ProcessLauncher", "LAUNCHERS", "create", "for_many"]
