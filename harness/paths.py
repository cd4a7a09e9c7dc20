"""Where the harness finds its declarative folders and keeps its caches."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import HarnessError


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
    """Cache for converted IRs and preprocessed samples (created when absent).

    ``HARNESS_CACHE_DIR`` overrides it; default ``~/.cache/mlperf-ov-harness``.

    Raises:
        HarnessError: it cannot be created (naming it and the fix).
    """
    env = os.environ.get("HARNESS_CACHE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "mlperf-ov-harness"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(path, exc) from None
    return path


def check_cache_dir() -> Path:
    """The cache folder (:func:`cache_dir`), refused before any work when it cannot be
    used: a file, a folder under a file, a read-only or unwritable place (a file is
    created and removed there to know).

    Raises:
        HarnessError: naming the folder, the OS reason and the fix (``HARNESS_CACHE_DIR``).
    """
    path = cache_dir()
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unusable(path, exc) from None
    return path


def _unusable(path: Path, exc: OSError) -> HarnessError:
    why = "it is a file, not a folder" if path.is_file() else exc.strerror or str(exc)
    where = "HARNESS_CACHE_DIR" if os.environ.get("HARNESS_CACHE_DIR") else "the default cache"
    return HarnessError(f"cache folder {path} ({where}) cannot be used: {why}. "
                        f"Point HARNESS_CACHE_DIR to a writable folder")
