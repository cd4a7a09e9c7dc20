"""LoadGen over the network against in-process: what the KServe v2 path costs.

For each model, one Offline and one SingleStream run in-process (OpenVINO backend), then the
same runs through ``harness serve`` on loopback with the kserve client backend over gRPC.
Prints, per model:

- Offline samples/s over the network / in-process (1.0: the network path costs nothing);
- SingleStream p50 latency added by the network path (ms): network p50 - in-process p50
  (the server compiled with the LATENCY hint for it, THROUGHPUT for Offline, as in-process).

Models: resnet50 FP32 (random weights: speed does not depend on them) and the trained
mobilenet_v2_quant (uint8 TFLite). Client and server share this machine's cores, so the
client's own work (LoadGen, serialisation) competes with inference: the figures are an upper
bound of the network path's cost on one box. Run it on a quiet machine:
``make bench-network`` (about 4 minutes with the default 10 s runs).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import system  # noqa: E402
from harness.launchers import ProcessLauncher  # noqa: E402
from harness.run.config import from_arguments  # noqa: E402

MODELS = {"resnet50": ["--weights", "random"], "mobilenet_v2_quant": []}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(values: dict, results: Path):
    rep = ProcessLauncher(capture=True).launch(from_arguments({**values,
                                                               "--results-dir": str(results)}))
    return rep.result


def _serve(model: str, extra: list[str]) -> tuple[subprocess.Popen, int]:
    grpc, http = _free_port(), _free_port()
    log = tempfile.TemporaryFile(mode="w+")  # the server's errors, quoted if it exits
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", model, "--grpc-port",
                             str(grpc), "--http-port", str(http), *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", grpc)) == 0:
                return proc, grpc
        if proc.poll() is not None:
            log.seek(0)
            tail = "".join(log.readlines()[-15:])
            raise SystemExit(f"harness serve {model} exited with {proc.returncode}:\n{tail}")
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"harness serve {model} did not listen within 300 s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--duration-ms", type=int, default=10000, help="each run's minimum (ms)")
    args = p.parse_args(argv)
    results = Path(tempfile.mkdtemp(prefix="bench-network-"))
    rows = []
    for model in args.models:
        extra = MODELS[model]
        base = {"--model": model, "--duration-ms": args.duration_ms}
        if extra:
            base["--weights"] = extra[1]
        print(f"=== {model}: in-process", flush=True)
        local = {s: _run({**base, "--scenario": s}, results) for s in ("Offline",
                                                                      "SingleStream")}
        net = {}
        # the server compiled as the in-process run is: THROUGHPUT for Offline, LATENCY for
        # SingleStream (one server per hint, as a throughput and a latency service would be)
        for scenario, hint in (("Offline", "THROUGHPUT"), ("SingleStream", "LATENCY")):
            server, port = _serve(model, [*extra, "--hint", hint])
            try:
                print(f"=== {model} {scenario}: through harness serve --hint {hint} (gRPC "
                      f"127.0.0.1:{port})", flush=True)
                net[scenario] = _run({"--model": model, "--duration-ms": args.duration_ms,
                                      "--backend": "kserve",
                                      "--endpoint": f"127.0.0.1:{port}",
                                      "--scenario": scenario}, results)
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
        rows.append((model, local, net))
    print(f"\nLoadGen over the network (KServe v2, gRPC, loopback) vs in-process, "
          f"{args.duration_ms} ms runs\n{system.machine_line()}")
    print(f"{'model':20s} {'Offline in-proc':>16s} {'network':>10s} {'ratio':>7s} "
          f"{'SS p50 in-proc':>15s} {'network':>10s} {'added ms':>9s}")
    for model, local, net in rows:
        lo, no = local["Offline"].samples_per_second, net["Offline"].samples_per_second
        ls, ns = local["SingleStream"].p50_ms, net["SingleStream"].p50_ms
        print(f"{model:20s} {lo:16.2f} {no:10.2f} {no / lo:7.3f} {ls:15.2f} {ns:10.2f} "
              f"{ns - ls:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
