"""The small interface every dataset implements for the QSL."""

from __future__ import annotations

import hashlib
import math
import shutil
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import HarnessError
from ..files import remove_stale_temps, replace_atomically, room_problem
from .preprocessing import preprocess, sample_layout

#: Damaged cache entries named in the one line saying they are rebuilt (the rest counted).
SHOWN_DAMAGED = 5

#: What a dataset's content key covers (recorded in run.json beside the key).
CONTENT_KEY_COVERS = ("the dataset folder, each listed file name with its label or "
                      "annotation entry, and each image file's size and modification time "
                      "(ns)")


def content_key(root: Path, lines: list[str], files: list[Path]) -> str:
    """The key of a dataset's preprocessed samples: 16 hex digits of a sha256 over the
    folder, one line per sample (its file name and label or annotation entry) and each
    image file's size and modification time in ns.

    Replacing or rewriting an image changes its size or mtime, so a changed image never
    reuses the pixels of the old one (the way make and rsync tell changed files).

    Raises:
        HarnessError: an image cannot be examined (named).
    """
    digest = hashlib.sha256(str(root).encode())
    for line, path in zip(lines, files):
        try:
            st = path.stat()
        except OSError as exc:
            raise HarnessError(f"cannot read image {path}: {exc.strerror or exc}") from None
        digest.update(f"{line}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def entry_problem(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why the cached sample ``path`` is not a whole ``.npy`` of ``shape`` and ``dtype``, in
    words, or None when it is.

    Only the header is read (never the array, never mapped: a cut file mapped with
    ``np.load(mmap_mode=...)`` can crash the process), and the file size is compared with
    the header's size plus the array's bytes.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                return "0 bytes"
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(f)
            else:
                return f".npy format version {version[0]}.{version[1]}"
            data_at = f.tell()
    except (OSError, ValueError, EOFError) as exc:
        return f"not a .npy file: {getattr(exc, 'strerror', None) or exc}"
    got_shape, fortran, got_dtype = header
    if tuple(got_shape) != tuple(shape) or got_dtype != dtype or fortran:
        return (f"holds {got_dtype} {tuple(got_shape)}{' Fortran order' if fortran else ''}, "
                f"not {dtype} {tuple(shape)}")
    want = data_at + math.prod(shape) * dtype.itemsize
    if size != want:
        return f"{size} bytes, not {want}" + (" (cut)" if size < want else "")
    return None


def _discard(path: Path) -> None:
    """Remove a damaged cache entry (a file, or a folder where a file belongs)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def fill_cache(cache: Path, files: list[Path], spec: dict[str, Any], desc: str) -> None:
    """Preprocess ``files[i]`` into ``cache/<i:06d>.npy`` for every sample not cached yet
    (a progress bar shows the work). Each file is written to a temporary name and renamed;
    temporary files of killed processes are removed first.

    Entries already there are checked against what the preprocessing key promises
    (:func:`entry_problem`: size, shape and dtype of
    :func:`harness.datasets.preprocessing.sample_layout`); damaged ones (0 bytes, cut, of
    another shape or dtype, not ``.npy``) are removed and preprocessed again, said in one
    line on stderr.

    Raises:
        HarnessError: an image cannot be decoded, or the cache cannot be written (disk
            full: the temporary file is removed and the message names the cache).
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create the preprocessing cache {cache}: "
                           f"{exc.strerror or exc}; point HARNESS_CACHE_DIR to a writable "
                           f"folder") from None
    remove_stale_temps(cache)
    shape, dtype = sample_layout(spec)
    todo, damaged = [], []
    for i in range(len(files)):
        entry = cache / f"{i:06d}.npy"
        if not entry.exists() and not entry.is_symlink():
            todo.append(i)
            continue
        problem = entry_problem(entry, shape, dtype)
        if problem is not None:
            damaged.append(f"{entry.name}: {problem}")
            todo.append(i)
            try:
                _discard(entry)
            except OSError as exc:
                raise HarnessError(f"cannot remove the damaged preprocessing cache entry "
                                   f"{entry}: {exc.strerror or exc}; point HARNESS_CACHE_DIR "
                                   f"to a writable folder") from None
    if damaged:
        more = f", and {len(damaged) - SHOWN_DAMAGED} more" \
            if len(damaged) > SHOWN_DAMAGED else ""
        print(f"preprocessing cache {cache}: {len(damaged)} damaged "
              f"{'entry' if len(damaged) == 1 else 'entries'} "
              f"({'; '.join(damaged[:SHOWN_DAMAGED])}{more}); rebuilding "
              f"{'it' if len(damaged) == 1 else 'them'}", file=sys.stderr, flush=True)
    for i in tqdm(todo, desc=desc, unit="img", disable=not todo):
        sample = preprocess(files[i], spec)
        try:
            replace_atomically(cache / f"{i:06d}.npy", lambda f: np.save(f, sample),
                               binary=True)
        except OSError as exc:
            why = room_problem(cache) or exc.strerror or str(exc)
            raise HarnessError(f"cannot write the preprocessed samples into {cache}: {why}. "
                               f"Free space there, or point HARNESS_CACHE_DIR to a larger "
                               f"disk") from None


def load_cached(path: Path) -> np.ndarray:
    """A cached sample (checked by :func:`fill_cache`) with a batch dimension of 1,
    C-contiguous.

    Raises:
        HarnessError: the file cannot be read any more (changed since it was checked).
    """
    try:
        return np.ascontiguousarray(np.load(path)[None])
    except (OSError, ValueError, EOFError) as exc:
        raise HarnessError(f"preprocessing cache entry {path} cannot be read ({exc}): it "
                           f"changed after it was checked; run again to rebuild it") from None


def require_folder(root: Path, holds: str) -> None:
    """Refuse a dataset path that is not a folder (missing, or a file: ``--dataset`` names
    the folder).

    Args:
        root: the ``--dataset`` path, resolved.
        holds: what the folder holds, for the message (e.g. ``images and val_map.txt``).

    Raises:
        HarnessError: naming the path, what it is and the fix.
    """
    if root.is_dir():
        return
    if root.exists():
        parent = f" (its folder {root.parent}?)" if root.is_file() else ""
        raise HarnessError(f"dataset {root} is a file, not a folder: --dataset (DATASET=) "
                           f"names the folder with {holds}{parent}")
    raise HarnessError(f"dataset folder {root} does not exist. Pass DATASET=<folder with "
                       f"{holds}>, or leave it empty for a synthetic performance run.")


def decode_text(path: Path, holds: str, bom_ok: bool = True) -> str:
    """The text of a dataset list file, UTF-8 (a leading UTF-8 byte-order mark is dropped
    when ``bom_ok``).

    Args:
        path: the file.
        holds: what it holds, for the message (e.g. ``a val_map holds lines ...``).
        bom_ok: accept a UTF-8 byte-order mark (False where the file's other reader,
            e.g. pycocotools, cannot).

    Raises:
        HarnessError: unreadable, UTF-16/32 (byte-order mark or NUL bytes), a BOM where
            not ``bom_ok``, or not UTF-8 (the fix: save it as UTF-8).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{path} cannot be read ({exc.strerror or exc}); {holds}") from None
    fix = "save it as UTF-8 text (e.g. iconv -t UTF-8, or 'UTF-8' in the editor's save dialog)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        raise HarnessError(f"{path} is UTF-16 or UTF-32 text (or binary), not UTF-8: {fix}; "
                           f"{holds}")
    if data.startswith(b"\xef\xbb\xbf"):
        if not bom_ok:
            raise HarnessError(f"{path} starts with a UTF-8 byte-order mark, which its other "
                               f"reader cannot take: save it as UTF-8 without BOM")
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path} is not UTF-8 text (byte {exc.start}: "
                           f"{data[exc.start:exc.start + 1]!r}): {fix}; {holds}") from None


def refuse_missing(missing: list[str], total: int, listing: str, fix: str) -> None:
    """Raise one error listing every missing file (never shrink a run silently).

    The MLPerf reference harness drops images it cannot find ("reduced image list") and runs
    on fewer samples; the harness refuses instead.

    Args:
        missing: file names the dataset list names but the folder lacks (a name may end
            with `` (a folder, not a file)``).
        total: how many the list names.
        listing: where they are listed (a val_map or annotation file, for the message).
        fix: how to fix it, one sentence.

    Raises:
        HarnessError: when ``missing`` is not empty (at most 50 names shown).
    """
    if not missing:
        return
    shown = "\n  ".join(missing[:50])
    more = f"\n  ... and {len(missing) - 50} more" if len(missing) > 50 else ""
    what = "are not files" if any("(a folder" in m for m in missing) else "do not exist"
    raise HarnessError(f"{len(missing)} of {total} images named in {listing} {what} "
                       f"(the run is not shrunk silently):\n  {shown}{more}\n{fix}")


class Dataset(ABC):
    """A list of samples addressed by QSL index 0..len-1.

    ``prepare()`` validates and preprocesses everything up front (so bad input fails before
    a run directory exists); ``load_sample(i)`` then returns one ready model input.
    """

    #: True for generated data: performance only, never accuracy.
    synthetic: bool = False

    @abstractmethod
    def __len__(self) -> int:
        """Total sample count (the QSL's total sample count)."""

    @abstractmethod
    def prepare(self) -> None:
        """Validate the dataset and fill the preprocessing cache (shows progress).

        Raises:
            HarnessError: missing or corrupt files.
        """

    @abstractmethod
    def load_sample(self, index: int) -> np.ndarray:
        """One preprocessed sample with a batch dimension of 1, C-contiguous."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Facts for the run manifest (kind, path, count, preprocessing key, ...)."""
