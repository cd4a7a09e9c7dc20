"""The precision a run is labelled with: what the model file holds and what the run did to it.

``--precision`` says what the harness does with the model (kept as it always was):

- ``fp32``: run the model **as given**, computed with ``INFERENCE_PRECISION_HINT=f32``;
- ``bf16``: the model as given, computed with the bf16 hint;
- ``int8``: re-quantize it with NNCF (post-training INT8).

The label of a run (its results folder, ``run.json``, ``harness show``, reports and plots)
says what ran: for ``fp32`` the model's **as-given precision**, read from its model file as
the element type holding most of the bytes of its weight constants (OpenVINO reads
``.onnx``, ``.tflite`` and ``.xml`` files; a network the harness builds in PyTorch, from
torchvision weights, a ``.pth`` checkpoint or random initialisation, is FP32, torch's
default dtype). So an FP32 model stays ``fp32``, and Google's uint8-quantized MobileNetV2
TFLite is ``uint8``, not ``fp32``. ``int8`` runs are ``int8`` and record what they were
re-quantized from (``requantized_from``); ``bf16`` runs are ``bf16`` for an FP32 model and
``<as given>+bf16`` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import backends
from .cards import ModelCard
from .errors import HarnessError, shorten
from .weights import Weights

#: OpenVINO element type -> precision name.
OV_TYPES = {"f64": "fp64", "f32": "fp32", "f16": "fp16", "bf16": "bf16", "u8": "uint8",
            "i8": "int8", "u4": "uint4", "i4": "int4", "nf4": "nf4", "f8e4m3": "fp8",
            "f8e5m2": "fp8"}
#: Model file suffixes OpenVINO reads directly (their weights are examined).
MODEL_FILES = (".onnx", ".tflite", ".xml")


def weight_types(model_file: Path | str) -> dict[str, int]:
    """Bytes of the model's constants per precision (:data:`OV_TYPES`), largest first.

    Integer index types (shapes, axes, int32 biases) are left out: they are not what the
    model computes in.

    Raises:
        HarnessError: OpenVINO cannot read the file.
    """
    import openvino as ov  # imported on use: the label of a PyTorch run needs no OpenVINO

    try:
        model = ov.Core().read_model(str(model_file))
    except Exception as exc:
        raise HarnessError(f"OpenVINO cannot read model file {model_file}: "
                           f"{exc.__class__.__name__}: {shorten(exc)}") from None
    sizes: dict[str, int] = {}
    for op in model.get_ops():
        if op.get_type_name() != "Constant":
            continue
        name = OV_TYPES.get(op.get_output_element_type(0).get_type_name())
        if name:
            sizes[name] = sizes.get(name, 0) + int(op.get_byte_size())
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def as_given(weights: Weights) -> dict[str, Any]:
    """The as-given precision of a model: ``{"precision", "weight_types" (bytes per
    precision, or None), "source" (how it was found, in words)}``.

    Raises:
        HarnessError: a model file OpenVINO cannot read.
    """
    path = weights.path
    if weights.kind == "file" and path is not None and path.suffix.lower() in MODEL_FILES:
        types = weight_types(path)
        precision = next(iter(types), "fp32")
        return {"precision": precision, "weight_types": types,
                "source": f"the weight constants of {path.name} (most bytes: {precision})"}
    return {"precision": "fp32", "weight_types": None,
            "source": "a PyTorch network the harness builds in FP32 (torch's default dtype)"}


def label(requested: str, given: str) -> str:
    """The label of a run of ``--precision requested`` on a model given in ``given``
    (see the module docstring)."""
    if requested == "int8":
        return "int8"
    if requested == "bf16":
        return "bf16" if given == "fp32" else f"{given}+bf16"
    return given


def describe(card: ModelCard, weights: Weights, backend: str, requested: str
             ) -> dict[str, Any]:
    """The ``precision`` record of a run (``run.json``) of ``backend`` (its name,
    :data:`harness.backends.REGISTRY`).

    Returns:
        ``{"label", "requested" (--precision), "as_given", "weight_types", "source",
        "requantized_from" (int8: the as-given precision, else None), "note"}``.

    Raises:
        HarnessError: a model file OpenVINO cannot read, an unknown backend.
    """
    if backends.entry(backend).config.runs_model_file:
        given = as_given(weights)
    else:  # e.g. PyTorch eager: the card's network in FP32
        given = {"precision": "fp32", "weight_types": None,
                 "source": f"{backend} runs the card's network in FP32"}
    g = given["precision"]
    if requested == "int8":
        note = f"INT8 by NNCF post-training quantization, re-quantized from the {g} model " \
               f"as given ({card.name})"
    elif requested == "bf16":
        note = f"the {g} model as given, computed with OpenVINO's bf16 precision hint"
    else:
        note = f"the model as given ({g} weights), computed in f32 where not quantized"
    return {"label": label(requested, g), "requested": requested, "as_given": g,
            "weight_types": given["weight_types"], "source": given["source"],
            "requantized_from": g if requested == "int8" else None, "note": note}


__all__ = ["describe", "as_given", "label", "weight_types", "OV_TYPES"]
