"""Datasets: ImageNet (MLPerf val_map layout) and synthetic data."""

from __future__ import annotations

from pathlib import Path

from ..cards import ModelCard
from ..errors import HarnessError
from .base import Dataset
from .coco import CocoDataset
from .imagenet import ImageNetDataset
from .synthetic import SyntheticDataset

__all__ = ["Dataset", "CocoDataset", "ImageNetDataset", "SyntheticDataset", "open_dataset",
           "READERS"]

#: card.dataset kind -> reader(card, path, count) -> Dataset
READERS = {
    "imagenet": lambda card, path, count: ImageNetDataset(path, card.preprocessing, count),
    "coco": lambda card, path, count: CocoDataset(path, card.preprocessing, count, card),
}


def open_dataset(card: ModelCard, path: str | Path | None, count: int | None,
                 synthetic_count: int) -> Dataset:
    """The dataset a run uses: the card's kind at ``path``, or synthetic data when None.

    Args:
        card: the model card (its ``dataset`` and preprocessing decide the reader).
        path: dataset folder, or None for synthetic data.
        count: first N samples only (None: all).
        synthetic_count: size of the synthetic dataset (the benchmark's performance sample
            count), used when ``path`` is None.

    Raises:
        HarnessError: unknown dataset kind, or the reader's own errors.
    """
    if path is None or str(path) == "":
        return SyntheticDataset(card.input_shape, card.input_dtype,
                                count if count else synthetic_count)
    if card.dataset in READERS:
        return READERS[card.dataset](card, path, count)
    raise HarnessError(f"model card {card.name} names dataset kind '{card.dataset}', which "
                       f"this harness cannot read yet")
