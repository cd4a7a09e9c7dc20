"""Writing files so that a reader never sees half of one, and cleaning up after crashes.

Temporary files and folders the harness makes beside their final place are named
``.<name>@<host>@<pid>@<random>`` (:func:`temp_prefix`): the process that made one cleans it
up when it fails, and :func:`remove_stale_temps` lets a later process remove those whose
maker is gone (killed with SIGKILL, the machine lost power: no ``finally`` ran).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from .errors import HarnessError
from .system import process_exists

#: OS errors meaning "no room": disk full, file size limit (``ulimit -f``), disk quota.
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def temp_prefix(name: str) -> str:
    """``.<name>@<host>@<pid>@``: the prefix of a temporary file or folder of this process
    (``tempfile.mkstemp``/``mkdtemp`` add the random part)."""
    return f".{name}@{socket.gethostname()}@{os.getpid()}@"


def remove_stale_temps(folder: Path | str) -> list[Path]:
    """Remove the temporary files and folders directly in ``folder`` (named by
    :func:`temp_prefix`) whose process, on this host, no longer exists.

    Returns:
        The paths removed. Entries of other hosts, or whose process still exists, are kept;
        a removal that fails is skipped (another process may be removing it too).
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        parts = entry.name[1:].rsplit("@", 3) if entry.name.startswith(".") else []
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        _, host, pid, _ = parts
        if host != socket.gethostname() or process_exists(int(pid)):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


def check_folder_argument(path: Path | str, flag: str) -> Path:
    """Check that a command's output folder option can name a folder: neither it nor any
    folder above it is an existing file. Called before anything runs.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        HarnessError: ``path``, or a folder above it, is a file (naming which and ``flag``).
    """
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "names a file" if p == path else f"{p} is a file"
                raise HarnessError(f"{flag} {path}: {what}, not a folder; give the folder "
                                   f"to write into")
            break
    return path


def room_problem(folder: Path | str) -> str | None:
    """Why files in ``folder`` may not get written, in words, or None: the disk holding it
    is full (less than 1 MiB free), or a file size limit (``ulimit -f``) applies."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 1 << 20:
        return f"the disk holding {folder} is full ({free} bytes free)"
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit != resource.RLIM_INFINITY:
        return f"a file size limit of {limit} bytes applies (ulimit -f)"
    return None


def replace_atomically(path: Path | str, write: Callable[[IO], None],
                       binary: bool = False) -> None:
    """Write a file through a temporary file beside it (:func:`temp_prefix`) and a rename,
    mode 0644: ``write(f)`` fills the open temporary file. On failure the temporary file is
    removed and the old file, if any, is left as it was.

    Raises:
        OSError: the file cannot be written (disk full, read-only folder, ...).
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name))
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`replace_atomically`.

    Raises:
        HarnessError: the file cannot be written (the message names it and the OS reason).
    """
    try:
        replace_atomically(path, lambda f: f.write(text))
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}") from exc


def rewrite_in_place(path: Path | str, text: str) -> None:
    """Overwrite an existing file in place, when ``text`` fits in the space the file already
    holds on disk: the last resort of a status update on a full disk, where
    :func:`write_text_atomic` cannot create its temporary file. Not atomic: a crash in the
    middle leaves a broken file (which readers list as unreadable, never as a result).

    Raises:
        HarnessError: the file does not exist, ``text`` needs more room than it holds, or
            the write fails.
    """
    path = Path(path)
    data = text.encode()
    try:
        st = path.stat()
        room = max(st.st_size, st.st_blocks * 512)
        if len(data) > room:
            raise HarnessError(f"cannot rewrite {path} in place: {len(data)} bytes do not fit "
                               f"in the {room} it holds")
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise HarnessError(f"cannot rewrite {path}: {exc.strerror or exc}") from exc


def write_json_atomic(path: Path | str, data: Any) -> None:
    """:func:`write_text_atomic` of ``data`` as indented JSON (non-JSON values as str)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
