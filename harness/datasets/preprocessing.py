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

Both recipes start from 8-bit RGB pixels; :func:`to_8_bits` says how images of more bits
(16-bit PNG, 32-bit or float TIFF) get there.
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


def sample_layout(spec: dict[str, Any]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the sample :func:`preprocess` makes with ``spec`` (what a cache
    entry of its preprocessing key must hold): ``(3, h, w)`` for NCHW or ``(h, w, 3)`` for
    NHWC, h and w from ``letterbox``/``resize`` ([w, h]) or ``crop``."""
    if "letterbox" in spec or "resize" in spec:
        w, h = spec["letterbox"] if "letterbox" in spec else spec["resize"]
    else:
        w = h = spec["crop"]
    shape = (3, int(h), int(w)) if spec.get("layout", "NCHW") == "NCHW" else (int(h), int(w), 3)
    return shape, np.dtype(spec.get("dtype", "float32"))


def _bomb(path: Path, exc: Exception) -> HarnessError:
    return HarnessError(f"image {path} is too large to decode safely ({exc}): Pillow refuses "
                        f"images above {2 * Image.MAX_IMAGE_PIXELS} pixels as a possible "
                        f"decompression bomb; its header is corrupt or it is no dataset "
                        f"image. Replace the file or remove it from the dataset list.")


#: Pillow modes of 8 bits per channel: ``convert("RGB")`` gives their pixels exactly.
EIGHT_BIT_MODES = frozenset({"1", "L", "P", "LA", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK",
                             "YCbCr", "LAB", "HSV"})
#: Pillow modes of one unsigned 16-bit channel (16-bit grayscale PNG, TIFF, JPEG 2000, ...).
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
#: The fix named when an image's pixels cannot be read correctly.
CONVERT_FIX = ("Save it as an 8-bit (or 16-bit unsigned) PNG or a JPEG, or remove it from the "
               "dataset list.")


def to_8_bits(pixels: np.ndarray, path: Path, mode: str) -> np.ndarray:
    """Scale decoded pixels to uint8 by the nominal range of their sample type.

    - uint8: as they are;
    - uint16 (0..65535): the high byte, ``x >> 8`` (what Pillow does reading a 16-bit RGB
      PNG, and OpenCV's ``IMREAD_COLOR`` and libpng's ``png_set_strip_16`` with any 16-bit
      file; ``v * 257`` gives back ``v``);
    - uint32 (0..2**32-1): the high byte, ``x >> 24``;
    - float (nominal range 0.0..1.0, the convention of float images): ``round(x * 255)``;
      a value outside 0..1 (e.g. a float image holding 0..255) or NaN is refused, never
      clipped;
    - signed integers: refused (a negative intensity has no 8-bit value).

    Args:
        pixels: HxW or HxWxC array as decoded.
        path, mode: the file and its Pillow mode (for the message).

    Returns:
        uint8 array of the same shape.

    Raises:
        HarnessError: naming the file, its mode and sample type, and the fix.
    """
    kind = pixels.dtype
    if kind == np.uint8:
        return pixels
    if kind == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if kind == np.uint32:
        return (pixels >> 24).astype(np.uint8)
    if kind.kind == "f":
        finite = bool(np.isfinite(pixels).all())
        lo, hi = (float(pixels.min()), float(pixels.max())) if finite else (0.0, 0.0)
        if not finite or lo < 0.0 or hi > 1.0:
            found = "NaN or infinite values" if not finite else f"values {lo:g}..{hi:g}"
            raise HarnessError(f"image {path} (mode {mode}, {kind} samples) has {found}, "
                               f"outside 0..1, the nominal range of floating-point images "
                               f"(the harness scales 0..1 to 0..255 and never clips). "
                               f"{CONVERT_FIX}")
        return np.rint(pixels * 255.0).astype(np.uint8)
    raise HarnessError(f"image {path} (mode {mode}) has {kind} samples, which have no "
                       f"defined 8-bit value (signed or unknown range). {CONVERT_FIX}")


def _pillow_pixels(img: Image.Image, path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB of an open Pillow image of any mode (:func:`to_8_bits` scales images
    of more than 8 bits; their single channel is grey)."""
    if img.mode in EIGHT_BIT_MODES:
        return np.asarray(img.convert("RGB"))
    if img.mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(img).astype(np.uint16)
    elif img.mode == "I" and img.format == "PPM":
        pixels = np.asarray(img).astype(np.uint16)  # Pillow scales a PGM's maxval to 65535
    elif img.mode == "I" and img.format == "TIFF" and _tiff_unsigned_bits(img) == 32:
        pixels = np.asarray(img).view(np.uint32)  # Pillow holds uint32 samples as int32
    elif img.mode in ("I", "F"):
        pixels = np.asarray(img)  # int32 (signed: refused) or float32 (0..1)
    else:
        raise HarnessError(f"image {path} has Pillow mode {img.mode}, which the harness "
                           f"cannot read as RGB correctly. {CONVERT_FIX}")
    gray = to_8_bits(pixels, path, img.mode)
    return np.repeat(gray[..., None], 3, axis=2)


def _tiff_unsigned_bits(img: Image.Image) -> int | None:
    """Bits per sample of a TIFF of unsigned integer samples (tags BitsPerSample 258,
    SampleFormat 339, default unsigned), else None."""
    bits = set(img.tag_v2.get(258, ()) or ())
    formats = set(img.tag_v2.get(339, (1,)) or (1,))
    return bits.pop() if len(bits) == 1 and formats == {1} else None


def _opencv_pixels(path: Path, mode: str) -> np.ndarray:
    """HxWx3 uint8 RGB decoded by OpenCV: ``IMREAD_COLOR`` for files of 8 bits per channel
    (as the MLPerf reference reads them), else ``IMREAD_ANYDEPTH | IMREAD_ANYCOLOR`` and
    :func:`to_8_bits` (``IMREAD_COLOR`` cannot read float or 32-bit files, and would read
    signed 16-bit ones wrongly)."""
    if mode in EIGHT_BIT_MODES:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    else:
        img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise HarnessError(f"corrupt or unreadable image {path} (mode {mode}). "
                           f"Replace the file or remove it from the dataset list.")
    img = to_8_bits(img, path, mode)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_rgb(path: Path, library: str) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB (of any bit depth: :func:`to_8_bits`); raises
    HarnessError for unreadable files, for pixels that cannot be read correctly, and for
    headers claiming more pixels than Pillow's decompression-bomb limit (checked from the
    header before OpenCV decodes too)."""
    if library == "pillow":
        try:
            with Image.open(path) as img:
                return _pillow_pixels(img, path)
        except Image.DecompressionBombError as exc:
            raise _bomb(path, exc) from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise HarnessError(f"corrupt or unreadable image {path}: {exc}. "
                               f"Replace the file or remove it from the dataset list.") from exc
    # the header first: OpenCV would try to allocate a bomb's pixels
    return _opencv_pixels(path, image_header(path)[1])


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


def image_header(path: Path) -> tuple[tuple[int, int], str]:
    """``((width, height), Pillow mode)`` of an image file from its header (no full decode).

    Raises:
        HarnessError: the file is not a readable image, or its header claims more pixels
            than Pillow's decompression-bomb limit.
    """
    try:
        with Image.open(path) as img:
            return img.size, img.mode
    except Image.DecompressionBombError as exc:
        raise _bomb(path, exc) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HarnessError(f"corrupt or unreadable image {path}: {exc}. "
                           f"Replace the file or remove it from the dataset list.") from exc


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (no full decode).

    Raises:
        HarnessError: as :func:`image_header`.
    """
    return image_header(path)[0]


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

    Images of any bit depth give their right pixels: 16-bit, 32-bit and floating-point
    files are scaled to 8 bits by their nominal range (:func:`to_8_bits`) before the
    recipe, in both libraries; files whose pixels cannot be read correctly are refused.

    Raises:
        HarnessError: the image cannot be decoded, or its pixels cannot be read correctly
            (a signed-integer image, a float image outside 0..1; the file, its mode and the
            fix named).
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
