"""Where a model's weights come from: the card's standard source, a local file, or random.

Three ways, in the order a user meets them:
1. the card's standard weights (torchvision's weight enum, downloaded into the torch hub
   cache, ``~/.cache/torch/hub/checkpoints``, when online; or the card's own model file);
2. ``--weights FILE``: a local ``.pth``/``.pt`` state dict, ``.onnx``, ``.tflite`` or
   OpenVINO ``.xml`` (with its ``.bin`` beside it);
3. ``--weights random``: seeded random initialisation, performance mode only, recorded so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cards import ModelCard
from .errors import HarnessError, shorten
from .hashing import sha256_file

FILE_SUFFIXES = (".pth", ".pt", ".onnx", ".tflite", ".xml")
RANDOM_SEED = 0


@dataclass(frozen=True)
class Weights:
    """Resolved weights.

    Attributes:
        kind: ``standard`` (torchvision enum), ``file``, ``random`` or ``remote`` (a
            server's model).
        identity: stable id for caches and the manifest, e.g.
            ``torchvision:ResNet50_Weights.IMAGENET1K_V1`` or ``file:<sha256[:16]>``.
        path: the weights or model file (``file`` kind, and ``standard`` once cached).
        trained: False for random weights (accuracy is meaningless).
        note: one line for the user and the manifest.
    """

    kind: str
    identity: str
    path: Path | None
    trained: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "identity": self.identity,
                "path": str(self.path) if self.path else None, "trained": self.trained,
                "note": self.note}


def three_ways(card: ModelCard) -> str:
    """The user-facing list of the three ways to give weights."""
    std = (f"torchvision {card.source.get('arch')} {card.source.get('weights')} (downloaded "
           f"into the torch hub cache when online)" if card.source.get("kind") == "torchvision"
           else "none published (a .pth checkpoint of the card's architecture)"
           if card.source.get("kind") == "builder"
           else f"the card's file {card.source.get('path')}")
    return (f"(1) the standard weights: {std}; (2) a local file: WEIGHTS=/path/to/file "
            f"(.pth, .onnx, .tflite or OpenVINO .xml); (3) WEIGHTS=random for performance "
            f"mode only")


def from_file(path: Path, card: ModelCard) -> Weights:
    """Weights from a user's file, checked to exist, be readable and have a known suffix.

    Raises:
        HarnessError: missing, unreadable or unknown-format file.
    """
    path = path.expanduser().resolve()
    if not path.is_file():
        raise HarnessError(f"weights file {path} does not exist. Give one of: "
                           f"{three_ways(card)}")
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise HarnessError(f"weights file {path} has suffix '{path.suffix}'; supported: "
                           f"{', '.join(FILE_SUFFIXES)}")
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise HarnessError(f"weights file {path} is unreadable: {exc}") from exc
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise HarnessError(f"OpenVINO IR {path} has no {path.with_suffix('.bin').name} beside it")
    return Weights("file", f"file:{digest[:16]}", path, True, f"local file {path}")


def random_weights() -> Weights:
    """Seeded random initialisation (performance only)."""
    return Weights("random", f"random:seed={RANDOM_SEED}", None, False,
                   "RANDOM weights: performance numbers only; accuracy is meaningless")


def remote(endpoint: str, model_name: str) -> Weights:
    """The weights of a model a remote inference server holds (``--backend kserve``): the
    harness neither has nor checks them; the server's model metadata is in the report."""
    return Weights("remote", f"server:{endpoint}/{model_name}", None, True,
                   f"the weights of model '{model_name}' on the server {endpoint}")


def standard(card: ModelCard) -> Weights:
    """The card's standard weights, fetched into the torch hub cache if needed.

    Raises:
        HarnessError: the weights cannot be had (offline and not cached), naming the three
            ways to give them.
    """
    if card.source["kind"] == "file":
        path = card.source_file()
        if path is None or not path.is_file():
            raise HarnessError(f"model {card.name}: its file {path} is missing. Give one of: "
                               f"{three_ways(card)}")
        return from_file(path, card)
    if card.source["kind"] == "builder":  # a harness-built architecture (e.g. bnas_a)
        raise HarnessError(f"model {card.name} has no published standard weights "
                           f"({card.source.get('note', 'none were released')}). Give one of: "
                           f"{three_ways(card)}")
    import torchvision.models as tvm

    enum = tvm.get_model_weights(card.source["arch"])[card.source["weights"]]
    try:
        enum.get_state_dict(progress=True, check_hash=False)
    except Exception as exc:  # URLError, HTTPError, socket errors: any failure to fetch
        raise HarnessError(
            f"cannot load the standard weights of {card.name} ({enum}) from {enum.url}: "
            f"{exc.__class__.__name__}: {shorten(exc)}. Give one of: {three_ways(card)}") from exc
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    return Weights("standard", f"torchvision:{enum}", path, True, f"torchvision {enum}")


def resolve(card: ModelCard, spec: str | None, mode: str,
            allow_random_accuracy: bool = False) -> Weights:
    """Resolve ``--weights`` for a run.

    Args:
        card: the model card.
        spec: None (the card's standard weights; in performance mode, random weights with a
            plain warning when those cannot be had), ``"default"`` (standard, no fallback),
            ``"random"``, or a file path.
        mode: ``performance`` or ``accuracy``.
        allow_random_accuracy: accept random weights in accuracy mode. Only for flows that
            need an accuracy log of the same weights as the performance runs (a submission
            of random-weight performance, TEST01); the accuracy is recorded as meaningless.

    Raises:
        HarnessError: random weights in accuracy mode, or weights that cannot be had.
    """
    if spec == "random":
        if mode == "accuracy" and not allow_random_accuracy:
            raise HarnessError("WEIGHTS=random is allowed only in performance mode: accuracy "
                               "of random weights is meaningless. Give trained weights: "
                               + three_ways(card) + " (or --allow-random-accuracy where an "
                               "accuracy log of random weights is wanted, e.g. a submission "
                               "of random-weight performance)")
        return random_weights()
    if spec and spec != "default":
        return from_file(Path(spec), card)
    try:
        return standard(card)
    except HarnessError as exc:
        if spec is None and mode == "performance":
            print(f"WARNING: {exc}\nWARNING: no weights given and none loadable: running "
                  f"{card.name} with RANDOM weights (performance only, recorded so).",
                  flush=True)
            return random_weights()
        raise
