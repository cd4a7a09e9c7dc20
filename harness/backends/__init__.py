"""Inference backends behind one interface (:class:`harness.backends.base.Backend`).

One folder per backend: ``<name>/config.py`` (its options, a dataclass extending
:class:`harness.backends.config.BackendConfig`; part of the run config) and
``<name>/backend.py`` (the implementation). A new backend adds its folder and one entry to
:data:`REGISTRY`: its config class and its factory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import HarnessError
from .base import Backend, Callback, LoadContext
from .config import DEFAULT, BackendConfig
from .kserve.config import KServeConfig
from .openvino.config import OpenVINOConfig
from .pytorch.config import PyTorchConfig


def _openvino() -> Backend:
    from .openvino.backend import OpenVINOBackend  # imported on use: OpenVINO loads slowly

    return OpenVINOBackend()


def _pytorch() -> Backend:
    from .pytorch.backend import PyTorchBackend  # imported on use: torch loads slowly

    return PyTorchBackend()


def _kserve() -> Backend:
    try:  # imported on use: tritonclient is an optional dependency (the serve extra)
        from .kserve.backend import KServeBackend
    except ImportError as exc:
        raise HarnessError(f"--backend kserve needs tritonclient ({exc}); install the serving "
                           f"extra: make setup, or uv pip install -e '.[serve]'") from None
    return KServeBackend()


@dataclass(frozen=True)
class BackendEntry:
    """One backend: its config class (the run config's ``backend`` section; its fields are
    ``harness run`` options) and its factory (a new, unloaded :class:`Backend`; the
    implementation is imported on use, the config module never imports OpenVINO or torch)."""

    config: type[BackendConfig]
    factory: Callable[[], Backend]


#: backend name (its config's ``name``) -> entry, in the order ``--help`` lists them
REGISTRY: dict[str, BackendEntry] = {
    e.config.name: e for e in (BackendEntry(OpenVINOConfig, _openvino),
                               BackendEntry(PyTorchConfig, _pytorch),
                               BackendEntry(KServeConfig, _kserve))}


def entry(name: str) -> BackendEntry:
    """The registry entry of a backend by name.

    Raises:
        HarnessError: unknown backend (lists the valid ones).
    """
    if name not in REGISTRY:
        raise HarnessError(f"unknown backend '{name}'. Valid backends: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def create(name: str) -> Backend:
    """A new, unloaded backend by name.

    Raises:
        HarnessError: unknown backend (lists the valid ones).
    """
    return entry(name).factory()


__all__ = ["Backend", "BackendConfig", "BackendEntry", "Callback", "DEFAULT", "LoadContext",
           "REGISTRY", "create", "entry"]
