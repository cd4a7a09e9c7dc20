"""``harness sweep``: run a grid of configurations, each point a normal run.

Example: ``harness sweep --model resnet50 --scenario Offline --streams 1,2 --threads 1,2
--precision fp32,int8 --cores 0 0-1 --duration-ms 2000`` runs 2 x 2 x 2 x 2 = 16 runs.
The grid axes take several values (``1,2`` or ``1 2``; ``--cores`` takes one CPU set per
value); every other ``harness run`` option applies to all points. Each point is one
:class:`RunConfig` started through the launcher (a fresh process per run; a point with
``--cores`` is pinned to those CPUs, like ``taskset -c``), and its report records the
configuration, so it is part of each run's identity in ``harness report``. Every point's
model and dataset are checked before the first point runs (one bad value of a list is
refused at once, not after the points before it ran). A failed point does not stop the
sweep; the exit status is 1 when any point failed.

``--launcher ray [--address HOST:PORT]`` runs the points on the nodes of a Ray cluster, as
many at once as the nodes offer ``bench_slot`` resources (one benchmark per node), and each
run directory comes back to this machine's results root under the node's own system name
(:mod:`harness.launchers.ray`, docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
from typing import Any

from .. import cards, system
from ..datasets import open_dataset
from ..errors import HarnessError
from ..launchers import Launcher, from_config
from ..run import config as run_config
from ..run.config import RunConfig

HELP = "run a grid of configurations (streams x threads x precision x cores ...), one run each"

#: Grid axes: ``harness run`` options that take several values here.
AXES = ("--model", "--scenario", "--precision", "--backend", "--streams", "--threads",
        "--hint", "--nireq", "--target-qps", "--cores")


def add_arguments(parser) -> None:
    """Options of ``harness sweep``: every ``harness run`` option; the axes take several."""
    run_config.add_arguments(parser, multiple=AXES)
    parser.add_argument("--run-args", default="",
                        help="more `harness run` options for every point, quoted")
    parser.add_argument("--dry-run", action="store_true", help="print the points only")


def _values(flag: str, raw: list[str] | None) -> list[str | None]:
    if not raw:
        return [None]
    out: list[str] = []
    for item in raw:
        parts = [item] if flag == "--cores" else item.split(",")
        out.extend(p.strip() for p in parts if p.strip())
    return out


def _typed(flag: str, text: str) -> Any:
    kind = {opt.flag: opt.kind for opt in run_config.options()}[flag]
    try:
        return kind(text)
    except ValueError:
        raise HarnessError(f"{flag}: {text!r} is not a{'n' if kind is int else ''} "
                           f"{kind.__name__}") from None


def grid(args) -> list[dict[str, Any]]:
    """Every combination of the axes' values, as ``{flag: value}`` (unset axes left out)."""
    axes = {flag: _values(flag, getattr(args, flag.lstrip("-").replace("-", "_")))
            for flag in AXES}
    points = []
    for combo in itertools.product(*axes.values()):
        points.append({flag: _typed(flag, v) for flag, v in zip(axes, combo) if v is not None})
    return points


def label(point: dict[str, Any]) -> str:
    """A grid point in words: ``model=resnet50 streams=2`` (``defaults`` for none)."""
    return " ".join(f"{k.lstrip('-')}={v}" for k, v in point.items()) or "defaults"


def check_inputs(point: dict[str, Any], cfg: RunConfig) -> None:
    """Check what a point names beyond its config's own checks, before any point runs: its
    model card exists and its dataset folder can be read (as the run will; nothing is
    preprocessed).

    Raises:
        HarnessError: an unknown model or an unusable dataset, naming the point.
    """
    try:
        card = cards.load(cfg.model.name)
        if cfg.data.dataset:
            open_dataset(card, cfg.data.dataset, cfg.data.count, synthetic_count=1)
    except HarnessError as exc:
        raise HarnessError(f"sweep point {label(point)}: {exc} (nothing was run)") from None


def configs(args) -> list[tuple[dict[str, Any], RunConfig]]:
    """Each grid point and its config (the shared options plus the point's values).

    Raises:
        HarnessError: a point whose config is invalid, names an unknown model or an
            unusable dataset (:func:`check_inputs`), or CPUs this machine lacks.
    """
    shared = run_config.given(args, exclude=AXES)
    if getattr(args, "run_args", ""):
        extra = argparse.ArgumentParser(prog="--run-args", add_help=False)
        run_config.add_arguments(extra)
        shared.update(run_config.given(extra.parse_args(shlex.split(args.run_args))))
    out = []
    for point in grid(args):
        cfg = run_config.from_arguments({**shared, **point})
        if point.get("--cores") and cfg.launcher.name != "ray":  # a node checks its own
            system.check_cpus(point["--cores"])
        if cfg.launcher.name != "ray":  # a node's datasets are its own
            check_inputs(point, cfg)
        out.append((point, cfg))
    return out


def run_points(points: list[tuple[dict[str, Any], RunConfig]], launcher: Launcher
               ) -> list[tuple[str, str]]:
    """Launch every point (one after the other, or several at once on a cluster); returns
    ``[(label, error)]`` of the points that failed."""
    from tqdm import tqdm

    labels = [label(point) for point, _ in points]
    failed = []
    with tqdm(total=len(points), desc="sweep", unit="run") as bar:
        for index, outcome in launcher.launch_many(
                [cfg for _, cfg in points],
                on_start=lambda i: tqdm.write(f"--- {labels[i]}: {points[i][1].label()}")):
            if isinstance(outcome, HarnessError):
                failed.append((labels[index], str(outcome)))
                tqdm.write(f"    {labels[index]}: FAILED: {outcome}")
            else:
                tqdm.write(f"    {labels[index]}: {outcome.run_dir}")
            bar.update(1)
    return failed


def main(args) -> int:
    """Run every point of the grid; print one line per point and a final tally."""
    points = configs(args)  # a grid has at least one point
    results_dir = points[0][1].execution.results_dir
    if args.dry_run:
        print(f"sweep: {len(points)} runs into {results_dir}", flush=True)
        for point, cfg in points:
            print(f"  harness run {' '.join(run_config.to_arguments(cfg))}")
        print(f"sweep: {len(points)} points (dry run: nothing was run)")
        return 0
    launcher = from_config(points[0][1].launcher, many=True)
    launcher.check()
    print(f"sweep: {len(points)} runs into {results_dir}", flush=True)
    failed = run_points(points, launcher)
    print(f"sweep: {len(points) - len(failed)} of {len(points)} runs finished; compare "
          f"them: harness report {results_dir}")
    for label, error in failed:
        print(f"  failed: {label}: {error}")
    return 1 if failed else 0
