"""The baselines of ``harness optimize``, measured side by side with the best configuration
at the end: OpenVINO's default THROUGHPUT hint at batch 1, and PyTorch eager FP32."""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from ... import cards
from ...backends.pytorch.config import PyTorchConfig
from ...errors import HarnessError
from ...run.config import RunConfig
from .trial import Search, default_config, measure, short_run


def baselines(search: Search, best_cfg: RunConfig) -> dict[str, Any]:
    """Best, OpenVINO's default THROUGHPUT hint at batch 1 and PyTorch eager FP32, measured
    in alternating rounds now, on this machine; means of each.

    The rounds alternate their order (best, default, PyTorch; then the reverse), so a drift
    of the machine's speed falls on each alike, and a short warm-up run of the best
    configuration comes first and is discarded (Offline and SingleStream; a Server
    measurement is a find-peak search of several runs): measured on this 2-core VM, the first
    run after the search was 13-23% slower than the same configuration's next runs
    (mobilenet_v2_quant bf16: 334 then 435 samples/s; resnet50 INT8 on 16 cores: 1156
    then 1616), which read as "best / default 0.84-0.89x" with best and default the same
    point.

    Where the best *is* the default hint's configuration it is not measured twice: the
    ratio is 1 by identity (``same_as_best``), not a ratio of two noisy measurements of one
    point (a Server search once read 1.59x that way). A Server round that finds no VALID
    target is counted in ``no_valid_target``, never averaged as 0.

    Returns:
        ``{"means": {name: score or None}, "samples": {name: [score, ...]},
        "no_valid_target": {name: rounds}, "same_as_best": [name, ...], "errors":
        {name: message}, "configs": {name: RunConfig dict}}``; names: best, default,
        pytorch_fp32 (models built from torchvision or a builder).
    """
    model, precision = best_cfg.model.name, best_cfg.precision
    best_params_precision = "int8-ac" if best_cfg.backend.quantization.max_accuracy_drop \
        else precision
    configs = {"best": best_cfg,
               "default": default_config(search, model, best_params_precision)}
    card = cards.load(model)
    if card.source.get("kind") in ("torchvision", "builder"):
        configs["pytorch_fp32"] = replace(best_cfg, backend=PyTorchConfig())
    same = [k for k, c in configs.items() if k != "best" and c.model == best_cfg.model
            and c.backend == best_cfg.backend]
    scores: dict[str, list[float]] = {k: [] for k in configs}
    no_valid: dict[str, int] = {k: 0 for k in configs}
    errors: dict[str, str] = {}
    if search.options.scenario != "Server" and search.options.baseline_rounds:
        try:
            search.launcher.launch(short_run(search, best_cfg))
        except HarnessError as exc:
            errors["best"] = str(exc)
    for r in range(search.options.baseline_rounds):
        order = list(configs.items())
        for name, cfg in order if r % 2 == 0 else order[::-1]:
            if name in errors or name in same:
                continue
            try:
                score = measure(search, cfg)[0]
            except HarnessError as exc:
                errors[name] = str(exc)
                continue
            if score is None:
                no_valid[name] += 1
            else:
                scores[name].append(score)
    mean = {k: statistics.mean(v) if v else None for k, v in scores.items()}
    for name in same:
        mean[name] = mean["best"]
    return {"means": mean, "samples": scores, "no_valid_target": no_valid,
            "same_as_best": same, "errors": errors,
            "configs": {k: c.to_dict() for k, c in configs.items()}}
