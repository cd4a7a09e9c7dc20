"""The ``harness`` command. Subcommands: run, show, models, scenarios.

Exit status: 0 on success, 2 for bad input (one ``error:`` line), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from .errors import HarnessError


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="resnet50", help="model card name (see 'harness models')")
    p.add_argument("--scenario", default="Offline", help="Offline, Server or SingleStream")
    p.add_argument("--mode", default="performance", help="performance or accuracy")
    p.add_argument("--execution", default="test",
                   help="test (short runs, not valid for submission) or valid (official)")
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or int8")
    p.add_argument("--backend", default="openvino", help="inference backend")
    p.add_argument("--dataset", default=None,
                   help="dataset folder (ImageNet: images + val_map.txt); none: synthetic")
    p.add_argument("--count", type=int, default=None, help="use the first N samples")
    p.add_argument("--weights", default=None,
                   help="'default' (card's standard weights), 'random', or a file")
    p.add_argument("--device", default="CPU")
    p.add_argument("--hint", default=None, help="THROUGHPUT or LATENCY (default: scenario's)")
    p.add_argument("--streams", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--nireq", type=int, default=None, help="infer requests in flight")
    p.add_argument("--cores", default=None,
                   help="pin the run to these CPUs, taskset syntax ('0', '0-1,4')")
    p.add_argument("--calibration-dataset", default=None,
                   help="INT8: dataset folder of the calibration samples (default: --dataset; "
                        "none: synthetic). Give the same one to performance and accuracy runs "
                        "so both use one INT8 model")
    p.add_argument("--calibration-list", default=None,
                   help="INT8: file of calibration image names, one per line (MLPerf style)")
    p.add_argument("--calibration-count", type=int, default=None,
                   help="INT8: calibration samples (default 300, seeded draw without a list)")
    p.add_argument("--max-accuracy-drop", type=float, default=None,
                   help="INT8: accuracy-controlled quantization, max relative drop (0.01 = "
                        "keep >= 99%%)")
    p.add_argument("--user-conf", default=None, help="user.conf to use instead of scenarios/")
    p.add_argument("--duration-ms", type=int, default=None,
                   help="test mode: minimum duration in ms")
    p.add_argument("--target-qps", type=float, default=None,
                   help="Offline expected / Server target QPS (samples/s)")
    p.add_argument("--system", default=None, help="system name for the results folder")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--allow-random-accuracy", action="store_true",
                   help="accept WEIGHTS=random in accuracy mode (recorded as meaningless)")


def _cmd_run(args) -> int:
    from .runner import RunConfig, run

    cfg = RunConfig(**{k: v for k, v in vars(args).items()
                       if k in RunConfig.__dataclass_fields__})
    if cfg.dataset == "":
        cfg.dataset = None
    if cfg.weights == "":
        cfg.weights = None
    run_dir = run(cfg)
    from .results import read_manifest

    m = read_manifest(run_dir)
    res = m.get("result", {})
    print(_summary_line(m, res))
    if m.get("accuracy"):
        a = m["accuracy"]
        counts = f" ({a['good']}/{a['total']})" if a.get("good") is not None else ""
        print(f"accuracy: {a['metric']} {a['value']:.3f}%{counts}")
    print(f"results: {run_dir}")
    if cfg.execution == "test":
        print("NOTE: test-mode run: short durations, NOT valid for submission.")
    return 0


def _summary_line(m, res) -> str:
    cfg = m["config"]
    parts = [f"{cfg['model']} {cfg['precision']} {cfg['scenario']} {cfg['mode']}:"]
    if res.get("samples_per_second") is not None:
        parts.append(f"{float(res['samples_per_second']):.2f} samples/s")
    # Offline issues every sample at once: its latencies are time-to-completion, no metric
    if cfg["scenario"] != "Offline":
        if res.get("p90_ms") is not None:
            parts.append(f"p90 {res['p90_ms']:.2f} ms")
        if res.get("p99_ms") is not None:
            parts.append(f"p99 {res['p99_ms']:.2f} ms")
    if res.get("validity") is not None:  # accuracy runs have no performance verdict
        parts.append(str(res["validity"]))
    if res.get("invalid_reasons"):
        parts.append("(" + "; ".join(res["invalid_reasons"]) + ")")
    return " ".join(parts)


def _cmd_show(args) -> int:
    from .results import table

    df = table(Path(args.results_dir), latest_only=not args.all)
    if df.empty:
        print(f"no runs under {args.results_dir}")
        return 0
    cols = ["model", "backend", "precision", "scenario", "mode", "execution", "status",
            "validity", "samples_per_s", "p90_ms", "p99_ms", "accuracy", "config", "run_dir"]
    print(df[cols].to_markdown(index=False, floatfmt=".2f"))
    return 0


def _cmd_models(_args) -> int:
    from . import cards

    for name in cards.available():
        card = cards.load(name)
        print(f"{name:22s} {card.task:15s} benchmark={card.benchmark:14s} {card.description}")
    return 0


def _cmd_scenarios(_args) -> int:
    from . import scenarios

    for s in scenarios.definitions().values():
        print(f"{s.name:13s} issue={s.issue:5s} hint={s.hint:10s} metric: {s.metric}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run one LoadGen test")
    _add_run_args(p)
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("show", help="print the latest results as a table")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--all", action="store_true", help="every run, not just the latest")
    p.set_defaults(func=_cmd_show)
    sub.add_parser("models", help="list model cards").set_defaults(func=_cmd_models)
    sub.add_parser("scenarios", help="list scenarios").set_defaults(func=_cmd_scenarios)
    for name, module_name in COMMAND_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(str(exc.name)):
                raise
            continue
        p = sub.add_parser(name, help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


#: Subcommands implemented in their own modules: name -> module. Each module provides
#: ``HELP`` (str), ``add_arguments(parser)`` and ``run(args) -> int`` and keeps its top-level
#: imports light (the parser imports it on every call).
COMMAND_MODULES: dict[str, str] = {
    "quantize": "harness.quantization_cli",
    "find-peak": "harness.peak",
    "compliance": "harness.compliance",
    "submission": "harness.submission.build",
    "check-submission": "harness.submission.checker",
    "report": "harness.reports.cli",
    "sweep": "harness.reports.sweep",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted: the run directory is marked 'interrupted'", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # LoadGen's test thread may still be inside C++; a normal interpreter exit would
        # abort in its destructor, so leave at once (the manifest is already written).
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
