"""Scenarios: one object per LoadGen scenario (Offline, Server, SingleStream, MultiStream).

The declarative part (LoadGen name, default hint, metric, test-mode user.conf lines) lives
in the top-level ``scenarios/scenarios.toml``; the behaviour in the classes of this package
(:mod:`.base` says what a scenario owns). user.conf files and LoadGen settings:
:mod:`.settings`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import HarnessError
from ..paths import scenarios_dir
from .base import DeployContext, Definition, Scenario, TargetContext
from .multi_stream import MultiStream
from .offline import Offline
from .server import Server
from .single_stream import SingleStream

#: Scenario name -> class. A new scenario adds its class here and its table to
#: scenarios/scenarios.toml.
CLASSES: dict[str, type[Scenario]] = {"Offline": Offline, "Server": Server,
                                      "SingleStream": SingleStream,
                                      "MultiStream": MultiStream}


def definitions() -> dict[str, Definition]:
    """The tables of ``scenarios/scenarios.toml``, by name."""
    with (scenarios_dir() / "scenarios.toml").open("rb") as f:
        data = tomllib.load(f)
    return {name: Definition(name=name, loadgen=t["loadgen"], hint=t["hint"],
                             metric=t["metric"], test_mode=tuple(t.get("test_mode", ())))
            for name, t in data.items()}


def get(name: str) -> Scenario:
    """The scenario ``name`` (case-insensitive).

    Raises:
        HarnessError: unknown scenario (lists the valid ones).
    """
    defs = definitions()
    for key, definition in defs.items():
        if key.lower() == str(name).lower() and key in CLASSES:
            return CLASSES[key](definition)
    raise HarnessError(f"unknown scenario '{name}'. Valid scenarios: "
                       f"{', '.join(k for k in defs if k in CLASSES)}")


def all_scenarios() -> list[Scenario]:
    """Every scenario, in scenarios.toml order."""
    return [CLASSES[k](d) for k, d in definitions().items() if k in CLASSES]


def user_conf_path(model: str, scenario: str) -> Path:
    """``scenarios/<model>/<Scenario>/user.conf`` if present, else ``scenarios/default/...``."""
    own = scenarios_dir() / model / scenario / "user.conf"
    return own if own.is_file() else scenarios_dir() / "default" / scenario / "user.conf"


__all__ = ["Scenario", "Definition", "TargetContext", "DeployContext", "Offline", "Server",
           "SingleStream", "MultiStream", "CLASSES", "definitions", "get", "all_scenarios",
           "user_conf_path"]
