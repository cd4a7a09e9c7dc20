"""Run directories and the table of runs (``harness show``).

Layout: ``<results>/<system>/<model>/<precision>/<scenario>/<mode>/<run id>/`` where the run
id is a UTC timestamp made unique at creation (:mod:`harness.results_tree`, which builds and
parses every path below the results root): a run never overwrites an earlier one. Each
holds LoadGen's logs, the effective ``user.conf`` and the report ``run.json``
(:mod:`harness.run.report`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.config import BackendConfig
from ..errors import HarnessError
from ..telemetry import describe as describe_telemetry
from . import report as report_mod

if TYPE_CHECKING:
    import pandas as pd


def precision_folder(backend: BackendConfig, precision: str) -> str:
    """The precision folder of a run of ``backend`` (a run config's backend section) from
    its precision label (:mod:`harness.model_precision`): ``uint8``, ``fp32``, ``int8`` for
    OpenVINO, ``<backend>-<label>`` else (:meth:`BackendConfig.results_label`)."""
    return backend.results_label(precision)


def check_writable(root: Path) -> None:
    """Refuse a results root that cannot be created or written, before any work is done.

    Raises:
        HarnessError: naming the folder and the OS reason.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HarnessError(f"results folder {root} cannot be written ({exc.strerror or exc}); "
                           f"give a writable one with --results-dir") from None


def config_label(settings: dict[str, Any], cores: str | None) -> str:
    """The backend configuration of a run in a few words, e.g.
    ``streams=2 threads=1 hint=THROUGHPUT cores=0``."""
    return (f"streams={settings.get('streams')} threads={settings.get('threads')} "
            f"hint={settings.get('hint')}" + (f" cores={cores}" if cores else ""))


def table(root: Path, latest_only: bool = True) -> "pd.DataFrame":
    """One row per run (``latest_only``: per run identity, the latest complete one).

    Columns: system, model, backend, precision (the run's label:
    :attr:`RunReport.precision_label`), scenario, mode, execution, status, validity,
    samples_per_s, p90_ms, p99_ms, accuracy (percent), gate, config, sut (where the
    samples' time went inside the SUT, :func:`harness.telemetry.describe`), started, note,
    run_dir.
    Unreadable ``run.json`` files get a row of their own (status ``unreadable``, the reason
    in ``note``). With ``latest_only``, an identity's newer runs that did not complete
    (incomplete, abandoned, failed, interrupted) are counted in the ``note`` of its latest
    complete run, or shown themselves when it has none.
    """
    import pandas as pd  # imported here: the CLI imports this module on every call

    rows = []
    for run_dir, rep in report_mod.iter_reports(root):
        if isinstance(rep, report_mod.UnreadableReport):
            rows.append({"status": "unreadable", "note": str(rep), "run_dir": str(run_dir)})
            continue
        cfg, res = rep.config, rep.result
        rows.append({
            "system": rep.system_name, "model": cfg.model.name, "backend": cfg.backend.name,
            "precision": rep.precision_label, "scenario": cfg.scenario.name,
            "mode": cfg.mode.name,
            "execution": cfg.execution.kind, "status": rep.live_status(),
            "validity": res.validity if res else None,
            "samples_per_s": res.samples_per_second if res else None,
            "p90_ms": res.p90_ms if res else None, "p99_ms": res.p99_ms if res else None,
            "accuracy": (rep.accuracy or {}).get("value"),
            "gate": (rep.accuracy_gate or {}).get("result"),
            "config": config_label(rep.backend.get("settings") or {}, cfg.launcher.cores),
            "sut": describe_telemetry(rep.telemetry),
            "started": rep.started, "note": rep.error, "run_dir": str(run_dir)})
    df = pd.DataFrame(rows, columns=["system", "model", "backend", "precision", "scenario",
                                     "mode", "execution", "status", "validity",
                                     "samples_per_s", "p90_ms", "p99_ms", "accuracy", "gate",
                                     "config", "sut", "started", "note", "run_dir"])
    if df.empty:
        return df
    df = df.sort_values("started", ascending=False, na_position="last")
    if not latest_only:
        return df.reset_index(drop=True)
    ident = ["system", "model", "backend", "precision", "scenario", "mode", "execution",
             "config"]
    keep = []
    for _, group in df[df["status"] != "unreadable"].groupby(ident, dropna=False, sort=False):
        done = group[group["status"] == report_mod.STATUS_COMPLETE]
        if done.empty:
            keep.append(group.iloc[0])
            continue
        row = done.iloc[0].copy()
        newer = group[(group["status"] != report_mod.STATUS_COMPLETE)
                      & (group["started"] > row["started"])]
        if not newer.empty:
            counts = newer["status"].value_counts()
            row["note"] = "newer unfinished: " + ", ".join(f"{n} {s}" for s, n in
                                                         counts.items())
        keep.append(row)
    out = pd.DataFrame(keep, columns=df.columns)
    out = pd.concat([out, df[df["status"] == "unreadable"]], ignore_index=True)
    return out.reset_index(drop=True)
