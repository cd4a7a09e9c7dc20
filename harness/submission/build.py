"""``harness submission``: an MLPerf open-division submission tree from the harness's runs.

Layout (round v6.1; mlcommons/inference ``tools/submission/submission_checker/constants.py``,
``*_PATH["v6.0"/"default"]``, ``loader.py``)::

    DIR/open/<submitter>/systems/<system>.json
    DIR/open/<submitter>/src/README.md              harness version and git commit
    DIR/open/<submitter>/model_mapping.json         {"<model folder>": "resnet", ...}
    DIR/open/<submitter>/results/<system>/<model>/<Scenario>/
        README.md  user.conf  measurements.json
        performance/run_1/mlperf_log_summary.txt, mlperf_log_detail.txt
        accuracy/mlperf_log_summary.txt, mlperf_log_detail.txt, accuracy.txt,
                 mlperf_log_accuracy.json         (first and last 4096 bytes)
        TEST01/verify_accuracy.txt, verify_performance.txt,
               accuracy/mlperf_log_accuracy.json, performance/run_1/ (summary, detail)
        TEST04/verify_performance.txt, performance/run_1/ (summary, detail)
                                                  (as compliance/TEST0x/run_verification.py
                                                  lays them out, when the tests ran)
    DIR/harness_submission.json                     what was used (outside the division)

Only complete runs of execution mode ``valid`` with a VALID LoadGen result go in; audit
(compliance) runs and peak-search runs never do. A performance result needs an accuracy run
of the same model, precision and scenario. When a result has only test-mode runs, or lacks
its accuracy run, nothing is written and the error names each missing run with the command
that makes it.

Every file comes from the folders given (the run directories where their ``run.json`` was
found, :func:`harness.run.report.read`), never from the paths a ``run.json`` or
``compliance.json`` recorded: a results folder copied to another machine builds the tree of
its own files. When a file of a selected run is missing there, nothing is written and the
error lists the missing files.

``--scenarios`` limits the tree to some scenarios. The open division does not require every
scenario of a system type (the MLCommons checker ignores missing scenarios there), so a
system that cannot meet a scenario's bound, e.g. the 15 ms Server p99 of resnet50 on a
few cores, submits the others.

``--min-duration-s`` (tests only) lets test-mode runs at least that long in; the tree then
records the lowered minimum in ``harness_submission.json`` and README files, and
``harness check-submission`` still fails it unless given the same option.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import results_tree, scenarios
from ..errors import HarnessError
from ..files import check_folder_argument
from ..run import report as report_mod
from ..run.config import to_arguments
from ..run.report import RunReport
from ..run.results import precision_folder
from . import rules, systems
from .truncate import truncate_accuracy_log

HELP = "build an MLPerf open-division submission tree from valid runs"


@dataclass
class Result:
    """One result folder: a performance run, its accuracy run, its compliance tests."""

    model: str            # card name
    precision: str        # precision folder: the runs' precision label (fp32, uint8, int8,
                          # or <backend>-<label>)
    scenario: str
    perf: RunReport
    accuracy: RunReport
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    folder: str = ""      # model folder name in the tree


def _newest(runs: list[RunReport]) -> RunReport:
    """The run that started last."""
    return max(runs, key=lambda r: r.started or "")


def _is_auxiliary(rep: RunReport) -> bool:
    """Audit (compliance) and peak-search runs: never results."""
    parts = rep.path.parts
    return bool(rep.audit_config) or "peak_search" in parts or "compliance" in parts


def collect_runs(paths: list[Path]) -> tuple[list[RunReport], list[str]]:
    """Every readable run below the given run directories or results roots (auxiliary runs
    left out), and a line for each unreadable ``run.json``.

    Raises:
        HarnessError: a path that is neither a run directory nor a folder.
    """
    found: list[RunReport] = []
    unreadable: list[str] = []
    for p in paths:
        p = Path(p)
        if (p / report_mod.FILE_NAME).is_file():
            items = [(p, _read_or_error(p))]
        elif p.is_dir():
            items = list(report_mod.iter_reports(p))
        else:
            raise HarnessError(f"{p} is neither a run directory nor a results folder")
        for d, rep in items:
            if isinstance(rep, report_mod.UnreadableReport):
                unreadable.append(str(rep))
            elif not _is_auxiliary(rep):
                found.append(rep)
    return found, unreadable


def _read_or_error(p: Path):
    try:
        return report_mod.read(p)
    except report_mod.UnreadableReport as exc:
        return exc


def reproduce_command(rep: RunReport, mode: str | None = None, execution: str = "valid"
                      ) -> str:
    """The ``harness run`` command that makes a run like ``rep`` in ``mode`` and
    ``execution`` mode (options generated from its config; ``--dataset DATASET`` appended
    for an accuracy run of a config that has none)."""
    cfg = rep.config
    mode = mode or cfg.mode.name
    needs_data = mode == "accuracy" and not cfg.data.dataset
    cfg = replace(cfg, mode=replace(cfg.mode, name="performance" if needs_data else mode,
                                    reference_run=None),
                  execution=replace(cfg.execution, kind=execution,
                                    duration_ms=cfg.execution.duration_ms
                                    if execution == "test" else None))
    args = to_arguments(cfg)
    if needs_data:
        args += ["--mode", "accuracy", "--dataset", "DATASET"]
    return shlex.join(["harness", "run", *args])


def _duration_ok(rep: RunReport, min_duration_s: float) -> bool:
    eff = rep.result.effective_min_duration_ms if rep.result else None
    return eff is not None and float(eff) >= min_duration_s * 1000


def _usable(rep: RunReport, mode: str, min_duration_s: float | None) -> bool:
    if not rep.complete or rep.config.mode.name != mode:
        return False
    if rep.config.execution.kind != "valid":
        if min_duration_s is None:
            return False
        if mode == "performance" and not _duration_ok(rep, min_duration_s):
            return False
    if mode == "performance":
        return rep.valid and rep.result.score is not None and not rep.result.log_truncated
    return bool(rep.accuracy)


def select(runs: list[RunReport], min_duration_s: float | None = None,
           precision: str | None = None, models: list[str] | None = None,
           scenarios_: list[str] | None = None, allow_gate_fail: bool = False
           ) -> list[Result]:
    """The newest usable performance and accuracy run per (model, precision, scenario).

    Args:
        runs: :func:`collect_runs` output.
        min_duration_s: tests only: accept test-mode runs at least this long.
        precision, models, scenarios_: only runs of these (None: all found).
        allow_gate_fail: accept an accuracy run whose 99% gate FAILed (marked loudly in
            the tree) instead of refusing it.

    Raises:
        HarnessError: no usable run at all, a result lacking a valid performance or
            accuracy run (all such gaps are listed with the commands that fill them), or an
            accuracy run that failed the 99% gate.
    """
    groups = _group(runs, precision, models, scenarios_)
    if not groups:
        raise HarnessError("no runs found: run the benchmarks first (harness "
                           "prepare-submission, or harness run ... --execution valid)")
    results, missing, failed_gate = [], [], []
    for (model, prec, scen), g in sorted(groups.items()):
        if not g["performance"]:
            continue  # an accuracy run alone is no result
        perf = [r for r in g["performance"] if _usable(r, "performance", min_duration_s)]
        acc = [r for r in g["accuracy"] if _usable(r, "accuracy", min_duration_s)]
        missing += _gaps(f"{model} {prec} {scen}", g, perf, acc, min_duration_s)
        if perf and acc:
            a = _newest(acc)
            if a.gate_passed is False and not allow_gate_fail:
                failed_gate.append(_gate_failure(f"{model} {prec} {scen}", a))
            results.append(_with_compliance(Result(model, prec, scen, _newest(perf), a)))
    if missing:
        raise HarnessError("cannot build the submission; missing valid runs:\n  "
                           + "\n  ".join(missing))
    if failed_gate:
        raise HarnessError("cannot build the submission: accuracy below 99% of FP32 (MLPerf's "
                           "rule for optimized and INT8 models):\n  " + "\n  ".join(failed_gate)
                           + "\nFix the model (e.g. --max-accuracy-drop 0.01), or give "
                             "--allow-gate-fail to submit it marked as failing the gate")
    if not results:
        raise HarnessError("no performance runs found among the given runs")
    _name_folders(results)
    return results


def _group(runs: list[RunReport], precision: str | None, models: list[str] | None,
           scenarios_: list[str] | None) -> dict[tuple[str, str, str], dict[str, list]]:
    """``{(model, precision folder, scenario): {"performance": [...], "accuracy": [...]}}``
    of the runs the filters keep."""
    groups: dict[tuple[str, str, str], dict[str, list[RunReport]]] = {}
    for rep in runs:
        cfg = rep.config
        if (precision and precision not in (cfg.precision, rep.precision_label)) or \
                (models and cfg.model.name not in models) or \
                (scenarios_ and cfg.scenario.name not in scenarios_):
            continue
        key = (cfg.model.name, precision_folder(cfg.backend, rep.precision_label),
               cfg.scenario.name)
        groups.setdefault(key, {"performance": [], "accuracy": []})
        groups[key][cfg.mode.name].append(rep)
    return groups


def _gaps(what: str, group: dict[str, list[RunReport]], perf: list[RunReport],
          acc: list[RunReport], min_duration_s: float | None) -> list[str]:
    """The lines naming a result's missing performance or accuracy run, each with the
    command that makes it."""
    example = _newest(group["performance"])
    out = []
    if not perf:
        done = [r for r in group["performance"] if r.complete]
        why = ("only test-mode runs" if done and all(
            r.config.execution.kind != "valid" for r in done)
            else "no complete VALID valid-mode run")
        out.append(f"{what} performance: {why} (newest: {example.run_dir}); make it with: "
                   f"{reproduce_command(example, 'performance')}")
    if not acc:
        src = _newest(group["accuracy"]) if group["accuracy"] else example
        out.append(f"{what} accuracy: no complete "
                   f"{'valid-mode ' if min_duration_s is None else ''}accuracy run; "
                   f"make it with: {reproduce_command(src, 'accuracy')}")
    return out


def _gate_failure(what: str, acc: RunReport) -> str:
    """The line naming an accuracy run that failed the 99% gate, with its figures."""
    g = acc.accuracy_gate
    return (f"{what}: {acc.run_dir} FAILED the 99% gate ({g.get('metric')} "
            f"{g.get('value'):.3f}% = {g.get('ratio'):.4f} of FP32 "
            f"{g.get('reference_value'):.3f}%)")


def _with_compliance(result: Result) -> Result:
    """``result`` with the newest compliance record of each test whose reference run is
    its performance run."""
    for test in rules.COMPLIANCE_TESTS_RUN:
        rec = latest_compliance(results_tree.scenario_dir_of(result.perf.path), test)
        if rec and Path(rec["reference_run"]).resolve() == result.perf.path.resolve():
            result.compliance[test] = rec
    return result


def _name_folders(results: list[Result]) -> None:
    """Each result's folder in the tree: the model, or model-precision where one model has
    results of several precisions."""
    precisions: dict[str, set] = {}
    for r in results:
        precisions.setdefault(r.model, set()).add(r.precision)
    for r in results:
        r.folder = r.model if len(precisions[r.model]) == 1 else f"{r.model}-{r.precision}"


def latest_compliance(scenario_dir: Path, test: str) -> dict[str, Any] | None:
    """The newest readable ``compliance.json`` of ``test`` below a scenario folder.

    Its paths are those of the folder it was found in: ``out_dir`` is that folder, and the
    runs it names below the scenario folder it was written in (``audit_run``,
    ``reference_run``, an ``accuracy_run`` of the same scenario) are taken below
    ``scenario_dir`` (a copied or moved results folder is read where it is now)."""
    scenario_dir = Path(scenario_dir).resolve()
    base = results_tree.compliance_dir(scenario_dir, test)
    if not base.is_dir():
        return None
    for d in sorted(base.iterdir(), reverse=True):
        try:
            rec = json.loads((d / "compliance.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not (isinstance(rec, dict) and isinstance(rec.get("reference_run"), str)
                and isinstance(rec.get("out_dir"), str)
                and isinstance(rec.get("audit_run"), str)):
            continue
        parents = Path(rec["out_dir"]).parents  # <scenario>/compliance/<TEST>/<stamp>
        if len(parents) < 3:
            continue
        written = parents[2]
        for key in ("audit_run", "reference_run", "accuracy_run"):
            if isinstance(rec.get(key), str):
                rec[key] = _rebased(rec[key], written, scenario_dir)
        rec["out_dir"] = str(d)
        return rec
    return None


def _rebased(path: str, old: Path, new: Path) -> str:
    """``path`` below ``new`` where it was below ``old``; unchanged when it was not."""
    try:
        return str(new / Path(path).relative_to(old))
    except ValueError:
        return path


# --- contents -----------------------------------------------------------------------------

def _weights_text(rep: RunReport) -> str:
    w = rep.weights
    if w.get("kind") == "random":
        return f"none: random initialisation ({w.get('identity')}), untrained"
    return str(w.get("path") or w.get("identity") or "unknown")


def _weight_transformations(rep: RunReport) -> str:
    prec = rep.config.precision
    model_info = json.dumps(rep.backend.get("model") or {}).lower()
    src = rep.card.get("source") or {}
    if prec == "int8":
        if str(src.get("path", "")).endswith(".tflite") or "tflite" in model_info:
            return "none: the model file is already uint8-quantized (TFLite)"
        cal = (rep.quantization or {}).get("calibration") or {}
        data = cal.get("dataset") or {}
        where = data.get("path") or data.get("kind") or "unknown data"
        how = f"list {cal['list_file']}" if cal.get("list_file") else cal.get("source", "")
        return (f"NNCF post-training INT8 quantization (OpenVINO IR), calibrated on "
                f"{cal.get('count', '?')} samples of {where} ({how})")
    if prec == "bf16":
        return "none (BF16 inference precision hint of OpenVINO)"
    if str(src.get("path", "")).endswith(".tflite"):
        return "none: the model file is already uint8-quantized (TFLite)"
    return "none (conversion to OpenVINO IR, FP32)"


def measurements(r: Result) -> dict[str, Any]:
    """``measurements.json`` (keys of ``rules.MEASUREMENTS_REQUIRED_FIELDS`` and more)."""
    rep = r.perf
    card = rep.card
    weight_types = {"int8": "int8", "fp32": "fp32", "bf16": "fp32"}.get(
        rep.config.precision, rep.config.precision)
    if str((card.get("source") or {}).get("path", "")).endswith(".tflite"):
        weight_types = "uint8"
    return {
        "input_data_types": (card.get("input") or {}).get("dtype", "float32"),
        "retraining": "No",
        "starting_weights_filename": _weights_text(rep),
        "weight_data_types": weight_types,
        "weight_transformations": _weight_transformations(rep),
        "harness_model": r.model,
        "harness_precision": r.precision,
        "loadgen_benchmark": card.get("benchmark"),
        "dataset_performance": rep.dataset,
        "dataset_accuracy": r.accuracy.dataset,
        "accuracy_gate": r.accuracy.accuracy_gate,
    }


def _as_command(rep: RunReport) -> str:
    """The command that reproduces a run: ``harness run`` with its config's options."""
    return shlex.join(["harness", "run", *to_arguments(rep.config)])


def compliance_command(test: str, rec: dict[str, Any]) -> str:
    """The ``harness compliance`` command that repeated a compliance test (its
    ``compliance.json`` record: reference run, execution mode, audit duration, TEST01's
    accuracy run)."""
    execution = rec.get("execution", "test")
    args = ["harness", "compliance", rec["reference_run"], "--tests", test,
            "--execution", execution]
    duration = ((rec.get("config") or {}).get("execution") or {}).get("duration_ms")
    if execution == "test" and duration:
        args += ["--duration-ms", str(duration)]
    if rec.get("accuracy_run"):
        args += ["--accuracy-run", rec["accuracy_run"]]
    return shlex.join(args)


def readme(r: Result, test_tree: bool) -> str:
    """The result's README.md: what it is and the exact commands that reproduce it."""
    pm, am = r.perf, r.accuracy
    res = pm.result
    lines = [f"# {r.model} ({r.precision}) {r.scenario}", ""]
    if test_tree:
        lines += ["**TEST TREE: built from short test-mode runs with a lowered minimum "
                  "duration; not a valid submission.**", ""]
    if am.gate_passed is False:
        g = am.accuracy_gate
        lines += [f"**ACCURACY GATE FAIL: {g.get('metric')} {g.get('value'):.3f}% is "
                  f"{g.get('ratio'):.4f} of the FP32 reference {g.get('reference_value'):.3f}%, "
                  f"below the 99% MLPerf requires of optimized and INT8 models.**", ""]
    lines += ["Produced with the MLPerf-style OpenVINO harness "
              f"(version {pm.harness_version}, commit {pm.git.get('commit')}).", "",
              "## Reproduce", "", "Performance run:", "", "```",
              _as_command(pm), "```", "",
              "Accuracy run:", "", "```",
              _as_command(am), "```", ""]
    if r.compliance:
        lines += ["Compliance tests (against the performance run above):", "", "```"]
        lines += [compliance_command(test, rec) for test, rec in sorted(r.compliance.items())]
        lines += ["```", ""]
    qps = pm.loadgen.get("server_target_qps")
    scenario = scenarios.get(r.scenario)
    acc = am.accuracy or {}
    perf_data = pm.dataset
    lines += ["## Notes", "",
              f"- Result: {scenario.describe(res)}.",
              f"- Weights: {pm.weights.get('note')}.",
              f"- Performance data: {perf_data.get('path') or perf_data.get('kind', 'see run.json')}"
              f"; accuracy data: {am.dataset.get('path', '')} ({acc.get('total')} samples).",
              f"- Accuracy: {acc.get('metric')} = {acc.get('value')}%."]
    if qps:
        lines.append(f"- Server target QPS {qps.get('value')} from {qps.get('source')}.")
    return "\n".join(lines) + "\n"


def src_readme(results: list[Result]) -> str:
    m = results[0].perf
    git = m.git
    return ("# Source\n\nThe results were produced with the MLPerf-style inference harness "
            f"(python package `mlperf-ov-harness`), version {m.harness_version}, git "
            f"commit `{git.get('commit')}`{' (uncommitted changes present)' if git.get('dirty') else ''}.\n\n"
            "Each result's README.md lists the exact `harness run` commands; "
            "docs/submission.md of the harness describes the whole procedure.\n")


def plan(results: list[Result], out: Path, division: str, submitter: str, system: str,
         system_json: dict[str, Any], min_duration_s: float | None
         ) -> list[tuple[Path, Any]]:
    """The files of the tree: ``(destination, source Path | text | ("truncate", Path))``;
    an accuracy log is truncated only when it is larger than the checker allows."""
    root = out / division / submitter
    test_tree = min_duration_s is not None
    files: list[tuple[Path, Any]] = [
        (root / "systems" / f"{system}.json", json.dumps(system_json, indent=2) + "\n"),
        (root / "src" / "README.md", src_readme(results))]
    mapping = {}
    for r in results:
        if r.folder not in rules.OFFICIAL_MODELS:  # loader.py reads it in the open division
            mapping[r.folder] = rules.checker_model(r.perf.card.get("benchmark", ""))
        d = root / "results" / system / r.folder / r.scenario
        perf, acc = r.perf.path, r.accuracy.path
        files += [(d / "README.md", readme(r, test_tree)),
                  (d / "user.conf", perf / "user.conf"),
                  (d / "measurements.json", json.dumps(measurements(r), indent=2) + "\n")]
        for f in rules.REQUIRED_PERF_FILES:
            files.append((d / "performance" / "run_1" / f, perf / f))
        for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt"):
            files.append((d / "accuracy" / f, acc / f))
        log = acc / "mlperf_log_accuracy.json"
        big = log.is_file() and log.stat().st_size > rules.MAX_ACCURACY_LOG_SIZE
        files.append((d / "accuracy" / "mlperf_log_accuracy.json",
                      ("truncate", log) if big else log))
        for test, rec in sorted(r.compliance.items()):
            cdir, audit = Path(rec["out_dir"]), Path(rec["audit_run"])
            for f in ("verify_accuracy.txt", "verify_performance.txt"):
                if (cdir / f).is_file():
                    files.append((d / test / f, cdir / f))
            for f in rules.REQUIRED_PERF_FILES:
                files.append((d / test / "performance" / "run_1" / f, audit / f))
            if test == "TEST01":
                files.append((d / test / "accuracy" / "mlperf_log_accuracy.json",
                              audit / "mlperf_log_accuracy.json"))
    files.append((root / "model_mapping.json", json.dumps(mapping, indent=2) + "\n"))
    files.append((out / "harness_submission.json", json.dumps({
        "built": datetime.now(timezone.utc).isoformat(), "round": rules.ROUND,
        "division": division, "submitter": submitter, "system": system,
        "test_tree": test_tree, "min_duration_s": min_duration_s,
        "results": [{"model": r.model, "folder": r.folder, "precision": r.precision,
                     "scenario": r.scenario, "performance_run": r.perf.run_dir,
                     "accuracy_run": r.accuracy.run_dir,
                     "accuracy_gate": (r.accuracy.accuracy_gate or {}).get("result"),
                     "compliance": {t: rec["out_dir"] for t, rec in r.compliance.items()}}
                    for r in results]}, indent=2) + "\n"))
    return files


def missing_sources(files: list[tuple[Path, Any]]) -> list[Path]:
    """The run files a :func:`plan` copies that do not exist (deleted from a copied results
    folder, say), in plan order."""
    sources = [src[1] if isinstance(src, tuple) else src for _, src in files
               if not isinstance(src, str)]
    return [src for src in sources if not Path(src).is_file()]


def write(files: list[tuple[Path, Any]], out: Path) -> None:
    """Write the planned files below ``out`` (whose division folder must not exist yet):
    first into a hidden sibling folder, then moved into place, so a failure (disk full)
    leaves no partial tree.

    Raises:
        HarnessError: a file cannot be written (nothing is left behind).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    try:
        for dst, src in files:
            target = tmp / dst.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, str):
                target.write_text(src)
            elif isinstance(src, tuple):
                truncate_accuracy_log(src[1], target)
            else:
                shutil.copyfile(src, target)
        out.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            item.rename(out / item.name)
    except OSError as exc:
        raise HarnessError(f"cannot write the submission tree {out}: "
                           f"{exc.strerror or exc}; nothing was left behind") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build(run_paths: list[Path], out: Path, submitter: str, system: str,
          system_file: Path | None = None, division: str = "open",
          precision: str | None = None, models: list[str] | None = None,
          scenarios_: list[str] | None = None, min_duration_s: float | None = None,
          allow_gate_fail: bool = False, dry_run: bool = False,
          system_defaults: dict[str, Any] | None = None
          ) -> tuple[Path, list[tuple[Path, Any]], list[Result]]:
    """Select the runs and write the tree (see the module docstring).

    ``system_defaults`` are system description keys the caller knows (e.g. the system type
    it ran for); the ``system_file`` overrides them.

    Returns:
        ``(tree root <out>/<division>/<submitter>, planned files, results)``.

    Raises:
        HarnessError: bad arguments, an existing tree, missing runs, files of the
            selected runs missing, a failed gate.
    """
    if division not in ("open", "network"):
        raise HarnessError(f"division '{division}' is not supported; the harness builds "
                           f"open-division trees (--division open) and network-division "
                           f"trees of --network-division runs (--division network)")
    for name, value in (("submitter", submitter), ("system", system)):
        if not value or "/" in value or value.startswith("."):
            raise HarnessError(f"--{name} '{value}' must be a plain folder name")
    root = Path(out) / division / submitter
    if root.exists() and not dry_run:
        raise HarnessError(f"{root} already exists; choose a new -o folder (an existing "
                           f"submission is never overwritten)")
    bad = [s for s in (scenarios_ or []) if s not in rules.SCENARIOS]
    if bad:
        raise HarnessError(f"--scenarios: unknown {', '.join(bad)}; valid: "
                           f"{', '.join(rules.SCENARIOS)}")
    runs, unreadable = collect_runs(run_paths)
    for line in unreadable:
        print(f"WARNING: skipped an unreadable run: {line}")
    results = select(runs, min_duration_s, precision, models, scenarios_, allow_gate_fail)
    network = None
    if division == "network":
        local = [f"{r.model} {r.scenario} {kind}: {rep.run_dir}" for r in results
                 for kind, rep in (("performance", r.perf), ("accuracy", r.accuracy))
                 if not rep.loadgen.get("network_division")]
        if local:
            raise HarnessError("the network division takes runs of LoadGen over the network "
                               "(harness run --backend kserve --network-division); these "
                               "were not:\n  " + "\n  ".join(local))
        network = systems.network_facts(results[0].perf)
    user = {**(system_defaults or {}), **systems.load_user_file(system_file)}
    desc, defaulted = systems.describe(division, submitter, system, user, network)
    files = plan(results, Path(out), division, submitter, system, desc, min_duration_s)
    missing = missing_sources(files)
    if missing:
        raise HarnessError("cannot build the submission: files of the selected runs are "
                           "missing (nothing was written):\n  "
                           + "\n  ".join(str(p) for p in missing)
                           + "\nRestore them (e.g. from the results folder this one was "
                             "copied from), or repeat those runs")
    for r in results:
        tests = ", ".join(sorted(r.compliance)) or "no compliance tests"
        gate = " (ACCURACY GATE FAIL)" if r.accuracy.gate_passed is False else ""
        print(f"{r.folder} {r.scenario}: performance {r.perf.run_dir}\n    accuracy "
              f"{r.accuracy.run_dir}{gate}; {tests}")
    if defaulted:
        print(f"WARNING: systems/{system}.json: placeholders for {', '.join(defaulted)}; "
              f"give them in --system-file")
    if not dry_run:
        write(files, Path(out))
    return root, files, results


# --- CLI ----------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", help="run directories or results folders "
                                           "(default: --results-dir)")
    p.add_argument("--division", default="open",
                   help="open (default), or network: runs of --backend kserve "
                        "--network-division (docs/network.md)")
    p.add_argument("--submitter", required=True, help="organisation name (folder name)")
    p.add_argument("--system", required=True, help="system name (systems/<system>.json)")
    p.add_argument("--system-file", default=None,
                   help="JSON with the system keys a machine cannot know (status, "
                        "system_type, cooling, ...); see docs/submission.md")
    p.add_argument("--system-type", default=None, choices=rules.SYSTEM_TYPES,
                   help="system_type of the system JSON when --system-file gives none "
                        "(default: edge)")
    p.add_argument("--precision", default=None,
                   help="only runs of this precision (asked for, or their label, e.g. uint8)")
    p.add_argument("--models", nargs="+", default=None, help="only runs of these models")
    p.add_argument("--scenarios", nargs="+", default=None,
                   help="only these scenarios (open division: a subset is allowed)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("-o", "--output", required=True, help="submission folder to create")
    p.add_argument("--dry-run", action="store_true", help="list what would be written")
    p.add_argument("--allow-gate-fail", action="store_true",
                   help="accept accuracy runs that failed the 99%% gate, marked so in the tree")
    p.add_argument("--min-duration-s", type=float, default=None,
                   help="TESTS ONLY: accept test-mode runs at least this long; the tree is "
                        "marked as a test tree")


def main(args) -> int:
    out = check_folder_argument(args.output, "-o/--output")
    root, files, _ = build(
        [Path(p) for p in (args.runs or [args.results_dir])], out, args.submitter,
        args.system, Path(args.system_file) if args.system_file else None, args.division,
        args.precision, args.models, args.scenarios, args.min_duration_s,
        args.allow_gate_fail, args.dry_run,
        system_defaults={"system_type": args.system_type} if args.system_type else None)
    if args.dry_run:
        print(f"dry run: would write {len(files)} files:")
        for dst, src in files:
            how = ("text" if isinstance(src, str) else
                   f"truncated from {src[1]}" if isinstance(src, tuple) else f"copied from {src}")
            print(f"  {dst} ({how})")
        return 0
    print(f"submission tree: {root} ({len(files)} files)")
    print(f"check it: harness check-submission {out}"
          + (f" --min-duration-s {args.min_duration_s:g}" if args.min_duration_s else ""))
    return 0
