"""Model outputs -> MLPerf response payloads, as a card's ``[postprocessing]`` says."""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import detection
from .cards import ModelCard
from .errors import HarnessError


def argmax_class(class_offset: int, dtype: str) -> Callable[[list[np.ndarray], int], np.ndarray]:
    """Classification: one number, the predicted ImageNet class index.

    ``class_offset`` is added to the argmax (-1 for 1001-class models whose index 0 is
    "background"); ``dtype`` is the encoding the MLCommons ``accuracy-imagenet.py --dtype``
    names (its default float32). Source: MLPerf reference ``ArgMaxPostProcess`` and
    ``tools/accuracy-imagenet.py``.
    """
    np_dtype = np.dtype(dtype)

    def post(outputs: list[np.ndarray], _index: int) -> np.ndarray:
        return np.array([int(np.argmax(outputs[0])) + class_offset], dtype=np_dtype)

    return post


def check_outputs(card: ModelCard, outputs: list[np.ndarray]) -> None:
    """Raise a clear error when model outputs do not have the shapes the card declares.

    The card's ``[postprocessing]`` may declare ``output_shape`` (one output) or
    ``output_shapes`` (several); cards that declare neither are not checked. Called once on
    a test inference before a run (output shapes are static), not per sample.

    Raises:
        HarnessError: a different number of outputs or a different shape.
    """
    cfg = card.postprocessing
    expected = cfg.get("output_shapes") or ([cfg["output_shape"]] if "output_shape" in cfg
                                            else None)
    if expected is None:
        return
    shapes = [list(o.shape) for o in outputs]
    if shapes != [list(e) for e in expected]:
        raise HarnessError(f"model {card.name}: output shape(s) {shapes} do not match the "
                           f"card's {expected} ({card.path}); the model file does not fit "
                           f"this card's post-processing")


def check_dataset(card: ModelCard, outputs: list[np.ndarray], dataset) -> None:
    """Refuse a dataset whose labels the model can never match, before a run is written.

    - classification (``argmax``): every class index of the dataset must be one the model
      predicts, ``max(0, class_offset)..outputs - 1 + class_offset`` (e.g. 0..999 for the
      1001 outputs and offset -1 of MobileNetV2); the dataset names the offending lines;
    - detection: the annotation file's categories must cover the model's classes
      (:func:`harness.detection.check_categories`).

    Args:
        card: the model card.
        outputs: the outputs of one test inference (batch 1).
        dataset: the run's dataset (synthetic data has no labels: nothing to check).

    Raises:
        HarnessError: labels outside the model's classes, or missing COCO categories.
    """
    kind = card.postprocessing.get("kind")
    if kind == "argmax" and hasattr(dataset, "check_labels"):
        n = int(outputs[0].size)
        offset = int(card.postprocessing.get("class_offset", 0))
        dataset.check_labels(max(0, offset), n - 1 + offset,
                             f"model {card.name} ({n} outputs, class offset {offset})")
    elif kind in ("yolox", "ssd") and hasattr(dataset, "category_ids"):
        detection.check_categories(card, dataset)


def _detection(kind: str):
    """Factory of a detection kind (:data:`harness.detection.FACTORIES`)."""
    def factory(card: ModelCard, dataset=None):
        return detection.FACTORIES[kind](card, dataset)
    return factory


#: postprocessing kind -> factory(card, dataset) -> postprocess function. ``dataset`` gives
#: per-image facts (e.g. original image sizes for detection); None when there is none.
FACTORIES: dict[str, Callable[..., Callable]] = {
    "argmax": lambda card, dataset=None: argmax_class(
        int(card.postprocessing.get("class_offset", 0)),
        card.postprocessing.get("response_dtype", "float32")),
    "yolox": _detection("yolox"),
    "ssd": _detection("ssd"),
}


def for_card(card: ModelCard, dataset=None) -> Callable[[list[np.ndarray], int], np.ndarray]:
    """The post-processing function of ``card`` for samples of ``dataset``.

    Raises:
        HarnessError: unknown kind.
    """
    kind = card.postprocessing.get("kind")
    if kind not in FACTORIES:
        raise HarnessError(f"model card {card.name}: unknown postprocessing kind '{kind}'; "
                           f"valid: {', '.join(FACTORIES)}")
    return FACTORIES[kind](card, dataset)
