"""``harness optimize``: the fastest deployment that keeps 99% of FP32 accuracy, per scenario.

A search over deployment settings with **Optuna**, every trial a real LoadGen test-mode run
through a launcher:

- **Space** (per model; each dimension can be narrowed on the command line): the model
  (several cards of one family, e.g. resnet50 and the BootstrapNAS subnetworks: same LoadGen
  benchmark and reference model), precision (``fp32``; ``bf16`` where the CPU has it;
  ``int8``; ``int8-ac``: INT8 with NNCF accuracy control, trained weights only), OpenVINO
  streams and threads (each also ``auto``: the hint's choice), infer requests per stream,
  performance hint, batch size (not for SingleStream) and, for Server, the batching window
  (``--batch-timeout-us``; a window needs a batch > 1).
- **Objective**: Offline samples/s (maximise), SingleStream p90 latency (the early-stopping
  estimate, ms; minimise), or the Server target QPS that is VALID at the latency bound
  (maximise; each trial is a short find-peak search, so trials are fewer and longer).
- **Constraint**: accuracy at least 99% of the FP32 reference (the harness's gate,
  :mod:`harness.accuracy.gate`), measured on the given real dataset with real weights, once per
  (model, precision), and reused. A trial whose model and precision fail the gate is
  infeasible: it is never reported as best. With random weights there is no accuracy: the
  search runs on speed alone and every output says so.
- **Optuna**: the first trials are OpenVINO's default THROUGHPUT hint at batch 1, once per
  model and precision (enqueued), so every precision is measured and the search starts
  from the default it has to beat; with accuracy, a multi-objective study (accuracy, speed)
  whose Pareto front is drawn; with speed alone, a single-objective study with a median
  pruner on a short first measurement (Optuna does not prune multi-objective studies).
  Samplers: ``tpe`` (default), ``random``, or ``grid`` (the exhaustive grid over the same
  space, for comparison). The study is kept in the results root
  (``<results>/<system>/optimize/<study>.journal``, an Optuna journal file), so an
  interrupted search resumes where it stopped when run again: Ctrl-C (or SIGTERM) marks the
  trial under way interrupted (pruned, not counted toward ``--trials``; its point is
  measured again on resume) and ends with one line and exit status 130; a journal whose
  last lines were cut or damaged (a write cut short) is resumed from its intact lines, the
  original kept beside it.
- **Baselines**, measured side by side with the best configuration at the end (alternating
  rounds): OpenVINO's default THROUGHPUT hint at batch 1 (same model and precision,
  everything else the harness's defaults), and PyTorch eager FP32 where the card has a
  PyTorch network.

Output in ``<results>/<system>/optimize/<stamp>/``: ``trials.json`` and ``trials.csv``
(every trial: parameters, config, result, run directory, state), ``best_<Scenario>.json`` (a
run config ``harness run --config`` replays), ``best_<Scenario>.user.conf`` (the matching
user.conf), ``pareto.png`` and ``report.md`` (best vs default hint vs PyTorch eager, as
ratios). The command ends with the best configuration and its ratio to the default hint.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import cards, system
from .. import weights as weights_mod
from ..backends.config import BackendConfig
from ..backends.openvino.config import AUTO, NIREQ_PER_STREAM
from ..backends.pytorch.config import PyTorchConfig
from ..errors import BatchNotSupported, HarnessError, NoValidServerTarget
from ..files import replace_atomically, write_json_atomic, write_text_atomic
from ..launchers import Launcher, ProcessLauncher, RayLauncher, for_many
from ..run import config as run_config
from ..run.config import RunConfig
from . import find_peak, reference

HELP = "search the fastest deployment that keeps 99%% of FP32 accuracy (Optuna)"

PRECISIONS = ("fp32", "bf16", "int8", "int8-ac")
#: OpenVINO's default THROUGHPUT hint at batch 1 as a point of the space (``auto`` streams
#: stand with the harness's default requests per stream).
DEFAULT_POINT = {"streams": AUTO, "threads": AUTO, "nireq_per_stream": NIREQ_PER_STREAM,
                 "hint": "THROUGHPUT", "batch": 1, "batch_timeout_us": 0}
#: Scenario -> (what is measured, Optuna direction).
OBJECTIVES = {"Offline": ("samples/s", "maximize"),
              "SingleStream": ("p90 latency ms", "minimize"),
              "Server": ("VALID Server target QPS", "maximize")}


@dataclass
class Space:
    """The values each dimension may take (every one categorical).

    ``streams`` and ``threads`` hold integers and may hold :data:`AUTO` (OpenVINO decides).
    ``threads`` is the total (``INFERENCE_NUM_THREADS``), shared among the streams.
    """

    model: list[str]
    precision: list[str]
    streams: list[int | str]
    threads: list[int | str]
    nireq_per_stream: list[int]
    hint: list[str]
    batch: list[int]
    batch_timeout_us: list[int] = field(default_factory=lambda: [0])

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    def size(self) -> int:
        n = 1
        for values in asdict(self).values():
            n *= len(values)
        return n


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


# --- the space ----------------------------------------------------------------------------

def family_check(models: list[str]) -> None:
    """Models searched together must be one family: the same LoadGen benchmark and the same
    reference model (a card's ``reference_model``, else the card itself), e.g. resnet50 and
    its BootstrapNAS subnetworks bnas_a/b/c.

    Raises:
        HarnessError: unknown cards, or models of different families (named).
    """
    fam = {}
    for name in models:
        card = cards.load(name)
        fam[name] = (card.benchmark, card.extra.get("reference_model") or name)
    if len(set(fam.values())) > 1:
        raise HarnessError(f"--models {' '.join(models)}: not one family ((benchmark, "
                           f"reference model) = {fam}); search one family at a time")


def default_space(backend: BackendConfig, models: list[str], scenario: str, trained: bool,
                  dataset: str | None, cores: int) -> Space:
    """The full space for this machine: the backend's (:meth:`BackendConfig.search_space`:
    OpenVINO's precisions, streams and threads ``auto`` or 1..cores, ...), and ``int8-ac``
    where accuracy is measured (trained weights and a dataset)."""
    dims = backend.search_space(scenario, cores)
    if trained and dataset:
        dims["precision"].append("int8-ac")
    return Space(model=list(models), **dims)


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


def default_params(space: Space, model: str, precision: str) -> dict[str, Any]:
    """The point of ``space`` nearest :data:`DEFAULT_POINT` for ``model`` at ``precision``:
    each value of the default, or the dimension's first where ``space`` was narrowed to
    exclude it."""
    dims = space.as_dict()
    return {"model": model, "precision": precision,
            **{k: v if v in dims[k] else dims[k][0] for k, v in DEFAULT_POINT.items()}}


def default_config(search: Search, model: str, precision: str) -> RunConfig:
    """OpenVINO's default THROUGHPUT hint at batch 1: ``model`` at ``precision``, everything
    else the harness's defaults (the baseline the best is measured against)."""
    return trial_config(search, {"model": model, "precision": precision, **DEFAULT_POINT})


def invalid_point(space: Space, params: dict[str, Any], unbatchable: list[str]) -> str | None:
    """Why ``params`` is not run (skipped at once, not counted), or None.

    - more explicit streams than explicit threads (a stream needs a thread);
    - ``auto`` streams with a requests-per-stream value other than the one that stands for
      the harness's default: those points would repeat the same run;
    - batch > 1 of a model in ``unbatchable`` (an earlier trial's batch failed);
    - a batching window without batches (batch 1).
    """
    streams, threads = params["streams"], params["threads"]
    if AUTO not in (streams, threads) and streams > threads:
        return "more streams than threads"
    if streams == AUTO and params["nireq_per_stream"] != default_params(
            space, params["model"], params["precision"])["nireq_per_stream"]:
        return "auto streams: infer requests are the harness's default (same run)"
    if params["batch"] > 1 and params["model"] in unbatchable:
        return "the model fixes its batch size inside (an earlier trial's batch failed)"
    if params.get("batch_timeout_us") and params["batch"] == 1:
        return "a batching window needs batch > 1"
    return None


# --- accuracy, once per (model, precision) ----------------------------------------------

def counts(trial) -> bool:
    """True for a trial that measured its point, which counts toward ``--trials``: complete,
    failed with a run's error, or pruned by the pruner after its first run. Not: a skipped
    point, a trial interrupted (Ctrl-C, SIGTERM) or left running by a killed search."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    if attrs.get("skipped") or attrs.get("interrupted"):
        return False
    return (trial.state == TrialState.COMPLETE
            or (trial.state == TrialState.FAIL and "error" in attrs)
            or (trial.state == TrialState.PRUNED and bool(trial.intermediate_values)))


def measured_before(study, trial, params: dict[str, Any]) -> str | None:
    """"same point as trial N" when an earlier trial measured ``params`` (:func:`counts`),
    else None: a budget of a few trials is spent on new points, not on repeating one
    (measured: TPE with accuracy drew the default point 4 times in 11 trials)."""
    for t in study.get_trials(deepcopy=False):
        if t.number < trial.number and t.params == params and counts(t):
            return f"same point as trial {t.number}"
    return None


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


# --- one trial ----------------------------------------------------------------------------

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


def objective(search: Search, study):
    """The Optuna objective of this search."""
    import optuna  # imported on use: optuna loads slowly, the CLI imports this module

    def run_trial(trial) -> Any:
        try:
            return measure_trial(trial)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM (the run is marked interrupted): the trial is pruned and
            # marked so, not counted toward --trials, its point measured again on resume; the
            # study stops after it (Optuna would log a KeyboardInterrupt's traceback)
            search.interrupted = True
            trial.set_user_attr("interrupted", "Ctrl-C or SIGTERM")
            study.stop()
            raise optuna.TrialPruned("interrupted") from None

    def measure_trial(trial) -> Any:
        params = {name: trial.suggest_categorical(name, values)
                  for name, values in search.space.as_dict().items()}
        why = (invalid_point(search.space, params, study.user_attrs.get("unbatchable", []))
               or measured_before(study, trial, params))
        if why:
            trial.set_user_attr("skipped", why)
            trial.set_user_attr("gate_violation", 0.0)
            trial.set_constraint("accuracy_gate", 0.0)
            raise optuna.TrialPruned()
        acc = accuracy_of(search, study, params["model"], params["precision"])
        trial.set_user_attr("accuracy", acc)
        trial.set_user_attr("gate_violation", gate_violation(acc))
        trial.set_constraint("accuracy_gate", gate_violation(acc))  # <= 0: feasible
        cfg = trial_config(search, params)
        trial.set_user_attr("config", cfg.to_dict())
        try:
            score, facts = measure(search, cfg, trial)
        except HarnessError as exc:
            trial.set_user_attr("error", str(exc))
            if exc.exit_status == BatchNotSupported.exit_status:
                # one failed trial is enough: the model's later batch > 1 points are skipped
                study.set_user_attr("unbatchable", sorted(
                    {*study.user_attrs.get("unbatchable", []), params["model"]}))
            raise
        trial.set_user_attr("facts", facts)
        if score is None:  # no VALID Server target: Optuna is told 0, so TPE avoids the point
            score = 0.0
        return (acc["value"] or 0.0, score) if search.with_accuracy else score

    return run_trial


# --- the study ----------------------------------------------------------------------------

def create_study(search: Search, root: Path):
    """The Optuna study in ``root`` (created, or loaded to resume)."""
    import optuna  # imported on use: optuna loads slowly, the CLI imports this module
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    opts = search.options
    name = opts.study or "-".join([opts.scenario, *search.space.model,
                                   "acc" if search.with_accuracy else "speed"])
    repair_journal(root / f"{name}.journal")
    storage = JournalStorage(JournalFileBackend(str(root / f"{name}.journal")))
    direction = OBJECTIVES[opts.scenario][1]
    if opts.sampler == "grid":
        sampler = optuna.samplers.GridSampler(search.space.as_dict(), seed=opts.seed)
    elif opts.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=opts.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=opts.seed, n_startup_trials=min(
            5, opts.trials))
    pruner = None if search.with_accuracy else optuna.pruners.MedianPruner(
        n_startup_trials=3, n_warmup_steps=0)
    directions = ["maximize", direction] if search.with_accuracy else [direction]
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                pruner=pruner, directions=directions, load_if_exists=True)
    if study.user_attrs.get("space") not in (None, search.space.as_dict()):
        raise HarnessError(f"study {name} in {root} was made over another space; give "
                           f"--study NEW_NAME or the same space")
    if not study.trials and opts.sampler != "grid":
        # start from OpenVINO's default hint, once per precision (and model): each precision
        # is measured and its accuracy gate known whatever the sampler draws next, and the
        # search starts from the point it has to beat
        for model in search.space.model:
            for precision in search.space.precision:
                study.enqueue_trial(default_params(search.space, model, precision))
    requeue_interrupted(study)
    study.set_user_attr("space", search.space.as_dict())
    return study


def requeue_interrupted(study) -> None:
    """Enqueue again the points of trials that were interrupted (or left running by a killed
    search) and that no trial has measured or waits to measure, so a resumed search measures
    them (the default hint's points among them)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    have = [t.params for t in trials if counts(t) or t.state == TrialState.WAITING]
    for t in trials:
        lost = t.user_attrs.get("interrupted") or t.state == TrialState.RUNNING
        if lost and t.params and t.params not in have:
            study.enqueue_trial(t.params)
            have.append(t.params)


def repair_journal(path: Path) -> None:
    """Drop the damaged lines at the end of a study journal (a write cut short by a kill or
    a full disk: no newline, or not JSON), so the study resumes from its intact trials;
    Optuna would stop at them with a traceback. The original is kept beside it as
    ``<name>.damaged-<UTC stamp>`` and the command says so. Everything from the first
    damaged line on is dropped (later lines build on it).

    Raises:
        HarnessError: the journal cannot be read or rewritten.
    """
    if not path.is_file():
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"cannot read the study journal {path}: "
                           f"{exc.strerror or exc}") from None
    lines = data.splitlines(keepends=True)
    intact = 0
    for line in lines:
        try:
            json.loads(line)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            break
        if not line.endswith(b"\n"):
            break
        intact += 1
    if intact == len(lines):
        return
    kept = path.with_name(f"{path.name}.damaged-"
                          f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
    try:
        shutil.copy2(path, kept)
        replace_atomically(path, lambda f: f.write(b"".join(lines[:intact])), binary=True)
    except (OSError, HarnessError) as exc:
        raise HarnessError(f"cannot repair the study journal {path}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    print(f"NOTE: the study journal {path} ended in {len(lines) - intact} damaged line(s) "
          f"(a write cut short): dropped, resuming from the {intact} intact ones; the "
          f"original is kept as {kept}", flush=True)


def select_best(trials: list[dict[str, Any]], scenario: str) -> dict[str, Any] | None:
    """The best complete, feasible trial (never one that failed the 99% gate).

    Args:
        trials: :func:`trial_records` output.
        scenario: decides the direction (SingleStream: lowest latency).
    """
    ok = [t for t in trials if t["state"] == "COMPLETE" and t["score"] is not None
          and t["gate"] != "FAIL" and t["gate_violation"] <= 0]
    if not ok:
        return None
    pick = min if OBJECTIVES[scenario][1] == "minimize" else max
    return pick(ok, key=lambda t: t["score"])


def trial_records(study, search: Search) -> list[dict[str, Any]]:
    """Every trial of the study as a plain record."""
    out = []
    for t in study.trials:
        acc = t.user_attrs.get("accuracy") or {}
        values = t.values or []
        state = ("SKIPPED" if t.user_attrs.get("skipped") else
                 "INTERRUPTED" if t.user_attrs.get("interrupted") else t.state.name)
        no_valid = (t.user_attrs.get("facts") or {}).get("no_valid_target")
        out.append({"number": t.number, "state": state, "params": t.params,
                    # a Server trial with no VALID target has no score (Optuna was told 0)
                    "score": values[-1] if values and not no_valid else None,
                    "no_valid_target": no_valid,
                    "accuracy": acc.get("value"), "gate": acc.get("gate"),
                    "gate_ratio": acc.get("ratio"),
                    "gate_violation": t.user_attrs.get("gate_violation", 0.0),
                    "config": t.user_attrs.get("config"), "facts": t.user_attrs.get("facts"),
                    "error": t.user_attrs.get("error"), "skipped": t.user_attrs.get("skipped"),
                    "started": t.datetime_start.isoformat() if t.datetime_start else None,
                    "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                    if t.datetime_complete and t.datetime_start else None})
    return out


def trials_to_best(trials: list[dict[str, Any]], scenario: str) -> int | None:
    """How many measured trials the search needed to reach its best (skipped invalid points
    and interrupted trials not counted)."""
    best = select_best(trials, scenario)
    if best is None:
        return None
    return sum(1 for t in trials if t["state"] not in ("SKIPPED", "INTERRUPTED")
               and t["number"] <= best["number"])


# --- baselines side by side ---------------------------------------------------------------

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


def speedup(scenario: str, best: float | None, other: float | None) -> float | None:
    """How many times better ``best`` is than ``other`` (latency: other / best)."""
    if not best or not other:
        return None
    return other / best if OBJECTIVES[scenario][1] == "minimize" else best / other


# --- outputs ------------------------------------------------------------------------------

def pareto_front(points: list[tuple[float, float]], minimize_x: bool) -> list[tuple]:
    """The non-dominated points of ``(speed, accuracy)``: higher accuracy, and higher speed
    (or lower latency with ``minimize_x``), sorted by speed."""
    front = []
    for p in points:
        dominated = any((q[1] >= p[1] and (q[0] <= p[0] if minimize_x else q[0] >= p[0]))
                        and q != p for q in points)
        if not dominated:
            front.append(p)
    return sorted(set(front))


def plot_pareto(trials: list[dict[str, Any]], scenario: str, path: Path,
                with_accuracy: bool) -> None:
    """``pareto.png``: accuracy against speed, one mark per trial, colour by precision, the
    front drawn; with random weights, speed per trial (no accuracy), said in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t["state"] == "COMPLETE" and t["score"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {p: c for p, c in zip(PRECISIONS, ("tab:blue", "tab:orange", "tab:green",
                                                 "tab:red"))}
    unit = OBJECTIVES[scenario][0]
    for precision in PRECISIONS:
        sel = [t for t in done if t["params"].get("precision") == precision]
        if not sel:
            continue
        ys = [t["accuracy"] if with_accuracy else t["number"] for t in sel]
        ax.scatter([t["score"] for t in sel], ys, c=colours[precision], label=precision,
                   marker="o")
        bad = [t for t in sel if t["gate"] == "FAIL"]
        if bad:
            ax.scatter([t["score"] for t in bad], [t["accuracy"] or 0 for t in bad],
                       facecolors="none", edgecolors="k", s=120, label="fails 99% gate")
    if with_accuracy:
        feasible = [(t["score"], t["accuracy"]) for t in done
                    if t["gate"] != "FAIL" and t["accuracy"] is not None]
        front = pareto_front(feasible, OBJECTIVES[scenario][1] == "minimize")
        if front:
            ax.plot([p[0] for p in front], [p[1] for p in front], "k--", label="Pareto front")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{scenario}: accuracy against speed, {len(done)} trials")
    else:
        ax.set_ylabel("trial number")
        ax.set_title(f"{scenario}: RANDOM weights, speed only (no accuracy), "
                     f"{len(done)} trials")
    ax.set_xlabel(unit)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_md(search: Search, trials: list[dict[str, Any]], best: dict[str, Any] | None,
              side: dict[str, Any] | None) -> str:
    """``report.md``: the best configuration, the ratios, the trials."""
    sc = search.options.scenario
    unit = OBJECTIVES[sc][0]
    lines = [f"# harness optimize: {sc}, models {', '.join(search.space.model)}", ""]
    if not search.with_accuracy:
        lines += ["**Speed only: random weights or no dataset, so no accuracy was measured "
                  "and no 99% gate applied.**", ""]
    n_done = sum(t["state"] == "COMPLETE" for t in trials)
    lines += [f"Trials: {len(trials)} ({n_done} complete, "
              f"{sum(t['state'] == 'PRUNED' for t in trials)} pruned, "
              f"{sum(t['state'] == 'SKIPPED' for t in trials)} points skipped (invalid or "
              f"repeated), "
              f"{sum(t['state'] == 'FAIL' for t in trials)} failed); sampler "
              f"{search.options.sampler}; space of {search.space.size()} points"
              + (f"; best reached after {trials_to_best(trials, sc)} measured trials (trial "
                 f"#{best['number']})." if best else "."), ""]
    if best is None:
        lines.append(no_best_reason(trials))
    else:
        lines += [f"Best: {json.dumps(best['params'])} -> {best['score']:.2f} {unit} (search)"
                  + server_offline_note(best), ""]
    if side:
        m = side["means"]
        same = side.get("same_as_best", [])
        lines += [f"Side by side ({search.options.baseline_rounds} alternating rounds, "
                  f"{search.options.duration_ms} ms each):", "",
                  f"| configuration | {unit} | best / this |", "| --- | ---: | ---: |"]
        for name in m:
            value, n = m[name], len(side["samples"][name])
            missed = side.get("no_valid_target", {}).get(name, 0)
            rounds = f" ({n} of {n + missed} rounds; {missed} found no VALID target)" \
                if missed else ""
            if name in same:
                lines.append(f"| {name} | the best configuration itself (measured once, as "
                             f"best) | 1.000x |")
            elif value is not None:
                ratio = speedup(sc, m["best"], value)
                lines.append(f"| {name} | {value:.2f}{rounds} | "
                             f"{f'{ratio:.3f}x' if ratio else ''} |")
            else:
                why = side["errors"].get(name) or f"no VALID target in {missed} rounds"
                lines.append(f"| {name} | failed: {why} | |")
    lines += ["", "| # | state | params | score | accuracy | gate |",
              "| ---: | --- | --- | ---: | ---: | --- |"]
    for t in trials:
        score = f"{t['score']:.2f}" if t["score"] is not None else \
            "no VALID target" if t.get("no_valid_target") else ""
        acc = f"{t['accuracy']:.3f}" if t["accuracy"] is not None else ""
        lines.append(f"| {t['number']} | {t['state']} | {json.dumps(t['params'])} | {score} | "
                     f"{acc} | {t['gate'] or ''} |")
    return "\n".join(lines) + "\n"


def no_best_reason(trials: list[dict[str, Any]]) -> str:
    """Why no trial is best: none complete, none with a score (a Server trial that found no
    VALID target has none), or all failed the gate."""
    done = [t for t in trials if t["state"] == "COMPLETE"]
    if not done:
        return "No trial completed (see the failed trials' errors)."
    # no trial is best, so every complete trial with a score failed the gate
    if all(t["score"] is None for t in done):
        return ("No trial reached a VALID Server target at the latency bound: relax it with "
                "--user-conf (a file saying e.g. *.Server.target_latency = 100) or search "
                "fewer streams.")
    return "No complete trial keeps 99% of the FP32 reference's accuracy."


def server_offline_note(best: dict[str, Any]) -> str:
    """``"; Server / Offline 0.875 (...)"`` for a Server trial, else ``""``: the peak's ratio
    to the Offline samples/s of the same configuration, measured by its find-peak search."""
    facts = best.get("facts") or {}
    if facts.get("server_to_offline_ratio") is None:
        return ""
    return (f"; Server / Offline {facts['server_to_offline_ratio']:.3f} (Offline "
            f"{facts['offline_samples_per_second']:.2f} samples/s, same configuration)")


def write_outputs(search: Search, trials: list[dict[str, Any]], best, side) -> None:
    """Every output file of the search (see the module docstring)."""
    sc = search.options.scenario
    write_json_atomic(search.out / "trials.json", trials)
    import pandas as pd  # imported on use: pandas loads slowly, the CLI imports this module

    pd.DataFrame([{**{k: v for k, v in t.items() if k not in ("config", "facts", "params")},
                   **t["params"]} for t in trials]).to_csv(search.out / "trials.csv",
                                                           index=False)
    plot_pareto(trials, sc, search.out / "pareto.png", search.with_accuracy)
    if best is not None:
        cfg = RunConfig.from_dict(best["config"])
        replay = replace(cfg, execution=replace(cfg.execution,
                                                results_dir=search.base.execution.results_dir))
        write_text_atomic(search.out / f"best_{sc}.json", replay.to_json())
        run_dir = (best.get("facts") or {}).get("run_dir")
        if run_dir and (Path(run_dir) / "user.conf").is_file():
            shutil.copyfile(Path(run_dir) / "user.conf", search.out / f"best_{sc}.user.conf")
    write_text_atomic(search.out / "report.md", report_md(search, trials, best, side))
    write_json_atomic(search.out / "search.json", {
        "scenario": sc, "space": search.space.as_dict(), "options": asdict(search.options),
        "with_accuracy": search.with_accuracy, "accuracy": search.accuracy,
        "best": best, "side_by_side": side, "command": sys.argv,
        "trials_to_best": trials_to_best(trials, sc)})


# --- running ------------------------------------------------------------------------------

def run_search(search: Search, root: Path) -> dict[str, Any]:
    """Run (or resume) the study, measure the baselines, write the outputs.

    Returns:
        ``{"best", "side_by_side", "trials", "out", "interrupted", "done"}``; when Ctrl-C
        or SIGTERM stopped the search (``interrupted``), nothing more was measured or
        written, and ``done`` is the number of trials that count toward ``--trials``.
    """
    import optuna  # imported on use: optuna loads slowly, the CLI imports this module

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(search, root)

    def measured(st) -> int:  # trials that count toward --trials
        return sum(1 for t in st.get_trials(deepcopy=False) if counts(t))

    done = measured(study)
    if done:
        print(f"optimize: resuming study {study.study_name} ({done} trials done)", flush=True)
    if not search.with_accuracy:
        print("NOTE: random weights or no dataset: the search runs on speed alone (no "
              "accuracy, no 99% gate)", flush=True)

    def progress(st, frozen) -> None:
        if frozen.user_attrs.get("skipped") or frozen.user_attrs.get("interrupted"):
            return
        values = frozen.values or []
        print(f"trial {frozen.number}: {frozen.state.name} {frozen.params} "
              f"{values[-1] if values else frozen.user_attrs.get('error') or ''}", flush=True)
        if measured(st) >= search.options.trials:
            st.stop()

    if done < search.options.trials:
        # invalid points (invalid_point) are skipped at once and not counted;
        # the cap only guards against a space made of them
        try:
            study.optimize(objective(search, study),
                           n_trials=20 * search.options.trials + search.space.size(),
                           timeout=search.options.time_budget_s,
                           n_jobs=search.options.parallel, catch=(HarnessError,),
                           callbacks=[progress])
        except KeyboardInterrupt:  # outside a trial (between trials, in Optuna's own code)
            search.interrupted = True
    if search.interrupted:
        return {"best": None, "side_by_side": None, "trials": [], "out": search.out,
                "interrupted": True, "done": measured(study)}
    trials = trial_records(study, search)
    best = select_best(trials, search.options.scenario)
    side = None
    if best is not None and search.options.baseline_rounds:
        side = baselines(search, RunConfig.from_dict(best["config"]))
    write_outputs(search, trials, best, side)
    return {"best": best, "side_by_side": side, "trials": trials, "out": search.out,
            "interrupted": False, "done": measured(study)}


def _ints(flag: str, values: list[str], auto: bool = False, minimum: int = 1
          ) -> list[int | str]:
    """``values`` as integers of at least ``minimum`` (and ``auto`` where allowed).

    Raises:
        HarnessError: a value that is not such an integer (or ``auto``), named.
    """
    out: list[int | str] = []
    for v in values:
        if auto and v.lower() == AUTO:
            out.append(AUTO)
        elif v.isdigit() and int(v) >= minimum:
            out.append(int(v))
        else:
            raise HarnessError(f"{flag}: '{v}' is not "
                               + ("a positive integer" if minimum == 1 else
                                  f"an integer >= {minimum}") + (" or auto" if auto else ""))
    return out


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


def main(args) -> int:
    models = list(args.models)
    family_check(models)
    options = Options(scenario=args.scenario, trials=args.trials,
                      time_budget_s=args.time_budget * 60 if args.time_budget else None,
                      duration_ms=args.duration_ms, sampler=args.sampler, seed=args.seed,
                      baseline_rounds=args.baseline_rounds, parallel=args.parallel,
                      study=args.study)
    trained = {m: weights_mod.resolve(cards.load(m), args.weights, "performance").trained
               for m in models}
    values = {"--model": models[0], "--results-dir": args.results_dir}
    for flag, value in (("--weights", args.weights), ("--system", args.system),
                        ("--user-conf", args.user_conf), ("--count", args.count)):
        if value is not None:
            values[flag] = value
    base = run_config.from_arguments(values)
    cores = len(system.affinity())
    space = default_space(base.backend, models, options.scenario, all(trained.values()),
                          args.dataset, cores)
    for dim, attr in (("precisions", "precision"), ("streams", "streams"),
                      ("threads", "threads"), ("nireq_per_stream", "nireq_per_stream"),
                      ("hints", "hint"), ("batches", "batch"),
                      ("batch_timeouts_us", "batch_timeout_us")):
        given = getattr(args, dim)
        if given:
            setattr(space, attr, _ints(f"--{dim.replace('_', '-')}", given,
                                       auto=attr in ("streams", "threads"),
                                       minimum=0 if attr == "batch_timeout_us" else 1)
                    if attr not in ("precision", "hint") else
                    [g.upper() if attr == "hint" else g for g in given])
    bad = [p for p in space.precision if p not in PRECISIONS]
    if bad:
        raise HarnessError(f"--precisions: unknown {', '.join(bad)}; valid: "
                           f"{', '.join(PRECISIONS)}")
    if options.scenario == "SingleStream" and any(b > 1 for b in space.batch):
        raise HarnessError("--batches: SingleStream does not batch (one sample per query)")
    if options.scenario != "Server" and any(space.batch_timeout_us):
        raise HarnessError("--batch-timeouts-us: only Server waits for a batch to fill "
                           "(other scenarios issue a query's samples together)")
    if args.launcher == "ray":
        if options.scenario == "Server":
            raise HarnessError("--launcher ray: a Server trial is a find-peak search whose "
                               "runs must share one machine; search Server with --launcher "
                               "process on the machine itself")
        launcher = RayLauncher(address=args.address)
        launcher.check()
        accuracy_launcher = ProcessLauncher(capture=True)
    else:
        launcher, accuracy_launcher = for_many(args.launcher, capture=True), None
    system_name = args.system or system.default_system_name()
    root = Path(args.results_dir) / system_name / "optimize"
    out = root / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=False)
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
        try:
            out.rmdir()  # nothing was written into it
        except OSError:
            pass
        done = "" if result["done"] is None else f"{result['done']} trials done, "
        print(f"interrupted; {done}resume with the same command", file=sys.stderr, flush=True)
        return 130
    best, side = result["best"], result["side_by_side"]
    print(f"optimize: {len(result['trials'])} trials in {time.monotonic() - t0:.0f} s; "
          f"outputs in {out}")
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
