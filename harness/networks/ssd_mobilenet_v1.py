"""SSD-MobileNetV1 at 300x300 (the MLPerf "ssd-mobilenet" network), as a PyTorch module.

Source: mlcommons/inference ``vision/classification_and_detection/python/models/
ssd_mobilenet_v1.py`` and ``models/utils.py`` (the reference's PyTorch port of TF's
``ssd_mobilenet_v1_coco_2018_01_28``): a MobileNetV1 backbone with TF "SAME" padding, whose
layers 11 (512 channels, 19x19) and 13 (1024 channels, 10x10) feed the head; four extra
blocks (1x1 conv then 3x3 stride-2 conv, ReLU6) give 5x5, 3x3, 2x2 and 1x1 maps; one 1x1
class and box predictor per map with 3, 6, 6, 6, 6, 6 anchors. 91 classes (index 0 is
background, index k is COCO category id k). Parameter names match the reference, so a state
dict converted with its ``convert_tf_weights.py`` loads (``WEIGHTS=file.pth``).

Difference from the reference: ``forward`` returns the raw head outputs, class logits
``[N, 1917, 91]`` and box regression ``[N, 1917, 4]``, so the network converts to OpenVINO
as a plain graph; anchors, box decoding, sigmoid and NMS run in
:mod:`harness.detection` (``ssd`` post-processing).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

NUM_CLASSES = 91
#: (input channels, anchors per cell) of the six prediction heads (reference values).
HEADS = ((512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6))


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (extra row/column at the bottom/right).

    Source: reference ``models/utils.py`` ``Conv2d_tf``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for dim in (1, 0):  # F.pad order: last dim (width) first
            size = x.shape[dim + 2]
            k = (self.weight.shape[dim + 2] - 1) * self.dilation[dim] + 1
            out = (size + self.stride[dim] - 1) // self.stride[dim]
            total = max(0, (out - 1) * self.stride[dim] + k - size)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)


class BatchNorm2d(nn.Module):
    """Folded batch norm: ``x * scale + bias`` per channel (reference ``BatchNorm2d``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class BiasAdd(nn.Module):
    """Folded batch norm without scale: ``x + bias`` per channel (reference ``BiasAdd``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("bias", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, 1, 1)


def conv_bn(inp: int, oup: int, stride: int) -> nn.Sequential:
    """First layer: 3x3 conv, bias, ReLU6."""
    return nn.Sequential(OrderedDict([
        ("0", Conv2dSame(inp, oup, 3, stride, bias=False)),
        ("0/BatchNorm", BiasAdd(oup)),
        ("0/ReLU", nn.ReLU6(inplace=True))]))


def conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
    """Depthwise-separable block: 3x3 depthwise, BN, ReLU6, 1x1 pointwise, bias, ReLU6."""
    return nn.Sequential(OrderedDict([
        ("depthwise", Conv2dSame(inp, inp, 3, stride, groups=inp, bias=False)),
        ("depthwise/BatchNorm", BatchNorm2d(inp)),
        ("depthwise/ReLU", nn.ReLU6(inplace=True)),
        ("pointwise", nn.Conv2d(inp, oup, 1, 1, 0, bias=False)),
        ("pointwise/BatchNorm", BiasAdd(oup)),
        ("pointwise/ReLU", nn.ReLU6(inplace=True))]))


class MobileNetV1Base(nn.ModuleList):
    """MobileNetV1 1.0 feature extractor; returns the outputs of layers 11 and 13."""

    def __init__(self, return_layers: tuple[int, ...] = (11, 13)):
        super().__init__([
            conv_bn(3, 32, 2), conv_dw(32, 64, 1), conv_dw(64, 128, 2), conv_dw(128, 128, 1),
            conv_dw(128, 256, 2), conv_dw(256, 256, 1), conv_dw(256, 512, 2),
            conv_dw(512, 512, 1), conv_dw(512, 512, 1), conv_dw(512, 512, 1),
            conv_dw(512, 512, 1), conv_dw(512, 512, 1), conv_dw(512, 1024, 2),
            conv_dw(1024, 1024, 1)])
        self.return_layers = tuple(return_layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for idx, module in enumerate(self):
            x = module(x)
            if idx in self.return_layers:
                out.append(x)
        return out


class PredictionHead(nn.Module):
    """1x1 class and box predictors of one feature map, flattened to (N, H*W*A, C|4)."""

    def __init__(self, in_channels: int, num_classes: int, num_anchors: int):
        super().__init__()
        self.classification = nn.Conv2d(in_channels, num_classes * num_anchors, 1)
        self.regression = nn.Conv2d(in_channels, num_anchors * 4, 1)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        logits = self.classification(x).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
        boxes = self.regression(x).permute(0, 2, 3, 1).reshape(n, -1, 4)
        return logits, boxes


class Block(nn.Sequential):
    """Extra feature layer: 1x1 conv, ReLU6, 3x3 stride-2 "SAME" conv, ReLU6."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, mid_channels, 1), nn.ReLU6(),
                         Conv2dSame(mid_channels, out_channels, 3, 2), nn.ReLU6())


class SSDMobileNetV1(nn.Module):
    """SSD-MobileNetV1 300x300.

    Input: float32 ``[N, 3, 300, 300]``, RGB scaled to -1..1 (``(x - 127.5) / 127.5``).
    Output: ``(class logits [N, 1917, 91], box regression [N, 1917, 4] as ty, tx, th, tw)``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.backbone = MobileNetV1Base()
        self.extras = nn.ModuleList([Block(1024, 256, 512), Block(512, 128, 256),
                                     Block(256, 128, 256), Block(256, 64, 128)])
        self.predictors = nn.ModuleList([PredictionHead(c, num_classes, a) for c, a in HEADS])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        out = features[-1]
        for module in self.extras:
            out = module(out)
            features.append(out)
        logits, boxes = zip(*(head(f) for f, head in zip(features, self.predictors)))
        return torch.cat(logits, 1), torch.cat(boxes, 1)


def ssd_mobilenet_v1() -> nn.Module:
    """An untrained SSD-MobileNetV1 (91 classes) for ``networks.BUILDERS``."""
    return SSDMobileNetV1(NUM_CLASSES)


def register(builders: dict) -> None:
    """Register ``ssd_mobilenet_v1`` in ``networks.BUILDERS``."""
    builders.setdefault("ssd_mobilenet_v1", ssd_mobilenet_v1)
