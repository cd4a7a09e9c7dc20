"""The accuracy log of a submission: cut to its first and last 4096 bytes.

Follows mlcommons/inference ``tools/submission/truncate_accuracy_log.py``: a log larger than
``MAX_ACCURACY_LOG_SIZE`` (10 KiB) is replaced by its first ``VIEWABLE_SIZE`` bytes, a
``"\\n\\n...\\n\\n"`` marker and its last ``VIEWABLE_SIZE`` bytes; the sha256 of the full log
goes into accuracy.txt (``hash=...``), which the harness writes when it scores a run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..hashing import sha256_file
from .rules import MAX_ACCURACY_LOG_SIZE, VIEWABLE_SIZE

MARKER = b"\n\n...\n\n"


def truncate_accuracy_log(src: Path, dst: Path) -> dict:
    """Write ``dst``: ``src`` itself when at most 10 KiB, else its head + marker + tail.

    Returns:
        ``{"sha256": full-log hash, "size": bytes of src, "truncated": bool}``.
    """
    src, dst = Path(src), Path(dst)
    size = src.stat().st_size
    digest = sha256_file(src)
    if size <= MAX_ACCURACY_LOG_SIZE:
        shutil.copyfile(src, dst)
        return {"sha256": digest, "size": size, "truncated": False}
    with src.open("rb") as f:
        head = f.read(VIEWABLE_SIZE)
        f.seek(size - VIEWABLE_SIZE)
        tail = f.read(VIEWABLE_SIZE)
    dst.write_bytes(head + MARKER + tail)
    return {"sha256": digest, "size": size, "truncated": True}
