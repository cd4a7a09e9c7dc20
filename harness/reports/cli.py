"""``harness report RESULTS_ROOT...``: one comparison report from runs and submission trees.

Writes ``runs.csv`` (every run), ``summary.csv`` (one row per identity), six plots (PNG and
SVG) and ``report.md`` into ``--out``. See docs/reports.md.
"""

from __future__ import annotations

from pathlib import Path

HELP = "compare runs (ours and published submission trees): CSV, plots, Markdown report"


def add_arguments(parser) -> None:
    """Options of ``harness report``."""
    parser.add_argument("roots", nargs="+", metavar="RESULTS_ROOT",
                        help="folders with run.json runs and/or submission trees "
                             "(results/<system>/<model>/<Scenario>/performance/run_1)")
    parser.add_argument("--out", default="results/report", help="output folder")
    parser.add_argument("--baseline", default="resnet50:fp32:openvino",
                        help="plot 1 baseline as MODEL[:PRECISION[:BACKEND]]")
    parser.add_argument("--config-model", default=None,
                        help="plot 5 model (default: the one with most configurations)")
    parser.add_argument("--formats", default="png,svg", help="plot formats, comma-separated")


def main(args) -> int:
    """Build the report; prints where it is and the runs with problems."""
    from tqdm import tqdm

    from ..files import check_folder_argument
    from . import markdown  # imported on use: matplotlib loads slowly

    check_folder_argument(args.out, "--out")
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    report = markdown.write_report([Path(r) for r in args.roots], Path(args.out),
                                   baseline=args.baseline, config_model=args.config_model,
                                   formats=formats, progress=tqdm)
    import pandas as pd

    runs = pd.read_csv(report.parent / "runs.csv")
    bad = runs[~runs["log_status"].isin(["ok", "summary only"])
               | ((runs["source"] == "harness") & (runs["status"] != "complete"))]
    for _, r in bad.iterrows():
        print(f"WARNING: {r['run_dir']}: status {r['status']}, logs {r['log_status']}"
              f"{': ' + str(r['log_problem']) if isinstance(r['log_problem'], str) else ''}")
    print(f"{len(runs)} runs, {len(bad)} with problems; report: {report}")
    return 0
