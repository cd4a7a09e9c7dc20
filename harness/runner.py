"""One benchmark run, end to end: validate, prepare, calibrate, run LoadGen, record.

Order matters for "no result that looks valid": everything that can fail on bad input (card,
scenario, dataset, weights, model compile, user.conf) is checked before the run directory
exists. From then on the manifest says ``incomplete`` until LoadGen has finished and the
logs are parsed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg
import numpy as np

from . import __version__, backends, cards, loadgen_logs, postprocess, results, system
from . import model_stats
from . import scenarios as scen
from . import weights as weights_mod
from .datasets import open_dataset
from .errors import HarnessError
from .qsl import QSL
from .sut import SUT

MODES = ("performance", "accuracy")
#: Offline calibration: measure at least this long (s) and this many samples.
CALIBRATION_SECONDS = 3.0
#: Server target when user.conf sets none: this fraction of the calibrated Offline rate.
SERVER_FRACTION = 0.5
#: offline_expected_qps = calibrated rate x this: LoadGen issues expected_qps x min_duration
#: samples, so a run faster than calibrated ends before min_duration (INVALID); a slower one
#: only lasts longer. Calibration on a busy machine errs either way.
OFFLINE_MARGIN = 1.2


@dataclass
class RunConfig:
    """The whole configuration of one run (saved in the manifest).

    Attributes:
        model: card name.
        scenario: Offline, Server or SingleStream.
        mode: ``performance`` or ``accuracy`` (LoadGen PerformanceOnly / AccuracyOnly).
        execution: ``test`` (short, not valid for submission) or ``valid`` (official).
        precision: fp32, bf16, int8.
        backend: backend name.
        dataset: dataset folder, or None for synthetic data.
        count: first N samples of the dataset.
        weights: None, ``default``, ``random`` or a file (see :func:`harness.weights.resolve`).
        device, hint, streams, threads, nireq: backend settings.
        cores: CPUs the run is pinned to, ``taskset -c`` syntax (``"0"``, ``"0-1,4"``); the
            run pins its process to them. None: not pinned by us; :func:`run` then records
            the process's own affinity here when it is narrower than all CPUs (taskset).
        calibration_dataset: INT8: dataset folder the calibration samples come from (None:
            ``dataset``; both None: synthetic samples). A performance run on synthetic
            inputs and an accuracy run on real images use one INT8 model only when they
            calibrate on the same data: give both the same calibration dataset.
        calibration_list, calibration_count, max_accuracy_drop: INT8 calibration settings
            (see :class:`harness.quantization.QuantizationConfig`).
        user_conf: a user.conf to use instead of scenarios/<model>/<Scenario>/user.conf.
        duration_ms: test mode only: min_duration override (ms).
        target_qps: Offline expected QPS / Server target QPS override (samples/s).
        system: system name for the results folder (default: from the CPU).
        results_dir: results root.
    """

    model: str = "resnet50"
    scenario: str = "Offline"
    mode: str = "performance"
    execution: str = "test"
    precision: str = "fp32"
    backend: str = "openvino"
    dataset: str | None = None
    count: int | None = None
    weights: str | None = None
    device: str = "CPU"
    hint: str | None = None
    streams: int | None = None
    threads: int | None = None
    nireq: int | None = None
    cores: str | None = None
    calibration_dataset: str | None = None
    calibration_list: str | None = None
    calibration_count: int | None = None
    max_accuracy_drop: float | None = None
    user_conf: str | None = None
    duration_ms: int | None = None
    target_qps: float | None = None
    system: str | None = None
    results_dir: str = "results"
    allow_random_accuracy: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _check_config(cfg: RunConfig) -> None:
    if cfg.mode not in MODES:
        raise HarnessError(f"unknown mode '{cfg.mode}'; valid: {', '.join(MODES)}")
    if cfg.execution not in scen.EXECUTION_MODES:
        raise HarnessError(f"unknown execution mode '{cfg.execution}'; valid: "
                           f"{', '.join(scen.EXECUTION_MODES)}")
    if cfg.duration_ms is not None and cfg.execution == "valid":
        raise HarnessError("--duration-ms applies to test mode only; valid runs use the "
                           "official minimum duration")
    if cfg.precision == "bf16" and not system.supports_bf16():
        raise HarnessError("precision bf16 needs a CPU with AVX-512 BF16 or AMX; this CPU "
                           "has neither. Use PRECISION=fp32 or int8.")


def parse_cpu_list(text: str) -> set[int]:
    """CPU numbers of a ``taskset -c`` / cpuset list such as ``"0-3,6"``.

    Raises:
        HarnessError: not such a list.
    """
    cpus: set[int] = set()
    try:
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise HarnessError(f"bad CPU list '{text}': use taskset -c syntax, e.g. 0 or 0-1,4")
    if not cpus:
        raise HarnessError(f"bad CPU list '{text}': no CPU named")
    return cpus


def format_cpu_list(cpus) -> str:
    """The short ``taskset -c`` form of a set of CPU numbers: {0, 1, 2, 5} -> ``"0-2,5"``."""
    parts, run = [], []
    for c in sorted(cpus):
        if run and c != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _apply_cores(cfg: RunConfig) -> None:
    """Pin this process to ``cfg.cores``, or record a narrower affinity set from outside."""
    if not hasattr(os, "sched_getaffinity"):
        return
    if cfg.cores:
        try:
            os.sched_setaffinity(0, parse_cpu_list(cfg.cores))
        except OSError as exc:
            raise HarnessError(f"cannot pin the run to CPUs {cfg.cores}: {exc}; "
                               f"name CPUs this machine has (0-{(os.cpu_count() or 1) - 1})")
    allowed = os.sched_getaffinity(0)
    if cfg.cores or len(allowed) < (os.cpu_count() or 0):
        cfg.cores = format_cpu_list(allowed)


def calibrate_throughput(backend, qsl: QSL, seconds: float = CALIBRATION_SECONDS) -> float:
    """Measure the backend's asynchronous throughput (samples/s) on loaded samples.

    Runs for ``seconds`` (after one warm-up inference per request) cycling over the samples
    the QSL holds; used to set ``offline_expected_qps`` so a run lasts its minimum duration.
    """
    indices = sorted(qsl.samples)
    done = 0
    lock = threading.Lock()

    def count(_outputs, _userdata, _error):
        nonlocal done
        with lock:
            done += 1

    backend.set_callback(count)
    for i in range(backend.parallelism()):
        backend.start_async(qsl.get(indices[i % len(indices)]), None)
    backend.wait_all()
    done = 0
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds or n < 2 * backend.parallelism():
        backend.start_async(qsl.get(indices[n % len(indices)]), None)
        n += 1
    backend.wait_all()
    elapsed = time.perf_counter() - start
    return n / elapsed


def calibrate_latency(backend, qsl: QSL, seconds: float = 1.0) -> float:
    """Median synchronous latency (ms) on loaded samples, for SingleStream's expected latency.

    LoadGen sizes a SingleStream run as min_duration / expected latency queries; an expected
    latency above the real one ends the run before min_duration (INVALID).
    """
    indices = sorted(qsl.samples)
    backend.infer(qsl.get(indices[0]))  # warm-up
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        backend.infer(qsl.get(indices[len(times) % len(indices)]))
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def _effective_user_conf(cfg: RunConfig, scenario: scen.Scenario, base_path: Path,
                         calibrated_qps: float | None,
                         psc_cap: int | None,
                         calibrated_latency_ms: float | None = None,
                         recorded_peak: dict[str, Any] | None = None
                         ) -> tuple[str, dict[str, Any]]:
    """The user.conf text the run uses, and notes on where each added value came from.

    ``recorded_peak``: a Server peak recorded by ``harness find-peak`` for this system,
    model, precision and backend configuration (:func:`harness.peak.recorded_peak`); used as
    server_target_qps when neither --target-qps nor the user.conf sets one.
    """
    base = base_path.read_text()
    scen.validate_user_conf(base, str(base_path))
    lines = [f"# effective user.conf of this run; base: {base_path}", base.rstrip(), ""]
    notes: dict[str, Any] = {"base_user_conf": str(base_path)}
    if cfg.execution == "test":
        lines.append("# execution mode 'test': short run, NOT valid for submission")
        lines.extend(scenario.test_mode)
        if cfg.duration_ms is not None:
            lines.append(f"*.{scenario.name}.min_duration = {int(cfg.duration_ms)}")
    name = scenario.name
    if psc_cap is not None:
        lines.append("# the dataset holds fewer samples than the benchmark's performance "
                     "sample count")
        lines.append(f"*.{name}.performance_sample_count_override = {psc_cap}")
        notes["performance_sample_count_capped"] = psc_cap
    if name == "Offline":
        qps = cfg.target_qps or (calibrated_qps * OFFLINE_MARGIN if calibrated_qps else None)
        source = "--target-qps" if cfg.target_qps else \
            f"calibration run x {OFFLINE_MARGIN} (margin against finishing early)"
        if qps is not None and (scen.conf_value(base, name, "target_qps") is None
                                or cfg.target_qps):
            lines.append(f"# offline_expected_qps from {source}")
            lines.append(f"*.Offline.target_qps = {qps:.3f}")
            notes["offline_expected_qps"] = {"value": qps, "source": source}
    elif name == "SingleStream" and calibrated_latency_ms is not None:
        if scen.conf_value(base, name, "target_latency") is None:
            ms = max(1, int(calibrated_latency_ms))  # LoadGen reads whole ms; round down
            lines.append("# expected latency (ms) from a calibration run, sizes the run")
            lines.append(f"*.SingleStream.target_latency = {ms}")
            notes["single_stream_expected_latency_ms"] = {"value": ms,
                                                          "source": "calibration run"}
    elif name == "MultiStream" and calibrated_qps:
        if scen.conf_value(base, name, "target_latency") is None:
            # 8 samples at the full calibrated rate: a lower bound of the query latency, so
            # LoadGen pre-generates enough queries for min_duration (a higher expected
            # latency ends the run early: INVALID).
            ms = max(1, int(8 * 1000.0 / calibrated_qps))
            lines.append("# expected latency (ms) of an 8-sample query from calibration")
            lines.append(f"*.MultiStream.target_latency = {ms}")
            notes["multi_stream_expected_latency_ms"] = {"value": ms,
                                                         "source": "calibration run"}
    elif name == "Server":
        if cfg.target_qps:
            lines.append("# server_target_qps from --target-qps")
            lines.append(f"*.Server.target_qps = {cfg.target_qps:.3f}")
            notes["server_target_qps"] = {"value": cfg.target_qps, "source": "--target-qps"}
        elif recorded_peak and scen.conf_value(base, name, "target_qps") is None:
            qps = float(recorded_peak["target_qps"])
            lines.append(f"# server_target_qps: peak found by 'harness find-peak' "
                         f"({recorded_peak.get('file')})")
            lines.append(f"*.Server.target_qps = {qps:.3f}")
            notes["server_target_qps"] = {"value": qps, "source": "harness find-peak",
                                          "peak_file": recorded_peak.get("file"),
                                          "search": recorded_peak.get("search")}
        elif scen.conf_value(base, name, "target_qps") is None and calibrated_qps:
            qps = SERVER_FRACTION * calibrated_qps
            lines.append(f"# server_target_qps: {SERVER_FRACTION:.0%} of the calibrated "
                         f"Offline throughput (no peak search was run)")
            lines.append(f"*.Server.target_qps = {qps:.3f}")
            notes["server_target_qps"] = {
                "value": qps, "source": f"{SERVER_FRACTION:.0%} of calibrated throughput "
                                        f"{calibrated_qps:.2f} samples/s (not a peak search)"}
        elif scen.conf_value(base, name, "target_qps") is not None:
            notes["server_target_qps"] = {"value": float(scen.conf_value(base, name,
                                                                         "target_qps")),
                                          "source": str(base_path)}
    text = "\n".join(lines) + "\n"
    scen.validate_user_conf(text, "effective user.conf")
    return text, notes


def _start_test(sut_handle, qsl_handle, settings, log_settings) -> None:
    """Run LoadGen in a worker thread so Ctrl-C reaches the main thread."""
    failure: list[BaseException] = []

    def target():
        try:
            lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=target, name="loadgen", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if failure:
        raise failure[0]


def run(cfg: RunConfig) -> Path:
    """Run one LoadGen test and return its run directory.

    Must run in a fresh process (see :mod:`harness.scenarios`): the built-in mlperf.conf is
    applied only by the first ``FromConfig`` of a process.

    Raises:
        HarnessError: bad input (nothing written, or the run directory marked ``failed``).
        KeyboardInterrupt: Ctrl-C (the run directory is marked ``interrupted``).
    """
    started = datetime.now(timezone.utc).isoformat()
    _check_config(cfg)
    _apply_cores(cfg)
    card = cards.load(cfg.model)
    scenario = scen.get(cfg.scenario)
    cfg.scenario = scenario.name
    accuracy = cfg.mode == "accuracy"
    if accuracy and not cfg.dataset:
        raise HarnessError("accuracy mode needs a real dataset: pass DATASET=<folder> "
                           "(synthetic data has no labels)")
    base_conf = Path(cfg.user_conf) if cfg.user_conf else scen.user_conf_path(card.name,
                                                                             scenario.name)
    if not base_conf.is_file():
        raise HarnessError(f"user.conf {base_conf} does not exist")
    scen.validate_user_conf(base_conf.read_text(), str(base_conf))

    # Performance sample count of the official benchmark (mlperf.conf), read in a throwaway
    # settings object would consume the one-per-process mlperf.conf load; use the table.
    psc = PERFORMANCE_SAMPLE_COUNT.get(card.benchmark, 1024)
    dataset = open_dataset(card, cfg.dataset, cfg.count, synthetic_count=psc)
    if dataset.synthetic:
        print(f"NOTE: no dataset given: {scenario.name} performance run on SYNTHETIC data "
              f"({len(dataset)} random samples of shape {card.input_shape}).", flush=True)
    dataset.prepare()
    weights = weights_mod.resolve(card, cfg.weights, cfg.mode, cfg.allow_random_accuracy)
    if not weights.trained:
        print(f"NOTE: {weights.note}", flush=True)
    if cfg.precision == "int8":  # calibration settings of the INT8 build (harness.quantization)
        from . import quantization

        quantization.configure(dataset=cfg.calibration_dataset or cfg.dataset,
                               calibration_list=cfg.calibration_list,
                               calibration_count=cfg.calibration_count,
                               max_accuracy_drop=cfg.max_accuracy_drop, eval_count=len(dataset))
    elif cfg.calibration_dataset or cfg.calibration_list or cfg.calibration_count or \
            cfg.max_accuracy_drop is not None:
        raise HarnessError("--calibration-dataset/--calibration-list/--calibration-count/"
                           "--max-accuracy-drop apply to PRECISION=int8 only")
    reference_dir = gate_skipped = None
    if accuracy:  # a derived model's FP32 reference run: found in results, or run first
        from .accuracy import gate

        if weights.trained:
            reference_dir = gate.ensure_reference(cfg, card, dataset, weights)
        elif gate.reference_spec(cfg, card) is not None:
            # random weights (--allow-random-accuracy): nothing to hold to 99% of another run
            gate_skipped = {"result": "SKIPPED",
                            "why": "random weights: accuracy is meaningless, no 99% gate"}

    settings = backends.BackendSettings(device=cfg.device, precision=cfg.precision,
                                        hint=cfg.hint or scenario.hint, streams=cfg.streams,
                                        threads=cfg.threads, nireq=cfg.nireq)
    backend = backends.create(cfg.backend)
    backend.load(card, weights, settings)
    post = postprocess.for_card(card, dataset)
    # one inference through the post-processing: a model that does not fit the card fails
    # here, before any run directory exists
    try:
        first = backend.infer(dataset.load_sample(0))
    except Exception as exc:
        raise HarnessError(f"model {card.name}: a test inference failed "
                           f"({exc.__class__.__name__}: {str(exc)[:300]}); does the model "
                           f"file fit the card's input {card.input}?") from exc
    postprocess.check_outputs(card, first)
    post(first, 0)
    qsl = QSL(dataset, psc)

    calibrated = calibrated_latency = None
    if not accuracy:
        qsl.load_samples(list(range(min(qsl.performance_sample_count, 64))))
        if scenario.issue == "sync":
            calibrated_latency = calibrate_latency(backend, qsl)
            print(f"calibration: median latency {calibrated_latency:.2f} ms", flush=True)
        else:
            calibrated = calibrate_throughput(backend, qsl)
            print(f"calibration: {calibrated:.2f} samples/s", flush=True)
        qsl.unload_samples(list(qsl.samples))
    capped = qsl.performance_sample_count if qsl.performance_sample_count < psc else None
    sys_name = cfg.system or system.default_system_name()
    prec_folder = results.precision_folder(cfg.backend, cfg.precision)
    peak = None
    if scenario.name == "Server" and not cfg.target_qps:
        from .peak import recorded_peak  # the Server target found by 'harness find-peak'

        peak = recorded_peak(Path(cfg.results_dir), sys_name, card.name, prec_folder,
                             settings.to_dict())
    conf_text, conf_notes = _effective_user_conf(cfg, scenario, base_conf, calibrated, capped,
                                                 calibrated_latency, peak)

    run_dir = results.new_run_dir(Path(cfg.results_dir), sys_name, card.name, prec_folder,
                                  scenario.name, cfg.mode)
    (run_dir / "user.conf").write_text(conf_text)
    manifest: dict[str, Any] = {
        "status": results.STATUS_INCOMPLETE,
        "harness_version": __version__,
        "valid_for_submission": False,
        "config": asdict(cfg),
        "card": {"name": card.name, "benchmark": card.benchmark, "task": card.task,
                 "source": card.source, "input": card.input,
                 "preprocessing": card.preprocessing, "postprocessing": card.postprocessing,
                 "reference": card.reference},
        "weights": weights.to_dict(),
        "dataset": dataset.describe(),
        "loadgen": {"benchmark": card.benchmark, "scenario": scenario.loadgen,
                    "mode": "AccuracyOnly" if accuracy else "PerformanceOnly",
                    "performance_sample_count": qsl.performance_sample_count,
                    "total_sample_count": qsl.total_sample_count, **conf_notes},
        "calibration": {"samples_per_second": calibrated,
                        "median_latency_ms": calibrated_latency},
        "backend": {"name": backend.name, "settings": settings.to_dict(),
                    "properties": backend.properties(), "model": backend.model_info()},
        "system": {"name": sys_name, **system.facts()},
        "git": system.git_revision(),
        "command": sys.argv,
        # LoadGen reads ./audit.config (compliance tests TEST01/04/05): such a run is an
        # audit run, never a submission result (harness.compliance)
        "audit_config": (Path("audit.config").read_text()
                         if Path("audit.config").is_file() else None),
        "cwd": os.getcwd(),
        "started": started,
    }
    model_file = backend.model_info().get("ir")
    manifest["model_stats"] = model_stats.for_run(card, cfg.precision, model_file)
    if cfg.precision == "int8" and model_file:
        manifest["quantization"] = quantization.run_facts(model_file, len(dataset))
    results.write_manifest(run_dir, manifest)
    print(f"run directory: {run_dir}", flush=True)

    def finish(status: str, **extra):
        manifest.update(status=status, ended=datetime.now(timezone.utc).isoformat(), **extra)
        results.write_manifest(run_dir, manifest)

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        ts = scen.test_settings(run_dir / "user.conf", card.benchmark, scenario, accuracy)
        if manifest["audit_config"]:
            from .compliance import apply_audit_seeds  # TEST05: LoadGen ignores conf seeds

            manifest["audit_seeds"] = apply_audit_seeds(ts, manifest["audit_config"])
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = str(run_dir)
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = False
        sut = SUT(backend, qsl, post, synchronous=scenario.issue == "sync")
        sut_handle = sut.construct()
        qsl_handle = qsl.construct()
        t0 = time.perf_counter()
        print(f"LoadGen {scenario.name} {'AccuracyOnly' if accuracy else 'PerformanceOnly'} "
              f"({cfg.execution} mode) ...", flush=True)
        try:
            _start_test(sut_handle, qsl_handle, ts, log_settings)
        finally:
            sut.destroy()
            qsl.destroy()
        wall = time.perf_counter() - t0
        result = loadgen_logs.key_result(run_dir, scenario.name)
        result.update(wall_seconds=round(wall, 3), inference_errors=sut.errors,
                      first_inference_error=sut.first_error, samples_answered=sut.completed)
        manifest["result"] = result
        if sut.errors:
            result["validity"] = "INVALID"
            raise HarnessError(f"{sut.errors} of {sut.completed} samples failed inference "
                               f"(first: {sut.first_error}); the run is marked failed")
        if accuracy:
            manifest["accuracy"] = score_accuracy(card, dataset, run_dir)
            if not weights.trained:
                manifest["accuracy"]["note"] = ("RANDOM weights: this accuracy is meaningless; "
                                                "the log exists for submission/TEST01 checks")
            if reference_dir is not None:  # the 99% gate (harness.accuracy.gate)
                manifest["accuracy_gate"] = gate.apply(run_dir, manifest["accuracy"],
                                                       reference_dir)
            elif gate_skipped is not None:
                manifest["accuracy_gate"] = gate_skipped
                print(f"NOTE: accuracy gate skipped: {gate_skipped['why']}", flush=True)
        manifest["valid_for_submission"] = (cfg.execution == "valid"
                                            and result.get("validity") == "VALID"
                                            and weights.trained and not dataset.synthetic)
        finish(results.STATUS_COMPLETE)
    except KeyboardInterrupt:
        finish("interrupted", error="interrupted by the user (Ctrl-C or SIGTERM)")
        raise
    except BaseException as exc:
        finish("failed", error=f"{exc.__class__.__name__}: {exc}")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return run_dir


#: Performance sample counts of the official benchmarks (LoadGen's built-in mlperf.conf).
PERFORMANCE_SAMPLE_COUNT = {"resnet50": 1024, "ssd-mobilenet": 256, "retinanet": 64}

def score_accuracy(card, dataset, run_dir: Path) -> dict[str, Any]:
    """Score the run's accuracy log with the card's task scorer and write accuracy.txt."""
    from .accuracy import SCORERS

    if card.task not in SCORERS:
        raise HarnessError(f"no accuracy scorer for task '{card.task}'")
    res = SCORERS[card.task](card, dataset, run_dir)
    print(f"accuracy: {res['metric']} = {res['value']:.3f}% "
          f"({run_dir / 'accuracy.txt'})", flush=True)
    return res


def run_subprocess(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``harness run <args>`` in a fresh Python process (one LoadGen test per process)."""
    return subprocess.run([sys.executable, "-m", "harness", "run", *args], **kwargs)


__all__ = ["RunConfig", "run", "run_subprocess", "calibrate_throughput"]
