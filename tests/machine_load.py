"""Short performance runs whose load comes from this machine, never from a fixed QPS.

A fixed ``--target-qps`` is wrong on some machine: too low on a fast CPU (the Offline run
issues too few samples, ends before its minimum duration and is INVALID), too high on a slow
one (the run takes far longer than asked). These helpers let the harness calibrate, and when
the machine got faster after the calibration (a shared machine whose neighbours went quiet)
repeat the run once with a load derived from what the first run measured. A run that is
still INVALID fails the test: it never turns into a skip.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from conftest import run_cli


def run_dir_of(proc) -> Path:
    """The run directory a ``harness run`` printed; fails the test when the run failed."""
    if proc.returncode != 0:
        pytest.fail(f"harness run failed (exit {proc.returncode}):\n{proc.stdout[-1500:]}\n"
                    f"{proc.stderr[-1500:]}")
    return Path(re.search(r"^run directory: (.+)$", proc.stdout, re.M).group(1))


def result_of(run_dir: Path) -> dict:
    """The ``result`` section of a run's run.json."""
    return json.loads((Path(run_dir) / "run.json").read_text())["result"]


#: On the retry, LoadGen is told to expect this many times the throughput the first run
#: measured: the run then lasts its minimum duration unless the machine gets this much
#: faster again, and about this many times the minimum duration when it does not.
RETRY_FACTOR = 4


def valid_offline_run(*args: str, duration_ms: int = 2000) -> Path:
    """A VALID Offline performance run (``harness run --scenario Offline`` plus ``args``).

    First with the harness's own calibration (``offline_expected_qps`` = calibrated samples/s
    x 1.2); when that run ended early, again with ``--target-qps`` = :data:`RETRY_FACTOR` x
    the samples/s it measured. Fails the test when the second run is INVALID too.
    """
    base = ["run", *args, "--scenario", "Offline", "--duration-ms", str(duration_ms)]
    run = run_dir_of(run_cli(*base))
    first = result_of(run)
    if first["validity"] == "VALID":
        return run
    qps = RETRY_FACTOR * first["samples_per_second"]
    run = run_dir_of(run_cli(*base, "--target-qps", f"{qps:.1f}"))
    second = result_of(run)
    if second["validity"] != "VALID":
        pytest.fail(f"Offline run INVALID twice on this machine (calibrated: {first}; with "
                    f"--target-qps {qps:.1f}: {second})")
    return run


def valid_server_run(*args: str, duration_ms: int) -> Path:
    """A VALID Server performance run (``harness run --scenario Server`` plus ``args``).

    First at the harness's own load (no target in the user.conf: half the calibrated Offline
    throughput) for ``duration_ms``. When that run was INVALID (the machine got slower:
    latencies over the bound, or too few queries for LoadGen's early stopping, which wants
    several hundred at p99), again at 3/4 of the queries/s it completed, for long enough to
    issue :data:`SERVER_QUERIES` queries at that rate. Fails the test when the second run
    is INVALID too.
    """
    base = ["run", *args, "--scenario", "Server"]
    run = run_dir_of(run_cli(*base, "--duration-ms", str(duration_ms)))
    first = result_of(run)
    if first["validity"] == "VALID":
        return run
    qps = 0.75 * (first["completed_qps"] or first["samples_per_second"])
    longer = max(duration_ms, math.ceil(SERVER_QUERIES / qps * 1000))
    run = run_dir_of(run_cli(*base, "--duration-ms", str(longer), "--target-qps",
                             f"{qps:.2f}"))
    second = result_of(run)
    if second["validity"] != "VALID":
        pytest.fail(f"Server run INVALID twice on this machine (harness load: {first}; with "
                    f"--target-qps {qps:.2f} for {longer} ms: {second})")
    return run


#: Queries a retried Server run issues: LoadGen's early stopping at p99 wants 662 when none
#: is over the bound (its message on a shorter run), a few more when some are.
SERVER_QUERIES = 900
