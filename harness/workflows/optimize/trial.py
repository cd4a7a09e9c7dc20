"""One trial of ``harness optimize``: the search's settings and state, the run config of a
point, the accuracy of a (model, precision) measured once, and one measurement."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import HarnessError, NoValidServerTarget
from ...launchers import Launcher
from ...reports.optimize import OBJECTIVES
from ...run.config import RunConfig
from .. import find_peak, reference
from .space import DEFAULT_POINT, Space


@dataclass
class Options:
    """How the search runs.

    Attributes:
        scenario: Offline, SingleStream or Server.
        trials: trials to run in total (a resumed study counts its earlier ones).
        time_budget_s: stop starting trials after this long (None: no limit).
        duration_ms: each measurement's LoadGen minimum duration (test mode).
        sampler: ``tpe``, ``random`` or ``grid``.
        seed: the sampler's seed.
        baseline_rounds: alternating rounds of best / default / PyTorch at the end.
        parallel: trials at once (one per machine with ``--launcher ray``).
        study: the study's name (None: from the scenario and models).
    """

    scenario: str = "Offline"
    trials: int = 12
    time_budget_s: float | None = None
    duration_ms: int = 6000
    sampler: str = "tpe"
    seed: int = 0
    baseline_rounds: int = 2
    parallel: int = 1
    study: str | None = None

    def __post_init__(self) -> None:
        if self.scenario not in OBJECTIVES:
            raise HarnessError(f"--scenario: optimize searches {', '.join(OBJECTIVES)}, not "
                               f"'{self.scenario}'")
        for flag, value in (("--trials", self.trials), ("--duration-ms", self.duration_ms),
                            ("--parallel", self.parallel)):
            if value < 1:
                raise HarnessError(f"{flag}: {value} must be at least 1")
        if self.baseline_rounds < 0:
            raise HarnessError("--baseline-rounds must be at least 0")
        if self.sampler not in ("tpe", "random", "grid"):
            raise HarnessError(f"--sampler: unknown '{self.sampler}'; valid: tpe, random, grid")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise HarnessError("--time-budget must be positive (minutes)")


@dataclass
class Search:
    """One search's state: what it runs on and where its files go."""

    base: RunConfig
    space: Space
    options: Options
    launcher: Launcher
    out: Path
    accuracy_dataset: str | None
    trained: dict[str, bool]
    calibration_count: int | None = None
    #: starts the accuracy runs (they do not depend on the machine): a local process
    #: launcher when the trials go to a cluster; None: ``launcher``
    accuracy_launcher: Launcher | None = None
    accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ctrl-C or SIGTERM stopped the search
    interrupted: bool = False

    @property
    def with_accuracy(self) -> bool:
        """Accuracy is measured (a real dataset and every model's weights trained)."""
        return bool(self.accuracy_dataset) and all(self.trained.values())


def trial_config(search: Search, params: dict[str, Any], scenario: str | None = None
                 ) -> RunConfig:
    """The run config of one point of the space: the base's backend at that point
    (:meth:`BackendConfig.at_point`; ``auto`` streams or threads are left unset, the hint
    decides); ``int8`` calibrated on the search's dataset, ``int8-ac`` with NNCF accuracy
    control (1% drop)."""
    base = search.base
    precision = params["precision"]
    backend = base.backend.at_point(
        {**params, "precision": "int8" if precision.startswith("int8") else precision})
    if backend.precision == "int8":
        quant = backend.quantization
        q = replace(quant, calibration_dataset=quant.calibration_dataset
                    or search.accuracy_dataset,
                    calibration_count=search.calibration_count or quant.calibration_count,
                    max_accuracy_drop=0.01 if precision == "int8-ac" else None)
        backend = replace(backend, quantization=q)
    return replace(base, model=replace(base.model, name=params["model"]), backend=backend,
                   scenario=replace(base.scenario, name=scenario or search.options.scenario),
                   mode=replace(base.mode, name="performance"),
                   execution=replace(base.execution, kind="test",
                                     duration_ms=search.options.duration_ms,
                                     results_dir=str(search.out / "runs")))


def default_config(search: Search, model: str, precision: str) -> RunConfig:
    """OpenVINO's default THROUGHPUT hint at batch 1: ``model`` at ``precision``, everything
    else the harness's defaults (the baseline the best is measured against)."""
    return trial_config(search, {"model": model, "precision": precision, **DEFAULT_POINT})


def accuracy_of(search: Search, study, model: str, precision: str) -> dict[str, Any]:
    """Accuracy and gate of ``model`` at ``precision``: measured once (an accuracy run on the
    dataset, its FP32 reference first when derived), then reused from the study.

    Returns:
        ``{"value": percent | None, "gate": "PASS" | "FAIL" | None, "ratio", "run_dir",
        "note"}``; value None with random weights (never measured).
    """
    key = f"accuracy:{model}:{precision}"
    if key in search.accuracy:
        return search.accuracy[key]
    stored = study.user_attrs.get(key)
    if stored is not None:
        search.accuracy[key] = stored
        return stored
    if not search.with_accuracy:
        acc = {"value": None, "gate": None, "ratio": None, "run_dir": None,
               "note": "random weights or no dataset: speed only, no accuracy"}
    else:
        cfg = default_config(search, model, precision)
        # into the results root, where later searches (and the gate's FP32 reference
        # lookup) find them
        cfg = replace(cfg, data=replace(cfg.data, dataset=search.accuracy_dataset),
                      scenario=replace(cfg.scenario, name="Offline"),
                      mode=replace(cfg.mode, name="accuracy"),
                      execution=replace(cfg.execution, duration_ms=None,
                                        results_dir=search.base.execution.results_dir))
        try:
            launcher = search.accuracy_launcher or search.launcher
            rep = launcher.launch(reference.with_reference(cfg, launcher))
            gate = rep.accuracy_gate or {}
            acc = {"value": rep.accuracy["value"], "metric": rep.accuracy["metric"],
                   "gate": gate.get("result"), "ratio": gate.get("ratio"),
                   "run_dir": rep.run_dir, "note": None}
        except HarnessError as exc:
            acc = {"value": None, "gate": "FAIL", "ratio": None, "run_dir": None,
                   "note": f"accuracy run failed: {exc}"}
    search.accuracy[key] = acc
    study.set_user_attr(key, acc)
    return acc


def gate_violation(acc: dict[str, Any]) -> float:
    """Optuna constraint value: <= 0 when the 99% gate passes or does not apply."""
    if acc.get("gate") == "FAIL":
        return 0.99 - (acc.get("ratio") or 0.0) if acc.get("ratio") else 1.0
    return 0.0


def short_run(search: Search, cfg: RunConfig) -> RunConfig:
    """``cfg`` for a third of the measurement's duration (at least 1 s): the first run the
    pruner judges, and the baselines' discarded warm-up."""
    return replace(cfg, execution=replace(cfg.execution, duration_ms=max(
        1000, search.options.duration_ms // 3)))


def measure(search: Search, cfg: RunConfig, trial=None
            ) -> tuple[float | None, dict[str, Any]]:
    """The scenario's score of ``cfg`` and facts about the measurement.

    Offline with a single-objective study: a short first run is reported to the pruner,
    then the full run. Server: a short find-peak search; when no target is VALID the score
    is None and the facts say why (``no_valid_target``).

    Raises:
        HarnessError: a run fails. optuna.TrialPruned: the pruner stopped the trial.
    """
    import optuna  # imported on use: optuna loads slowly, the CLI imports this module

    scenario = search.options.scenario
    if scenario == "Server":
        opts = find_peak.SearchOptions(steps=3, tolerance=0.1,
                                       duration_ms=search.options.duration_ms,
                                       min_queries=300,
                                       confirm_duration_ms=2 * search.options.duration_ms,
                                       offline_duration_ms=search.options.duration_ms)
        try:
            rec = find_peak.search(cfg, opts, search.launcher)
        except NoValidServerTarget as exc:
            return None, {"no_valid_target": str(exc)}
        return float(rec["peak_target_qps"]), {
            "offline_samples_per_second": rec["offline_samples_per_second"],
            "server_to_offline_ratio": rec["server_to_offline_ratio"],
            "peak_search": str(Path(rec["peak_file"]).parent)}
    facts: dict[str, Any] = {}
    if trial is not None and scenario == "Offline" and not search.with_accuracy:
        first = search.launcher.launch(short_run(search, cfg))
        facts["first_run"] = first.run_dir
        trial.report(first.result.score, step=0)
        if trial.should_prune():
            raise optuna.TrialPruned()
    rep = search.launcher.launch(cfg)
    if rep.result.score is None:
        raise HarnessError(f"{rep.run_dir}: no {OBJECTIVES[scenario][0]} in LoadGen's logs")
    facts.update(run_dir=rep.run_dir, validity=rep.result.validity)
    return float(rep.result.score), facts
