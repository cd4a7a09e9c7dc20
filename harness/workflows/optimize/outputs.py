"""The output files of a ``harness optimize`` search, in ``<results>/<system>/optimize/<stamp>/``
(see :mod:`harness.workflows.optimize`)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ...files import write_text_atomic
from ...reports.optimize import plot_pareto, report_md, trials_to_best
from ...run.config import RunConfig
from ...run.records import OptimizeSearch, OptimizeTrials
from .trial import Search


def write_best(search: Search, best: dict[str, Any]) -> None:
    """``best_<Scenario>.json`` (a run config ``harness run --config`` replays, into the
    search's results root) and ``best_<Scenario>.user.conf`` (its run's user.conf)."""
    sc = search.options.scenario
    cfg = RunConfig.from_dict(best["config"])
    replay = replace(cfg, execution=replace(cfg.execution,
                                            results_dir=search.base.execution.results_dir))
    write_text_atomic(search.out / f"best_{sc}.json", replay.to_json())
    run_dir = (best.get("facts") or {}).get("run_dir")
    if run_dir and (Path(run_dir) / "user.conf").is_file():
        shutil.copyfile(Path(run_dir) / "user.conf", search.out / f"best_{sc}.user.conf")


def write_outputs(search: Search, trials: list[dict[str, Any]], best, side) -> None:
    """Every output file of the search (see :mod:`harness.workflows.optimize`);
    ``trials.json`` and ``search.json`` are versioned records (:mod:`harness.run.records`)."""
    sc = search.options.scenario
    OptimizeTrials(trials=trials).write(search.out / OptimizeTrials.FILE)
    import pandas as pd  # imported on use: pandas loads slowly, the CLI imports this module

    pd.DataFrame([{**{k: v for k, v in t.items() if k not in ("config", "facts", "params")},
                   **t["params"]} for t in trials]).to_csv(search.out / "trials.csv",
                                                           index=False)
    plot_pareto(trials, sc, search.out / "pareto.png", search.with_accuracy)
    if best is not None:
        write_best(search, best)
    write_text_atomic(search.out / "report.md", report_md(
        trials, best, side, scenario=sc, models=search.space.model,
        with_accuracy=search.with_accuracy, sampler=search.options.sampler,
        space_size=search.space.size(), baseline_rounds=search.options.baseline_rounds,
        duration_ms=search.options.duration_ms))
    OptimizeSearch(scenario=sc, space=search.space.as_dict(), options=asdict(search.options),
                   with_accuracy=search.with_accuracy, accuracy=search.accuracy, best=best,
                   side_by_side=side, command=sys.argv,
                   trials_to_best=trials_to_best(trials, sc)).write(
        search.out / OptimizeSearch.FILE)
