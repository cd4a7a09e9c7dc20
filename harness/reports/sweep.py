"""``harness sweep``: run a grid of hardware configurations, each point a normal run.

Example: ``harness sweep --model resnet50 --scenario Offline --streams 1,2 --threads 1,2
--precision fp32,int8 --cores 0 0-1 --duration-ms 2000`` runs 2 x 2 x 2 x 2 = 16 runs.
Each point is ``harness run`` in its own process (LoadGen loads mlperf.conf once per
process); a point with ``--cores`` runs pinned to those CPUs (``os.sched_setaffinity`` in
the child before Python starts, like ``taskset -c``) and its manifest records them
(``config.cores``), so the configuration is part of each run's identity in
``harness report``. A failed point does not stop the sweep; the exit status is 1 when any
point failed.
"""

from __future__ import annotations

import itertools
import shlex

HELP = "run a grid of configurations (streams x threads x precision x cores ...), one run each"

#: Grid axes: option name -> ``harness run`` option. Values are split on commas and spaces.
AXES = {"model": "--model", "scenario": "--scenario", "precision": "--precision",
        "backend": "--backend", "streams": "--streams", "threads": "--threads",
        "hint": "--hint", "nireq": "--nireq", "target_qps": "--target-qps", "cores": None}

#: Options passed to every point unchanged.
PASS_THROUGH = ("mode", "execution", "dataset", "count", "weights", "duration_ms",
                "system", "results_dir", "device")


def add_arguments(parser) -> None:
    """Options of ``harness sweep``: grid axes take several values (``1,2`` or ``1 2``)."""
    for axis in AXES:
        default = {"model": ["resnet50"], "scenario": ["Offline"]}.get(axis)
        help_text = ("CPU sets to pin each point to, taskset -c syntax, one per value "
                     "(e.g. --cores 0 0-1)" if axis == "cores" else f"{axis} value(s)")
        parser.add_argument(f"--{axis.replace('_', '-')}", nargs="+", default=default,
                            help=help_text)
    parser.add_argument("--mode", default="performance")
    parser.add_argument("--execution", default="test", help="test (short) or valid")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--count", default=None)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--duration-ms", default=None, help="test mode: min duration (ms)")
    parser.add_argument("--system", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--run-args", default="", help="more `harness run` options, quoted")
    parser.add_argument("--dry-run", action="store_true", help="print the points only")


def _values(raw: list[str] | None, split_commas: bool = True) -> list[str | None]:
    if not raw:
        return [None]
    out = []
    for item in raw:
        out.extend(v for v in (item.split(",") if split_commas else [item]) if v.strip())
    return out


def grid(args) -> list[dict[str, str | None]]:
    """Every combination of the axes' values, as ``{axis: value}`` (None: not set)."""
    axes = {axis: _values(getattr(args, axis), split_commas=axis != "cores") for axis in AXES}
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def point_args(args, point: dict[str, str | None]) -> list[str]:
    """``harness run`` arguments of one grid point."""
    out: list[str] = []
    for axis, option in AXES.items():
        if option and point[axis] is not None:
            out += [option, str(point[axis])]
    for name in PASS_THROUGH:
        value = getattr(args, name, None)
        if value not in (None, ""):
            out += ["--" + name.replace("_", "-"), str(value)]
    return out + shlex.split(args.run_args or "")


def run(args) -> int:
    """Run every point of the grid; print one line per point and a final tally."""
    import os

    from tqdm import tqdm

    from ..errors import HarnessError
    from ..runner import parse_cpu_list, run_subprocess

    points = grid(args)
    for p in points:
        if p["cores"] is not None:
            cpus = parse_cpu_list(p["cores"])
            allowed = os.sched_getaffinity(0)
            if not cpus <= allowed:
                raise HarnessError(f"--cores {p['cores']}: CPUs {sorted(cpus - allowed)} "
                                   f"are not available here (allowed: {sorted(allowed)})")
    print(f"sweep: {len(points)} runs into {args.results_dir}", flush=True)
    failed = []
    for p in tqdm(points, desc="sweep", unit="run"):
        argv = point_args(args, p)
        label = " ".join(f"{k}={v}" for k, v in p.items() if v is not None)
        prefix = f"taskset -c {p['cores']} " if p["cores"] else ""
        tqdm.write(f"--- {label}\n    {prefix}harness run {shlex.join(argv)}")
        if args.dry_run:
            continue
        cpus = parse_cpu_list(p["cores"]) if p["cores"] else None
        proc = run_subprocess(argv, preexec_fn=(lambda cpus=cpus: os.sched_setaffinity(0, cpus))
                              if cpus else None)
        if proc.returncode != 0:
            failed.append((label, proc.returncode))
            tqdm.write(f"    FAILED (exit {proc.returncode})")
    if args.dry_run:
        print(f"sweep: {len(points)} points (dry run: nothing was run)")
        return 0
    print(f"sweep: {len(points) - len(failed)} of {len(points)} runs finished; compare "
          f"them: harness report {args.results_dir}")
    for label, rc in failed:
        print(f"  failed: {label} (exit {rc})")
    return 1 if failed else 0
