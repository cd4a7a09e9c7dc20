"""One benchmark run: ``run(config) -> RunReport``, a short composition of named steps.

::

    prepare        check everything bad input can break (card, scenario, dataset, weights,
                   user.conf, results folder): nothing is written before it passes
    prepare_model  load the backend (convert, quantize, compile; cached) and run one test
                   inference through the post-processing
    deploy         the backend's streams x threads: the user's, the hint's, or (Server
                   performance runs) the scenario's choice for its latency bound
    calibrate      the scenario's short measurement before LoadGen (performance mode)
    user_conf      the effective user.conf: base file, test-mode lines, the scenario's target
    record_start   the run directory and its report, status ``incomplete``
    run_loadgen    LoadGen with the SUT and QSL; the result read from LoadGen's own logs
                   (an Offline run INVALID only because it ended before its minimum
                   duration is run once more, both attempts recorded)
    score, gate    accuracy mode: the task's scorer and the 99% gate
    record         status ``complete`` (or ``failed``/``interrupted``, with the reason)

A run is one LoadGen test and must be the only one of its process: LoadGen applies its
built-in mlperf.conf only on a process's first ``FromConfig`` (:mod:`harness.scenarios.settings`
refuses a second). Launchers (:mod:`harness.launchers`) are the only code that calls
:func:`run`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import mlperf_loadgen as lg

from .. import (__version__, backends, cards, model_precision, model_stats, paths, postprocess,
               system)
from .. import scenarios as scenarios_mod
from .. import weights as weights_mod
from ..accuracy import SCORERS, gate
from ..datasets import Dataset, open_dataset
from ..errors import HarnessError, shorten
from ..files import room_problem, write_text_atomic
from ..loadgen_logs import KeyResult
from ..qsl import QSL
from ..results_tree import ResultsTree
from ..scenarios import DeployContext, Scenario, TargetContext
from ..scenarios import server as server_scenario
from ..scenarios.settings import (PERFORMANCE_SAMPLE_COUNT, read_user_conf, test_settings,
                                  validate_user_conf)
from ..sut import SUT
from . import report as report_mod
from . import results
from .config import RunConfig
from .report import RunFailed, RunReport


@dataclass
class Plan:
    """What :func:`prepare` resolved: everything the later steps need.

    Attributes:
        config: the run's config.
        card: the model card.
        scenario: the scenario object.
        dataset: the opened, preprocessed dataset (synthetic when no folder was given).
        weights: the resolved weights.
        psc: the benchmark's performance sample count (LoadGen's mlperf.conf).
        precision: the run's precision record (:func:`harness.model_precision.describe`);
            its ``label`` names the results folder.
        base_conf_path, base_conf: the base user.conf and its text.
        system_name: the system folder of the results.
        reference: the gate's reference spec (:func:`harness.accuracy.gate.reference_spec`),
            or None.
        reference_run: the FP32 accuracy run the gate compares with, or None.
        reference_report: its report.
        gate_skipped: the gate's record when it does not apply to this derived run.
    """

    config: RunConfig
    card: cards.ModelCard
    scenario: Scenario
    dataset: Dataset
    weights: weights_mod.Weights
    psc: int
    precision: dict[str, Any]
    base_conf_path: Path
    base_conf: str
    system_name: str
    reference: dict[str, Any] | None = None
    reference_run: Path | None = None
    reference_report: RunReport | None = None
    gate_skipped: dict[str, Any] | None = None


def precision_of(config: RunConfig) -> dict[str, Any]:
    """The precision record a run of ``config`` gets, without running it
    (:func:`harness.model_precision.describe`; its ``label`` names the results folder, e.g.
    ``uint8`` for a uint8 model file run as given).

    Raises:
        HarnessError: unknown model, weights that cannot be had, an unreadable model file.
    """
    card = cards.load(config.model.name)
    weights = weights_mod.resolve(card, config.model.weights, config.mode.name,
                                  config.mode.allow_random_accuracy)
    return model_precision.describe(card, weights, config.backend.name, config.precision)


def precision_folder(plan: Plan) -> str:
    """The precision folder of the run's results (:func:`results.precision_folder` of its
    label)."""
    return results.precision_folder(plan.config.backend, plan.precision["label"])


def prepare(config: RunConfig) -> Plan:
    """Resolve and check the run's inputs; write nothing.

    Raises:
        HarnessError: an unknown model, a missing user.conf or dataset, weights that cannot
            be had, a results or cache folder that cannot be written, a derived accuracy
            run without its reference.
    """
    card = cards.load(config.model.name)
    scenario = scenarios_mod.get(config.scenario.name)
    results.check_writable(Path(config.execution.results_dir))
    paths.check_cache_dir()
    base_path = Path(config.scenario.user_conf) if config.scenario.user_conf else \
        scenarios_mod.user_conf_path(card.name, scenario.name)
    base = read_user_conf(base_path)
    validate_user_conf(base, str(base_path), card.benchmark)
    psc = PERFORMANCE_SAMPLE_COUNT.get(card.benchmark, 1024)
    dataset = open_dataset(card, config.data.dataset, config.data.count, synthetic_count=psc)
    if dataset.synthetic:
        print(f"NOTE: no dataset given: {scenario.name} performance run on SYNTHETIC data "
              f"({len(dataset)} random samples of shape {card.input_shape}).", flush=True)
    dataset.prepare()
    if config.backend.remote:  # the server holds the model
        weights = weights_mod.remote(config.backend.endpoint, config.backend.model_name
                                     or card.name)
    else:
        weights = weights_mod.resolve(card, config.model.weights, config.mode.name,
                                      config.mode.allow_random_accuracy)
    if not weights.trained:
        print(f"NOTE: {weights.note}", flush=True)
    precision = model_precision.describe(card, weights, config.backend.name, config.precision)
    plan = Plan(config, card, scenario, dataset, weights, psc, precision, base_path, base,
                config.execution.system or system.default_system_name())
    if config.accuracy:
        plan.reference = gate.reference_spec(config.precision, card, config.model.weights)
        # decided by the workflow that made the config; a config made without one: here
        decision = config.mode.gate or gate.decide(plan.reference, weights.trained)
        if decision == gate.SKIPPED:
            plan.gate_skipped = {"result": "SKIPPED", "why": gate.SKIPPED_WHY}
        elif decision == gate.HELD:
            if not config.mode.reference_run:
                raise HarnessError(
                    f"this accuracy run of a {plan.reference['why']} is held to 99% of an FP32 "
                    f"reference run: give it with --reference-run DIR, or run it with "
                    f"'harness run', which finds or makes the reference first")
            plan.reference_run = Path(config.mode.reference_run)
            ref = report_mod.read(plan.reference_run)
            if not ref.complete or not ref.accuracy:
                raise HarnessError(f"--reference-run {plan.reference_run}: not a complete "
                                   f"accuracy run (status {ref.status})")
            plan.reference_report = ref
    return plan


def prepare_model(plan: Plan) -> tuple[backends.Backend, Any]:
    """Load the backend and push one sample through model and post-processing.

    Returns:
        ``(backend, postprocess)``.

    Raises:
        HarnessError: the model cannot be loaded, does not fit the card, or cannot match
            the dataset's labels (:func:`harness.postprocess.check_dataset`).
    """
    config = plan.config
    backend = backends.create(config.backend.name)
    backend.load(plan.card, plan.weights, config.backend,
                 backends.LoadContext(default_hint=plan.scenario.hint,
                                      dataset=config.data.dataset,
                                      eval_count=len(plan.dataset)))
    post = postprocess.for_card(plan.card, plan.dataset)
    try:
        first = backend.infer(plan.dataset.load_sample(0))
    except Exception as exc:
        raise HarnessError(f"model {plan.card.name}: a test inference failed "
                           f"({exc.__class__.__name__}: {shorten(exc)}); does the model file "
                           f"fit the card's input {plan.card.input}?") from exc
    postprocess.check_outputs(plan.card, first)
    postprocess.check_dataset(plan.card, first, plan.dataset)
    post(first, 0)
    return backend, post


#: Backend options that fix its parallelism: any of them given, the user's choice stands.
WIDTH_OPTIONS = ("streams", "threads", "nireq", "hint")


def deploy(plan: Plan, backend, qsl: QSL) -> dict[str, Any]:
    """Set the backend's parallelism where the user left it open, and say how it was set
    (the report's ``deployment``): ``{"source": "user", <the options given>}``, the
    scenario's choice (:meth:`harness.scenarios.Scenario.deploy`, performance mode only),
    or ``{"source": "default"}`` (the backend's performance hint decides)."""
    config = plan.config
    chosen = config.backend.summary()
    given = {k: chosen[k] for k in WIDTH_OPTIONS if chosen[k] is not None}
    if given:
        return {"source": "user", **given}
    record = None
    if not config.accuracy:
        qsl.load_samples(list(range(min(qsl.performance_sample_count, 64))))
        try:
            record = plan.scenario.deploy(backend, qsl, DeployContext(
                base_conf=plan.base_conf, benchmark=plan.card.benchmark,
                cores=len(system.affinity()), batch_timeout_us=batch_timeout_us(plan)))
        finally:
            qsl.unload_samples(list(qsl.samples))
    return record or {"source": "default", "hint": backend.settings().get("hint")}


def batch_timeout_us(plan: Plan) -> int:
    """The batching window the SUT uses (µs): ``--batch-timeout-us`` where the scenario
    holds partial batches (Server), else 0."""
    if not plan.scenario.batch_window:
        return 0
    return int(plan.config.backend.summary()["batch_timeout_us"] or 0)


def calibrate(plan: Plan, backend, qsl: QSL) -> dict[str, Any]:
    """The scenario's measurement before LoadGen ({} in accuracy mode)."""
    if plan.config.accuracy:
        return {}
    qsl.load_samples(list(range(min(qsl.performance_sample_count, 64))))
    try:
        calibration = plan.scenario.calibrate(backend, qsl)
    finally:
        qsl.unload_samples(list(qsl.samples))
    for key, value in calibration.items():
        unit = "samples/s" if key == "samples_per_second" else "ms"
        print(f"calibration: {key.replace('_', ' ')} {value:.2f} {unit}", flush=True)
    return calibration


def user_conf(plan: Plan, qsl: QSL, calibration: dict[str, Any], backend_settings: dict
              ) -> tuple[str, dict[str, Any]]:
    """The effective user.conf text and notes on where each added value came from."""
    config, scenario = plan.config, plan.scenario
    lines = [f"# effective user.conf of this run; base: {plan.base_conf_path}",
             plan.base_conf.rstrip(), ""]
    notes: dict[str, Any] = {"base_user_conf": str(plan.base_conf_path)}
    if config.execution.kind == "test":
        lines += scenario.test_mode_lines(config.execution.duration_ms)
    if qsl.performance_sample_count < plan.psc:
        lines += ["# the dataset holds fewer samples than the benchmark's performance "
                  "sample count", f"*.{scenario.name}.performance_sample_count_override = "
                                  f"{qsl.performance_sample_count}"]
        notes["performance_sample_count_capped"] = qsl.performance_sample_count
    ctx = TargetContext(
        base_conf=plan.base_conf, base_conf_path=str(plan.base_conf_path),
        target_qps=config.scenario.target_qps, calibration=calibration,
        peak_file=ResultsTree(config.execution.results_dir).peak_file(
            plan.system_name, plan.card.name, precision_folder(plan)),
        peak_key=server_scenario.peak_key(backend_settings))
    target, target_notes = scenario.target_lines(ctx)
    lines += target
    notes.update(target_notes)
    text = "\n".join(lines) + "\n"
    validate_user_conf(text, "effective user.conf", plan.card.benchmark)
    return text, notes


def record_start(plan: Plan, backend, qsl: QSL, calibration: dict[str, Any], conf_text: str,
                 conf_notes: dict[str, Any], command: list[str] | None,
                 deployment: dict[str, Any] | None = None) -> RunReport:
    """Create the run directory (unique: never an earlier run's) and its ``incomplete``
    report.

    Raises:
        HarnessError: the directory or its files cannot be written.
    """
    config, card = plan.config, plan.card
    audit_text = None
    if config.execution.audit_config:
        audit_text = read_user_conf(Path(config.execution.audit_config))
    run_dir = ResultsTree(config.execution.results_dir).new_run_dir(
        plan.system_name, card.name, precision_folder(plan), plan.scenario.name,
        config.mode.name)
    try:
        (run_dir / "user.conf").write_text(conf_text)
    except OSError as exc:
        raise HarnessError(f"cannot write {run_dir / 'user.conf'}: {exc.strerror}") from exc
    model_file = backend.model_info().get("ir")
    report = RunReport(
        config=config, run_dir=str(run_dir.resolve()), harness_version=__version__,
        started=datetime.now(timezone.utc).isoformat(), pid=os.getpid(),
        host=socket.gethostname(), command=list(command or sys.argv), cwd=os.getcwd(),
        card={"name": card.name, "benchmark": card.benchmark, "task": card.task,
              "source": card.source, "input": card.input, "preprocessing": card.preprocessing,
              "postprocessing": card.postprocessing, "reference": card.reference},
        weights=plan.weights.to_dict(), dataset=plan.dataset.describe(),
        system={"name": plan.system_name, **system.facts(),
                "affinity": system.format_cpu_list(system.affinity())},
        git=system.git_revision(),
        backend={"name": backend.name, "settings": backend.settings(),
                 "properties": backend.properties(), "model": backend.model_info()},
        loadgen={"benchmark": card.benchmark, "scenario": plan.scenario.loadgen,
                 "mode": "AccuracyOnly" if config.accuracy else "PerformanceOnly",
                 "performance_sample_count": qsl.performance_sample_count,
                 "total_sample_count": qsl.total_sample_count, **conf_notes},
        calibration=calibration, deployment=dict(deployment or {}), precision=plan.precision,
        model_stats=model_stats.for_run(card, plan.precision["label"], model_file),
        quantization=backend.build_facts(), audit_config=audit_text)
    report.write()
    print(f"run directory: {run_dir}", flush=True)
    return report


def run_loadgen(plan: Plan, backend, post, qsl: QSL, report: RunReport) -> None:
    """Run the LoadGen test and put its result (read from its logs) into the report.

    A performance run that LoadGen calls INVALID only because it ended before its minimum
    duration (Offline, when the machine ran faster than calibrated) is run once more in this
    process with the same ``TestSettings`` and the scenario's new target
    (:meth:`harness.scenarios.Scenario.rerun_target`); the first attempt's logs move to
    ``attempt-1/`` and its result goes into ``report.attempts``.

    Raises:
        HarnessError: LoadGen rejects the settings, inferences failed (the run is INVALID),
            or LoadGen's logs lack its result (cut by a full disk or a file size limit).
    """
    config, scenario = plan.config, plan.scenario
    run_dir = report.path
    ts = test_settings(run_dir / "user.conf", plan.card.benchmark, scenario.loadgen,
                       config.accuracy)
    result = _attempt(plan, backend, post, qsl, report, ts)
    rerun = None if config.accuracy or result.inference_errors else \
        scenario.rerun_target(result)
    if rerun is not None:
        _keep_attempt(plan, report, result, ts, *rerun)
        result = _attempt(plan, backend, post, qsl, report, ts)
    report.result = result
    if result.inference_errors:
        result.validity = "INVALID"
        raise HarnessError(f"{result.inference_errors} of {result.samples_answered} samples "
                           f"failed inference (first: {result.first_inference_error}); the "
                           f"run is marked failed")
    if not config.accuracy and (result.validity is None or result.score is None
                                or result.log_truncated):
        why = room_problem(run_dir)
        said, result.validity = result.validity, None  # no result: claims no validity
        raise HarnessError(f"LoadGen's logs in {run_dir} lack its result (validity "
                           f"{said}, {scenario.metric} {result.score}"
                           f"{', a cut log line' if result.log_truncated else ''}): "
                           + (f"{why}; make room and run it again" if why else
                              "were they cut by a full disk or a file size limit?")
                           + "; the run is marked failed")


def _attempt(plan: Plan, backend, post, qsl: QSL, report: RunReport, ts) -> KeyResult:
    """One LoadGen test with fresh SUT and QSL handles; its result from the logs."""
    config, scenario = plan.config, plan.scenario
    run_dir = report.path
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(run_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    # LoadGen reads an audit.config only from the path given here: a compliance test names
    # its file; every other run names one that cannot exist (never ./audit.config)
    audit = config.execution.audit_config or str(run_dir / "no-audit.config")
    sut = SUT(backend, qsl, post, synchronous=scenario.synchronous,
              batch_size=backend.batch_size(), batch_timeout_us=batch_timeout_us(plan),
              direct=scenario.issue_direct)
    network_name = backend.sut_name() if config.backend.network_division else None
    if network_name is not None:
        report.loadgen.update(network_division=True, sut_name=network_name)
    print(f"LoadGen {scenario.name} {report.loadgen['mode']} ({config.execution.kind} mode) "
          f"...", flush=True)
    t0 = time.perf_counter()
    sut_handle, qsl_handle = sut.construct(network_name), qsl.construct()
    interrupted = False
    try:
        _start_test(sut_handle, qsl_handle, ts, log_settings, audit)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: stop at once (a batch system's SIGKILL follows within seconds).
        # Waiting for the SUT would first run every sample LoadGen issued (Offline: the
        # whole run); LoadGen's thread is left to end with the process, which exits after
        # the report is marked interrupted
        interrupted = True
        sut.abandon()
        raise
    finally:
        if not interrupted:
            sut.destroy()
            qsl.destroy()
    if not scenario.synchronous:
        report.deployment["batching"] = sut.batching()
    report.telemetry = sut.telemetry_summary()
    result = scenario.read_result(run_dir)
    result.wall_seconds = round(time.perf_counter() - t0, 3)
    result.inference_errors = sut.errors
    result.first_inference_error = sut.first_error
    result.samples_answered = sut.completed
    return result


def _keep_attempt(plan: Plan, report: RunReport, result: KeyResult, ts, qps: float,
                  source: str) -> None:
    """Record an attempt that ended early and set up the next one: its LoadGen logs and
    user.conf move to ``attempt-<n>/``, its result into ``report.attempts``; the settings
    get the new target, the run's user.conf records it (so ``--config run.json`` and the
    submission tree see what the last attempt ran)."""
    scenario = plan.scenario
    n = len(report.attempts) + 1
    folder = report.path / f"attempt-{n}"
    folder.mkdir()
    for log in sorted(report.path.glob("mlperf_log_*")):
        os.replace(log, folder / log.name)
    shutil.copy2(report.path / "user.conf", folder / "user.conf")
    before = scenario.target_used(report.loadgen)
    lines, notes = scenario.set_target(ts, qps, f"re-run after attempt {n}: {source}")
    text = (report.path / "user.conf").read_text().rstrip("\n") + "\n" + "\n".join(
        [f"# attempt {n} ended before its minimum duration (INVALID); the re-run's target:",
         *lines]) + "\n"
    validate_user_conf(text, "effective user.conf", plan.card.benchmark)
    write_text_atomic(report.path / "user.conf", text)
    reason = (f"INVALID only because it ended before its minimum duration "
              f"({'; '.join(result.invalid_reasons)}): {result.samples_per_second:.2f} "
              f"samples/s measured, {before} expected")
    report.attempts.append({"attempt": n, "reason": reason, "target_before": before,
                            "target_after": qps, "logs": folder.name,
                            "result": dataclasses.asdict(result)})
    report.loadgen.update(notes)
    report.write()
    print(f"NOTE: attempt {n} was {reason}; running LoadGen once more with the target from "
          f"{source} ({qps:.2f}); attempt {n}'s logs are kept in {folder}", flush=True)


def _start_test(sut_handle, qsl_handle, settings, log_settings, audit_config: str) -> None:
    """Run LoadGen in a worker thread so Ctrl-C reaches the main thread."""
    failure: list[BaseException] = []

    def target():
        try:
            lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings,
                                        audit_config)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=target, name="loadgen", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if failure:
        raise failure[0]


def score(plan: Plan, report: RunReport) -> None:
    """Score the accuracy log with the card's task scorer (writes ``accuracy.txt``)."""
    card = plan.card
    if card.task not in SCORERS:
        raise HarnessError(f"no accuracy scorer for task '{card.task}'")
    acc = SCORERS[card.task](card, plan.dataset, report.path)
    if not plan.weights.trained:
        acc["note"] = ("RANDOM weights: this accuracy is meaningless; the log exists for "
                       "submission/TEST01 checks")
    report.accuracy = acc
    counts = f" ({acc['good']}/{acc['total']})" if acc.get("good") is not None else ""
    print(f"accuracy: {acc['metric']} = {acc['value']:.3f}%{counts} "
          f"({report.path / 'accuracy.txt'})", flush=True)


def apply_gate(plan: Plan, report: RunReport) -> None:
    """The 99% gate of a derived model (appended to ``accuracy.txt``), or its SKIPPED note."""
    if plan.reference_run is not None:
        ref = plan.reference_report
        report.accuracy_gate = gate.apply(report.path, report.accuracy, ref.accuracy,
                                          plan.reference_run, ref.config.model.name,
                                          ref.precision_label)
    elif plan.gate_skipped is not None:
        report.accuracy_gate = plan.gate_skipped
        print(f"NOTE: accuracy gate skipped: {plan.gate_skipped['why']}", flush=True)


def record(plan: Plan, report: RunReport, status: str, error: str | None = None) -> None:
    """Mark the run ``status`` and write the report."""
    config = plan.config
    if status == report_mod.STATUS_COMPLETE:
        report.valid_for_submission = (config.execution.kind == "valid"
                                       and report.result is not None
                                       and report.result.validity == "VALID"
                                       and plan.weights.trained
                                       and not plan.dataset.synthetic)
    report.status = status
    report.error = error
    report.ended = datetime.now(timezone.utc).isoformat()
    report.write()


def run(config: RunConfig, command: list[str] | None = None,
        on_start: Callable[[RunReport], None] | None = None) -> RunReport:
    """Run one LoadGen test in this process and return its report.

    Args:
        config: the run's config.
        command: the command line that asked for it (recorded; default ``sys.argv``).
        on_start: called with the ``incomplete`` report once the run directory exists.

    Raises:
        HarnessError: bad input; nothing was written.
        RunFailed: a failure after the run directory exists (its report says ``failed``
            and why).
        KeyboardInterrupt: Ctrl-C or SIGTERM (the report says ``interrupted``).
    """
    plan = prepare(config)
    backend, post = prepare_model(plan)
    qsl = QSL(plan.dataset, plan.psc)
    deployment = deploy(plan, backend, qsl)
    calibration = calibrate(plan, backend, qsl)
    conf_text, conf_notes = user_conf(plan, qsl, calibration, backend.settings())
    report = record_start(plan, backend, qsl, calibration, conf_text, conf_notes, command,
                          deployment)
    if on_start is not None:
        on_start(report)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        run_loadgen(plan, backend, post, qsl, report)
        if config.accuracy:
            score(plan, report)
            apply_gate(plan, report)
        record(plan, report, report_mod.STATUS_COMPLETE)
    except KeyboardInterrupt:
        note = _record_failure(plan, report, report_mod.STATUS_INTERRUPTED,
                               "interrupted by the user (Ctrl-C or SIGTERM)")
        if note:
            print(f"WARNING: {note}", file=sys.stderr)
        raise
    except HarnessError as exc:
        note = _record_failure(plan, report, report_mod.STATUS_FAILED, str(exc))
        raise RunFailed(f"{exc} ({note})" if note else str(exc), report,
                        exc.exit_status) from exc
    except OSError as exc:  # a file of the run cannot be written: disk full, size limit
        why = room_problem(report.path) or exc.strerror or str(exc)
        message = f"cannot write {exc.filename or report.run_dir}: {why}"
        note = _record_failure(plan, report, report_mod.STATUS_FAILED, message)
        raise RunFailed(f"{message} ({note})" if note else message, report) from exc
    except BaseException as exc:  # a bug: marked failed, the traceback shows where
        _record_failure(plan, report, report_mod.STATUS_FAILED,
                        f"{exc.__class__.__name__}: {exc}")
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return report


def _sigterm_to_interrupt(*_):
    raise KeyboardInterrupt()


def _record_failure(plan: Plan, report: RunReport, status: str, error: str) -> str:
    """Mark the run ``status`` with ``error``; on a full disk, rewrite ``run.json`` in place
    (:meth:`RunReport.write_in_place`).

    Returns:
        "" when the report says ``status``; else a note for the error line: the report
        still says ``incomplete``, which readers call ``abandoned`` once this process ends.
    """
    try:
        record(plan, report, status, error)
    except HarnessError as exc:
        try:
            report.write_in_place()
        except HarnessError:
            return (f"{report.path / report_mod.FILE_NAME} could not be marked {status}: "
                    f"{exc}; 'harness show' calls it abandoned once this process has ended")
    print(f"run directory {report.run_dir} is marked '{status}'", file=sys.stderr)
    return ""


__all__ = ["run", "prepare", "precision_of", "Plan", "deploy"]
