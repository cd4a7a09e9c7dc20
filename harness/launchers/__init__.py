"""Launchers: the only code that starts runs (:mod:`.base` says what one does).

- ``inline`` (:mod:`.inline`): in this process; one LoadGen test per process.
- ``process`` (:mod:`.process`): a fresh Python process per run.
- ``ray`` (:mod:`.ray`): each run a Ray task on a node of a Ray cluster (through the process
  launcher there); the run directory comes back to this machine's results root.

A new launcher (a cluster scheduler) is one module here, its class in :data:`REGISTRY`
(keyed by the class's ``name``), and that name in :data:`harness.run.config.LAUNCHERS`, the
names a run config may give (the run layer, which checks them, cannot import launchers).
"""

from __future__ import annotations

from ..errors import HarnessError
from ..run.config import LauncherConfig
from .base import Launcher
from .inline import InlineLauncher
from .process import ProcessLauncher
from .ray import RayLauncher

#: launcher name -> class, one for each name of :data:`harness.run.config.LAUNCHERS`
REGISTRY: dict[str, type[Launcher]] = {
    cls.name: cls for cls in (InlineLauncher, ProcessLauncher, RayLauncher)}


def create(name: str, **options) -> Launcher:
    """A launcher by name; ``options`` go to its constructor (e.g. ``capture=True``).

    Raises:
        HarnessError: unknown launcher.
    """
    if name not in REGISTRY:
        raise HarnessError(f"unknown launcher '{name}'; valid: {', '.join(REGISTRY)}")
    return REGISTRY[name](**options) if name != "inline" else InlineLauncher()


def for_many(name: str, **options) -> Launcher:
    """A launcher for a workflow that starts several runs of one machine (find-peak,
    compliance, submission): each in a process of its own (``inline`` becomes ``process``).

    Raises:
        HarnessError: ``ray``: such a workflow compares runs that must share a machine,
            and a cluster would spread them over several.
    """
    if name == "ray":
        raise HarnessError("--launcher ray: only 'harness run' and 'harness sweep' start runs "
                           "on a Ray cluster (this command's runs must share one machine); "
                           "run it on the machine itself with --launcher process")
    return ProcessLauncher(**options) if name == "inline" else create(name, **options)


def from_config(config: LauncherConfig, many: bool = False) -> Launcher:
    """The launcher a run config names, with its options (the Ray address).

    Args:
        many: for a workflow that starts several runs: ``inline`` becomes ``process``.
    """
    if config.name == "ray":
        return RayLauncher(address=config.address)
    return ProcessLauncher() if many and config.name == "inline" else create(config.name)


__all__ = ["Launcher", "InlineLauncher", "ProcessLauncher", "RayLauncher", "REGISTRY",
           "create", "for_many", "from_config"]
