"""ResNet generalised over per-stage depths and per-block widths, built from a card's spec.

The BootstrapNAS subnetworks of Intel's MLPerf Inference v2.0 open submission
(github.com/mlcommons/inference_results_v2.0, open/Intel/code/resnet50) are ResNet-50 v1.5
variants: the same stem (7x7/2 convolution, 3x3/2 max-pool), four stages of bottleneck
blocks with the stride in the 3x3 convolution and a 1x1 projection shortcut in each stage's
first block, global average pooling and one fully connected layer -- but with their own stem
width, blocks per stage, bottleneck width per block and output width per stage. Their weights
were never published; their IR topologies (``../shared/models/bootstrapnas/*.xml``) fix every
convolution's shape, and :func:`spec_from_xml` reads the spec from them. The cards
(``models/bnas_*.toml``) carry the spec in an ``[architecture]`` table::

    [architecture]
    builder = "resnet_spec"
    stem_width = 40                       # output channels of the 7x7 stem convolution
    stage_widths = [168, 336, 816, 1640]  # output channels of each stage (block conv3)
    stage_strides = [1, 2, 2, 2]
    bottleneck_widths = [[32, 32], [64, 64, 64], ...]   # per stage, per block (conv1/conv2)
    num_classes = 1000

Blocks per stage are the lengths of ``bottleneck_widths``. A torchvision ResNet-50 has
stem 64, stage widths 256/512/1024/2048 and bottleneck widths 64/128/256/512 x 3/4/6/3.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, conv1x1

from .. import cards
from ..errors import HarnessError


@dataclass(frozen=True)
class ResNetSpec:
    """Architecture of a bottleneck ResNet with free widths and depths.

    Attributes:
        stem_width: channels after the 7x7 stem convolution.
        stage_widths: output channels of each stage.
        stage_strides: stride of each stage's first block (in its 3x3 convolution, v1.5).
        bottleneck_widths: per stage, the inner width of each block (its length is the
            stage's depth).
        num_classes: classifier outputs.
    """

    stem_width: int
    stage_widths: tuple[int, ...]
    stage_strides: tuple[int, ...]
    bottleneck_widths: tuple[tuple[int, ...], ...]
    num_classes: int = 1000

    @property
    def depths(self) -> tuple[int, ...]:
        """Blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50."""
        return tuple(len(w) for w in self.bottleneck_widths)

    def to_dict(self) -> dict[str, Any]:
        """The card's ``[architecture]`` table (without ``builder``)."""
        return {"stem_width": self.stem_width, "stage_widths": list(self.stage_widths),
                "stage_strides": list(self.stage_strides),
                "bottleneck_widths": [list(w) for w in self.bottleneck_widths],
                "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "architecture spec") -> "ResNetSpec":
        """Parse a card's ``[architecture]`` table.

        Raises:
            HarnessError: a missing key or inconsistent lengths.
        """
        try:
            spec = cls(stem_width=int(data["stem_width"]),
                       stage_widths=tuple(int(w) for w in data["stage_widths"]),
                       stage_strides=tuple(int(s) for s in data["stage_strides"]),
                       bottleneck_widths=tuple(tuple(int(w) for w in stage)
                                               for stage in data["bottleneck_widths"]),
                       num_classes=int(data.get("num_classes", 1000)))
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{source}: bad ResNet spec ({exc.__class__.__name__}: {exc}); "
                               f"needs stem_width, stage_widths, stage_strides, "
                               f"bottleneck_widths") from exc
        n = len(spec.stage_widths)
        if not (len(spec.stage_strides) == len(spec.bottleneck_widths) == n) or n == 0:
            raise HarnessError(f"{source}: stage_widths, stage_strides and bottleneck_widths "
                               f"must have the same, non-zero length")
        if any(len(stage) == 0 for stage in spec.bottleneck_widths):
            raise HarnessError(f"{source}: every stage needs at least one block")
        return spec


class _Block(Bottleneck):
    """torchvision's Bottleneck (v1.5: stride in the 3x3 conv) with a free inner width."""

    def __init__(self, inplanes: int, width: int, outplanes: int, stride: int):
        downsample = None
        if stride != 1 or inplanes != outplanes:
            downsample = nn.Sequential(conv1x1(inplanes, outplanes, stride),
                                       nn.BatchNorm2d(outplanes))
        # Bottleneck computes width = planes * base_width / 64 * groups and out = planes * 4;
        # build it at width, then replace conv3/bn3 for the free output width.
        super().__init__(inplanes, width, stride=stride, downsample=downsample)
        self.conv3 = conv1x1(width, outplanes)
        self.bn3 = nn.BatchNorm2d(outplanes)


class SpecResNet(nn.Module):
    """A bottleneck ResNet built from a :class:`ResNetSpec`.

    Input ``(N, 3, H, W)`` float32 (224x224 for ImageNet); output ``(N, num_classes)``
    logits. Module names follow torchvision's ResNet (``conv1``, ``layer1.0.conv2``,
    ``fc``), so a torchvision ResNet-50 checkpoint fits the ResNet-50 spec.
    """

    def __init__(self, spec: ResNetSpec):
        super().__init__()
        self.spec = spec
        self.conv1 = nn.Conv2d(3, spec.stem_width, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(spec.stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = spec.stem_width
        for i, (out, stride, widths) in enumerate(zip(spec.stage_widths, spec.stage_strides,
                                                      spec.bottleneck_widths), start=1):
            blocks = []
            for j, width in enumerate(widths):
                blocks.append(_Block(inplanes, width, out, stride if j == 0 else 1))
                inplanes = out
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.stages = len(spec.stage_widths)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, spec.num_classes)
        # torchvision's ResNet initialisation (kaiming normal for convolutions, BN 1/0).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec: ResNetSpec) -> SpecResNet:
    """An untrained network for ``spec`` (seed it with ``torch.manual_seed`` first)."""
    return SpecResNet(spec)


# --- the IR reader ---------------------------------------------------------------------

@dataclass(frozen=True)
class ConvShape:
    """One convolution: weight shape ``[out, in, kh, kw]``, stride, input H x W (pixels)."""

    weight: tuple[int, int, int, int]
    stride: tuple[int, int]
    input_hw: tuple[int, int]


def _dims(port: ET.Element) -> tuple[int, ...]:
    return tuple(int(d.text) for d in port.findall("dim"))


def xml_convolutions(path: Path | str) -> list[ConvShape]:
    """Every ``Convolution`` layer of an OpenVINO IR ``.xml``, in file order.

    The weight shape is read from the convolution's second input port (it arrives through
    Const -> Convert -> FakeQuantize in the INT8 BootstrapNAS IRs, so the port dims are the
    reliable place). The ``.bin`` is not needed.

    Raises:
        HarnessError: unreadable or non-IR file.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise HarnessError(f"cannot read OpenVINO IR {path}: {exc}") from exc
    convs = []
    for layer in root.iter("layer"):
        if layer.get("type") != "Convolution":
            continue
        ports = layer.find("input").findall("port")
        weight = _dims(ports[1])
        strides = tuple(int(s) for s in layer.find("data").get("strides").split(","))
        convs.append(ConvShape(weight, strides, _dims(ports[0])[2:]))
    if not convs:
        raise HarnessError(f"{path} has no Convolution layers: not a ResNet IR")
    return convs


def xml_classifier(path: Path | str) -> tuple[int, int]:
    """``(num_classes, features)`` of the IR's fully connected (MatMul) layer."""
    root = ET.parse(path).getroot()
    for layer in root.iter("layer"):
        if layer.get("type") in ("MatMul", "FullyConnected"):
            ports = layer.find("input").findall("port")
            out, features = _dims(ports[1])
            return out, features
    raise HarnessError(f"{path} has no MatMul layer: not a classifier IR")


def spec_from_xml(path: Path | str) -> ResNetSpec:
    """Recover the :class:`ResNetSpec` of a bottleneck-ResNet IR from its convolution shapes.

    Walks the convolutions in file order: the first is the 7x7 stem; then each block is a
    1x1 (conv1), a 3x3 (conv2, its stride is the block's), a 1x1 (conv3), and -- in a
    stage's first block -- a 1x1 projection whose input width is the block's input width and
    whose output width is conv3's.

    Raises:
        HarnessError: a layer sequence that is not a bottleneck ResNet.
    """
    convs = xml_convolutions(path)
    stem = convs[0]
    if stem.weight[2:] != (7, 7):
        raise HarnessError(f"{path}: first convolution is {stem.weight}, not a 7x7 stem")
    stages: list[dict[str, Any]] = []
    inplanes = stem.weight[0]
    i = 1
    while i < len(convs):
        if i + 2 >= len(convs):
            raise HarnessError(f"{path}: convolution {i} does not start a bottleneck block")
        c1, c2, c3 = convs[i], convs[i + 1], convs[i + 2]
        if (c1.weight[2:] != (1, 1) or c2.weight[2:] != (3, 3) or c3.weight[2:] != (1, 1)
                or c1.weight[1] != inplanes):
            raise HarnessError(f"{path}: convolutions {i}..{i + 2} ({c1.weight}, {c2.weight}, "
                               f"{c3.weight}) are not a bottleneck block on {inplanes} "
                               f"channels")
        i += 3
        out = c3.weight[0]
        has_projection = (i < len(convs) and convs[i].weight[2:] == (1, 1)
                          and convs[i].weight[1] == inplanes and convs[i].weight[0] == out
                          and (inplanes != out or convs[i].stride != (1, 1)))
        if has_projection:
            i += 1
            stages.append({"out": out, "stride": c2.stride[0], "widths": []})
        elif not stages or stages[-1]["out"] != out:
            raise HarnessError(f"{path}: block at convolution {i - 3} changes width "
                               f"{inplanes} -> {out} without a projection shortcut")
        stages[-1]["widths"].append(c1.weight[0])
        inplanes = out
    num_classes, features = xml_classifier(path)
    if features != inplanes:
        raise HarnessError(f"{path}: classifier takes {features} features, last stage gives "
                           f"{inplanes}")
    return ResNetSpec(stem.weight[0], tuple(s["out"] for s in stages),
                      tuple(s["stride"] for s in stages),
                      tuple(tuple(s["widths"]) for s in stages), num_classes)


def torch_convolutions(model: nn.Module, input_shape=(1, 3, 224, 224)) -> list[ConvShape]:
    """The :class:`ConvShape` of every ``nn.Conv2d`` of ``model``, in execution order.

    Runs one forward pass of zeros with hooks recording each convolution's input size.
    """
    shapes: list[ConvShape] = []

    def hook(module, inputs, _output):
        shapes.append(ConvShape(tuple(module.weight.shape), tuple(module.stride),
                                tuple(inputs[0].shape[2:])))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(input_shape))
    finally:
        for h in handles:
            h.remove()
    return shapes


def spec_of_card(card) -> ResNetSpec:
    """The card's ``[architecture]`` spec.

    Raises:
        HarnessError: the card has no ``[architecture]`` table for this builder.
    """
    arch = card.extra.get("architecture")
    if not isinstance(arch, dict) or arch.get("builder") != "resnet_spec":
        raise HarnessError(f"model card {card.path} has no [architecture] table with "
                           f"builder = \"resnet_spec\"")
    return ResNetSpec.from_dict(arch, f"model card {card.path}")


def _build_from_card(name: str) -> SpecResNet:
    return build(spec_of_card(cards.load(name)))


#: Cards whose ``source.arch`` names a spec-built ResNet (the arch name is the card name).
SPEC_ARCHITECTURES = ("bnas_a", "bnas_b", "bnas_c")


def register(builders: dict) -> None:
    """Register a zero-argument builder per spec architecture in ``networks.BUILDERS``."""
    for name in SPEC_ARCHITECTURES:
        builders.setdefault(name, functools.partial(_build_from_card, name))
