"""The LoadGen query sample library (QSL) over a :class:`harness.datasets.Dataset`."""

from __future__ import annotations

import mlperf_loadgen as lg
import numpy as np

from .datasets import Dataset


class QSL:
    """Holds the samples LoadGen asked to load, in memory.

    Args:
        dataset: the prepared dataset; its length is the total sample count.
        performance_sample_count: samples LoadGen keeps loaded at once during a performance
            run (the benchmark's count, e.g. 1024 for resnet50 per mlperf.conf), capped at
            the dataset size.

    ``load_samples``/``unload_samples`` really read the preprocessed arrays into memory and
    free them, as LoadGen expects (LoadGen docs, "QuerySampleLibrary").
    """

    def __init__(self, dataset: Dataset, performance_sample_count: int):
        self.dataset = dataset
        self.total_sample_count = len(dataset)
        self.performance_sample_count = min(int(performance_sample_count), len(dataset))
        self.samples: dict[int, np.ndarray] = {}
        self.handle = None

    def load_samples(self, indices: list[int]) -> None:
        """LoadGen callback: read these QSL indices into memory."""
        for i in indices:
            if i not in self.samples:
                self.samples[i] = self.dataset.load_sample(i)

    def unload_samples(self, indices: list[int]) -> None:
        """LoadGen callback: free these QSL indices."""
        for i in indices:
            self.samples.pop(i, None)

    def get(self, index: int) -> np.ndarray:
        """A loaded sample (batch of 1)."""
        return self.samples[index]

    def construct(self):
        """Create the LoadGen QSL handle (destroy with :meth:`destroy`)."""
        self.handle = lg.ConstructQSL(self.total_sample_count, self.performance_sample_count,
                                      self.load_samples, self.unload_samples)
        return self.handle

    def destroy(self) -> None:
        if self.handle is not None:
            lg.DestroyQSL(self.handle)
            self.handle = None
