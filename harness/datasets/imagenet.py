"""ImageNet in the MLPerf layout: a folder of images plus ``val_map.txt``.

``val_map.txt`` has one line per image, ``<file name> <class index>``; QSL index i is line i
(the convention of the MLCommons reference ``accuracy-imagenet.py``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import HarnessError
from ..paths import cache_dir
from .base import Dataset, refuse_missing
from .preprocessing import preprocess, spec_key


def read_val_map(path: Path) -> list[tuple[str, int]]:
    """Parse a val_map file into ``[(file name, class index), ...]``.

    Raises:
        HarnessError: a line that is not ``<file> <int>``.
    """
    entries = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 2 or not cols[1].lstrip("-").isdigit():
            raise HarnessError(f"{path}:{lineno}: expected '<file name> <class index>', "
                               f"got {line!r}")
        entries.append((cols[0], int(cols[1])))
    return entries


class ImageNetDataset(Dataset):
    """ImageNet validation images (all of val_map, or its first ``count`` lines).

    Preprocessed samples are cached as one ``.npy`` per image under
    ``<cache>/preprocessed/<dataset hash>/<preprocessing hash>/``, so a second run and a
    different model with the same preprocessing skip the work.

    Args:
        root: folder with the images and ``val_map.txt``.
        spec: the card's preprocessing spec.
        count: use the first ``count`` entries (None: all).

    Raises:
        HarnessError: missing folder or val_map, ``count`` larger than the list, images the
            list names that do not exist (all listed; the run is never shrunk silently).
    """

    def __init__(self, root: Path | str, spec: dict[str, Any], count: int | None = None):
        self.root = Path(root).resolve()
        self.spec = spec
        if not self.root.is_dir():
            raise HarnessError(f"dataset folder {self.root} does not exist. Pass "
                               f"DATASET=<folder with images and val_map.txt>, or leave it "
                               f"empty for a synthetic performance run.")
        self.val_map = self.root / "val_map.txt"
        if not self.val_map.is_file():
            raise HarnessError(f"{self.val_map} not found: an ImageNet dataset folder needs "
                               f"val_map.txt ('<file> <class index>' per line)")
        entries = read_val_map(self.val_map)
        if count is not None:
            if count < 1 or count > len(entries):
                raise HarnessError(f"--count {count} is outside 1..{len(entries)}, the number "
                                   f"of images in {self.val_map}")
            entries = entries[:count]
        missing = [name for name, _ in entries if not (self.root / name).is_file()]
        refuse_missing(missing, len(entries), str(self.val_map),
                       "Restore them or remove their lines from val_map.txt.")
        self.entries = entries
        self.labels = np.array([label for _, label in entries], dtype=np.int64)
        digest = hashlib.sha256(str(self.root).encode())
        for name, label in entries:
            digest.update(f"{name} {label}\n".encode())
        self.cache = cache_dir() / "preprocessed" / digest.hexdigest()[:16] / spec_key(spec)

    def __len__(self) -> int:
        return len(self.entries)

    def _cached(self, index: int) -> Path:
        return self.cache / f"{index:06d}.npy"

    def prepare(self) -> None:
        """Preprocess every image not yet cached (a progress bar shows the work)."""
        self.cache.mkdir(parents=True, exist_ok=True)
        todo = [i for i in range(len(self)) if not self._cached(i).is_file()]
        for i in tqdm(todo, desc=f"preprocessing {self.root.name}", unit="img",
                      disable=not todo):
            sample = preprocess(self.root / self.entries[i][0], self.spec)
            fd, tmp = tempfile.mkstemp(dir=self.cache, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, sample)
            os.replace(tmp, self._cached(i))

    def load_sample(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(np.load(self._cached(index))[None])

    def describe(self) -> dict[str, Any]:
        return {"kind": "imagenet", "path": str(self.root), "val_map": str(self.val_map),
                "count": len(self), "preprocessing": self.spec,
                "preprocessing_key": spec_key(self.spec), "cache": str(self.cache)}
