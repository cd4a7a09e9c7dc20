"""Harness overhead against OpenVINO's benchmark_app, same IR, precision, streams, threads.

Prints two ratios for resnet50 FP32 (random weights: speed does not depend on their values):
- harness Offline samples/s / benchmark_app throughput (THROUGHPUT hint)  (goal >= 0.97)
- harness SingleStream p90 latency / benchmark_app median latency (LATENCY hint)  (goal <= 1.05)
  and, like for like, harness p50 / benchmark_app median and harness p90 / benchmark_app p90

Run it on a quiet machine: ``make bench`` (about 3 minutes). Each measurement runs in its own
process, one after another.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openvino as ov
import openvino.properties as props

from harness import cards, weights
from harness.backends.openvino import ir
from harness.backends.openvino.backend import compile_config
from harness.backends.openvino.config import OpenVINOConfig
from harness.launchers import ProcessLauncher
from harness.run.config import from_arguments


def _compiled_settings(xml: Path, hint: str) -> dict[str, int]:
    """Streams, threads and infer requests OpenVINO chooses for the hint on this machine."""
    core = ov.Core()
    compiled = core.compile_model(str(xml), "CPU",
                                  compile_config(OpenVINOConfig(precision="fp32", hint=hint)))
    return {"streams": int(compiled.get_property(props.num_streams)),
            "threads": int(compiled.get_property(props.inference_num_threads)),
            "nireq": int(compiled.get_property(props.optimal_number_of_infer_requests))}


def benchmark_app(xml: Path, hint: str, cfg: dict[str, int], seconds: int,
                  percentile: int = 50) -> dict[str, float]:
    """Run benchmark_app; returns throughput (FPS) and the latency percentile (ms)."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).parent / "benchmark_app")
    # benchmark_app accepts explicit streams/threads only with "-hint none"; they are the
    # values OpenVINO chose for `hint`, so both tools run the same configuration.
    del hint
    cmd = [exe, "-m", str(xml), "-d", "CPU", "-hint", "none", "-infer_precision", "f32",
           "-t", str(seconds), "-nstreams", str(cfg["streams"]), "-nthreads",
           str(cfg["threads"]), "-nireq", str(cfg["nireq"]), "-latency_percentile",
           str(percentile)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    fps = float(re.search(r"Throughput:\s+([0-9.]+)\s+FPS", out)[1])
    label = "Median" if percentile == 50 else f"{percentile} percentile"
    latency = float(re.search(rf"{label}:\s+([0-9.]+)\s+ms", out)[1])
    return {"fps": fps, "latency_ms": latency}


def harness_run(xml: Path, scenario: str, cfg: dict[str, int], seconds: int,
                results: Path) -> dict:
    """One harness test-mode run on the IR (process launcher); returns its result."""
    config = from_arguments({"--model": "resnet50", "--weights": str(xml),
                             "--scenario": scenario, "--duration-ms": seconds * 1000,
                             "--streams": cfg["streams"], "--threads": cfg["threads"],
                             "--nireq": cfg["nireq"], "--results-dir": str(results)})
    result = ProcessLauncher(capture=True).launch(config).result
    return {"samples_per_second": result.samples_per_second, "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="duration of each measurement")
    args = parser.parse_args()
    card = cards.load("resnet50")
    xml = ir.fp32_model(card, weights.random_weights())
    results = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    tput_cfg = _compiled_settings(xml, "THROUGHPUT")
    lat_cfg = _compiled_settings(xml, "LATENCY")
    print(f"IR: {xml}\nTHROUGHPUT settings: {tput_cfg}\nLATENCY settings: {lat_cfg}", flush=True)

    ba_tput = benchmark_app(xml, "throughput", tput_cfg, args.seconds)
    off = harness_run(xml, "Offline", tput_cfg, args.seconds, results)
    ba_lat = benchmark_app(xml, "latency", lat_cfg, args.seconds)
    ba_p90 = benchmark_app(xml, "latency", lat_cfg, args.seconds, percentile=90)
    ss = harness_run(xml, "SingleStream", lat_cfg, args.seconds, results)

    r_tput = off["samples_per_second"] / ba_tput["fps"]
    r_lat = ss["p90_ms"] / ba_lat["latency_ms"]
    print("\nresnet50 FP32 (INFERENCE_PRECISION_HINT=f32), random weights")
    print(f"{'measure':44s} {'benchmark_app':>14s} {'harness':>10s} {'ratio':>7s} goal")
    print(f"{'Offline throughput (samples/s)':44s} {ba_tput['fps']:14.2f} "
          f"{off['samples_per_second']:10.2f} {r_tput:7.3f} >= 0.97 "
          f"{'OK' if r_tput >= 0.97 else 'MISSED'}")
    print(f"{'SingleStream latency (ms): p90 vs median':44s} {ba_lat['latency_ms']:14.2f} "
          f"{ss['p90_ms']:10.2f} {r_lat:7.3f} <= 1.05 {'OK' if r_lat <= 1.05 else 'MISSED'}")
    # like for like: the same percentile from both tools (the spread between median and p90
    # is the machine's, not the harness's)
    print(f"{'  same percentile: p50 vs median':44s} {ba_lat['latency_ms']:14.2f} "
          f"{ss['p50_ms']:10.2f} {ss['p50_ms'] / ba_lat['latency_ms']:7.3f}")
    print(f"{'  same percentile: p90 vs p90':44s} {ba_p90['latency_ms']:14.2f} "
          f"{ss['p90_ms']:10.2f} {ss['p90_ms'] / ba_p90['latency_ms']:7.3f}")
    shutil.rmtree(results, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
