"""``harness show``: the runs under a results root as a table
(:func:`harness.run.results.table`)."""

from __future__ import annotations

from pathlib import Path

HELP = "print the latest results as a table"


def add_arguments(p) -> None:
    p.add_argument("--results-dir", default="results")
    p.add_argument("--all", action="store_true", help="every run, not just the latest")


def main(args) -> int:
    from ..run.results import table

    df = table(Path(args.results_dir), latest_only=not args.all)
    if df.empty:
        print(f"no runs under {args.results_dir}")
        return 0
    cols = ["model", "backend", "precision", "scenario", "mode", "execution", "status",
            "validity", "samples_per_s", "p90_ms", "p99_ms", "accuracy", "gate", "config",
            "sut", "note", "run_dir"]
    print(df[cols].fillna("").to_markdown(index=False, floatfmt=".2f"))
    return 0
