"""Random input data for performance runs when no dataset is given."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Dataset


class SyntheticDataset(Dataset):
    """``count`` random samples of the model's input shape and dtype, seeded.

    Sample ``i`` is generated from ``numpy.random.default_rng(seed + i)``: uint8 inputs are
    uniform in 0..255, float inputs standard normal (roughly the range of normalised images).
    Performance only: there are no labels, and the harness refuses accuracy mode on it.
    """

    synthetic = True

    def __init__(self, shape: tuple[int, ...], dtype: str, count: int, seed: int = 0):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.count = int(count)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.count

    def prepare(self) -> None:
        """Nothing to validate or cache."""

    def load_sample(self, index: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed + index)
        if self.dtype == np.uint8:
            return rng.integers(0, 256, size=self.shape, dtype=np.uint8)
        return rng.standard_normal(self.shape, dtype=np.float32).astype(self.dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": "synthetic", "count": self.count, "shape": list(self.shape),
                "dtype": str(self.dtype), "seed": self.seed,
                "note": "random data: performance only, not valid for accuracy"}
