"""``harness submission``: an MLPerf open-division submission tree from the harness's runs.

Layout (round v6.1; mlcommons/inference ``tools/submission/submission_checker/constants.py``,
``*_PATH["v6.0"/"default"]``)::

    DIR/open/<submitter>/systems/<system>.json
    DIR/open/<submitter>/src/README.md              harness version and git commit
    DIR/open/<submitter>/model_mapping.json         {"<model folder>": "resnet", ...}
    DIR/open/<submitter>/results/<system>/<model>/<Scenario>/
        README.md  user.conf  measurements.json
        performance/run_1/mlperf_log_summary.txt, mlperf_log_detail.txt
        accuracy/mlperf_log_summary.txt, mlperf_log_detail.txt, accuracy.txt,
                 mlperf_log_accuracy.json         (first and last 4096 bytes)
        TEST01/ TEST04/ TEST05/                   (when `harness compliance` ran)
    DIR/harness_submission.json                     what was used (outside the division)

Only complete runs of execution mode ``valid`` with a VALID LoadGen result go in; audit
(compliance) runs and peak-search runs never do. A performance result needs an accuracy run
of the same model, precision and scenario. When a result has only test-mode runs, or lacks
its accuracy run, nothing is written and the error names each missing run with the command
that makes it.

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..results import precision_folder

HELP = "build an MLPerf open-division submission tree from valid runs"


@dataclass
class Result:
    """One result folder: a performance run, its accuracy run, its compliance tests."""

    model: str            # card name
    precision: str        # precision folder (int8, fp32, or <backend>-<precision>)
    scenario: str
    perf: Path
    perf_manifest: dict[str, Any]
    accuracy: Path
    accuracy_manifest: dict[str, Any]
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    folder: str = ""      # model folder name in the tree



def _newest(runs: list) -> tuple:
    """The (run_dir, manifest) pair that started last."""
    return max(runs, key=lambda run: run[1].get("started") or "")

def _is_auxiliary(run_dir: Path, m: dict[str, Any]) -> bool:
    """Audit (compliance) and peak-search runs: never results."""
    return bool(m.get("audit_config")) or "peak_search" in run_dir.parts \
        or "compliance" in run_dir.parts


def collect_runs(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every run below the given run directories or results roots (auxiliary runs left out)."""
    from ..results import iter_runs, read_manifest

    found = []
    for p in paths:
        p = Path(p)
        if (p / "run.json").is_file():
            found.append((p.resolve(), read_manifest(p)))
        elif p.is_dir():
            found.extend((d.resolve(), m) for d, m in iter_runs(p))
        else:
            raise HarnessError(f"{p} is neither a run directory nor a results folder")
    return [(d, m) for d, m in found if m.get("config") and not _is_auxiliary(d, m)]


def reproduce_command(cfg: dict[str, Any], mode: str | None = None,
                      execution: str = "valid") -> str:
    """The ``harness run`` command for a run configuration, in ``execution`` mode."""
    args = ["harness", "run", "--model", cfg["model"], "--scenario", cfg["scenario"],
            "--mode", mode or cfg["mode"], "--precision", cfg["precision"],
            "--execution", execution]
    for key in ("backend", "dataset", "count", "weights", "device", "hint", "streams",
                "threads", "nireq", "cores", "calibration_dataset", "calibration_list",
                "calibration_count", "max_accuracy_drop", "user_conf", "system"):
        value = cfg.get(key)
        if value in (None, "") or (key == "backend" and value == "openvino") \
                or (key == "device" and value == "CPU"):
            continue
        args += [f"--{key.replace('_', '-')}", str(value)]
    if execution == "test" and cfg.get("duration_ms"):
        args += ["--duration-ms", str(cfg["duration_ms"])]
    return shlex.join(args)


def _duration_ok(m: dict[str, Any], min_duration_s: float) -> bool:
    res = m.get("result") or {}
    eff = res.get("effective_min_duration_ms")
    return eff is not None and float(eff) >= min_duration_s * 1000


def _usable(m: dict[str, Any], mode: str, min_duration_s: float | None) -> bool:
    cfg = m["config"]
    if m.get("status") != "complete" or cfg.get("mode") != mode:
        return False
    if cfg.get("execution") != "valid":
        if min_duration_s is None:
            return False
        if mode == "performance" and not _duration_ok(m, min_duration_s):
            return False
    if mode == "performance":
        return (m.get("result") or {}).get("validity") == "VALID"
    return bool(m.get("accuracy"))


def select(runs: list[tuple[Path, dict[str, Any]]], min_duration_s: float | None = None,
           precision: str | None = None, models: list[str] | None = None,
           scenarios: list[str] | None = None) -> list[Result]:
    """The newest usable performance and accuracy run per (model, precision, scenario).

    Args:
        runs: :func:`collect_runs` output.
        min_duration_s: tests only: accept test-mode runs at least this long.
        precision, models, scenarios: only runs of these (None: all found).

    Raises:
        HarnessError: no usable run at all, or a result lacking a valid performance or
            accuracy run (all such gaps are listed with the commands that fill them).
    """
    from .. import compliance

    groups: dict[tuple[str, str, str], dict[str, list]] = {}
    for d, m in runs:
        cfg = m["config"]
        if (precision and cfg.get("precision") != precision) or \
                (models and cfg.get("model") not in models) or \
                (scenarios and cfg.get("scenario") not in scenarios):
            continue
        key = (cfg["model"], precision_folder(cfg.get("backend", "openvino"), cfg["precision"]),
               cfg["scenario"])
        groups.setdefault(key, {"performance": [], "accuracy": []})
        if cfg.get("mode") in ("performance", "accuracy"):
            groups[key][cfg["mode"]].append((d, m))
    if not groups:
        raise HarnessError("no runs found: run the benchmarks first (make submission, or "
                           "harness run ... --execution valid)")
    results, missing = [], []
    for (model, prec, scen), g in sorted(groups.items()):
        if not g["performance"]:
            continue  # an accuracy run alone is no result
        perf = [x for x in g["performance"] if _usable(x[1], "performance", min_duration_s)]
        acc = [x for x in g["accuracy"] if _usable(x[1], "accuracy", min_duration_s)]
        example = _newest(g["performance"])[1]["config"]
        if not perf:
            done = [x for x in g["performance"] if x[1].get("status") == "complete"]
            why = ("only test-mode runs" if done and all(
                x[1]["config"].get("execution") != "valid" for x in done)
                else "no complete VALID valid-mode run")
            missing.append(f"{model} {prec} {scen} performance: {why} (newest: "
                           f"{_newest(g['performance'])[0]}); make it with: "
                           f"{reproduce_command(example, 'performance')}")
        if not acc:
            src = _newest(g["accuracy"])[1]["config"] if g["accuracy"] else example
            missing.append(f"{model} {prec} {scen} accuracy: no complete "
                           f"{'valid-mode ' if min_duration_s is None else ''}accuracy run; "
                           f"make it with: {reproduce_command(src, 'accuracy')}"
                           + ("" if src.get("dataset") else " --dataset DATASET"))
        if perf and acc:
            p, a = _newest(perf), _newest(acc)
            r = Result(model, prec, scen, p[0], p[1], a[0], a[1])
            for test in compliance.TESTS:
                rec = compliance.latest_result(p[0].parent.parent, test)
                if rec and Path(rec["reference_run"]).resolve() == p[0]:
                    r.compliance[test] = rec
            results.append(r)
    if missing:
        raise HarnessError("cannot build the submission; missing valid runs:\n  "
                           + "\n  ".join(missing))
    if not results:
        raise HarnessError("no performance runs found among the given runs")
    precisions: dict[str, set] = {}
    for r in results:
        precisions.setdefault(r.model, set()).add(r.precision)
    for r in results:
        r.folder = r.model if len(precisions[r.model]) == 1 else f"{r.model}-{r.precision}"
    return results


# --- contents -----------------------------------------------------------------------------

def _weights_text(m: dict[str, Any]) -> str:
    w = m.get("weights") or {}
    if w.get("kind") == "random":
        return f"none: random initialisation ({w.get('identity')}), untrained"
    return str(w.get("path") or w.get("identity") or "unknown")


def _weight_transformations(m: dict[str, Any]) -> str:
    prec = m["config"]["precision"]
    model_info = json.dumps((m.get("backend") or {}).get("model") or {}).lower()
    src = (m.get("card") or {}).get("source") or {}
    if prec == "int8":
        if str(src.get("path", "")).endswith(".tflite") or "tflite" in model_info:
            return "none: the model file is already uint8-quantized (TFLite)"
        cal = (m.get("quantization") or {}).get("calibration") or {}
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
    m = r.perf_manifest
    card = m.get("card") or {}
    weight_types = {"int8": "int8", "fp32": "fp32", "bf16": "fp32"}.get(
        m["config"]["precision"], m["config"]["precision"])
    if str((card.get("source") or {}).get("path", "")).endswith(".tflite"):
        weight_types = "uint8"
    return {
        "input_data_types": (card.get("input") or {}).get("dtype", "float32"),
        "retraining": "No",
        "starting_weights_filename": _weights_text(m),
        "weight_data_types": weight_types,
        "weight_transformations": _weight_transformations(m),
        "harness_model": r.model,
        "harness_precision": r.precision,
        "loadgen_benchmark": card.get("benchmark"),
        "dataset_performance": (m.get("dataset") or {}),
        "dataset_accuracy": (r.accuracy_manifest.get("dataset") or {}),
    }


def _as_command(m: dict[str, Any]) -> str:
    """The command line a run was made with, as ``harness ...`` (argv[0] normalised)."""
    argv = m.get("command") or []
    return shlex.join(["harness", *argv[1:]]) if argv else reproduce_command(m["config"])


def readme(r: Result, test_tree: bool) -> str:
    """The result's README.md: what it is and the exact commands that reproduce it."""
    pm, am = r.perf_manifest, r.accuracy_manifest
    res = pm.get("result") or {}
    lines = [f"# {r.model} ({r.precision}) {r.scenario}", ""]
    if test_tree:
        lines += ["**TEST TREE: built from short test-mode runs with a lowered minimum "
                  "duration; not a valid submission.**", ""]
    lines += ["Produced with the MLPerf-style OpenVINO harness "
              f"(version {pm.get('harness_version')}, commit "
              f"{(pm.get('git') or {}).get('commit')}).", "",
              "## Reproduce", "", "Performance run:", "", "```",
              _as_command(pm), "```", "",
              "Accuracy run:", "", "```",
              _as_command(am), "```", ""]
    if r.compliance:
        lines += ["Compliance tests:", "", "```"]
        lines += [shlex.join(["harness", "compliance", "--tests", t, "--execution",
                              rec.get("execution", "test"), "<performance run>"])
                  for t, rec in sorted(r.compliance.items())]
        lines += ["```", ""]
    qps = (pm.get("loadgen") or {}).get("server_target_qps")
    parts = [f"samples/s {res['samples_per_second']}"] \
        if res.get("samples_per_second") is not None else []
    if r.scenario != "Offline":  # Offline latencies are time-to-completion, no metric
        parts += [f"p90 {res.get('p90_ms')} ms", f"p99 {res.get('p99_ms')} ms"]
    metric = ", ".join(parts)
    perf_data = pm.get("dataset") or {}
    lines += ["## Notes", "",
              f"- Result: {res.get('validity')}, {metric}.",
              f"- Weights: {(pm.get('weights') or {}).get('note')}.",
              f"- Performance data: {perf_data.get('path') or perf_data.get('kind', 'see run.json')}"
              f"; accuracy data: "
              f"{(am.get('dataset') or {}).get('path', '')} "
              f"({(am.get('accuracy') or {}).get('total')} samples).",
              f"- Accuracy: {(am.get('accuracy') or {}).get('metric')} = "
              f"{(am.get('accuracy') or {}).get('value')}%."]
    if qps:
        lines.append(f"- Server target QPS {qps.get('value')} from {qps.get('source')}.")
    return "\n".join(lines) + "\n"


def src_readme(results: list[Result]) -> str:
    m = results[0].perf_manifest
    git = m.get("git") or {}
    return ("# Source\n\nThe results were produced with the MLPerf-style inference harness "
            f"(python package `mlperf-ov-harness`), version {m.get('harness_version')}, git "
            f"commit `{git.get('commit')}`{' (uncommitted changes present)' if git.get('dirty') else ''}.\n\n"
            "Each result's README.md lists the exact `harness run` commands; "
            "docs/submission.md of the harness describes the whole procedure.\n")


def plan(results: list[Result], out: Path, division: str, submitter: str, system: str,
         system_json: dict[str, Any], min_duration_s: float | None
         ) -> list[tuple[Path, Any]]:
    """The files of the tree: ``(destination, source Path | text | ("truncate", Path))``."""
    from . import rules

    root = out / division / submitter
    test_tree = min_duration_s is not None
    files: list[tuple[Path, Any]] = [
        (root / "systems" / f"{system}.json", json.dumps(system_json, indent=2) + "\n"),
        (root / "src" / "README.md", src_readme(results))]
    mapping = {}
    for r in results:
        bench = (r.perf_manifest.get("card") or {}).get("benchmark", "")
        official = rules.LOADGEN_TO_CHECKER.get(bench, bench)
        if r.folder not in rules.OFFICIAL_MODELS:
            mapping[r.folder] = official
        d = root / "results" / system / r.folder / r.scenario
        files += [(d / "README.md", readme(r, test_tree)),
                  (d / "user.conf", r.perf / "user.conf"),
                  (d / "measurements.json", json.dumps(measurements(r), indent=2) + "\n")]
        for f in rules.REQUIRED_PERF_FILES:
            files.append((d / "performance" / "run_1" / f, r.perf / f))
        for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt"):
            files.append((d / "accuracy" / f, r.accuracy / f))
        files.append((d / "accuracy" / "mlperf_log_accuracy.json",
                      ("truncate", r.accuracy / "mlperf_log_accuracy.json")))
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
                     "scenario": r.scenario, "performance_run": str(r.perf),
                     "accuracy_run": str(r.accuracy),
                     "compliance": {t: rec["out_dir"] for t, rec in r.compliance.items()}}
                    for r in results]}, indent=2) + "\n"))
    return files


def write(files: list[tuple[Path, Any]]) -> None:
    """Write the planned files (the tree must not exist yet)."""
    from .truncate import truncate_accuracy_log

    for dst, src in files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, str):
            dst.write_text(src)
        elif isinstance(src, tuple):
            truncate_accuracy_log(src[1], dst)
        else:
            shutil.copyfile(src, dst)


# --- CLI ----------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", help="run directories or results folders "
                                           "(default: --results-dir)")
    p.add_argument("--division", default="open", help="only 'open' is supported")
    p.add_argument("--submitter", required=True, help="organisation name (folder name)")
    p.add_argument("--system", required=True, help="system name (systems/<system>.json)")
    p.add_argument("--system-file", default=None,
                   help="JSON with the system keys a machine cannot know (status, "
                        "system_type, cooling, ...); see docs/submission.md")
    p.add_argument("--precision", default=None, help="only runs of this precision")
    p.add_argument("--models", nargs="+", default=None, help="only runs of these models")
    p.add_argument("--scenarios", nargs="+", default=None,
                   help="only these scenarios (open division: a subset is allowed)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("-o", "--output", required=True, help="submission folder to create")
    p.add_argument("--dry-run", action="store_true", help="list what would be written")
    p.add_argument("--min-duration-s", type=float, default=None,
                   help="TESTS ONLY: accept test-mode runs at least this long; the tree is "
                        "marked as a test tree")


def run(args) -> int:
    from . import systems

    if args.division != "open":
        raise HarnessError(f"division '{args.division}' is not supported; the harness builds "
                           f"open-division trees (--division open)")
    for name, value in (("submitter", args.submitter), ("system", args.system)):
        if not value or "/" in value or value.startswith("."):
            raise HarnessError(f"--{name} '{value}' must be a plain folder name")
    out = Path(args.output)
    root = out / args.division / args.submitter
    if root.exists() and not args.dry_run:
        raise HarnessError(f"{root} already exists; choose a new -o folder (an existing "
                           f"submission is never overwritten)")
    from . import rules

    bad = [s for s in (args.scenarios or []) if s not in rules.SCENARIOS]
    if bad:
        raise HarnessError(f"--scenarios: unknown {', '.join(bad)}; valid: "
                           f"{', '.join(rules.SCENARIOS)}")
    runs = collect_runs([Path(p) for p in (args.runs or [args.results_dir])])
    results = select(runs, args.min_duration_s, args.precision, args.models, args.scenarios)
    user = systems.load_user_file(Path(args.system_file) if args.system_file else None)
    desc, defaulted = systems.describe(args.division, args.submitter, args.system, user)
    files = plan(results, out, args.division, args.submitter, args.system, desc,
                 args.min_duration_s)
    for r in results:
        tests = ", ".join(sorted(r.compliance)) or "no compliance tests"
        print(f"{r.folder} {r.scenario}: performance {r.perf}\n    accuracy {r.accuracy}; "
              f"{tests}")
    if defaulted:
        print(f"WARNING: systems/{args.system}.json: placeholders for {', '.join(defaulted)}; "
              f"give them in --system-file")
    if args.dry_run:
        print(f"dry run: would write {len(files)} files:")
        for dst, src in files:
            how = ("text" if isinstance(src, str) else
                   f"truncated from {src[1]}" if isinstance(src, tuple) else f"from {src}")
            print(f"  {dst} ({how})")
        return 0
    write(files)
    print(f"submission tree: {root} ({len(files)} files)")
    print(f"check it: harness check-submission {out}"
          + (f" --min-duration-s {args.min_duration_s:g}" if args.min_duration_s else ""))
    return 0
