"""Conversion of a card's model to OpenVINO IR, cached on disk.

The cache key is (card name, model source, weights identity, input shape, precision,
OpenVINO version): a second run with the same inputs reads the IR in seconds. Entries are
written to a temporary folder and renamed into place, so a half-written IR is never used;
the temporary folders of killed processes are removed by the next conversion.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import openvino as ov

from ...cards import ModelCard
from ...errors import HarnessError, shorten
from ...files import remove_stale_temps, room_problem, temp_prefix
from ...paths import cache_dir
from ...weights import Weights


def cache_key(card: ModelCard, weights: Weights, precision: str, **extra) -> str:
    """A stable hash naming a cache entry (24 hex digits)."""
    payload = {"model": card.name, "source": card.source, "input": card.input,
               "weights": weights.identity, "precision": precision,
               "openvino": ov.get_version(), **extra}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()
                          ).hexdigest()[:24]


def cached_ir(key: str, build, label: str) -> Path:
    """Return ``<cache>/ir/<key>/model.xml``, calling ``build(tmp_dir) -> ov.Model`` if absent.

    ``build`` returns the model to save; it is saved uncompressed (FP32 weights stay FP32).
    The entry is built in a temporary folder (:func:`harness.files.temp_prefix`) renamed into
    place; the temporary folders of processes that died mid-build (SIGKILL) are removed
    first.

    Raises:
        HarnessError: ``build``'s own errors, or the IR cannot be written (disk full: the
            temporary folder is removed and the message names the cache).
    """
    final = cache_dir() / "ir" / key
    xml = final / "model.xml"
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent)
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=temp_prefix(key)))
    try:
        print(f"converting {label} to OpenVINO IR (cached for later runs)...", flush=True)
        model = build(tmp)
        try:
            ov.save_model(model, tmp / "model.xml", compress_to_fp16=False)
        except (OSError, RuntimeError) as exc:
            why = room_problem(final.parent) or shorten(exc)
            raise HarnessError(f"cannot write the OpenVINO IR of {label} into the cache "
                               f"{final.parent}: {why}. Free space there, or point "
                               f"HARNESS_CACHE_DIR to a larger disk") from None
        try:
            tmp.rename(final)
        except OSError:  # another process finished the same entry first: keep its copy
            if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return xml


def fp32_model(card: ModelCard, weights: Weights) -> Path:
    """The FP32 OpenVINO IR of ``card`` with ``weights`` (converted once, then cached).

    Torch sources go through ``ov.convert_model`` with an example input of the card's shape;
    ``.onnx``/``.tflite`` files are converted by OpenVINO's frontends; an ``.xml`` IR is used
    as it is.

    Raises:
        HarnessError: a file OpenVINO cannot read, or weights that do not fit the card.
    """
    if weights.path is not None and weights.path.suffix.lower() == ".xml":
        return weights.path
    key = cache_key(card, weights, "fp32")

    def build(_tmp: Path) -> ov.Model:
        if weights.kind == "file" and weights.path.suffix.lower() in (".onnx", ".tflite"):
            try:
                return ov.convert_model(str(weights.path))
            except Exception as exc:
                raise HarnessError(f"OpenVINO cannot read model file {weights.path}: "
                                   f"{exc.__class__.__name__}: {shorten(exc)}") from exc
        import torch  # imported on use: torch loads slowly

        from ...networks import load_torch_model  # builds torch modules (imports torch)

        module = load_torch_model(card, weights)
        example = torch.zeros(card.input_shape, dtype=getattr(torch, card.input_dtype))
        with torch.no_grad():
            return ov.convert_model(module, example_input=example, input=[card.input_shape])

    return cached_ir(key, build, f"{card.name} ({weights.identity})")
