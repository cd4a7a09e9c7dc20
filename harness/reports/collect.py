"""Gather runs into one pandas table: our run directories and official submission trees.

Two kinds of source, found by walking each root given to ``harness report``:

- **our runs**: every ``run.json`` below the root (layout in :mod:`harness.results`). The
  manifest gives the identity (system, model, backend, precision label -- what ran, e.g.
  ``uint8`` for a quantized model file as given, ``int8`` for an NNCF re-quantization, see
  :mod:`harness.model_precision` -- and configuration); the
  numbers come from the LoadGen logs beside it (:func:`harness.loadgen_logs.performance_numbers`)
  and, for accuracy runs, from ``accuracy.txt``.
- **submission trees** in the MLCommons layout: every
  ``results/<system>/<model>/<Scenario>/performance/run_<n>/`` directory, with
  ``systems/<system>.json`` beside ``results/``. Both layouts are read: the current one
  (``results/.../<Scenario>/measurements.json``) and the round-v2.0 one
  (``measurements/<system>/<model>/<Scenario>/<system>_<Scenario>.json``); accuracy from
  ``results/.../<Scenario>/accuracy/accuracy.txt``. (MLCommons submission rules and
  ``tools/submission/submission_checker.py``; published example:
  github.com/mlcommons/inference_results_v2.0, ``open/Intel``.)

A run whose logs are missing, truncated or unreadable keeps its row: ``log_status`` and
``log_problem`` say what is wrong and its numbers are empty (NaN).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .. import loadgen_logs, scenarios
from ..errors import HarnessError
from ..run import report as report_mod
from ..system import parse_cpu_list

#: Columns of the runs table, in order (latencies in ms, throughputs in samples/s).
COLUMNS = [
    "source", "layout", "role", "system", "model", "benchmark", "backend", "precision",
    "precision_as_given", "precision_note", "attempts", "scenario",
    "mode", "execution", "config", "streams", "threads", "hint", "cores", "nireq",
    "ov_streams", "ov_threads", "status", "log_status", "log_problem", "validity",
    "throughput", "samples_per_s", "scheduled_qps", "completed_qps", "qps_with_overhead",
    "target_qps", "latency_bound_ms", "p50_ms", "p90_ms", "p95_ms", "p97_ms", "p99_ms",
    "p999_ms", "min_ms", "max_ms", "mean_ms", "early_stopping_p90_ms", "accuracy_metric",
    "accuracy", "reference_accuracy", "weights_trained", "dataset", "model_size_mb",
    "params", "gmacs", "gate_ratio", "gate_pass", "sut_queue_p50_ms", "sut_inference_p50_ms",
    "sut_response_p50_ms", "sut_latency_p99_ms", "sut_utilisation", "cpu_model", "started",
    "run_dir",
]
#: run.json's telemetry (:mod:`harness.telemetry`) -> columns: (stage, statistic) -> name.
TELEMETRY_COLUMNS = {("queue", "p50_ms"): "sut_queue_p50_ms",
                     ("inference", "p50_ms"): "sut_inference_p50_ms",
                     ("response", "p50_ms"): "sut_response_p50_ms",
                     ("sut_latency", "p99_ms"): "sut_latency_p99_ms"}

SOURCE_HARNESS = "harness"
SOURCE_SUBMISSION = "submission"
#: ``role``: a run of its own, or one point of a ``harness find-peak`` search (its runs live
#: under ``.../Server/peak_search/<stamp>/runs/``; plot 6 shows them, the summary does not).
ROLE_RUN = "run"
ROLE_SEARCH = "peak search"
SEARCH_FOLDER = "peak_search"


def config_label(streams=None, threads=None, hint=None, cores=None, nireq=None,
                 batch=None, batch_timeout_us=None) -> str:
    """The hardware configuration as one short string, e.g. ``streams=2 threads=1 cores=0``.

    Only settings the user chose appear; ``default`` when none was (the backend's and the
    scenario's defaults). Used as part of a run's identity in the report.
    """
    parts = [f"{name}={value}" for name, value in (("streams", streams), ("threads", threads),
                                                    ("hint", hint), ("cores", cores),
                                                    ("nireq", nireq), ("batch", batch),
                                                    ("batch_timeout_us", batch_timeout_us))
             if value not in (None, "", 0)]
    return " ".join(parts) if parts else "default"


def throughput_of(scenario: str | None, numbers: dict[str, Any]) -> float | None:
    """The throughput a scenario reports, samples/s (the scenario object decides: MLPerf
    Inference rules, scenarios table); None for an unknown scenario."""
    try:
        return scenarios.get(scenario or numbers.get("scenario") or "").throughput(numbers)
    except HarnessError:
        return None


def _perf_fields(scenario: str | None, numbers: dict[str, Any]) -> dict[str, Any]:
    row = {k: numbers.get(k) for k in COLUMNS if k in numbers}
    row["throughput"] = throughput_of(scenario or numbers.get("scenario"), numbers)
    return row


# --- our runs ----------------------------------------------------------------------------

def _harness_row(run_dir: Path, rep) -> dict[str, Any]:
    if isinstance(rep, report_mod.UnreadableReport):
        return {"source": SOURCE_HARNESS, "layout": "harness", "role": ROLE_RUN,
                "status": "unreadable", "log_status": "unreadable", "log_problem": str(rep),
                "run_dir": str(run_dir)}
    cfg = rep.config
    # the CPUs it ran on: asked for (--cores), else its own CPU set when narrower than the
    # machine (taskset, a cpuset)
    cores = cfg.launcher.cores
    affinity = rep.system.get("affinity")
    if not cores and affinity and rep.system.get("logical_cores") and \
            len(parse_cpu_list(affinity)) < int(rep.system["logical_cores"]):
        cores = affinity
    props = rep.backend.get("properties") or {}
    chosen = cfg.backend.summary()
    stats = rep.model_stats or {}
    gate = rep.accuracy_gate or {}
    row: dict[str, Any] = {
        "source": SOURCE_HARNESS, "layout": "harness",
        "role": ROLE_SEARCH if SEARCH_FOLDER in Path(run_dir).parts else ROLE_RUN,
        "system": rep.system_name or cfg.execution.system,
        "model": cfg.model.name, "benchmark": rep.card.get("benchmark"),
        "backend": cfg.backend.name, "precision": rep.precision_label,
        "precision_as_given": rep.precision.get("as_given"),
        "precision_note": rep.precision.get("note"), "attempts": len(rep.attempts) + 1,
        "scenario": cfg.scenario.name, "mode": cfg.mode.name,
        "execution": cfg.execution.kind,
        "config": config_label(cores=cores, **chosen),
        "streams": chosen["streams"], "threads": chosen["threads"], "hint": chosen["hint"],
        "cores": cores, "nireq": chosen["nireq"],
        "ov_streams": props.get("NUM_STREAMS"), "ov_threads": props.get("INFERENCE_NUM_THREADS"),
        "status": rep.live_status(),
        "reference_accuracy": (rep.card.get("reference") or {}).get("accuracy"),
        "weights_trained": rep.weights.get("trained"),
        "dataset": rep.dataset.get("kind"),
        "model_size_mb": stats.get("ir_size_mb") or (rep.backend.get("model") or {}).get(
            "size_mb"),
        "params": stats.get("params"), "gmacs": stats.get("gmacs"),
        "gate_ratio": gate.get("ratio"),
        "gate_pass": {"PASS": True, "FAIL": False}.get(gate.get("result")),
        "cpu_model": rep.system.get("cpu_model"), "started": rep.started,
        "run_dir": str(run_dir),
    }
    telemetry = rep.telemetry or {}
    for (stage, stat), column in TELEMETRY_COLUMNS.items():
        row[column] = (telemetry.get(stage) or {}).get(stat)
    row["sut_utilisation"] = telemetry.get("utilisation")
    if cfg.accuracy:
        row.update(_accuracy_fields(run_dir))
        return row
    row.update(_perf_fields(cfg.scenario.name, loadgen_logs.performance_numbers(run_dir)))
    if row.get("log_status") == loadgen_logs.LOG_MISSING and not rep.complete:
        row["log_problem"] = f"run {rep.status}: {rep.error or 'no LoadGen logs'}"
    return row


def _accuracy_fields(folder: Path) -> dict[str, Any]:
    """accuracy.txt of an accuracy run (or of a submission's accuracy/ folder)."""
    acc = loadgen_logs.read_accuracy_txt(folder / "accuracy.txt")
    if acc is not None:
        return {"accuracy": acc["value"], "accuracy_metric": acc["metric"],
                "log_status": loadgen_logs.LOG_OK, "log_problem": None}
    if (folder / "accuracy.txt").is_file():
        return {"log_status": loadgen_logs.LOG_TRUNCATED,
                "log_problem": f"{folder / 'accuracy.txt'} has no accuracy=...% line"}
    return {"log_status": loadgen_logs.LOG_MISSING,
            "log_problem": f"no accuracy.txt in {folder}"}


def harness_runs(root: Path) -> list[dict[str, Any]]:
    """One row per run directory (``run.json``) below ``root``; an unreadable ``run.json``
    gets a row saying why."""
    return [_harness_row(run_dir, rep) for run_dir, rep in report_mod.iter_reports(root)]


# --- submission trees --------------------------------------------------------------------

def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def submission_runs(root: Path) -> list[dict[str, Any]]:
    """One row per ``results/<system>/<model>/<Scenario>/performance/run_<n>/`` below root.

    Directories holding a ``run.json`` are ours and skipped here. Precision comes from the
    measurements file's ``weight_data_types``, the backend from the system's ``framework``;
    accuracy from ``<Scenario>/accuracy/accuracy.txt`` when there is one.
    """
    rows = []
    for run in sorted(Path(root).rglob("run_*")):
        parents = run.parents
        if (not run.is_dir() or run.parent.name != "performance" or len(parents) < 6
                or parents[4].name != "results" or (run / "run.json").exists()):
            continue
        scen_dir = parents[1]
        model, system, org = parents[2].name, parents[3].name, parents[5]
        sys_json = _read_json(org / "systems" / f"{system}.json")
        current = scen_dir / "measurements.json"
        v20 = org / "measurements" / system / model / scen_dir.name / \
            f"{system}_{scen_dir.name}.json"
        meas = _read_json(current) if current.is_file() else _read_json(v20)
        layout = ("submission" if current.is_file() else
                  "submission v2.0" if v20.is_file() else "submission (no measurements)")
        numbers = loadgen_logs.performance_numbers(run)
        row: dict[str, Any] = {
            "source": SOURCE_SUBMISSION, "layout": layout, "role": ROLE_RUN,
            "system": sys_json.get("system_name") or system, "model": model,
            "backend": (sys_json.get("framework") or "").lower() or None,
            "precision": (meas.get("weight_data_types") or "").lower() or None,
            "scenario": numbers.get("scenario") or scen_dir.name, "mode": "performance",
            "execution": "valid" if sys_json else None, "config": "published",
            "status": sys_json.get("status"),
            "cpu_model": sys_json.get("host_processor_model_name"),
            "started": None, "run_dir": str(run),
        }
        row.update(_perf_fields(row["scenario"], numbers))
        acc = loadgen_logs.read_accuracy_txt(scen_dir / "accuracy" / "accuracy.txt")
        if acc is not None:
            row.update(accuracy=acc["value"], accuracy_metric=acc["metric"])
        if not sys_json:
            problem = f"no systems/{system}.json beside results/"
            row["log_problem"] = "; ".join(p for p in (row.get("log_problem"), problem) if p)
        rows.append(row)
    return rows


# --- the table ---------------------------------------------------------------------------

def collect(roots: Iterable[Path]) -> pd.DataFrame:
    """All runs below ``roots`` as one DataFrame with :data:`COLUMNS` (one row per run).

    Raises:
        HarnessError: a root does not exist, or no run at all was found.
    """
    rows: list[dict[str, Any]] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise HarnessError(f"results root {root} does not exist")
        rows.extend(harness_runs(root))
        rows.extend(submission_runs(root))
    if not rows:
        raise HarnessError("no runs found under " + ", ".join(map(str, roots)) +
                           ": give folders holding run.json files (harness run) or a "
                           "submission tree (results/<system>/<model>/<Scenario>/performance)")
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("throughput", "samples_per_s", "scheduled_qps", "completed_qps",
                "qps_with_overhead", "target_qps", "latency_bound_ms", "p50_ms", "p90_ms",
                "p95_ms", "p97_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms",
                "early_stopping_p90_ms", "accuracy", "reference_accuracy", "model_size_mb",
                "params", "gmacs", "gate_ratio", "sut_utilisation",
                *TELEMETRY_COLUMNS.values()):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df.sort_values(["source", "system", "model", "precision", "scenario", "mode",
                           "started"], na_position="last").reset_index(drop=True)


#: A run's identity in the summary: which machine, model, software and configuration.
IDENTITY = ["source", "system", "model", "backend", "precision", "config"]


def usable(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose numbers can be plotted: the run completed (ours) and its logs were read."""
    ok_logs = df["log_status"].isin([loadgen_logs.LOG_OK, loadgen_logs.LOG_SUMMARY_ONLY])
    ok_status = (df["source"] != SOURCE_HARNESS) | (df["status"] == "complete")
    return df[ok_logs & ok_status]


def problems(df: pd.DataFrame) -> pd.DataFrame:
    """Rows left out of the plots, with the reason (status and log problem)."""
    return df.drop(usable(df).index)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per identity (:data:`IDENTITY`): the latest usable run of each scenario.

    Columns: the identity, ``offline_samples_per_s``, ``server_qps`` (scheduled),
    ``server_p99_ms``, ``singlestream_p90_ms``, ``singlestream_p90_es_ms`` (LoadGen's
    early-stopping estimate), ``params`` (millions), ``gmacs``, ``accuracy`` (percent; from the latest accuracy run of the
    same system, model, backend and precision, or the submission's accuracy.txt),
    ``accuracy_metric``, ``reference_accuracy``, ``model_size_mb``, ``params``, ``gmacs``.
    """
    ok = usable(df)
    ok = ok[ok["role"] == ROLE_RUN]
    perf = ok[ok["mode"] == "performance"].sort_values("started", na_position="first")
    latest = perf.groupby(IDENTITY + ["scenario"], dropna=False).tail(1)
    out = latest[IDENTITY].drop_duplicates().set_index(IDENTITY)

    def pick(scenario: str, column: str, name: str):
        part = latest[latest["scenario"] == scenario].set_index(IDENTITY)[column]
        out[name] = part.reindex(out.index)

    pick("Offline", "samples_per_s", "offline_samples_per_s")
    pick("Server", "scheduled_qps", "server_qps")
    pick("Server", "p99_ms", "server_p99_ms")
    pick("SingleStream", "p90_ms", "singlestream_p90_ms")
    pick("SingleStream", "early_stopping_p90_ms", "singlestream_p90_es_ms")
    out = out.reset_index()
    model_cols = latest.groupby(IDENTITY, dropna=False)[
        ["model_size_mb", "params", "gmacs", "reference_accuracy"]].max().reset_index()
    out = out.merge(model_cols, on=IDENTITY, how="left")
    out["params"] = out["params"] / 1e6  # millions, as torchvision's model tables
    # Accuracy does not depend on the hardware configuration: join on the rest.
    acc_key = ["source", "system", "model", "backend", "precision"]
    acc = ok[ok["accuracy"].notna()].sort_values("started", na_position="first")
    acc = acc.groupby(acc_key, dropna=False).tail(1)[acc_key + ["accuracy", "accuracy_metric"]]
    out = out.merge(acc, on=acc_key, how="left")
    # An accuracy run with no performance run of its own still belongs in the summary.
    missing = acc.merge(out[acc_key].drop_duplicates(), on=acc_key, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
    if not missing.empty:
        missing = missing.assign(config="default")
        out = pd.concat([out, missing], ignore_index=True)
    out = out.rename(columns={"params": "params_m"})
    return out.sort_values(IDENTITY).reset_index(drop=True)
