"""The small interface every dataset implements for the QSL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..errors import HarnessError


def refuse_missing(missing: list[str], total: int, listing: str, fix: str) -> None:
    """Raise one error listing every missing file (never shrink a run silently).

    The MLPerf reference harness drops images it cannot find ("reduced image list") and runs
    on fewer samples; the harness refuses instead.

    Args:
        missing: file names the dataset list names but the folder lacks.
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
    raise HarnessError(f"{len(missing)} of {total} images named in {listing} do not exist "
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
