"""The ``harness`` command.

Subcommands: run, show, models, scenarios, and those of :data:`COMMAND_MODULES`.

Exit status: 0 on success; 1 when a run completed but its result fails a rule the command
checks (an accuracy run below 99% of its FP32 reference, a failing compliance test or
submission check); 2 for bad input or a failed run (one ``error:`` line, no traceback);
3 when find-peak finds no VALID Server target; 130 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from .errors import HarnessError
from .run import config as run_config

#: Subcommands implemented in their own modules: name -> module. Each module provides
#: ``HELP`` (str), ``add_arguments(parser)`` and ``main(args) -> int`` (the exit status)
#: and keeps its top-level imports light (the parser imports it on every call).
COMMAND_MODULES: dict[str, str] = {
    "quantize": "harness.workflows.quantize",
    "find-peak": "harness.workflows.find_peak",
    "compliance": "harness.workflows.compliance",
    "sweep": "harness.workflows.sweep",
    "compare": "harness.workflows.compare",
    "serve": "harness.workflows.serve",
    "optimize": "harness.workflows.optimize",
    "prepare-submission": "harness.workflows.submission",
    "submission": "harness.submission.build",
    "check-submission": "harness.submission.checker",
    "report": "harness.reports.cli",
}


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="a run config file, or an earlier run's run.json to replay; options "
                        "given beside it override its values")
    run_config.add_arguments(p)


def _cmd_run(args) -> int:
    from . import launchers, scenarios
    from .workflows.reference import measure

    base = run_config.RunConfig.from_file(args.config) if args.config else None
    cfg = run_config.from_arguments(args, base)
    report = measure(cfg, launchers.from_config(cfg.launcher), sys.argv)
    label = report.label()
    print(f"{label}: {scenarios.get(cfg.scenario.name).describe(report.result)}"
          if not cfg.accuracy else f"{label}: complete")
    print(f"results: {report.run_dir}")
    if report.precision_label != cfg.precision:
        print(f"NOTE: precision label {report.precision_label}: {report.precision['note']}")
    if report.attempts:
        print(f"NOTE: the result above is LoadGen's attempt {len(report.attempts) + 1}: "
              f"attempt 1 ended before its minimum duration (its logs: "
              f"{report.path / report.attempts[0]['logs']}; run.json 'attempts')")
    if cfg.execution.kind == "test":
        print("NOTE: test-mode run: short durations, NOT valid for submission.")
    if report.gate_passed is False:
        g = report.accuracy_gate
        print(f"accuracy gate FAIL: {g['metric']} {g['value']:.3f}% is {g['ratio']:.4f} of the "
              f"reference {g['reference_value']:.3f}% ({g.get('reference_precision', 'fp32')} "
              f"{g.get('reference_model')}) (>= {g['threshold']:.2f} needed); "
              f"the run is complete and recorded, its result does not meet MLPerf's 99% rule",
              file=sys.stderr)
        return 1
    return 0


def _cmd_show(args) -> int:
    from .run.results import table

    df = table(Path(args.results_dir), latest_only=not args.all)
    if df.empty:
        print(f"no runs under {args.results_dir}")
        return 0
    cols = ["model", "backend", "precision", "scenario", "mode", "execution", "status",
            "validity", "samples_per_s", "p90_ms", "p99_ms", "accuracy", "gate", "config",
            "sut", "note", "run_dir"]
    print(df[cols].fillna("").to_markdown(index=False, floatfmt=".2f"))
    return 0


def _cmd_models(_args) -> int:
    from . import cards

    for name in cards.available():
        card = cards.load(name)
        print(f"{name:22s} {card.task:15s} benchmark={card.benchmark:14s} {card.description}")
    return 0


def _cmd_scenarios(_args) -> int:
    from . import scenarios

    for s in scenarios.all_scenarios():
        answers = "sync " if s.synchronous else "async"
        print(f"{s.name:13s} answers={answers} hint={s.hint:10s} metric: {s.metric}")
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
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def _sigterm(*_):
    raise KeyboardInterrupt()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # LoadGen's test thread may still be inside C++; a normal interpreter exit would
        # abort in its destructor, so leave at once (the report is already written).
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
