"""Inference backends behind one interface (:class:`harness.backends.base.Backend`)."""

from __future__ import annotations

from ..errors import HarnessError
from .base import Backend, BackendSettings


def _openvino() -> Backend:
    from .openvino import OpenVINOBackend

    return OpenVINOBackend()


def _pytorch() -> Backend:
    from .pytorch import PyTorchBackend

    return PyTorchBackend()


#: backend name -> factory
FACTORIES = {"openvino": _openvino, "pytorch": _pytorch}


def create(name: str) -> Backend:
    """A new backend by name.

    Raises:
        HarnessError: unknown backend (lists the valid ones).
    """
    if name not in FACTORIES:
        raise HarnessError(f"unknown backend '{name}'. Valid backends: {', '.join(FACTORIES)}")
    return FACTORIES[name]()


__all__ = ["Backend", "BackendSettings", "create", "FACTORIES"]
