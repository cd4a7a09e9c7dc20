"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import HarnessError


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, mode 0644.

    On failure (disk full, read-only folder) the temporary file is removed and the old file,
    if any, is left as it was.

    Raises:
        HarnessError: the file cannot be written (the message names it and the OS reason).
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_json_atomic(path: Path | str, data: Any) -> None:
    """:func:`write_text_atomic` of ``data`` as indented JSON (non-JSON values as str)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
