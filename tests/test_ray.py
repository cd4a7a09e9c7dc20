"""Sweeps on a Ray cluster (`--launcher ray`): a real local cluster, real LoadGen runs.

The module starts one Ray head on this machine, on loopback only, offering one
`bench_slot`, with token authentication and its own token file, temp folder and port. It
stops only the processes it started, by id (never `ray stop`, which stops every Ray process
on the machine). Traps met here:

- Ray rewrites 127.0.0.1 to the machine's own address (`ray start --node-ip-address
  127.0.0.1` still binds the external one, and a driver told 127.0.0.1 dials the external
  one); `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, for the head and the drivers, keeps Ray on
  loopback (a one-node cluster only: Ray then refuses other nodes).
- The head's port is outside Ray's worker port range (10002-19999).
- The drivers get the token's path but no `RAY_AUTH_MODE`: the launcher must choose token
  mode itself (a plain `ray.init("HOST:PORT")` would not, and fail with InvalidAuthToken).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest

from conftest import ROOT, manifest, run_cli, run_dirs

pytest.importorskip("ray", reason="Ray is not installed (the 'cluster' extra; make setup "
                                  "installs it)")

MODEL = "mobilenet_v2_quant"
#: Ray's default worker port range, which the head's port must stay out of.
WORKER_PORTS = range(10002, 20000)
START_S = 120


@dataclass
class Cluster:
    address: str
    env: dict[str, str]      # the environment of a driver (no RAY_AUTH_MODE: see above)
    head: subprocess.Popen
    node_dir: Path           # the working directory of the node's Ray workers
    tmp: Path                # the node's TMPDIR (the Ray tasks' temporary results roots)


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in WORKER_PORTS:
            return port


def _ours(head: subprocess.Popen) -> list[psutil.Process]:
    """The head and every process below it (Ray's workers run in sessions of their own, so
    the head's process group does not hold them)."""
    try:
        root = psutil.Process(head.pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster on loopback with one `bench_slot`."""
    base = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))  # short: Ray's socket paths
    node_dir, tmp = base / "node", base / "tmp"
    node_dir.mkdir()
    tmp.mkdir()
    token = base / "token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_TOKEN_PATH=str(token), TMPDIR=str(tmp))
    port = _free_port()
    log = open(base / "head.log", "w")
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
         "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
         "--resources", '{"bench_slot": 1}', "--object-store-memory", str(200 * 2**20),
         "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", str(base / "ray")],
        cwd=node_dir, env={**env, "RAY_AUTH_MODE": "token"}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        text = ""
        while "Ray runtime started" not in text:
            text = (base / "head.log").read_text()
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start: {text[-2000:]}")
            time.sleep(0.5)
        assert "Local node IP: 127.0.0.1" in text, "the head left loopback"
        yield Cluster(f"127.0.0.1:{port}", env, head, node_dir, tmp)
    finally:  # SIGKILL: `ray start --block` would drain for 30 s on SIGTERM
        procs = _ours(head)
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=15)
        head.wait(timeout=15)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _mllog(path: Path) -> dict:
    """The detail log read independently: the JSON after ':::MLLOG ' on each line."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            out[entry["key"]] = entry["value"]
    return out


def _system_name() -> str:
    from harness.system import default_system_name

    return default_system_name()


def test_two_configuration_sweep_on_the_cluster_and_the_report(cluster, tmp_path,
                                                               imagenet_sample):
    results = tmp_path / "results"
    proc = run_cli("sweep", "--model", MODEL, "--scenario", "Offline", "--streams", "1,2",
                   "--duration-ms", "1000", "--dataset", str(imagenet_sample), "--count", "64",
                   "--launcher", "ray", "--address", cluster.address,
                   "--results-dir", str(results), env=cluster.env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sweep: 2 of 2 runs finished" in proc.stdout
    dirs = run_dirs(results)
    assert len(dirs) == 2
    system = _system_name()
    for d in dirs:
        m = manifest(d)
        assert m["status"] == "complete"
        assert m["run_dir"] == str(d.resolve())          # the report names this copy
        assert d.relative_to(results).parts[:2] == (system, MODEL)
        assert d.relative_to(results).parts[3:5] == ("Offline", "performance")
        assert m["system"]["name"] == system               # the node's own default name
        assert m["config"]["execution"]["system"] is None  # not filled in by the driver
        assert m["config"]["execution"]["results_dir"] == str(results)
        assert m["config"]["launcher"] == {"name": "ray", "cores": None,
                                           "address": cluster.address}
        assert m["cwd"] == str(cluster.node_dir)          # started by a Ray worker
        for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "user.conf"):
            assert (d / name).is_file(), name
    assert sorted(manifest(d)["config"]["backend"]["streams"] for d in dirs) == [1, 2]
    assert not list(cluster.tmp.glob("harness-ray-*"))   # the node cleaned up

    out = tmp_path / "report"
    proc = run_cli("report", str(results), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2
    assert sorted(runs["config"]) == ["streams=1", "streams=2"]
    assert set(runs["system"]) == {system}
    for _, row in runs.iterrows():
        d = Path(row["run_dir"])
        assert d in dirs
        assert row["config"] == f"streams={manifest(d)['config']['backend']['streams']}"
        log = _mllog(d / "mlperf_log_detail.txt")
        assert row["validity"] == log["result_validity"]
        assert row["samples_per_s"] == pytest.approx(log["result_samples_per_second"],
                                                     rel=1e-6)
        assert row["p90_ms"] == pytest.approx(
            log["result_90.00_percentile_latency_ns"] / 1e6, rel=1e-6)


def _benchmark_process(cluster: Cluster, skip: set[int], timeout: float = 240
                       ) -> tuple[psutil.Process, Path]:
    """The benchmark process (``python -m harness.launchers.process JOB OUTCOME
    LAUNCHER_PID``) a Ray task started on the node, other than ``skip``; and its outcome
    file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in _ours(cluster.head):
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if "harness.launchers.process" in cmd and p.pid not in skip:
                at = cmd.index("harness.launchers.process")
                return p, Path(cmd[at + 2])
        time.sleep(0.2)
    pytest.fail("no benchmark process appeared on the node")


def test_failures_on_the_cluster_fail_that_run_and_the_sweep_goes_on(cluster, tmp_path):
    # bad input that only the node can see: one error line naming the node, exit 2
    results = tmp_path / "results"
    proc = run_cli("run", "--model", MODEL, "--launcher", "ray", "--address",
                   cluster.address, "--cores", "4095", "--results-dir", str(results),
                   env=cluster.env, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "on node" in errors[0] and "127.0.0.1" in errors[0] and "4095" in errors[0]
    assert not run_dirs(results)

    # Three runs, one bench_slot: the first to start loses its node (its Ray worker and
    # benchmark process are killed: what a node death looks like to the driver); the
    # second's benchmark process dies after its run directory exists; the third completes.
    sweep = subprocess.Popen(
        [sys.executable, "-m", "harness", "sweep", "--model", MODEL, "--scenario", "Offline",
         "--streams", "1,2,3", "--duration-ms", "500", "--launcher", "ray",
         "--address", cluster.address, "--results-dir", str(results)],
        cwd=ROOT, env={**cluster.env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        first, _ = _benchmark_process(cluster, set())
        worker = first.parent()
        worker.kill()
        first.kill()
        second, outcome = _benchmark_process(cluster, {first.pid})
        deadline = time.monotonic() + 120
        while "run_dir" not in (outcome.read_text() if outcome.exists() else "{}"):
            assert time.monotonic() < deadline, "the second run made no run directory"
            time.sleep(0.2)
        second.kill()
        out, _ = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 1, out
    assert "sweep: 1 of 3 runs finished" in out, out
    failed = [line for line in out.splitlines() if line.startswith("  failed: ")]
    assert len(failed) == 2, out
    assert sum("WorkerCrashedError" in line and "the node died" in line
               for line in failed) == 1, out
    assert sum("on node" in line and "exited with status -9" in line for line in failed) == 1
    by_status = {manifest(d)["status"]: d for d in run_dirs(results)}
    assert sorted(by_status) == ["complete", "failed"]   # the lost node's run left nothing
    broken = manifest(by_status["failed"])
    assert broken["run_dir"] == str(by_status["failed"].resolve())
    assert "exited with status -9" in broken["error"]


def test_no_cluster_at_the_address_is_one_error_line(tmp_path):
    port = _free_port()  # nothing listens there
    proc = run_cli("sweep", "--model", MODEL, "--streams", "1,2", "--launcher", "ray",
                   "--address", f"127.0.0.1:{port}", "--results-dir", str(tmp_path),
                   timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --address 127.0.0.1:{port}: no Ray cluster answers there (Connection "
        f"refused); start its head with 'ray start --head --port {port}' "
        f"(docs/scale-out.md) or give the head's HOST:PORT"]
    assert "sweep: 2 runs" not in proc.stdout  # nothing started


@pytest.mark.parametrize("args, message", [
    (["--launcher", "ray", "--address", "ray://head:10001"], "is not HOST:PORT"),
    (["--launcher", "ray", "--address", "head"], "is not HOST:PORT"),
    (["--launcher", "ray", "--address", "head:0"], "is not HOST:PORT"),
])
def test_bad_addresses_are_refused(args, message, tmp_path):
    proc = run_cli("sweep", "--model", MODEL, *args, "--results-dir", str(tmp_path),
                   timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: --address") and "Traceback" not in proc.stderr


def test_workflows_of_one_machine_refuse_the_cluster(tmp_path):
    proc = run_cli("compliance", str(tmp_path), "--launcher", "ray", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --launcher ray: only 'harness run' and 'harness "
                                  "sweep'"), proc.stderr


def test_the_launcher_config_round_trips_with_the_address():
    from harness.run import config as run_config
    from harness.run.config import LauncherConfig, RunConfig

    cfg = RunConfig(launcher=LauncherConfig(name="ray", address="10.0.0.5:6379"))
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
    args = run_config.to_arguments(cfg)
    assert args[-4:] == ["--launcher", "ray", "--address", "10.0.0.5:6379"]


def test_auth_mode_is_explicit(tmp_path, monkeypatch):
    from harness.launchers.ray import auth_mode

    monkeypatch.setenv("HOME", str(tmp_path))
    assert auth_mode({})[0] == "disabled"
    assert auth_mode({"RAY_AUTH_TOKEN_PATH": "/t"})[0] == "token"
    assert auth_mode({"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "x"})[0] == "disabled"
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("x")  # what a local ray.init() leaves
    assert auth_mode({}) == ("token", "~/.ray/auth_token exists")
