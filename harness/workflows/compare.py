"""``harness compare``: the comparison plan of ``make compare``, then ``harness report``.

Short test-mode runs (random weights and synthetic data where no trained weights exist; the
trained mobilenet_v2_quant also on a real dataset for accuracy), one short Server peak
search, and the report (docs/reports.md). A group of runs that fails does not stop the
others; the report shows what exists.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from ..errors import HarnessError
from ..files import check_folder_argument
from ..launchers import for_many
from ..run import config as run_config
from . import find_peak, sweep

HELP = "run the comparison plan of 'make compare' (short runs, a peak search) and report"

#: The plan: each group is a grid of ``harness run`` options (lists are axes).
GROUPS: list[dict] = [
    {"--model": ["resnet50"], "--precision": ["fp32", "int8"],
     "--scenario": ["Offline", "SingleStream"], "--streams": [1, 2], "--weights": "random"},
    {"--model": ["resnet50"], "--precision": ["fp32", "int8"], "--scenario": ["Offline"],
     "--streams": [1], "--threads": [1], "--cores": ["0"], "--weights": "random"},
    {"--model": ["bnas_a"], "--precision": ["int8"], "--scenario": ["Offline", "SingleStream"],
     "--weights": "random"},
    {"--model": ["mobilenet_v2_quant"], "--precision": ["fp32", "int8"],
     "--scenario": ["Offline", "SingleStream"]},
    {"--model": ["mobilenet_v2_quant"], "--precision": ["fp32", "int8"],
     "--mode": "accuracy", "--dataset": "{dataset}"},
]


def points(results_dir: str, duration_ms: int, dataset: str) -> list[tuple[dict, object]]:
    """Every run of the plan as ``(point, RunConfig)``."""
    out = []
    for group in GROUPS:
        axes = {k: v for k, v in group.items() if isinstance(v, list)}
        fixed = {k: (dataset if v == "{dataset}" else v) for k, v in group.items()
                 if not isinstance(v, list)}
        for combo in itertools.product(*axes.values()):
            point = dict(zip(axes, combo))
            values = {"--results-dir": results_dir, **fixed, **point}
            if values.get("--mode") != "accuracy":
                values["--duration-ms"] = duration_ms
            out.append((point | fixed, run_config.from_arguments(values)))
    return out


def add_arguments(p) -> None:
    p.add_argument("--results-dir", default="results/compare")
    p.add_argument("--out", default="results/report", help="report folder")
    p.add_argument("--duration-ms", type=int, default=2000, help="each run's minimum (ms)")
    p.add_argument("--dataset", default="../shared/data/imagenet-sample",
                   help="dataset of the accuracy runs")


def main(args) -> int:
    if args.duration_ms < 1:
        raise HarnessError(f"--duration-ms: {args.duration_ms} must be at least 1")
    check_folder_argument(args.out, "--out")
    check_folder_argument(args.results_dir, "--results-dir")
    launcher = for_many("process", capture=True)
    plan = points(args.results_dir, args.duration_ms, args.dataset)
    print(f"compare: {len(plan)} runs and a Server peak search into {args.results_dir}")
    failed = sweep.run_points(plan, launcher)
    base = run_config.from_arguments({"--model": "mobilenet_v2_quant",
                                      "--results-dir": args.results_dir})
    try:
        find_peak.search(replace(base, scenario=replace(base.scenario, name="Server")),
                         find_peak.SearchOptions(steps=4, min_queries=300, duration_ms=2000,
                                                 confirm_duration_ms=5000,
                                                 offline_duration_ms=2000), launcher)
    except HarnessError as exc:
        failed.append(("find-peak mobilenet_v2_quant", str(exc)))
    from ..reports import markdown  # imported on use: matplotlib and pandas load slowly

    report = markdown.write_report([Path(args.results_dir)], Path(args.out))
    for label, error in failed:
        print(f"  failed (ignored): {label}: {error}")
    print(f"report: {report}")
    return 0
