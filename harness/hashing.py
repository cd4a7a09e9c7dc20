"""File digests used across the harness (cache keys, accuracy.txt hash lines)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Used for the ``hash=`` line of accuracy.txt (the MLCommons submission checker compares it
    with the sha256 of the full mlperf_log_accuracy.json) and for weights identities.
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
