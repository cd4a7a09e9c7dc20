"""COCO in its standard layout: ``val2017/`` images plus ``annotations/instances_val2017.json``.

QSL index i is the i-th entry of the annotation file's ``images`` list: the convention the
MLCommons ``accuracy-coco.py`` tool assumes (``image_map = cocoGt.dataset["images"]``), so
it scores our accuracy logs unchanged. Unlike the MLPerf reference ``coco.py`` (which skips
missing images and logs "reduced image list"), a listed image that is absent is an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HarnessError
from ..paths import cache_dir
from .base import (CONTENT_KEY_COVERS, Dataset, content_key, decode_text, fill_cache,
                   load_cached, refuse_missing, require_folder)
from .preprocessing import image_size, spec_key

ANNOTATION_FILE = Path("annotations") / "instances_val2017.json"
IMAGE_DIR = "val2017"
#: Keys of an ``annotations`` entry that pycocotools reads when it scores boxes
#: (``COCO.createIndex``: id, image_id, category_id; ``COCOeval``: bbox, area).
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "area")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_annotations(path: Path) -> dict[str, Any]:
    """Load and check a COCO instances file.

    Returns:
        The parsed JSON (``images``, ``annotations``, ``categories`` lists).

    Raises:
        HarnessError: missing file (or a folder), not UTF-8 without BOM (what pycocotools
            reads), invalid JSON, a missing top-level list, an ``images`` entry without
            integer ``id``, ``width``, ``height`` or a ``file_name``, an ``annotations``
            entry without what pycocotools scores with, a category without integer id.
    """
    if path.is_dir():
        raise HarnessError(f"COCO annotation file {path} is a folder, not a file: a COCO "
                           f"dataset folder needs the file {ANNOTATION_FILE} beside "
                           f"{IMAGE_DIR}/")
    if not path.is_file():
        raise HarnessError(f"COCO annotation file {path} not found: a COCO dataset folder "
                           f"needs {ANNOTATION_FILE} beside {IMAGE_DIR}/ (the official "
                           f"layout; get it from cocodataset.org annotations_trainval2017.zip)")
    # pycocotools reads the same file as UTF-8 without BOM when it scores
    text = decode_text(path, "an instances file is UTF-8 JSON", bom_ok=False)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"COCO annotation file {path} is malformed (not readable JSON: "
                           f"{exc}). Restore the original instances_val2017.json.") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"COCO annotation file {path} is malformed: the top level is a "
                           f"{type(data).__name__}, not an object with images, annotations "
                           f"and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise HarnessError(f"COCO annotation file {path} is malformed: no '{key}' list "
                               f"(an instances file has images, annotations and categories)")
    if not data["images"]:
        raise HarnessError(f"COCO annotation file {path} lists no images")
    for n, img in enumerate(data["images"]):
        missing = [k for k in ("id", "file_name", "width", "height")
                   if not isinstance(img, dict) or k not in img]
        if missing:
            raise HarnessError(f"COCO annotation file {path} is malformed: images[{n}] lacks "
                               f"{', '.join(missing)}")
        wrong = [k for k in ("id", "width", "height") if not _is_int(img[k])]
        if not isinstance(img["file_name"], str) or not img["file_name"].strip():
            wrong.append("file_name")
        if wrong or img["width"] <= 0 or img["height"] <= 0:
            raise HarnessError(f"COCO annotation file {path} is malformed: images[{n}] has "
                               f"{', '.join(f'{k} {img[k]!r}' for k in wrong) or 'a size of 0'}"
                               f" (id, width and height are positive integers, file_name a "
                               f"file name). Restore the original file or fix that entry")
    for n, ann in enumerate(data["annotations"]):
        missing = [k for k in ANNOTATION_KEYS if not isinstance(ann, dict) or k not in ann]
        if not missing and not (isinstance(ann["bbox"], list) and len(ann["bbox"]) == 4
                                and all(_is_number(v) for v in ann["bbox"])):
            missing = ["a bbox of 4 numbers [x, y, width, height]"]
        if not missing:
            missing = [f"an integer {k} (has {ann[k]!r})" for k in ("id", "image_id",
                                                                  "category_id")
                       if not _is_int(ann[k])]
            missing += [f"a numeric area (has {ann['area']!r})"] \
                if not _is_number(ann["area"]) else []
        if missing:
            raise HarnessError(f"COCO annotation file {path} is malformed: annotations[{n}] "
                               f"lacks {', '.join(missing)} (pycocotools needs "
                               f"{', '.join(ANNOTATION_KEYS)} to score). Restore the original "
                               f"file or fix that entry")
    for n, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise HarnessError(f"COCO annotation file {path} is malformed: categories[{n}] "
                               f"lacks an integer id")
    return data


class CocoDataset(Dataset):
    """COCO detection images (all of the annotation file's ``images`` list, or its first
    ``count`` entries), preprocessed per the card and cached like ImageNet's.

    Preprocessed samples are cached as one ``.npy`` per image under
    ``<cache>/preprocessed/<content key>/<preprocessing hash>/``; the content key
    (:func:`harness.datasets.base.content_key`) covers each image entry and each image
    file's size and modification time.

    Args:
        root: folder with ``val2017/`` and ``annotations/instances_val2017.json``.
        spec: the card's preprocessing spec.
        count: use the first ``count`` images (None: all).
        card: the model card (kept for post-processing and quantization validators).

    Attributes:
        annotation_file: the instances JSON (pycocotools reads it for scoring).
        images: the ``images`` entries used, in QSL order.
        image_ids: COCO image id of each QSL index.
        image_sizes: ``(height, width)`` px of each QSL index, from the annotation file (the
            sizes ``accuracy-coco.py`` multiplies normalised boxes by).
        without_annotations: file names of images that have no annotation (legal in COCO:
            val2017 has 48; scored as images whose every detection is a false positive).

    Raises:
        HarnessError: missing folder or annotation file, malformed JSON, ``count`` outside
            the list, images listed but absent (all named; the run is never shrunk).
    """

    def __init__(self, root: Path | str, spec: dict[str, Any], count: int | None = None,
                 card=None):
        self.root = Path(root).resolve()
        self.spec = spec
        self.card = card
        require_folder(self.root, f"{IMAGE_DIR}/ and {ANNOTATION_FILE}")
        if (self.root / IMAGE_DIR).exists() and not (self.root / IMAGE_DIR).is_dir():
            raise HarnessError(f"{self.root / IMAGE_DIR} is a file, not a folder: a COCO "
                               f"dataset folder holds the images in {IMAGE_DIR}/")
        self.annotation_file = self.root / ANNOTATION_FILE
        data = read_annotations(self.annotation_file)
        images = data["images"]
        if count is not None:
            if count < 1 or count > len(images):
                raise HarnessError(f"--count {count} is outside 1..{len(images)}, the number "
                                   f"of images in {self.annotation_file}")
            images = images[:count]
        missing = [img["file_name"] + (" (a folder, not a file)" if self._path(img).is_dir()
                                       else "")
                   for img in images if not self._path(img).is_file()]
        refuse_missing(missing, len(images), f"{self.annotation_file} (folder "
                       f"{self.root / IMAGE_DIR})",
                       "Restore them or remove their entries from the 'images' list.")
        annotated = {a.get("image_id") for a in data["annotations"] if isinstance(a, dict)}
        self.images = images
        self.image_ids = [int(img["id"]) for img in images]
        self.image_sizes = [(int(img["height"]), int(img["width"])) for img in images]
        self.without_annotations = [img["file_name"] for img in images
                                    if img["id"] not in annotated]
        self.category_ids = sorted(int(c["id"]) for c in data["categories"])
        self.content_key = content_key(
            self.root, [f"{img['file_name']} {img['id']} {img['width']} {img['height']}"
                        for img in images], [self._path(img) for img in images])
        self.cache = cache_dir() / "preprocessed" / self.content_key / spec_key(spec)

    def _path(self, img: dict[str, Any]) -> Path:
        return self.root / IMAGE_DIR / img["file_name"]

    def __len__(self) -> int:
        return len(self.images)

    def _cached(self, index: int) -> Path:
        return self.cache / f"{index:06d}.npy"

    def prepare(self) -> None:
        """Check every image's size against the annotation file, then preprocess every image
        not yet cached (a progress bar shows the work).

        Raises:
            HarnessError: an unreadable image, or one whose size differs from its
                annotation entry (boxes would be scaled wrongly).
        """
        if self.without_annotations:
            names = ", ".join(self.without_annotations[:10])
            more = " ..." if len(self.without_annotations) > 10 else ""
            print(f"NOTE: {len(self.without_annotations)} image(s) have no annotations "
                  f"({names}{more}); they are kept and scored as COCO scores them (any "
                  f"detection on them is a false positive).", flush=True)
        for img in self.images:
            w, h = image_size(self._path(img))
            if (w, h) != (int(img["width"]), int(img["height"])):
                raise HarnessError(f"image {self._path(img)} is {w}x{h} px but "
                                   f"{self.annotation_file} says {img['width']}x"
                                   f"{img['height']}; the file does not belong to this "
                                   f"annotation file")
        fill_cache(self.cache, [self._path(img) for img in self.images], self.spec,
                   f"preprocessing {self.root.name}")

    def sample_names(self) -> list[str]:
        """Image paths relative to the dataset folder (``val2017/<file>``), in QSL order;
        the names a calibration list uses."""
        return [f"{IMAGE_DIR}/{img['file_name']}" for img in self.images]

    def load_sample(self, index: int) -> np.ndarray:
        return load_cached(self._cached(index))

    def describe(self) -> dict[str, Any]:
        return {"kind": "coco", "path": str(self.root),
                "annotations": str(self.annotation_file), "count": len(self),
                "images_without_annotations": len(self.without_annotations),
                "preprocessing": self.spec, "preprocessing_key": spec_key(self.spec),
                "content_key": self.content_key, "content_key_covers": CONTENT_KEY_COVERS,
                "categories": len(self.category_ids), "cache": str(self.cache)}
