"""Image preprocessing as a model card specifies it (Pillow or OpenCV, no hand-written resize).

Sources of the two recipes in use:
- torchvision ``ImageClassification`` (ResNet50_Weights.IMAGENET1K_V1): Pillow bilinear
  resize of the shorter side to 256, centre crop 224, /255, ImageNet mean and std.
- MLPerf reference (vision/classification_and_detection/python/dataset.py,
  ``pre_process_vgg``): OpenCV INTER_AREA resize of the shorter side to 256, centre crop 224,
  subtract RGB means 123.68, 116.78, 103.94.
- YOLOX letterbox (YOLOX ``yolox/data/data_augment.py``, ``preproc``): scale by
  ``r = min(H / h, W / w)`` keeping the aspect ratio (OpenCV INTER_LINEAR, sizes
  ``int(w * r)``, ``int(h * r)``), image at the top-left of an HxW canvas filled with 114.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import HarnessError

_PIL_INTERP = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
               "nearest": Image.Resampling.NEAREST, "area": Image.Resampling.BOX}
_CV_INTERP = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC,
              "nearest": cv2.INTER_NEAREST}


def spec_key(spec: dict[str, Any]) -> str:
    """A short stable hash of a preprocessing spec, for cache folder names."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _bomb(path: Path, exc: Exception) -> HarnessError:
    return HarnessError(f"image {path} is too large to decode safely ({exc}): Pillow refuses "
                        f"images above {2 * Image.MAX_IMAGE_PIXELS} pixels as a possible "
                        f"decompression bomb; its header is corrupt or it is no dataset "
                        f"image. Replace the file or remove it from the dataset list.")


def _read_rgb(path: Path, library: str) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB; raises HarnessError for unreadable files and for
    headers claiming more pixels than Pillow's decompression-bomb limit (checked from the
    header before OpenCV decodes too)."""
    if library == "pillow":
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except Image.DecompressionBombError as exc:
            raise _bomb(path, exc) from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise HarnessError(f"corrupt or unreadable image {path}: {exc}. "
                               f"Replace the file or remove it from the dataset list.") from exc
    image_size(path)  # the header first: OpenCV would try to allocate a bomb's pixels
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise HarnessError(f"corrupt or unreadable image {path}. "
                           f"Replace the file or remove it from the dataset list.")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _resize(img: np.ndarray, size: tuple[int, int], library: str, interp: str) -> np.ndarray:
    """Resize HxWx3 uint8 to (width, height) = size."""
    if library == "pillow":
        return np.asarray(Image.fromarray(img).resize(size, _PIL_INTERP[interp]))
    return cv2.resize(img, size, interpolation=_CV_INTERP[interp])


def letterbox_scale(width: int, height: int, size: tuple[int, int]) -> float:
    """The letterbox scale ``r = min(size_w / width, size_h / height)`` of an image.

    Args:
        width, height: original image size (px).
        size: model input ``(width, height)`` (px).

    Source: YOLOX ``preproc`` (yolox/data/data_augment.py). Detections in input pixels are
    divided by ``r`` to get original-image pixels.
    """
    return min(size[0] / width, size[1] / height)


def letterbox(img: np.ndarray, size: tuple[int, int], pad_value: int, library: str,
              interp: str) -> np.ndarray:
    """Resize HxWx3 uint8 keeping its aspect ratio and paste it at the top-left of a
    ``size = (width, height)`` canvas filled with ``pad_value`` (YOLOX ``preproc``)."""
    h, w = img.shape[:2]
    r = letterbox_scale(w, h, size)
    resized = _resize(img, (int(w * r), int(h * r)), library, interp)
    canvas = np.full((int(size[1]), int(size[0]), 3), pad_value, dtype=np.uint8)
    canvas[:resized.shape[0], :resized.shape[1]] = resized
    return canvas


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (no full decode).

    Raises:
        HarnessError: the file is not a readable image, or its header claims more pixels
            than Pillow's decompression-bomb limit.
    """
    try:
        with Image.open(path) as img:
            return img.size
    except Image.DecompressionBombError as exc:
        raise _bomb(path, exc) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HarnessError(f"corrupt or unreadable image {path}: {exc}. "
                           f"Replace the file or remove it from the dataset list.") from exc


def preprocess(path: Path, spec: dict[str, Any]) -> np.ndarray:
    """Turn one image file into a model input sample (no batch dimension).

    Args:
        path: image file (JPEG, PNG, ...).
        spec: a card's ``[preprocessing]`` table: ``library`` (pillow|opencv), ``color``
            (RGB|BGR), ``resize_shorter`` (int, px) with ``crop`` (int, px, centre crop) or
            ``resize`` ([w, h], plain resize) or ``letterbox`` ([w, h], aspect-keeping resize to
            the top-left of a canvas filled with ``pad_value``, default 114; see
            :func:`letterbox`), ``interpolation``, optional ``scale``, ``mean``
            and ``std`` (per channel, applied as ``(x * scale - mean) / std``), ``layout``
            (NCHW|NHWC; the sample is CHW or HWC) and ``dtype`` (float32|uint8).

    Returns:
        ``np.ndarray`` of shape (3, crop, crop) for NCHW or (crop, crop, 3) for NHWC, in
        ``spec["dtype"]``.

    Raises:
        HarnessError: the image cannot be decoded.
    """
    library = spec.get("library", "pillow")
    interp = spec.get("interpolation", "bilinear")
    img = _read_rgb(path, library)
    if "letterbox" in spec:
        w, h = spec["letterbox"]
        img = letterbox(img, (int(w), int(h)), int(spec.get("pad_value", 114)), library, interp)
    elif "resize" in spec:
        w, h = spec["resize"]
        img = _resize(img, (int(w), int(h)), library, interp)
    else:
        short = int(spec["resize_shorter"])
        h, w = img.shape[:2]
        # torchvision.transforms.functional.resize with an int size: the shorter side
        # becomes exactly `short`, the longer one int(short * long / short_side).
        if w <= h:
            new_w, new_h = short, int(short * h / w)
        else:
            new_w, new_h = int(short * w / h), short
        img = _resize(img, (new_w, new_h), library, interp)
        crop = int(spec["crop"])
        h, w = img.shape[:2]
        top = int(round((h - crop) / 2.0))
        left = int(round((w - crop) / 2.0))
        img = img[top:top + crop, left:left + crop]
    if spec.get("color", "RGB") == "BGR":
        img = img[..., ::-1]
    out = img
    if spec.get("dtype", "float32") != "uint8":
        out = img.astype(np.float32)
        if "scale" in spec:
            out *= np.float32(spec["scale"])
        if "mean" in spec:
            out -= np.asarray(spec["mean"], dtype=np.float32)
        if "std" in spec:
            out /= np.asarray(spec["std"], dtype=np.float32)
    if spec.get("layout", "NCHW") == "NCHW":
        out = out.transpose(2, 0, 1)
    return np.ascontiguousarray(out, dtype=np.dtype(spec.get("dtype", "float32")))
