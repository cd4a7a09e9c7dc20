"""``harness quantize``: build (or find in the cache) a card's INT8 IR without running LoadGen.

Examples::

    harness quantize --model resnet50 --weights random --calibration-count 300
    harness quantize --model mobilenet_v2_quant --dataset ../shared/data/imagenet-sample \\
        --calibration-list models/calibration/imagenet-sample-300.txt
    harness quantize --model resnet50 --dataset DIR --write-list my-calibration.txt

Prints the IR path, its size (MB), and the calibration facts recorded beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import cards, model_stats
from .. import weights as weights_mod
from .. import options as fields
from ..backends.openvino.config import QuantizationConfig
from ..errors import HarnessError

HELP = "quantize a model to INT8 with NNCF (cached IR; no LoadGen run)"


def add_arguments(p) -> None:
    p.add_argument("--model", default="resnet50", help="model card name")
    p.add_argument("--weights", default=None, help="'default', 'random' or a file")
    p.add_argument("--dataset", default=None,
                   help="dataset folder for calibration samples (none: synthetic)")
    # the INT8 settings, as 'harness run' has them; the calibration samples are --dataset's
    fields.add_arguments(p, QuantizationConfig, exclude=("calibration_dataset",))
    p.add_argument("--write-list", default=None,
                   help="write the seeded calibration draw as a list file and stop")


def main(args) -> int:
    from ..backends.openvino import quantization  # imported on use: OpenVINO loads slowly

    card = cards.load(args.model)
    config = fields.from_arguments(args, QuantizationConfig,
                                   calibration_dataset=args.dataset or None)
    if args.write_list:
        if not config.calibration_dataset:
            raise HarnessError("--write-list needs --dataset")
        cal = quantization.calibration_set(card, config)
        if cal.names is None:
            raise HarnessError(f"the {card.dataset} reader does not expose sample names")
        Path(args.write_list).write_text(
            f"# {len(cal.names)} calibration images of {config.calibration_dataset}, "
            f"{cal.source}\n" + "\n".join(cal.names) + "\n")
        print(f"wrote {args.write_list} ({len(cal.names)} names)")
        return 0
    mode = "accuracy" if args.max_accuracy_drop is not None else "performance"
    weights = weights_mod.resolve(card, args.weights, mode)
    xml = quantization.int8_model(card, weights, config)
    info = quantization.read_info(xml)
    cal = dict(info.get("calibration", {}))
    for key in ("indices", "names"):
        if cal.get(key):
            cal[key] = f"{len(cal[key])} entries"
    print(json.dumps({"ir": str(xml), "size_mb": model_stats.ir_size_mb(xml),
                      "method": info.get("method"), "built_for": info.get("built_for"),
                      "calibration": cal,
                      "accuracy_control": info.get("accuracy_control")}, indent=2))
    return 0
