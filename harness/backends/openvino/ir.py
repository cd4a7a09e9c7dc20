"""Conversion of a card's model to OpenVINO IR, cached on disk.

The cache key is (card name, model source, weights identity, input shape, precision,
OpenVINO version): a second run with the same inputs reads the IR in seconds. Entries are
written to a temporary folder and renamed into place, so a half-written IR is never used;
the temporary folders of killed processes are removed by the next conversion. An entry
damaged afterwards (a cut ``model.bin``, an empty ``model.xml``, a file missing) is found
when it is read (OpenVINO's own read error), removed and built again, said on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
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

#: ``src/...cpp:84: `` in OpenVINO's messages: the reason is the text after the last one.
_SOURCE_LOCATION = re.compile(r"\S+:\d+:\s")


def entry_problem(entry: Path) -> str | None:
    """Why the IR cache entry folder ``entry`` cannot be used, in words, or None: a missing
    ``model.xml`` or ``model.bin``, OpenVINO's error reading them (an empty or cut
    ``model.xml``, a ``model.bin`` shorter than the weights the ``.xml`` names), or a JSON
    record beside them (an INT8 entry's ``quantization.json``) that does not parse."""
    xml = entry / "model.xml"
    missing = [f.name for f in (xml, xml.with_suffix(".bin")) if not f.is_file()]
    if missing:
        return f"{' and '.join(missing)} missing"
    for record in sorted(entry.glob("*.json")):
        try:
            json.loads(record.read_text())
        except (OSError, ValueError) as exc:
            return f"{record.name} is unreadable: {shorten(exc, 120)}"
    try:
        ov.Core().read_model(str(xml))
    except Exception as exc:
        reason = _SOURCE_LOCATION.split(str(exc))[-1]
        return f"OpenVINO cannot read it: {shorten(reason, 200)}"
    return None


def _discard(entry: Path, key: str) -> None:
    """Remove a damaged cache entry: renamed to a temporary name first (a reader never sees
    half of it; :func:`harness.files.remove_stale_temps` cleans up after a crash).

    Raises:
        HarnessError: it cannot be removed (naming it and the fix).
    """
    try:
        doomed = Path(tempfile.mkdtemp(dir=entry.parent, prefix=temp_prefix(key)))
        os.replace(entry, doomed / "damaged")
        shutil.rmtree(doomed)
    except OSError as exc:
        raise HarnessError(f"cannot remove the damaged IR cache entry {entry}: "
                           f"{exc.strerror or exc}; delete it, or point HARNESS_CACHE_DIR "
                           f"to a writable folder") from None


def cached_ir(key: str, build, label: str) -> Path:
    """Return ``<cache>/ir/<key>/model.xml``, calling ``build(tmp_dir) -> ov.Model`` if absent.

    ``build`` returns the model to save; it is saved uncompressed (FP32 weights stay FP32).
    The entry is built in a temporary folder (:func:`harness.files.temp_prefix`) renamed into
    place; the temporary folders of processes that died mid-build (SIGKILL) are removed
    first.

    An entry already there is read by OpenVINO first (:func:`entry_problem`); a damaged
    one is removed and built again, said in one line on stderr.

    Raises:
        HarnessError: ``build``'s own errors, or the IR cannot be written (disk full: the
            temporary folder is removed and the message names the cache).
    """
    final = cache_dir() / "ir" / key
    xml = final / "model.xml"
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent)
    if final.exists() or final.is_symlink():
        problem = entry_problem(final)
        if problem is None:
            return xml
        print(f"IR cache entry {final} is damaged ({problem}); rebuilding it",
              file=sys.stderr, flush=True)
        _discard(final, key)
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
