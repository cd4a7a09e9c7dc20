"""Model size facts for cards and runs: parameters, GMACs, IR size on disk.

Parameters and multiply-accumulates are counted by ptflops (``get_model_complexity_info``
with its ``aten`` backend, which counts the MACs of convolutions and matrix products the way
torchvision's published ``_ops`` metadata does: 4.089 GMACs for ResNet-50 at 224x224) on the
card's PyTorch network; the counts do not depend on the weight values, so an untrained network
is used. Cards without a PyTorch definition (a .tflite or .onnx file) get ``None`` with a note.
Counts are cached on disk (``<cache>/stats/<key>.json``) since ResNeXt101 takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .cards import ModelCard
from .files import write_text_atomic
from .paths import cache_dir


def _key(card: ModelCard) -> str:
    payload = {"source": card.source, "input": card.input,
               "architecture": card.extra.get("architecture"),
               "ptflops": metadata.version("ptflops")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _read_cached(path: Path) -> dict[str, Any] | None:
    """A cached count, or None (said on stderr) when the entry is damaged: not JSON, or
    without its keys; the caller counts again and replaces it."""
    try:
        out = json.loads(path.read_text())
        if isinstance(out, dict) and {"params", "params_m", "gmacs", "counter"} <= set(out):
            return out
        problem = "not a count"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = str(exc)
    print(f"model stats cache entry {path} is damaged ({problem}); rebuilding it",
          file=sys.stderr, flush=True)
    return None


def count(card: ModelCard) -> dict[str, Any]:
    """Parameters and GMACs of the card's network at its input shape (batch 1).

    Returns:
        ``{"params": int, "params_m": float (millions), "gmacs": float (10^9 MACs per
        sample), "counter": str}``, or ``{"params": None, "gmacs": None, "note": ...}``
        for a card with no PyTorch definition.
    """
    if card.source.get("kind") not in ("torchvision", "builder"):
        return {"params": None, "params_m": None, "gmacs": None,
                "note": f"no PyTorch definition (source kind '{card.source.get('kind')}'): "
                        f"not counted"}
    path = cache_dir() / "stats" / f"{_key(card)}.json"
    if path.exists():
        cached = _read_cached(path)
        if cached is not None:
            return cached
    import torch  # imported on use: torch loads slowly
    from ptflops import get_model_complexity_info

    from .networks import build  # builds torch modules (imports torch)

    torch.manual_seed(0)
    model = build(card.source["arch"]).eval()
    shape = card.input_shape[1:]
    # (not under torch.inference_mode: the aten backend then sees no operations)
    with torch.no_grad():
        macs, params = get_model_complexity_info(model, tuple(shape), as_strings=False,
                                                 print_per_layer_stat=False, backend="aten",
                                                 verbose=False)
    if not macs:
        raise RuntimeError(f"ptflops counted no MACs for {card.name}")
    out = {"params": int(params), "params_m": round(params / 1e6, 3),
           "gmacs": round(macs / 1e9, 3),
           "counter": f"ptflops {metadata.version('ptflops')} (aten backend: convolution "
                      f"and matmul MACs, batch 1)"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(out))
    return out


def ir_size_mb(xml: Path | str | None) -> float | None:
    """Size on disk (MB, 10^6 bytes) of an OpenVINO IR: ``.xml`` plus its ``.bin``."""
    if xml is None:
        return None
    xml = Path(xml)
    if not xml.is_file():
        return None
    size = xml.stat().st_size
    if xml.with_suffix(".bin").is_file():
        size += xml.with_suffix(".bin").stat().st_size
    return round(size / 1e6, 3)


def for_run(card: ModelCard, precision: str, model_file: Path | str | None) -> dict[str, Any]:
    """The manifest's ``model_stats``: counts plus the size of the model file the run used."""
    stats = dict(count(card))
    stats["precision"] = precision
    stats["model_file"] = str(model_file) if model_file else None
    stats["size_mb"] = ir_size_mb(model_file) if model_file and str(model_file).endswith(
        ".xml") else (round(Path(model_file).stat().st_size / 1e6, 3)
                      if model_file and Path(model_file).is_file() else None)
    return stats
