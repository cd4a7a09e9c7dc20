"""Accuracy scoring of ``mlperf_log_accuracy.json`` per task.

``SCORERS[task](card, dataset, run_dir) -> dict`` scores a finished accuracy run, writes
``accuracy.txt`` and returns ``{"metric", "value" (percent), "hash", ...}`` for the manifest;
``LOG_SCORERS[task](card, dataset, accuracy_json) -> dict`` scores a log and writes nothing
(``{"metric", "value", ...}``: ``harness check-submission`` re-scores a tree's log with it).
"""

from __future__ import annotations

from typing import Any, Callable

from .coco import score_log as _score_coco_log
from .coco import score_run as _score_coco
from .imagenet import score_log as _score_imagenet_log
from .imagenet import score_run as _score_imagenet

SCORERS: dict[str, Callable[..., dict[str, Any]]] = {
    "classification": _score_imagenet,
    "detection": _score_coco,
}
LOG_SCORERS: dict[str, Callable[..., dict[str, Any]]] = {
    "classification": _score_imagenet_log,
    "detection": _score_coco_log,
}
