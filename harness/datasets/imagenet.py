"""ImageNet in the MLPerf layout: a folder of images plus ``val_map.txt``.

``val_map.txt`` has one line per image, ``<file name> <class index>``; QSL index i is line i
(the convention of the MLCommons reference ``accuracy-imagenet.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HarnessError
from ..paths import cache_dir
from .base import (CONTENT_KEY_COVERS, Dataset, content_key, decode_text, fill_cache,
                   load_cached, refuse_missing, require_folder)
from .preprocessing import spec_key

#: Lines named in an error about labels (the rest are counted).
SHOWN_LINES = 10
#: A class index as val_map writes it: ASCII digits, optionally negative (refused later,
#: naming the model's range).
LABEL = re.compile(r"-?[0-9]+")


def read_val_map(path: Path) -> list[tuple[str, int, int]]:
    """Parse a val_map file into ``[(file name, class index, line number), ...]``.

    Accepted as the official tools read it: UTF-8 text (with or without a byte-order mark),
    LF or CRLF line endings, columns separated by any spaces or tabs, blank lines (skipped;
    line numbers still count them). A class index is ASCII digits with an optional ``-``
    (``int()`` would also take '٣' or '３', which other tools reading the same file may
    not; a negative one is refused with the model's class range, by
    :meth:`ImageNetDataset.check_labels`).

    Raises:
        HarnessError: an unreadable file, one in UTF-16/32 or another encoding, a line that
            is not ``<file> <class index>`` (the line, its number and the fix named), or a
            file that lists no image.
    """
    text = decode_text(path, "a val_map holds lines '<file name> <class index>'")
    entries = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 2 or not LABEL.fullmatch(cols[1]):
            why = ("the class index is not written in ASCII digits 0-9"
                   if len(cols) == 2 and cols[1].lstrip("-").isdigit() else
                   "expected '<file name> <class index>'")
            raise HarnessError(f"{path}:{lineno}: {why}, got {line!r}. Fix that line: a "
                               f"val_map line is '<file name> <class index>', e.g. "
                               f"'ILSVRC2012_val_00000001.JPEG 65'")
        entries.append((cols[0], int(cols[1]), lineno))
    if not entries:
        raise HarnessError(f"{path} lists no images: a val_map holds one line "
                           f"'<file name> <class index>' per image")
    return entries


class ImageNetDataset(Dataset):
    """ImageNet validation images (all of val_map, or its first ``count`` lines).

    Preprocessed samples are cached as one ``.npy`` per image under
    ``<cache>/preprocessed/<content key>/<preprocessing hash>/``: the content key
    (:func:`harness.datasets.base.content_key`) covers the folder, the val_map names and
    labels, and each image's size and modification time, so a replaced image is preprocessed
    again; a second run and a different model with the same preprocessing skip the work.

    Args:
        root: folder with the images and ``val_map.txt``.
        spec: the card's preprocessing spec.
        count: use the first ``count`` entries (None: all).

    Attributes:
        entries: ``(file name, class index)`` per QSL index.
        labels: the class indices as an int64 array.
        lines: the val_map line number of each QSL index.

    Raises:
        HarnessError: missing folder or val_map, an empty val_map, ``count`` larger than the
            list, images the list names that do not exist (all listed; the run is never
            shrunk silently).
    """

    def __init__(self, root: Path | str, spec: dict[str, Any], count: int | None = None):
        self.root = Path(root).resolve()
        self.spec = spec
        require_folder(self.root, "images and val_map.txt")
        self.val_map = self.root / "val_map.txt"
        if self.val_map.is_dir():
            raise HarnessError(f"{self.val_map} is a folder, not a file: an ImageNet dataset "
                               f"folder needs the file val_map.txt ('<file> <class index>' "
                               f"per line)")
        if not self.val_map.is_file():
            raise HarnessError(f"{self.val_map} not found: an ImageNet dataset folder needs "
                               f"val_map.txt ('<file> <class index>' per line)")
        parsed = read_val_map(self.val_map)
        if count is not None:
            if count < 1 or count > len(parsed):
                raise HarnessError(f"--count {count} is outside 1..{len(parsed)}, the number "
                                   f"of images in {self.val_map}")
            parsed = parsed[:count]
        missing = [name + (" (a folder, not a file)" if (self.root / name).is_dir() else "")
                   for name, _, _ in parsed if not (self.root / name).is_file()]
        refuse_missing(missing, len(parsed), str(self.val_map),
                       "Restore them or remove their lines from val_map.txt.")
        self.entries = [(name, label) for name, label, _ in parsed]
        self.lines = [lineno for _, _, lineno in parsed]
        self.labels = np.array([label for _, label in self.entries], dtype=np.int64)
        self.content_key = content_key(self.root, [f"{n} {c}" for n, c in self.entries],
                                       [self.root / n for n, _ in self.entries])
        self.cache = cache_dir() / "preprocessed" / self.content_key / spec_key(spec)

    def __len__(self) -> int:
        return len(self.entries)

    def _cached(self, index: int) -> Path:
        return self.cache / f"{index:06d}.npy"

    def check_labels(self, first: int, last: int, model: str) -> None:
        """Refuse class indices outside ``first..last``, the classes the model predicts.

        Args:
            first, last: the model's class range (inclusive).
            model: the model in words, for the message (e.g. ``mobilenet_v2_quant (1001
                outputs, class offset -1)``).

        Raises:
            HarnessError: naming the val_map lines (the first :data:`SHOWN_LINES`) and the
                range; such a label can never be predicted, so the top-1 would be wrong.
        """
        bad = [(line, int(label)) for line, label in zip(self.lines, self.labels)
               if not first <= label <= last]
        if not bad:
            return
        shown = ", ".join(f"line {line}: class {label}" for line, label in bad[:SHOWN_LINES])
        more = f" and {len(bad) - SHOWN_LINES} more" if len(bad) > SHOWN_LINES else ""
        what = "class index is" if len(bad) == 1 else "class indices are"
        raise HarnessError(f"{self.val_map}: {len(bad)} {what} outside {first}..{last}, the "
                           f"classes of {model} ({shown}{more}). "
                           f"Fix those lines: ImageNet class indices are the positions of "
                           f"the wnids in sorted order, 0..999")

    def prepare(self) -> None:
        """Preprocess every image not yet cached (a progress bar shows the work).

        Raises:
            HarnessError: a corrupt image, or the cache cannot be written.
        """
        fill_cache(self.cache, [self.root / name for name, _ in self.entries], self.spec,
                   f"preprocessing {self.root.name}")

    def load_sample(self, index: int) -> np.ndarray:
        return load_cached(self._cached(index))

    def describe(self) -> dict[str, Any]:
        return {"kind": "imagenet", "path": str(self.root), "val_map": str(self.val_map),
                "count": len(self), "preprocessing": self.spec,
                "preprocessing_key": spec_key(self.spec), "content_key": self.content_key,
                "content_key_covers": CONTENT_KEY_COVERS, "cache": str(self.cache)}
