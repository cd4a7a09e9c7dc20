"""The small interface every dataset implements for the QSL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


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
