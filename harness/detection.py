"""Detection post-processing: model outputs -> the MLPerf COCO response.

The response of one sample is a float32 array of N*7 values, one row per detection:
``qsl index, ymin, xmin, ymax, xmax (normalised to 0..1 of the original image), score,
COCO category id`` (MLCommons ``vision/classification_and_detection/tools/accuracy-coco.py``
reads exactly this; the category is already a COCO id, so the tool runs without
``--use-inv-map``). An image without detections is answered with an empty array.

Two decoders, each registered as a postprocessing kind in :data:`harness.postprocess.FACTORIES`:

- ``yolox``: YOLOX anchor-free head output ``[1, A, 5 + C]`` (YOLOX ``YOLOXHead.decode_outputs``
  and ``yolox/utils/boxes.py postprocess``: one class per box, its argmax; per-class NMS).
- ``ssd``: SSD class logits ``[1, A, 91]`` and box regression ``[1, A, 4]`` over the TF
  Object Detection API anchors (``MultipleGridAnchorGenerator``), as the MLPerf reference
  ``python/models/ssd_mobilenet_v1.py`` decodes them (sigmoid scores, box coder weights
  10, 10, 5, 5, per-class NMS IoU 0.6, score threshold 0.3).

NMS is ``torchvision.ops.batched_nms`` (per-class NMS in one call).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .accuracy.coco import coco_map
from .datasets.preprocessing import letterbox_scale
from .errors import HarnessError

#: COCO category id of each of the 80 contiguous class indices (the standard mapping: the
#: sorted ids of instances_val2017.json's 80 categories; 91-id space with 11 unused ids).
COCO80_TO_91 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
                48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70,
                72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)

#: Values per detection in the response (qsl index, ymin, xmin, ymax, xmax, score, class).
RESPONSE_WIDTH = 7


def check_categories(card, dataset) -> None:
    """Refuse a COCO annotation file whose categories do not cover the model's classes.

    COCOeval averages AP over the ground truth's categories only (``params.catIds =
    cocoGt.getCatIds()``), so a file listing 5 of the 80 categories gives an mAP over those 5
    (15.97% instead of 32.29% in one case) that looks like a result. The classes of both
    maps (``coco80``, and ``coco91``'s 90 ids of which COCO uses 80) are
    :data:`COCO80_TO_91`.

    Args:
        card: the detection model card.
        dataset: a dataset with ``category_ids`` and ``annotation_file``.

    Raises:
        HarnessError: naming how many categories are there and the first missing ids.
    """
    needed = set(COCO80_TO_91)
    have = set(getattr(dataset, "category_ids", ()))
    missing = sorted(needed - have)
    if not missing:
        return
    shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
    raise HarnessError(f"{dataset.annotation_file} lists {len(needed & have)} of the "
                       f"{len(needed)} COCO categories {card.name} detects (missing ids: "
                       f"{shown}); pycocotools would average mAP over the listed ones only, "
                       f"a number not comparable with COCO mAP. Restore the full "
                       f"'categories' list of instances_val2017.json")


def class_ids(class_map: str, n_classes: int) -> np.ndarray:
    """COCO category id of each model class index.

    Args:
        class_map: ``coco80`` (80 contiguous classes, :data:`COCO80_TO_91`) or ``coco91``
            (the TF/MLPerf SSD label space: class index = COCO id, index 0 "background").
        n_classes: number of model classes the map must cover.

    Raises:
        HarnessError: unknown map, or a map that does not fit ``n_classes``.
    """
    if class_map == "coco80":
        ids = np.array(COCO80_TO_91, dtype=np.float32)
    elif class_map == "coco91":
        ids = np.arange(91, dtype=np.float32)
    else:
        raise HarnessError(f"unknown class_map '{class_map}'; valid: coco80, coco91")
    if len(ids) != n_classes:
        raise HarnessError(f"class_map '{class_map}' maps {len(ids)} classes but the model "
                           f"has {n_classes}")
    return ids


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float,
        max_detections: int) -> np.ndarray:
    """Per-class NMS; the indices kept, best score first, at most ``max_detections``.

    Args:
        boxes: float32 ``[N, 4]`` corner boxes (any consistent corner order).
        scores: float32 ``[N]``.
        labels: int ``[N]``; boxes of different labels never suppress each other.
        iou: IoU threshold (a box overlapping a better one of its class by more is dropped).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    import torch
    from torchvision.ops import batched_nms

    keep = batched_nms(torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)),
                       torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)),
                       torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
                       float(iou))
    return keep[:max_detections].numpy()


def pack(qsl_index: int, boxes_yxyx: np.ndarray, scores: np.ndarray,
         categories: np.ndarray) -> np.ndarray:
    """The response payload: float32 ``[N * 7]`` (empty for no detections).

    Args:
        qsl_index: the sample's QSL index (column 0 of every row).
        boxes_yxyx: ``[N, 4]`` ymin, xmin, ymax, xmax normalised to 0..1.
        scores: ``[N]``.
        categories: ``[N]`` COCO category ids.
    """
    n = len(scores)
    out = np.empty((n, RESPONSE_WIDTH), dtype=np.float32)
    out[:, 0] = qsl_index
    out[:, 1:5] = boxes_yxyx
    out[:, 5] = scores
    out[:, 6] = categories
    return out.reshape(-1)


def _image_sizes(dataset, input_hw: tuple[int, int]) -> Callable[[int], tuple[int, int]]:
    """``(height, width)`` of QSL index i; the model input size for datasets without
    original sizes (synthetic data: boxes are then relative to the input itself)."""
    sizes = getattr(dataset, "image_sizes", None)
    if sizes is None:
        return lambda _i: input_hw
    return lambda i: sizes[i]


# --- YOLOX -------------------------------------------------------------------------------

def yolox_grid(input_hw: tuple[int, int], strides: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points of the YOLOX head: ``(grid [A, 2] as x, y cells, stride [A, 1])``.

    Order: stride by stride, row-major within each level (YOLOX ``decode_outputs``).
    """
    grids, stride_col = [], []
    for s in strides:
        h, w = input_hw[0] // s, input_hw[1] // s
        yv, xv = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        stride_col.append(np.full((h * w, 1), s))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(stride_col).astype(np.float32))


def yolox_postprocess(card, dataset) -> Callable[[list[np.ndarray], int], np.ndarray]:
    """Post-processing of a YOLOX model (card ``[postprocessing] kind = "yolox"``).

    Decoding (../shared/README.md, YOLOX ``decode_outputs``): ``xy = (out + grid) * stride``,
    ``wh = exp(out) * stride`` (input pixels, centre form); ``score = objectness * class
    score`` for the best class of each point; points under ``score_threshold`` dropped;
    per-class NMS at ``nms_iou``; at most ``max_detections``; boxes divided by the letterbox
    scale ``min(W / w, H / h)``, clipped to the image and normalised.

    The card's ``output_shape`` is checked once, before a run, by
    :func:`harness.postprocess.check_outputs` (not per sample: this runs in the SUT's
    completion callback).
    """
    cfg = card.postprocessing
    expected = [list(cfg["output_shape"])]
    input_hw = (card.input_shape[2], card.input_shape[3])
    grid, stride = yolox_grid(input_hw, list(cfg.get("strides", [8, 16, 32])))
    if grid.shape[0] != expected[0][1]:
        raise HarnessError(f"model card {card.name}: strides {cfg.get('strides')} over a "
                           f"{input_hw} input give {grid.shape[0]} points, the card's "
                           f"output_shape says {expected[0][1]}")
    ids = class_ids(cfg.get("class_map", "coco80"), expected[0][2] - 5)
    threshold = float(cfg.get("score_threshold", 0.01))
    iou = float(cfg.get("nms_iou", 0.45))
    max_det = int(cfg.get("max_detections", 100))
    size_of = _image_sizes(dataset, input_hw)

    def post(outputs: list[np.ndarray], qsl_index: int) -> np.ndarray:
        out = outputs[0][0]
        cls = np.argmax(out[:, 5:], axis=1)
        scores = out[:, 4] * out[np.arange(len(out)), 5 + cls]
        keep = np.nonzero(scores >= threshold)[0]
        out, cls, scores = out[keep], cls[keep], scores[keep]
        xy = (out[:, :2] + grid[keep]) * stride[keep]
        wh = np.exp(out[:, 2:4]) * stride[keep]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)  # x1, y1, x2, y2 (input px)
        kept = nms(boxes, scores, cls, iou, max_det)
        h, w = size_of(qsl_index)
        r = letterbox_scale(w, h, (input_hw[1], input_hw[0]))
        b = boxes[kept] / r
        yxyx = np.stack([np.clip(b[:, 1], 0, h) / h, np.clip(b[:, 0], 0, w) / w,
                         np.clip(b[:, 3], 0, h) / h, np.clip(b[:, 2], 0, w) / w], axis=1)
        return pack(qsl_index, yxyx, scores[kept], ids[cls[kept]])

    return post


# --- SSD ---------------------------------------------------------------------------------

def ssd_anchors(feature_sizes: list[int], min_scale: float = 0.2, max_scale: float = 0.95,
                aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0),
                interpolated_ratio: float = 1.0, reduce_lowest: bool = True) -> np.ndarray:
    """SSD anchors as the TF Object Detection API's ``create_ssd_anchors`` makes them.

    Source: TF models ``object_detection/anchor_generators/multiple_grid_anchor_generator.py``
    (used by the MLPerf reference ``models/anchor_generator.py``): layer scales evenly
    spaced from ``min_scale`` to ``max_scale``; the lowest layer has 3 boxes (scale 0.1
    ratio 1, and ``min_scale`` ratios 2 and 0.5); every other layer one box per aspect
    ratio plus one of scale ``sqrt(s_i * s_(i+1))`` and ratio ``interpolated_ratio``;
    height = scale / sqrt(ratio), width = scale * sqrt(ratio); centres at
    ``(i + 0.5) / size``; order: layer, row, column, box.

    Returns:
        float32 ``[A, 4]`` ymin, xmin, ymax, xmax, normalised (not clipped).
    """
    n = len(feature_sizes)
    scales = [min_scale + (max_scale - min_scale) * i / (n - 1) for i in range(n)] + [1.0]
    layers = []
    for i, size in enumerate(feature_sizes):
        if i == 0 and reduce_lowest:
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[i], ar) for ar in aspect_ratios]
            specs.append((math.sqrt(scales[i] * scales[i + 1]), interpolated_ratio))
        scale = np.array([s for s, _ in specs])
        root = np.sqrt(np.array([a for _, a in specs]))
        heights, widths = scale / root, scale * root
        centres = (np.arange(size) + 0.5) / size
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        cy = np.repeat(cy.reshape(-1), len(specs))
        cx = np.repeat(cx.reshape(-1), len(specs))
        h = np.tile(heights, size * size)
        w = np.tile(widths, size * size)
        layers.append(np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1))
    return np.concatenate(layers).astype(np.float32)


def decode_ssd_boxes(codes: np.ndarray, anchors: np.ndarray,
                     weights: tuple[float, ...] = (10.0, 10.0, 5.0, 5.0)) -> np.ndarray:
    """Box regression ``[A, 4]`` (ty, tx, th, tw) -> boxes ``[A, 4]`` ymin, xmin, ymax, xmax.

    Source: TF ``FasterRcnnBoxCoder`` with scale factors 10, 10, 5, 5 (MLPerf reference
    ``models/utils.py decode_boxes``).
    """
    ha = anchors[:, 2] - anchors[:, 0]
    wa = anchors[:, 3] - anchors[:, 1]
    yc = anchors[:, 0] + ha / 2 + codes[:, 0] / weights[0] * ha
    xc = anchors[:, 1] + wa / 2 + codes[:, 1] / weights[1] * wa
    h = np.exp(codes[:, 2] / weights[2]) * ha
    w = np.exp(codes[:, 3] / weights[3]) * wa
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)


def ssd_postprocess(card, dataset) -> Callable[[list[np.ndarray], int], np.ndarray]:
    """Post-processing of an SSD model (card ``[postprocessing] kind = "ssd"``).

    Outputs: class logits ``[1, A, C]`` (index 0 background) and box regression
    ``[1, A, 4]``. Scores are ``sigmoid(logits)``; (anchor, class) pairs above
    ``score_threshold`` (the reference's 0.3), at most ``pre_nms_top_k`` best of them
    (bounds the work for untrained weights, whose scores are all near 0.5), per-class NMS
    at ``nms_iou`` (0.6), at most ``max_detections`` (100, as the TF model). Boxes are already
    normalised to the (plainly resized) image, so no per-image size is needed.

    The card's ``output_shapes`` are checked once, before a run, by
    :func:`harness.postprocess.check_outputs`.
    """
    cfg = card.postprocessing
    expected = [list(s) for s in cfg["output_shapes"]]
    anchors = ssd_anchors(list(cfg["feature_sizes"]))
    if anchors.shape[0] != expected[0][1]:
        raise HarnessError(f"model card {card.name}: feature_sizes {cfg['feature_sizes']} give "
                           f"{anchors.shape[0]} anchors, the card's output_shapes say "
                           f"{expected[0][1]}")
    ids = class_ids(cfg.get("class_map", "coco91"), expected[0][2])
    threshold = float(cfg.get("score_threshold", 0.3))
    iou = float(cfg.get("nms_iou", 0.6))
    top_k = int(cfg.get("pre_nms_top_k", 1000))
    max_det = int(cfg.get("max_detections", 100))

    def post(outputs: list[np.ndarray], qsl_index: int) -> np.ndarray:
        logits, codes = outputs[0][0], outputs[1][0]
        scores = 1.0 / (1.0 + np.exp(-logits[:, 1:]))            # drop background (class 0)
        flat = scores.reshape(-1)
        cand = np.nonzero(flat > threshold)[0]
        if len(cand) > top_k:
            cand = cand[np.argpartition(flat[cand], -top_k)[-top_k:]]
        anchor, cls = np.divmod(cand, scores.shape[1])
        boxes = np.clip(decode_ssd_boxes(codes[anchor], anchors[anchor]), 0.0, 1.0)
        kept = nms(boxes, flat[cand], cls, iou, max_det)
        return pack(qsl_index, boxes[kept], flat[cand][kept], ids[cls[kept] + 1])

    return post


# --- accuracy-controlled quantization ----------------------------------------------------

FACTORIES: dict[str, Callable[[Any, Any], Callable]] = {"yolox": yolox_postprocess,
                                                        "ssd": ssd_postprocess}


def validate_map(compiled_model, dataset, indices: list[int], card=None) -> float:
    """COCO mAP@[.5:.95] (percent) of ``compiled_model`` on the QSL ``indices`` of a COCO
    dataset: the validation function of NNCF's accuracy-controlled quantization
    (``harness.quantization.VALIDATORS["detection"]``).

    Runs each sample synchronously, post-processes it with ``card`` (default: the card the
    dataset was opened for, ``dataset.card``), and scores the responses with pycocotools
    over those images only.

    Raises:
        HarnessError: a dataset without a card or annotations (synthetic data).
    """
    card = card if card is not None else getattr(dataset, "card", None)
    if card is None or not hasattr(dataset, "annotation_file"):
        raise HarnessError("mAP validation needs a real COCO dataset opened for a model card")
    post = FACTORIES[card.postprocessing["kind"]](card, dataset)
    request = compiled_model.create_infer_request()
    responses = {}
    for i in indices:
        result = request.infer([dataset.load_sample(i)])
        outputs = [np.array(result[o]) for o in compiled_model.outputs]
        responses[i] = post(outputs, i).reshape(-1, RESPONSE_WIDTH)
    return coco_map(dataset.annotation_file, responses)["mAP"]
