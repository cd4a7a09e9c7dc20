"""Run directories and their ``run.json`` manifests.

Layout: ``<results>/<system>/<model>/<precision>/<scenario>/<mode>/<run id>/`` where the run
id is a UTC timestamp made unique at creation (``mkdir`` without ``exist_ok``): a run never
overwrites an earlier one. The manifest's ``status`` is ``incomplete`` from the moment the
directory exists until the run ends; it becomes ``complete``, ``failed`` or ``interrupted``.
A directory whose status is not ``complete`` is never a result.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"


def precision_folder(backend: str, precision: str) -> str:
    """The precision folder of a run: ``int8`` for OpenVINO, ``<backend>-<precision>`` else."""
    return precision if backend == "openvino" else f"{backend}-{precision}"


def new_run_dir(root: Path, system: str, model: str, precision: str, scenario: str,
                mode: str) -> Path:
    """Create and return a fresh, unique run directory."""
    parent = Path(root) / system / model / precision / scenario / mode
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a unique run directory under {parent}")


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".run.json.")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, run_dir / "run.json")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory."""
    return json.loads((Path(run_dir) / "run.json").read_text())


def iter_runs(root: Path):
    """Yield ``(run_dir, manifest)`` for every run.json below ``root``."""
    for path in sorted(Path(root).rglob("run.json")):
        try:
            yield path.parent, json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            yield path.parent, {"status": "unreadable"}


def table(root: Path, latest_only: bool = True) -> "pd.DataFrame":
    """One row per run (or per run identity, latest first, with ``latest_only``).

    Columns: system, model, backend, precision, scenario, mode, execution, status, validity,
    samples_per_s, p90_ms, p99_ms, accuracy (percent), config, started, run_dir.
    """
    import pandas as pd  # imported here: the CLI imports this module on every call

    rows = []
    for run_dir, m in iter_runs(root):
        cfg = m.get("config", {})
        res = m.get("result", {}) or {}
        backend = m.get("backend", {}) or {}
        bset = backend.get("settings", {}) or {}
        rows.append({
            "system": m.get("system", {}).get("name") if isinstance(m.get("system"), dict)
            else None,
            "model": cfg.get("model"), "backend": cfg.get("backend"),
            "precision": cfg.get("precision"), "scenario": cfg.get("scenario"),
            "mode": cfg.get("mode"), "execution": cfg.get("execution"),
            "status": m.get("status"), "validity": res.get("validity"),
            "samples_per_s": res.get("samples_per_second"),
            "p90_ms": res.get("p90_ms"), "p99_ms": res.get("p99_ms"),
            "accuracy": (m.get("accuracy") or {}).get("value"),
            "config": f"streams={bset.get('streams')} threads={bset.get('threads')} "
                      f"hint={bset.get('hint')}"
                      + (f" cores={cfg['cores']}" if cfg.get("cores") else ""),
            "started": m.get("started"), "run_dir": str(run_dir),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("started", ascending=False, na_position="last")
    if latest_only:
        ident = ["system", "model", "backend", "precision", "scenario", "mode", "execution",
                 "config"]
        df = df.drop_duplicates(subset=ident, keep="first")
    return df.reset_index(drop=True)
