"""``harness optimize``'s command line: its options and :func:`main`, as named steps (the
search's settings, its space, its launchers, its results folder, running it, the result)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ... import cards, system
from ... import weights as weights_mod
from ...errors import HarnessError
from ...launchers import Launcher, ProcessLauncher, RayLauncher, for_many
from ...reports.optimize import (OBJECTIVES, no_best_reason, select_best, server_offline_note,
                                 speedup)
from ...results_tree import ResultsTree
from ...run import config as run_config
from ...run.config import RunConfig
from .baselines import baselines
from .outputs import write_outputs
from .space import Space, default_space, family_check, narrow
from .study import run_study, trial_records, trials_done
from .trial import Options, Search

HELP = "search the fastest deployment that keeps 99%% of FP32 accuracy (Optuna)"


def run_search(search: Search, root: Path) -> dict[str, Any]:
    """Run (or resume) the study, measure the baselines, write the outputs.

    Returns:
        ``{"best", "side_by_side", "trials", "out", "interrupted", "done"}``; when Ctrl-C
        or SIGTERM stopped the search (``interrupted``), nothing more was measured or
        written, and ``done`` is the number of trials that count toward ``--trials``.
    """
    study = run_study(search, root)
    if search.interrupted:
        return {"best": None, "side_by_side": None, "trials": [], "out": search.out,
                "interrupted": True, "done": trials_done(study)}
    trials = trial_records(study, search)
    best = select_best(trials, search.options.scenario)
    side = None
    if best is not None and search.options.baseline_rounds:
        side = baselines(search, RunConfig.from_dict(best["config"]))
    write_outputs(search, trials, best, side)
    return {"best": best, "side_by_side": side, "trials": trials, "out": search.out,
            "interrupted": False, "done": trials_done(study)}


def add_arguments(p) -> None:
    p.add_argument("--models", nargs="+", default=["resnet50"],
                   help="model cards of one family (e.g. resnet50 bnas_a bnas_b bnas_c)")
    p.add_argument("--scenario", default="Offline", help="Offline, SingleStream or Server")
    p.add_argument("--trials", type=int, default=12, help="trials in total (default 12)")
    p.add_argument("--time-budget", type=float, default=None,
                   help="minutes after which no new trial starts")
    p.add_argument("--dataset", default=None,
                   help="real dataset for the accuracy constraint (and INT8 calibration)")
    p.add_argument("--count", type=int, default=None, help="its first N samples")
    p.add_argument("--calibration-count", type=int, default=None,
                   help="INT8 calibration samples (default: the card's, else 300)")
    p.add_argument("--weights", default=None, help="'random', a file, or the card's")
    p.add_argument("--duration-ms", type=int, default=6000,
                   help="each measurement's LoadGen minimum duration (ms, test mode)")
    p.add_argument("--launcher", default="process",
                   help="process, or ray: trials on the nodes of a Ray cluster (--parallel N "
                        "at once; docs/scale-out.md)")
    p.add_argument("--address", default=None,
                   help="--launcher ray: the cluster's head HOST:PORT, or auto")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--system", default=None)
    p.add_argument("--user-conf", default=None,
                   help="user.conf for every run (Server: e.g. *.Server.target_latency = 100)")
    p.add_argument("--sampler", default="tpe", help="tpe, random or grid (exhaustive)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--study", default=None, help="study name (default: scenario and models)")
    p.add_argument("--baseline-rounds", type=int, default=2,
                   help="alternating rounds of best / default hint / PyTorch at the end")
    p.add_argument("--parallel", type=int, default=1,
                   help="trials at once (one per machine with --launcher ray)")
    for dim, help_text in (("precisions", "fp32 bf16 int8 int8-ac"),
                           ("streams", "OpenVINO streams, or auto (the hint's)"),
                           ("threads", "OpenVINO threads in all, or auto (all cores)"),
                           ("nireq-per-stream", "infer requests per stream"),
                           ("hints", "THROUGHPUT LATENCY"), ("batches", "batch sizes"),
                           ("batch-timeouts-us", "Server batching windows, microseconds "
                                                 "(0: none)")):
        p.add_argument(f"--{dim}", nargs="+", default=None,
                       help=f"search only these values: {help_text}")


def options_from(args) -> Options:
    """The search's settings from the command line (checked by :class:`Options`)."""
    return Options(scenario=args.scenario, trials=args.trials,
                   time_budget_s=args.time_budget * 60 if args.time_budget else None,
                   duration_ms=args.duration_ms, sampler=args.sampler, seed=args.seed,
                   baseline_rounds=args.baseline_rounds, parallel=args.parallel,
                   study=args.study)


def base_config(args, models: list[str]) -> RunConfig:
    """The run config every trial starts from: the first model, the run options given."""
    values = {"--model": models[0], "--results-dir": args.results_dir}
    for flag, value in (("--weights", args.weights), ("--system", args.system),
                        ("--user-conf", args.user_conf), ("--count", args.count)):
        if value is not None:
            values[flag] = value
    return run_config.from_arguments(values)


def search_space(args, base: RunConfig, models: list[str], scenario: str,
                 trained: dict[str, bool]) -> Space:
    """The backend's space on this machine's cores, narrowed to the values given."""
    space = default_space(base.backend, models, scenario, all(trained.values()),
                          args.dataset, len(system.affinity()))
    narrow(space, args, scenario)
    return space


def launchers(args, scenario: str) -> tuple[Launcher, Launcher | None]:
    """``(trials' launcher, accuracy runs' launcher or None: the same)``.

    Raises:
        HarnessError: ``--launcher ray`` for Server, or a Ray cluster that cannot be reached.
    """
    if args.launcher != "ray":
        return for_many(args.launcher, capture=True), None
    if scenario == "Server":
        raise HarnessError("--launcher ray: a Server trial is a find-peak search whose "
                           "runs must share one machine; search Server with --launcher "
                           "process on the machine itself")
    launcher = RayLauncher(address=args.address)
    launcher.check()
    return launcher, ProcessLauncher(capture=True)


def results_folders(args) -> tuple[Path, Path]:
    """``(root, out)``: ``<results>/<system>/optimize`` (the study journals) and this
    search's new ``<root>/<UTC stamp>`` (created)."""
    out = ResultsTree(args.results_dir).new_optimize_dir(
        args.system or system.default_system_name())
    return out.parent, out


def report_interrupted(result: dict[str, Any], out: Path) -> int:
    """Ctrl-C or SIGTERM: the empty results folder removed, one line; exit status 130."""
    try:
        out.rmdir()  # nothing was written into it
    except OSError:
        pass
    done = "" if result["done"] is None else f"{result['done']} trials done, "
    print(f"interrupted; {done}resume with the same command", file=sys.stderr, flush=True)
    return 130


def report_result(search: Search, result: dict[str, Any], seconds: float) -> int:
    """The command's last lines: the best configuration and its ratios; exit status 0, or 1
    when no trial is best (said why)."""
    options, out = search.options, search.out
    best, side = result["best"], result["side_by_side"]
    print(f"optimize: {len(result['trials'])} trials in {seconds:.0f} s; outputs in {out}")
    if best is None:
        print(f"optimize: {no_best_reason(result['trials'])}")
        return 1
    unit = OBJECTIVES[options.scenario][0]
    print(f"best {options.scenario} configuration: {json.dumps(best['params'])} "
          f"({best['score']:.2f} {unit}{server_offline_note(best)}); replay: harness run "
          f"--config {out / f'best_{options.scenario}.json'}")
    if side and "default" in side.get("same_as_best", []):
        print("best / default THROUGHPUT hint: 1.00x (the best configuration is the default "
              "hint's: no trial beat it; see the trials in report.md)")
    elif side and side["means"].get("default"):
        ratio = speedup(options.scenario, side["means"]["best"], side["means"]["default"])
        print(f"best / default THROUGHPUT hint: {ratio:.2f}x (side by side, "
              f"{options.baseline_rounds} rounds)")
    if side and side["means"].get("pytorch_fp32"):
        ratio = speedup(options.scenario, side["means"]["best"], side["means"]["pytorch_fp32"])
        print(f"best / PyTorch eager FP32: {ratio:.2f}x")
    if not search.with_accuracy:
        print("NOTE: speed only: random weights or no dataset; no accuracy was measured")
    return 0


def main(args) -> int:
    models = list(args.models)
    family_check(models)
    options = options_from(args)
    trained = {m: weights_mod.resolve(cards.load(m), args.weights, "performance").trained
               for m in models}
    base = base_config(args, models)
    space = search_space(args, base, models, options.scenario, trained)
    launcher, accuracy_launcher = launchers(args, options.scenario)
    root, out = results_folders(args)
    search = Search(base=base, space=space, options=options, launcher=launcher, out=out,
                    accuracy_dataset=args.dataset, trained=trained,
                    calibration_count=args.calibration_count,
                    accuracy_launcher=accuracy_launcher)
    t0 = time.monotonic()
    try:
        result = run_search(search, root)
    except KeyboardInterrupt:  # while creating the study or measuring the baselines
        result = {"interrupted": True, "done": None}
    if result["interrupted"]:
        return report_interrupted(result, out)
    return report_result(search, result, time.monotonic() - t0)
