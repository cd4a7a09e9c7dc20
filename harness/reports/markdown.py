"""Write the comparison report: CSV tables, plots and one Markdown file that shows them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..files import write_text_atomic
from . import collect, plots

#: Columns of the runs table shown in the Markdown report (the CSV holds all columns).
SHOWN = ["source", "system", "model", "backend", "precision", "scenario", "mode", "config",
         "validity", "throughput", "p90_ms", "p99_ms", "accuracy", "log_status"]


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)\n"
    return df.astype(object).where(df.notna(), None).to_markdown(
        index=False, floatfmt=".2f", missingval="") + "\n"


def write_report(roots, out_dir: Path, baseline: str = "resnet50:fp32:openvino",
                 config_model: str | None = None, formats=("png", "svg"),
                 progress=None) -> Path:
    """Gather runs below ``roots``, write ``runs.csv``, ``summary.csv``, the plots and
    ``report.md`` into ``out_dir``; returns the path of report.md.

    Raises:
        HarnessError: from :func:`harness.reports.collect.collect` (no runs, bad root).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = collect.collect(roots)
    summ = collect.summary(df)
    df.to_csv(out_dir / "runs.csv", index=False)
    summ.to_csv(out_dir / "summary.csv", index=False)
    searches = plots.read_peak_files(roots)
    bad_peaks = [s for s in searches if s.get("error")]
    if not [s for s in searches if s.get("points")]:
        searches = plots.server_points_from_runs(df)
    makers = [lambda: plots.plot_relative_throughput(summ, baseline),
              lambda: plots.plot_accuracy_latency(summ),
              lambda: plots.plot_quantization(summ),
              lambda: plots.plot_latency_distribution(df),
              lambda: plots.plot_configurations(summ, config_model),
              lambda: plots.plot_server_search(searches)]
    figures = []
    for make in (progress(makers, desc="plots") if progress else makers):
        plot = make()
        plot.save(out_dir, formats)
        figures.append(plot)

    bad = collect.problems(df)
    lines = [
        "# Comparison report", "",
        f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"`harness report` from: " + ", ".join(f"`{r}`" for r in roots) + ".", "",
        f"{len(df)} runs ({(df['source'] == 'harness').sum()} harness runs, "
        f"{(df['source'] == 'submission').sum()} from submission trees); "
        f"{len(bad)} left out of the plots (see *Runs with problems*). Every number comes "
        f"from LoadGen's logs (`mlperf_log_detail.txt`, or `mlperf_log_summary.txt` where "
        f"the detail log is absent) or from `accuracy.txt`; identity and configuration "
        f"from each run's `run.json` or the submission's `systems/*.json` and measurements. "
        f"Units: throughput samples/s, latency ms, accuracy %, size MB.", "",
        "Test-mode runs (execution `test`) are short and not valid for submission; "
        "runs with random weights measure speed only.", "",
        "## Summary (latest usable run per identity and scenario)", "",
        _md_table(summ.drop(columns=["source"]) if (summ["source"] == "harness").all()
                  else summ),
    ]
    ours = df[(df["source"] == "harness") & df["precision_note"].notna()]
    if not ours.empty:
        labels = ours[["model", "backend", "precision", "precision_as_given",
                       "precision_note"]].drop_duplicates().sort_values(
            ["model", "backend", "precision"])
        lines += ["## Precision labels", "",
                  "What each precision of our runs is: the label says what ran, read from "
                  "the model file's weight types (`uint8`: a model its publisher quantized, "
                  "run as given; `int8`: re-quantized by NNCF from the precision given).", "",
                  _md_table(labels.rename(columns={"precision_as_given": "as given",
                                                   "precision_note": "what ran"}))]
    timed = df[(df["source"] == "harness") & (df["mode"] == "performance")
               & df["sut_utilisation"].notna()]
    if not timed.empty:
        lines += ["## Where the time went inside the SUT", "",
                  "Per performance run, from `run.json`'s telemetry: the median time a sample "
                  "waited in the SUT (queue), was inferred (inference) and was answered "
                  "(response: post-processing and `QuerySamplesComplete`), the SUT's p99 "
                  "(issue to answer), and the share of the wall time the infer requests were "
                  "busy (utilisation). Utilisation near 1: the hardware was the limit.", "",
                  _md_table(timed[["model", "precision", "scenario", "config",
                                   "sut_queue_p50_ms", "sut_inference_p50_ms",
                                   "sut_response_p50_ms", "sut_latency_p99_ms",
                                   "sut_utilisation", "p99_ms"]])]
    for i, plot in enumerate(figures, 1):
        lines += [f"## {i}. {plot.title}", ""]
        if plot.figure is not None:
            lines.append(f"![{plot.title}]({plot.name}.png)")
            if "svg" in formats:
                lines.append(f"\n[SVG]({plot.name}.svg)")
            lines.append("")
        lines += [plot.caption, ""]
    if bad_peaks:
        lines += ["Unreadable peak-search files: " +
                  "; ".join(f"`{s['file']}` ({s['error']})" for s in bad_peaks), ""]
    lines += ["## Runs with problems", "",
              "Runs whose logs are missing or truncated, or that did not complete: kept "
              "here, not in the plots.", "",
              _md_table(bad[["system", "model", "precision", "scenario", "mode", "status",
                             "log_status", "log_problem", "run_dir"]]),
              "## All runs", "", "Every column of every run is in `runs.csv`.", "",
              _md_table(df[SHOWN])]
    report = out_dir / "report.md"
    write_text_atomic(report, "\n".join(lines))
    return report
