"""Where the harness finds its declarative folders and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding ``models/`` and ``scenarios/``.

    ``HARNESS_HOME`` overrides it; otherwise it is the parent of the ``harness`` package
    (the package is installed in editable mode by ``make setup``).
    """
    env = os.environ.get("HARNESS_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    """The folder of model cards (``<root>/models``)."""
    return project_root() / "models"


def scenarios_dir() -> Path:
    """The folder of scenario definitions and user.conf files (``<root>/scenarios``)."""
    return project_root() / "scenarios"


def cache_dir() -> Path:
    """Cache for converted IRs and preprocessed samples.

    ``HARNESS_CACHE_DIR`` overrides it; default ``~/.cache/mlperf-ov-harness``.
    """
    env = os.environ.get("HARNESS_CACHE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "mlperf-ov-harness"
    path.mkdir(parents=True, exist_ok=True)
    return path
