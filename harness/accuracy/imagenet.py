"""Top-1 accuracy from LoadGen's accuracy log, as the MLCommons ``accuracy-imagenet.py`` does.

Source: mlcommons/inference ``vision/classification_and_detection/tools/accuracy-imagenet.py``:
each log entry's ``data`` is the hex of the response buffer, whose first element (in the
``--dtype`` encoding, float32 by default) is the predicted class; QSL index i is line i of
val_map.txt; repeated QSL indices are counted once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HarnessError
from ..hashing import sha256_file


def score(accuracy_json: Path, labels: np.ndarray, dtype: str = "float32") -> dict[str, Any]:
    """Top-1 of an accuracy log.

    Args:
        accuracy_json: ``mlperf_log_accuracy.json``.
        labels: int array, ``labels[i]`` = class of QSL index i.
        dtype: response encoding (``float32``, ``int32`` or ``int64``).

    Returns:
        ``{"top1": percent, "good": int, "total": int, "empty_responses": int}``.

    Raises:
        HarnessError: unreadable log, or a QSL index outside the label list.
    """
    try:
        results = json.loads(Path(accuracy_json).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot read accuracy log {accuracy_json}: {exc}") from exc
    seen: set[int] = set()
    good = empty = 0
    for entry in results:
        idx = int(entry["qsl_idx"])
        if idx in seen:
            continue
        if idx >= len(labels):
            raise HarnessError(f"accuracy log names QSL index {idx}, beyond the {len(labels)} "
                               f"labels of the dataset")
        seen.add(idx)
        data = np.frombuffer(bytes.fromhex(entry["data"]), np.dtype(dtype))
        if data.size == 0:
            empty += 1
            continue
        if int(data[0]) == int(labels[idx]):
            good += 1
    total = len(seen)
    return {"top1": 100.0 * good / total if total else 0.0, "good": good, "total": total,
            "empty_responses": empty}


def write_accuracy_txt(path: Path, result: dict[str, Any], accuracy_json: Path) -> str:
    """Write ``accuracy.txt`` in the official format and return the hash.

    Lines: ``accuracy=XX.XXX%, good=N, total=N`` (accuracy-imagenet.py's output) then
    ``hash=<sha256 of mlperf_log_accuracy.json>`` (the submission checker's pattern).
    """
    digest = sha256_file(accuracy_json)
    Path(path).write_text(f"accuracy={result['top1']:.3f}%, good={result['good']}, "
                          f"total={result['total']}\nhash={digest}\n")
    return digest


def score_log(card, dataset, accuracy_json: Path) -> dict[str, Any]:
    """Top-1 of an accuracy log of ``card`` on ``dataset`` (writes nothing).

    Returns:
        :func:`score`'s dict plus ``"metric": "top1"`` and ``"value"`` (percent).

    Raises:
        HarnessError: as :func:`score`.
    """
    res = score(accuracy_json, dataset.labels,
                card.postprocessing.get("response_dtype", "float32"))
    return {"metric": "top1", "value": res["top1"], **res}


def score_run(card, dataset, run_dir: Path) -> dict[str, Any]:
    """Score a classification accuracy run; writes ``<run_dir>/accuracy.txt``.

    Returns:
        ``{"metric": "top1", "value": percent, "good", "total", "empty_responses", "hash",
        "reference"}``.
    """
    acc_json = Path(run_dir) / "mlperf_log_accuracy.json"
    res = score_log(card, dataset, acc_json)
    digest = write_accuracy_txt(Path(run_dir) / "accuracy.txt", res, acc_json)
    return {"metric": "top1", "value": res["top1"], "good": res["good"], "total": res["total"],
            "empty_responses": res["empty_responses"], "hash": digest,
            "reference": card.reference}
