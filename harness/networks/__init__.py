"""PyTorch network builders, by architecture name.

A card's ``source.arch`` names a builder here. torchvision architectures come from
``torchvision.models.get_model``; new architectures register a builder in ``BUILDERS``.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import HarnessError, shorten
from ..weights import RANDOM_SEED

#: Extra builders: arch name -> zero-argument function returning an untrained nn.Module.
BUILDERS: dict[str, Callable[[], torch.nn.Module]] = {}

from . import resnet_spec as _resnet_spec  # noqa: E402  (spec-built ResNets: bnas_a/b/c)

_resnet_spec.register(BUILDERS)

from . import ssd_mobilenet_v1 as _ssd_mobilenet_v1  # noqa: E402  (MLPerf ssd-mobilenet)

_ssd_mobilenet_v1.register(BUILDERS)


def build(arch: str) -> torch.nn.Module:
    """An untrained network for ``arch`` (a registered builder, else torchvision's).

    Raises:
        HarnessError: unknown architecture.
    """
    if arch in BUILDERS:
        return BUILDERS[arch]()
    import torchvision.models as tvm

    try:
        return tvm.get_model(arch, weights=None)
    except ValueError as exc:
        raise HarnessError(f"unknown architecture '{arch}': neither a harness builder nor a "
                           f"torchvision model") from exc


def _state_dict_from_file(path) -> dict:
    """Read a .pth/.pt checkpoint: a bare state dict or one under 'state_dict'/'model'."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise HarnessError(f"weights file {path} is not a readable PyTorch checkpoint: "
                           f"{exc.__class__.__name__}: {shorten(exc)}") from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise HarnessError(f"weights file {path} holds a {type(obj).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def check_state_dict(model: torch.nn.Module, state: dict, source: str, arch: str) -> None:
    """Raise a clear error when ``state`` does not fit ``model``, naming the first mismatch.

    Raises:
        HarnessError: missing or unexpected keys, or a tensor of another shape.
    """
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise HarnessError(f"{source} does not fit architecture '{arch}': layer '{name}' "
                               f"(shape {tuple(tensor.shape)}) is missing from the checkpoint")
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise HarnessError(f"{source} does not fit architecture '{arch}': layer '{name}' "
                               f"has shape {tuple(state[name].shape)} in the checkpoint, "
                               f"{tuple(tensor.shape)} in the model")
    extra = [k for k in state if k not in expected]
    if extra:
        raise HarnessError(f"{source} does not fit architecture '{arch}': unexpected layer "
                           f"'{extra[0]}' ({len(extra)} unexpected in all)")


def load_torch_model(card, weights) -> torch.nn.Module:
    """The card's PyTorch network with ``weights`` applied, in eval mode.

    Args:
        card: a card with ``source.kind == "torchvision"`` (``source.arch`` names the builder).
        weights: a :class:`harness.weights.Weights` of kind standard, random or a .pth/.pt file.

    Raises:
        HarnessError: the card has no PyTorch source, or the weights do not fit.
    """
    if card.source.get("kind") not in ("torchvision", "builder"):
        raise HarnessError(f"model {card.name} has no PyTorch definition (source kind "
                           f"'{card.source.get('kind')}')")
    arch = card.source["arch"]
    torch.manual_seed(RANDOM_SEED)
    model = build(arch)
    if weights.kind == "standard":
        import torchvision.models as tvm

        enum = tvm.get_model_weights(arch)[card.source["weights"]]
        state = enum.get_state_dict(progress=True, check_hash=False)
        check_state_dict(model, state, str(enum), arch)
        model.load_state_dict(state)
    elif weights.kind == "file":
        state = _state_dict_from_file(weights.path)
        check_state_dict(model, state, str(weights.path), arch)
        model.load_state_dict(state)
    return model.eval()
