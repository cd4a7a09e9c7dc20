"""COCO mAP from LoadGen's accuracy log, as the MLCommons ``accuracy-coco.py`` computes it.

Source: mlcommons/inference ``vision/classification_and_detection/tools/accuracy-coco.py``:
each log entry's ``data`` is the hex of float32 rows of 7 values (qsl index, ymin, xmin,
ymax, xmax normalised, score, COCO category id); QSL index i is the i-th entry of the
annotation file's ``images`` list; boxes are scaled by that entry's height and width;
repeated QSL indices count once; images without detections still join the evaluated image
set; ``COCOeval(iouType="bbox")`` gives ``stats[0]``, mAP@[.5:.95], printed as
``mAP=XX.XXX%``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HarnessError
from ..hashing import sha256_file

WIDTH = 7


def read_log(accuracy_json: Path) -> dict[int, np.ndarray]:
    """The detections of each QSL index in an accuracy log.

    Returns:
        ``{qsl index: float32 [N, 7]}`` (N may be 0), first answer of each index.

    Raises:
        HarnessError: unreadable log, a payload that is not a whole number of 7-float rows,
            or a row whose QSL index disagrees with LoadGen's.
    """
    try:
        entries = json.loads(Path(accuracy_json).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot read accuracy log {accuracy_json}: {exc}") from exc
    out: dict[int, np.ndarray] = {}
    for entry in entries:
        idx = int(entry["qsl_idx"])
        if idx in out:
            continue
        data = np.frombuffer(bytes.fromhex(entry["data"]), np.float32)
        if data.size % WIDTH:
            raise HarnessError(f"accuracy log {accuracy_json}: the response of QSL index {idx} "
                               f"holds {data.size} floats, not rows of {WIDTH}")
        rows = data.reshape(-1, WIDTH)
        if rows.size and np.any(rows[:, 0].astype(np.int64) != idx):
            raise HarnessError(f"accuracy log {accuracy_json}: LoadGen's QSL index {idx} and "
                               f"the payload's index {int(rows[0, 0])} disagree")
        out[idx] = rows
    return out


@functools.lru_cache(maxsize=2)
def _ground_truth(path: str, _mtime_ns: int):
    """The pycocotools ``COCO`` of an annotation file, loaded once per file version (the
    accuracy-controlled quantization scores many small subsets)."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


def coco_map(annotation_file: Path, responses: dict[int, np.ndarray]) -> dict[str, Any]:
    """Score detections with pycocotools over the images that were answered.

    Args:
        annotation_file: the COCO instances JSON the QSL indices refer to.
        responses: ``{qsl index: float32 [N, 7]}`` (see :func:`read_log`).

    Returns:
        ``{"mAP": percent (AP@[.5:.95]), "AP50": percent, "images": int, "detections": int,
        "images_without_detections": int, "unknown_categories": int, "summary": str}``
        (``summary``: COCOeval's 12-line table).

    Raises:
        HarnessError: a QSL index beyond the annotation file's images.
    """
    from pycocotools.cocoeval import COCOeval

    path = Path(annotation_file).resolve()
    gt = _ground_truth(str(path), path.stat().st_mtime_ns)
    image_map = gt.dataset["images"]
    known = set(gt.getCatIds())
    detections, image_ids = [], set()
    empty = unknown = 0
    for idx, rows in sorted(responses.items()):
        if idx >= len(image_map):
            raise HarnessError(f"QSL index {idx} is beyond the {len(image_map)} images of "
                               f"{annotation_file}")
        image = image_map[idx]
        image_ids.add(image["id"])
        if len(rows) == 0:
            empty += 1
            continue
        h, w = image["height"], image["width"]
        for _, ymin, xmin, ymax, xmax, score, label in rows.tolist():
            unknown += int(label) not in known
            detections.append({"image_id": image["id"], "category_id": int(label),
                               "bbox": [xmin * w, ymin * h, (xmax - xmin) * w,
                                        (ymax - ymin) * h],
                               "score": score})
    result = {"images": len(image_ids), "detections": len(detections),
              "images_without_detections": empty, "unknown_categories": unknown}
    if not detections:  # pycocotools cannot load an empty result list; AP is 0
        return {"mAP": 0.0, "AP50": 0.0, "summary": "no detections", **result}
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    summary = "\n".join(line for line in text.getvalue().splitlines()
                        if line.lstrip().startswith("Average"))
    return {"mAP": 100.0 * max(float(ev.stats[0]), 0.0),
            "AP50": 100.0 * max(float(ev.stats[1]), 0.0), "summary": summary, **result}


def write_accuracy_txt(path: Path, result: dict[str, Any], accuracy_json: Path) -> str:
    """Write ``accuracy.txt`` and return the hash.

    Lines: ``mAP=XX.XXX%`` (accuracy-coco.py's output line, the submission checker's
    pattern), ``hash=<sha256 of mlperf_log_accuracy.json>``, then COCOeval's summary table.
    """
    digest = sha256_file(accuracy_json)
    Path(path).write_text(f"mAP={result['mAP']:.3f}%\nhash={digest}\n\n"
                          f"{result['summary']}\n")
    return digest


def score_log(card, dataset, accuracy_json: Path) -> dict[str, Any]:
    """mAP of an accuracy log of ``card`` on ``dataset`` (writes nothing).

    Returns:
        :func:`coco_map`'s dict plus ``"metric": "mAP"`` and ``"value"`` (percent).

    Raises:
        HarnessError: unreadable log or inconsistent payloads.
    """
    res = coco_map(dataset.annotation_file, read_log(accuracy_json))
    return {"metric": "mAP", "value": res["mAP"], **res}


def score_run(card, dataset, run_dir: Path) -> dict[str, Any]:
    """Score a detection accuracy run; writes ``<run_dir>/accuracy.txt``.

    Returns:
        ``{"metric": "mAP", "value": percent, "AP50", "images", "detections",
        "images_without_detections", "unknown_categories", "hash", "reference"}``.

    Raises:
        HarnessError: unreadable log or inconsistent payloads.
    """
    acc_json = Path(run_dir) / "mlperf_log_accuracy.json"
    res = score_log(card, dataset, acc_json)
    digest = write_accuracy_txt(Path(run_dir) / "accuracy.txt", res, acc_json)
    return {"metric": "mAP", "value": res["mAP"], "AP50": res["AP50"],
            "images": res["images"], "detections": res["detections"],
            "images_without_detections": res["images_without_detections"],
            "unknown_categories": res["unknown_categories"], "hash": digest,
            "reference": card.reference}
