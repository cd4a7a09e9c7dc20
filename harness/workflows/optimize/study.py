"""The Optuna study of ``harness optimize``: the objective, the study kept in a journal file
(created or resumed; a journal whose last lines were cut is repaired), the trials that count
toward ``--trials``, Ctrl-C or SIGTERM (the trial under way marked interrupted and measured
again on resume), and the trials as plain records."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...errors import BatchNotSupported, HarnessError
from ...files import replace_atomically
from ...reports.optimize import OBJECTIVES
from .space import default_params, invalid_point
from .trial import Search, accuracy_of, gate_violation, measure, trial_config


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


def trials_done(study) -> int:
    """Trials of ``study`` that count toward ``--trials`` (:func:`counts`)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if counts(t))


def run_study(search: Search, root: Path):
    """Run (or resume) the study in ``root`` until ``--trials`` trials count, the time budget
    is spent, or Ctrl-C or SIGTERM stops it (``search.interrupted``).

    Returns:
        the Optuna study.
    """
    import optuna  # imported on use: optuna loads slowly, the CLI imports this module

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(search, root)
    done = trials_done(study)
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
        if trials_done(st) >= search.options.trials:
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
    return study
