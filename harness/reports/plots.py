"""The report's six plots (matplotlib, Agg backend; PNG and SVG).

Each ``plot_*`` function takes the tables of :mod:`harness.reports.collect` and returns a
:class:`Plot` (figure plus a caption saying where the numbers come from), or a ``Plot``
whose ``figure`` is None and whose caption says which runs are missing for it.
Units: throughput in samples/s, latency in ms, accuracy in percent, size in MB (10^6 bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import backends, loadgen_logs  # noqa: E402
from ..errors import UnreadableRecord  # noqa: E402
from ..run.records import PeakSearch  # noqa: E402
from .collect import usable  # noqa: E402

#: Accuracy target of open-division variants: 99% of the FP32 accuracy (MLPerf Inference
#: rules, accuracy targets: "99% of FP32"; shared/docs/mlperf-facts.md).
ACCURACY_TARGET = 0.99

#: Precision order on every axis (labels of :mod:`harness.model_precision`: ``uint8`` is a
#: model file quantized by its publisher and run as given, ``int8`` an NNCF re-quantization).
PRECISION_ORDER = ["fp32", "fp16", "bf16", "uint8", "int8"]


@dataclass
class Plot:
    """One plot of the report: ``name`` (file stem), title, caption, the figure or None."""

    name: str
    title: str
    caption: str
    figure: Any = None
    notes: list[str] = field(default_factory=list)

    def save(self, out_dir: Path, formats=("png", "svg")) -> list[Path]:
        """Write the figure as ``<out_dir>/<name>.<fmt>``; returns the paths.

        Without a figure, removes that plot's files of an earlier report (so a stale image
        never stands for data that is gone) and returns [].
        """
        if self.figure is None:
            for old in Path(out_dir).glob(f"{self.name}.*"):
                old.unlink()
            return []
        paths = []
        for fmt in formats:
            path = Path(out_dir) / f"{self.name}.{fmt}"
            self.figure.savefig(path, dpi=150 if fmt == "png" else None, bbox_inches="tight")
            paths.append(path)
        plt.close(self.figure)
        return paths


def _precision_key(p: Any) -> tuple:
    text = str(p)
    base = text.split("-")[-1]
    return (PRECISION_ORDER.index(base) if base in PRECISION_ORDER else 9, text)


def _label_precision(backend: Any, precision: Any) -> str:
    """``fp32`` for OpenVINO (the default backend), ``pytorch fp32`` for other backends (as
    the results folders)."""
    if backend in (None, backends.DEFAULT) or pd.isna(backend):
        return str(precision)
    return f"{backend} {precision}"


def _colors(names) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(sorted(set(names)))}


def _plain_log_ticks(axis) -> None:
    """Label a log axis 5, 10, 20, 50, 100 ... instead of 5x10^0."""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    axis.set_tick_params(which="minor", labelsize=7)


def _empty(name: str, title: str, why: str) -> Plot:
    return Plot(name, title, f"Not drawn: {why}")


# --- 1. throughput relative to a baseline ------------------------------------------------

def parse_baseline(spec: str) -> dict[str, str]:
    """``model[:precision[:backend]]`` -> dict; defaults fp32, the default backend
    (openvino)."""
    parts = spec.split(":")
    return {"model": parts[0], "precision": parts[1] if len(parts) > 1 else "fp32",
            "backend": parts[2] if len(parts) > 2 else backends.DEFAULT}


def plot_relative_throughput(summ: pd.DataFrame, baseline: str = "resnet50:fp32:openvino",
                             column: str = "offline_samples_per_s") -> Plot:
    """Plot 1: each model's throughput divided by the baseline's, grouped by precision.

    Per model and precision the best configuration is taken (the highest throughput), on
    the baseline's system only (a ratio across machines would mix two effects).
    """
    name, title = "1_relative_throughput", "Throughput relative to a baseline"
    base = parse_baseline(baseline)
    rows = summ[summ[column].notna()]
    ref = rows[(rows["model"] == base["model"]) & (rows["precision"] == base["precision"])
               & (rows["backend"] == base["backend"])]
    if ref.empty:
        return _empty(name, title, f"no run of the baseline {baseline} with {column}; run it "
                                   f"or pass --baseline MODEL:PRECISION:BACKEND")
    ref = ref.loc[ref[column].idxmax()]
    rows = rows[(rows["system"] == ref["system"]) & (rows["source"] == ref["source"])]
    best = rows.loc[rows.groupby(["model", "backend", "precision"])[column].idxmax()].copy()
    best["group"] = [_label_precision(b, p) for b, p in zip(best["backend"], best["precision"])]
    best["factor"] = best[column] / ref[column]
    groups = sorted(best["group"].unique(), key=_precision_key)
    models = sorted(best["model"].unique())
    colors = _colors(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * len(models) + 2), 4.8))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        for j, group in enumerate(groups):
            hit = best[(best["model"] == model) & (best["group"] == group)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            x = j + (i - (len(models) - 1) / 2) * width
            bar = ax.bar(x, r["factor"], width * 0.95, color=colors[model],
                         label=model if model not in ax.get_legend_handles_labels()[1] else None)
            ax.bar_label(bar, labels=[f"×{r['factor']:.2f}\n{r[column]:.1f}/s"], fontsize=8,
                         padding=2)
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_xticks(range(len(groups)), groups)
    ax.set_xlabel("precision (backend)")
    what = column.replace("_", " ").replace("samples per s", "throughput").capitalize()
    ax.set_ylabel(f"{what} / baseline (×)")
    ax.set_ylim(0, max(best["factor"].max() * 1.25, 1.3))
    ax.legend(title="model", fontsize=8)
    ax.set_title(f"{title}: {base['model']} {base['precision']} ({base['backend']}) = ×1 "
                 f"({ref[column]:.1f} samples/s)\nsystem {ref['system']}", fontsize=10)
    caption = (f"{what} (samples/s, from each run's mlperf_log_detail.txt) divided by that of "
               f"{base['model']} {base['precision']} on {base['backend']} "
               f"({ref[column]:.2f} samples/s, config {ref['config']}), on system "
               f"{ref['system']}. Per model and precision the best configuration is shown. "
               f"Bars are labelled with the factor and the absolute throughput.")
    return Plot(name, title, caption, fig)


# --- 2. accuracy against latency ---------------------------------------------------------

def _pareto(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Points no other point beats on both lower ``x`` and higher ``y``, sorted by x."""
    pts = points.sort_values([x, y], ascending=[True, False])
    keep, best = [], -np.inf
    for idx, r in pts.iterrows():
        if r[y] > best:
            keep.append(idx)
            best = r[y]
    return pts.loc[keep]


def plot_accuracy_latency(summ: pd.DataFrame) -> Plot:
    """Plot 2: accuracy (%) against SingleStream p90 latency (ms), frontier and 99% lines.

    The 99% line of a model is 99% of its measured FP32 accuracy on the same samples (or,
    without an FP32 accuracy run, of the reference accuracy on its model card).
    """
    name, title = "2_accuracy_latency", "Accuracy against SingleStream p90 latency"
    pts = summ[summ["accuracy"].notna() & summ["singlestream_p90_ms"].notna()].copy()
    if pts.empty:
        return _empty(name, title, "needs, for one model and precision, an accuracy run "
                                   "(trained weights, real dataset) and a SingleStream run")
    pts = pts.loc[pts.groupby(["source", "system", "model", "backend", "precision"])[
        "singlestream_p90_ms"].idxmin()]
    colors = _colors(pts["model"])
    markers = {"fp32": "o", "fp16": "P", "bf16": "s", "uint8": "v", "int8": "^"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for _, r in pts.iterrows():
        ax.scatter(r["singlestream_p90_ms"], r["accuracy"], s=60, color=colors[r["model"]],
                   marker=markers.get(str(r["precision"]), "D"), zorder=3)
        ax.annotate(f"{r['model']} {_label_precision(r['backend'], r['precision'])}",
                    (r["singlestream_p90_ms"], r["accuracy"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    front = _pareto(pts, "singlestream_p90_ms", "accuracy")
    ax.step(front["singlestream_p90_ms"], front["accuracy"], where="post", color="black",
            lw=1, alpha=0.6, label="accuracy-latency frontier")
    for model in sorted(pts["model"].unique()):
        fp32 = summ[(summ["model"] == model) & (summ["precision"] == "fp32")
                    & summ["accuracy"].notna()]
        if not fp32.empty:
            ref, src = float(fp32["accuracy"].max()), "measured FP32"
        else:
            refs = summ.loc[summ["model"] == model, "reference_accuracy"].dropna()
            if refs.empty:
                continue
            ref, src = float(refs.iloc[0]), "model card reference"
        ax.axhline(ACCURACY_TARGET * ref, color=colors[model], ls="--", lw=1,
                   label=f"99% of {model} {src} ({ref:.2f}%) = {ACCURACY_TARGET * ref:.2f}%")
    for prec, mk in markers.items():
        if (pts["precision"] == prec).any():
            ax.scatter([], [], marker=mk, color="grey", label=prec)
    ax.set_xlabel("SingleStream p90 latency (ms, lower is better)")
    metric = pts["accuracy_metric"].dropna().iloc[0] if pts["accuracy_metric"].notna().any() \
        else "accuracy"
    ax.set_ylabel(f"{metric} accuracy (%, higher is better)")
    lo = min(pts["accuracy"].min(), ACCURACY_TARGET * pts["accuracy"].max()) - 1.0
    ax.set_ylim(lo, pts["accuracy"].max() + 1.0)
    ax.set_xlim(0, pts["singlestream_p90_ms"].max() * 1.35)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=11)
    caption = ("Accuracy from each accuracy run's accuracy.txt (on the dataset it ran on: "
               "the ImageNet sample is a proxy, not the 50,000-image validation set); p90 "
               "latency from the SingleStream run's mlperf_log_detail.txt (best configuration "
               "per model and precision). Only models with trained weights have an "
               "accuracy; runs with random weights are absent here. Dashed: the 99% "
               "accuracy target of each model.")
    return Plot(name, title, caption, fig)


# --- 3. quantization effect --------------------------------------------------------------

def plot_quantization(summ: pd.DataFrame) -> Plot:
    """Plot 3: per model, FP32 beside INT8: size on disk (MB), Offline throughput, accuracy."""
    name, title = "3_quantization", "Effect of INT8 quantization per model"
    s = summ[summ["source"] == "harness"]
    models = sorted(set(s.loc[s["precision"] == "fp32", "model"])
                    & set(s.loc[s["precision"] == "int8", "model"]))
    if not models:
        return _empty(name, title, "needs a model run at both fp32 and int8")
    panels = [("model_size_mb", "model size on disk (MB)", "{:.1f}"),
              ("offline_samples_per_s", "Offline throughput (samples/s)", "{:.1f}"),
              ("accuracy", "accuracy (%)", "{:.2f}")]
    colors = {"fp32": "tab:blue", "int8": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(max(10.0, 3.2 * len(models) + 4), 4.4))
    for ax, (col, label, fmt) in zip(axes, panels):
        drawn = False
        for j, prec in enumerate(["fp32", "int8"]):
            for i, model in enumerate(models):
                part = s[(s["model"] == model) & (s["precision"] == prec)
                         & (s["backend"] == backends.DEFAULT)][col].dropna()
                x = i + (j - 0.5) * 0.38
                if part.empty:
                    ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=8,
                            transform=ax.get_xaxis_transform())
                    continue
                drawn = True
                value = float(part.max())
                bar = ax.bar(x, value, 0.36, color=colors[prec],
                             label=prec.upper() if i == 0 else None)
                ax.bar_label(bar, labels=[fmt.format(value)], fontsize=7, padding=1)
        ax.set_xticks(range(len(models)), models, rotation=20, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(models) - 0.4)
        if not drawn:
            ax.set_ylim(0, 100 if col == "accuracy" else 1)
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0], fontsize=10)
        ax.margins(y=0.15)
    axes[0].legend(title="precision", fontsize=8)
    fig.suptitle(title + " (OpenVINO; n/a: not measured, e.g. random weights have no "
                 "accuracy)", fontsize=10)
    fig.tight_layout()
    caption = ("Size: the compiled model's IR on disk (model_stats.ir_size_mb or the backend's "
               "model size in run.json). Throughput: best Offline samples/s over "
               "configurations, from mlperf_log_detail.txt. Accuracy: accuracy.txt of the "
               "accuracy runs (only models with trained weights). Models given already "
               "quantized (e.g. a uint8 TFLite file, label uint8) have no FP32 run and are "
               "not shown: their int8 is a re-quantization, not an FP32 -> INT8 step.")
    return Plot(name, title, caption, fig)


# --- 4. latency distribution -------------------------------------------------------------

def plot_latency_distribution(df: pd.DataFrame, max_lines: int = 10) -> Plot:
    """Plot 4: per scenario, the latency percentiles LoadGen logs (an empirical CDF).

    One line per run identity (latest usable performance run); at most ``max_lines`` per
    scenario (the fastest by median).
    """
    name, title = "4_latency_distribution", "Latency distribution per scenario"
    runs = usable(df)
    runs = runs[(runs["mode"] == "performance") & runs["p50_ms"].notna()]
    # A scenario with no run of its own (e.g. Server after a peak search only) shows the
    # runs of the search, one line per target QPS.
    own = set(runs.loc[runs["role"] == "run", "scenario"])
    runs = runs[(runs["role"] == "run") | ~runs["scenario"].isin(own)]
    runs = runs.assign(point=runs["target_qps"].where(runs["role"] != "run"))
    runs = runs.sort_values("started", na_position="first").groupby(
        ["source", "system", "model", "backend", "precision", "config", "scenario",
         "point"], dropna=False).tail(1)
    scenarios = [s for s in ("SingleStream", "Server", "Offline") if s in set(runs["scenario"])]
    if not scenarios:
        return _empty(name, title, "no performance run with latencies")
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.2 * len(scenarios), 6.4),
                             squeeze=False)
    for ax, scen in zip(axes[0], scenarios):
        part = runs[runs["scenario"] == scen].sort_values("p50_ms").head(max_lines)
        for _, r in part.iterrows():
            pts = loadgen_logs.latency_percentiles(r.to_dict())
            label = (f"{r['model']} {_label_precision(r['backend'], r['precision'])}"
                     + ("" if r["config"] == "default" else f" [{r['config']}]")
                     + ("" if r["source"] == "harness" else f" ({r['system']})")
                     + ("" if r["role"] == "run" else
                        f" (search point, {r['target_qps']:.1f} QPS)"))
            ax.plot([v for _, v in pts], [p for p, _ in pts], marker=".", lw=1.2, label=label)
        bounds = part["latency_bound_ms"].dropna()
        if scen == "Server" and not bounds.empty:
            ax.axvline(bounds.iloc[0], color="red", ls="--", lw=1,
                       label=f"p99 bound {bounds.iloc[0]:.0f} ms")
            ax.axhline(99, color="red", ls=":", lw=0.8)
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("percentile of queries (%)")
        ax.set_ylim(0, 101)
        ax.set_title(scen, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.suptitle(title + " (min, p50, p90, p95, p97, p99, p99.9, max)", fontsize=10)
    fig.tight_layout()
    caption = ("Each line: one run's latency percentiles as LoadGen wrote them to "
               "mlperf_log_detail.txt (result_min/…percentile/max_latency_ns), i.e. the "
               "CDF at those points; LoadGen logs no per-query latencies unless tracing is "
               "on. Offline latency is the time from the one big query to each sample's "
               "completion.")
    return Plot(name, title, caption, fig)


# --- 5. hardware configurations ----------------------------------------------------------

def plot_configurations(summ: pd.DataFrame, model: str | None = None) -> Plot:
    """Plot 5: one model across systems and configurations: Offline throughput and
    SingleStream p90 latency per (system, precision, configuration).

    ``model`` None: the model with the most distinct configurations.
    """
    name, title = "5_configurations", "One model across hardware configurations"
    s = summ[summ["offline_samples_per_s"].notna() | summ["singlestream_p90_ms"].notna()]
    if s.empty:
        return _empty(name, title, "no Offline or SingleStream run")
    if model is None:
        counts = s.groupby("model")[["system", "precision", "config"]].apply(
            lambda g: len(g.drop_duplicates()))
        model = counts.idxmax()
    s = s[s["model"] == model]
    if s.empty:
        return _empty(name, title, f"no run of model {model}")
    s = s.assign(label=[f"{sy} | {_label_precision(b, p)} | {c}" for sy, b, p, c in
                        zip(s["system"], s["backend"], s["precision"], s["config"])])
    s = s.sort_values(["system", "precision", "config"], key=lambda c: c.astype(str))
    panels = [(c, lbl) for c, lbl in (("offline_samples_per_s",
                                       "Offline throughput (samples/s, higher is better)"),
                                      ("singlestream_p90_ms",
                                       "SingleStream p90 latency (ms, lower is better)"))
              if s[c].notna().any()]
    colors = _colors(s["precision"].astype(str))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels) + 2,
                                                      0.45 * len(s) + 1.8), squeeze=False)
    for ax, (col, label) in zip(axes[0], panels):
        y = np.arange(len(s))
        vals = s[col].to_numpy(dtype=float)
        bars = ax.barh(y, np.nan_to_num(vals), color=[colors[str(p)] for p in s["precision"]])
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.1f}" for v in vals],
                     fontsize=7, padding=2)
        ax.set_yticks(y, s["label"], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.margins(x=0.18)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[0][1:]:
        ax.set_yticklabels([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    axes[0][-1].legend(handles, list(colors), title="precision", fontsize=8, loc="lower right")
    fig.suptitle(f"{title}: {model}   (bars: system | precision | configuration)", fontsize=10)
    fig.tight_layout()
    caption = (f"Model {model}. Configuration: the settings chosen for the run (streams, "
               f"threads, hint, cores the process was pinned to, nireq; 'default': the "
               f"backend's own choice). Numbers from each run's mlperf_log_detail.txt.")
    return Plot(name, title, caption, fig)


# --- 6. server peak search ---------------------------------------------------------------

def read_peak_files(roots) -> list[dict[str, Any]]:
    """Peak searches saved below ``roots``: files named ``peak_search*.json``.

    Format (docs/reports.md; written by ``harness find-peak``): a
    :class:`harness.run.records.PeakSearch` ``{"schema_version", "model", "precision",
    "system", "config", "status", "peak_target_qps", "points": [{"target_qps", "p99_ms",
    "valid", "latency_bound_ms", ...}], ...}`` (an unversioned one is migrated), or a bare
    list of such points.
    Unreadable files (and records of a newer ``schema_version``) are returned with an
    ``error`` so the report can name them.
    """
    out = []
    for root in roots:
        for path in sorted(Path(root).rglob("peak_search*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                out.append({"file": str(path), "error": f"unreadable: {exc}", "points": []})
                continue
            if isinstance(data, list):
                data = {"points": data}
            try:  # migrated from an older version; a newer one is named, not read
                data = PeakSearch.from_dict(data, str(path), ignore_unknown=True).to_dict()
            except UnreadableRecord as exc:
                out.append({"file": str(path), "error": str(exc), "points": []})
                continue
            data["file"] = str(path)
            out.append(data)
    return out


def server_points_from_runs(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Server runs grouped by identity as searches: each run is a (target QPS, p99) point."""
    runs = usable(df)
    runs = runs[(runs["scenario"] == "Server") & (runs["mode"] == "performance")
                & runs["p99_ms"].notna() & (runs["role"] == "run")]
    searches = []
    for key, g in runs.groupby(["system", "model", "backend", "precision", "config"],
                               dropna=False):
        searches.append({
            "system": key[0], "model": key[1], "backend": key[2], "precision": key[3],
            "config": key[4], "file": "Server runs in the table",
            "latency_bound_ms": g["latency_bound_ms"].dropna().max(),
            "points": [{"target_qps": r["target_qps"], "p99_ms": r["p99_ms"],
                        "valid": r["validity"] == "VALID"} for _, r in g.iterrows()]})
    return searches


def plot_server_search(searches: list[dict[str, Any]]) -> Plot:
    """Plot 6: Server p99 latency against target QPS for each search, with the bound."""
    name, title = "6_server_peak_search", "Server: p99 latency against target QPS"
    searches = [s for s in searches if s.get("points")]
    if not searches:
        return _empty(name, title, "no peak search file (peak_search*.json) and no Server run")
    colors = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(7.5, 5))
    bounds = set()
    for i, s in enumerate(searches):
        pts = sorted((p for p in s["points"] if p.get("p99_ms") is not None),
                     key=lambda p: float(p["target_qps"]))
        x = [float(p["target_qps"]) for p in pts]
        y = [float(p["p99_ms"]) for p in pts]
        config = " ".join(part for part in str(s.get("config") or "").split()
                          if not part.endswith("=None") and part != "device=CPU")
        label = " ".join(str(v) for v in (s.get("model"), s.get("precision"), config)
                         if v not in (None, "", "default"))
        if s.get("status") not in (None, "complete"):
            label += f" (search {s['status']})"
        ax.plot(x, y, color=colors(i % 10), lw=1, alpha=0.7, label=label or s["file"])
        for p, xv, yv in zip(pts, x, y):
            ok = bool(p.get("valid"))
            ax.scatter(xv, yv, color=colors(i % 10), marker="o" if ok else "x", s=40, zorder=3)
        peak = s.get("peak_target_qps") or s.get("peak_qps")
        if peak:
            ax.axvline(float(peak), color=colors(i % 10), ls=":", lw=1,
                       label=f"peak {float(peak):.1f} QPS (confirmed)")
        bound = s.get("latency_bound_ms") or next(
            (p.get("latency_bound_ms") for p in pts if p.get("latency_bound_ms")), None)
        if bound and not pd.isna(bound):
            bounds.add(float(bound))
    for b in sorted(bounds):
        ax.axhline(b, color="red", ls="--", lw=1.2, label=f"p99 latency bound {b:g} ms")
    ax.scatter([], [], color="grey", marker="o", label="valid run")
    ax.scatter([], [], color="grey", marker="x", label="invalid run")
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("Server target QPS (queries/s, Poisson arrivals)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    systems = sorted({str(s["system"]) for s in searches if s.get("system")})
    ax.set_title(title + (f"\nsystem {', '.join(systems)}" if systems else ""), fontsize=11)
    sources = sorted({s["file"] for s in searches})
    caption = ("Points of the Server peak search: each a LoadGen Server run at one target "
               "QPS; p99 from its log. Sources: " + "; ".join(sources) + ". Red dashed: the "
               "p99 bound of the benchmark (15 ms for resnet50, MLPerf Inference rules).")
    return Plot(name, title, caption, fig)
