"""Model cards: one TOML file per model in the top-level ``models/`` folder.

A card is the single source of truth for a model (the torchvision weights-enum idea): where
its network and weights come from, the exact preprocessing, the input tensor, how outputs
become an MLPerf response, the reference accuracy, and the official LoadGen benchmark name it
stands for. Adding a model is adding a card (and, for a new architecture, a builder in
``harness.networks``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .paths import models_dir, project_root

#: Official LoadGen benchmark names the harness knows (keys of LoadGen's built-in mlperf.conf).
KNOWN_BENCHMARKS = ("resnet50", "ssd-mobilenet", "retinanet")


@dataclass(frozen=True)
class ModelCard:
    """A parsed model card.

    Attributes:
        name: card name, also the folder name of its results (e.g. ``bnas_a``).
        benchmark: the official LoadGen benchmark it stands for (e.g. ``resnet50``); passed to
            ``TestSettings.FromConfig`` so the built-in mlperf.conf applies the right latency
            bound and performance sample count.
        task: ``classification`` or ``detection``.
        dataset: ``imagenet`` or ``coco``.
        source: where the network comes from: ``{"kind": "torchvision", "arch", "weights"}``
            or ``{"kind": "file", "path"}`` (path relative to the project root).
        input: ``{"name", "shape" (list[int], batch first), "dtype", "layout"}``.
        preprocessing: keyword spec for :func:`harness.datasets.preprocessing.preprocess`.
        postprocessing: ``{"kind": "argmax", "class_offset": int, "response_dtype": str}``.
        reference: ``{"metric", "accuracy" (percent), "source"}``.
        path: the card file.
    """

    name: str
    description: str
    benchmark: str
    task: str
    dataset: str
    source: dict[str, Any]
    input: dict[str, Any]
    preprocessing: dict[str, Any]
    postprocessing: dict[str, Any]
    reference: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Input tensor shape, batch first, e.g. ``(1, 3, 224, 224)``."""
        return tuple(int(d) for d in self.input["shape"])

    @property
    def input_dtype(self) -> str:
        """Input element type as a numpy dtype name (``float32``, ``uint8``)."""
        return str(self.input["dtype"])

    def source_file(self) -> Path | None:
        """The card's own model file (``source.kind == "file"``), resolved against the root."""
        if self.source.get("kind") != "file":
            return None
        return (project_root() / self.source["path"]).resolve()


_REQUIRED = ("name", "description", "benchmark", "task", "dataset", "source", "input",
             "preprocessing", "postprocessing")


def available() -> list[str]:
    """Names of all cards in ``models/``, sorted."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def load(name: str) -> ModelCard:
    """Load the card ``models/<name>.toml``.

    Raises:
        HarnessError: unknown model (lists the valid ones), or a card missing a required key
            or naming an unknown benchmark.
    """
    path = models_dir() / f"{name}.toml"
    if not path.is_file():
        raise HarnessError(
            f"unknown model '{name}'. Valid models: {', '.join(available()) or '(none)'}. "
            f"Add a card models/{name}.toml to define a new one.")
    with path.open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise HarnessError(f"model card {path} is not valid TOML: {exc}") from exc
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise HarnessError(f"model card {path} lacks required keys: {', '.join(missing)}")
    if data["name"] != name:
        raise HarnessError(f"model card {path} names itself '{data['name']}', expected '{name}'")
    if data["benchmark"] not in KNOWN_BENCHMARKS:
        raise HarnessError(
            f"model card {path}: benchmark '{data['benchmark']}' is not an official LoadGen "
            f"benchmark name; use one of {', '.join(KNOWN_BENCHMARKS)}")
    known = {k: data.pop(k) for k in list(data) if k in _REQUIRED or k == "reference"}
    return ModelCard(**known, extra=data, path=path)
