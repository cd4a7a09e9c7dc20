"""Inference backends behind one interface (:class:`harness.backends.base.Backend`).

One folder per backend: ``<name>/config.py`` (its options, a dataclass; part of the run
config) and ``<name>/backend.py`` (the implementation). A new backend adds its folder, its
factory below, and its config class to :data:`harness.run.config.BACKEND_CONFIGS`.
"""

from __future__ import annotations

from ..errors import HarnessError
from .base import Backend, Callback, LoadContext


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


#: backend name -> factory
FACTORIES = {"openvino": _openvino, "pytorch": _pytorch, "kserve": _kserve}


def create(name: str) -> Backend:
    """A new, unloaded backend by name.

    Raises:
        HarnessError: unknown backend (lists the valid ones).
    """
    if name not in FACTORIES:
        raise HarnessError(f"unknown backend '{name}'. Valid backends: {', '.join(FACTORIES)}")
    return FACTORIES[name]()


__all__ = ["Backend", "Callback", "LoadContext", "create", "FACTORIES"]
