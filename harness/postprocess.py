"""Model outputs -> MLPerf response payloads, as a card's ``[postprocessing]`` says."""

from __future__ import annotations

from typing import Callable

import numpy as np

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


#: postprocessing kind -> factory(card) -> postprocess function
FACTORIES: dict[str, Callable[[ModelCard], Callable]] = {
    "argmax": lambda card: argmax_class(int(card.postprocessing.get("class_offset", 0)),
                                        card.postprocessing.get("response_dtype", "float32")),
}


def for_card(card: ModelCard) -> Callable[[list[np.ndarray], int], np.ndarray]:
    """The post-processing function of ``card``.

    Raises:
        HarnessError: unknown kind.
    """
    kind = card.postprocessing.get("kind")
    if kind not in FACTORIES:
        raise HarnessError(f"model card {card.name}: unknown postprocessing kind '{kind}'; "
                           f"valid: {', '.join(FACTORIES)}")
    return FACTORIES[kind](card)
