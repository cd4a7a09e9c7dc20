"""Harness overhead against OpenVINO's benchmark_app: same IR, precision, streams, threads.

For each model, prints:

- harness Offline samples/s / benchmark_app throughput (THROUGHPUT hint)  (goal >= 0.97);
- harness SingleStream p90 latency / benchmark_app median latency (LATENCY hint)
  (goal <= 1.05), and like for like, p50 / median (goal <= 1.03 for the light INT8 models)
  and p90 / p90; then where the harness's SingleStream p50 goes (its run's telemetry:
  queue, inference, response, and LoadGen's own part).

Models: resnet50 FP32 (47 ms per inference here: the harness's per-sample overhead hides in
it) and the light INT8 models bnas_a (NNCF INT8) and mobilenet_v2_quant (the uint8 TFLite as
given), where the per-sample overhead shows. Random weights where no trained ones exist:
speed does not depend on them.

Both tools run the streams and threads OpenVINO chooses for the hint on this machine.
benchmark_app uses its default number of infer requests (OpenVINO's optimal number, one per
stream here); the harness its own default (two per stream, so every stream has the next
request while Python answers the last): each as a user runs it, both counts printed.

Run it on a quiet machine: ``make bench`` (about 8 minutes). Each measurement runs in its own
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

from harness import cards, system, weights
from harness.backends.openvino import ir, quantization
from harness.backends.openvino.backend import compile_config
from harness.backends.openvino.config import OpenVINOConfig, QuantizationConfig
from harness.launchers import ProcessLauncher
from harness.run.config import from_arguments

MODELS = ("resnet50", "bnas_a", "mobilenet_v2_quant")


def model_ir(name: str) -> tuple[Path, str]:
    """The IR each model is measured on, and its label."""
    card = cards.load(name)
    if name == "mobilenet_v2_quant":
        return ir.fp32_model(card, weights.standard(card)), "mobilenet_v2_quant uint8 TFLite"
    if name == "bnas_a":
        xml = quantization.int8_model(card, weights.random_weights(),
                                      QuantizationConfig(calibration_count=32))
        return xml, "bnas_a INT8 (NNCF), random weights"
    return ir.fp32_model(card, weights.random_weights()), f"{name} FP32, random weights"


def _compiled_settings(xml: Path, hint: str) -> dict[str, int]:
    """Streams, threads and infer requests OpenVINO chooses for the hint on this machine."""
    compiled = ov.Core().compile_model(str(xml), "CPU",
                                       compile_config(OpenVINOConfig(precision="fp32",
                                                                     hint=hint)))
    return {"streams": int(compiled.get_property(props.num_streams)),
            "threads": int(compiled.get_property(props.inference_num_threads)),
            "nireq": int(compiled.get_property(props.optimal_number_of_infer_requests))}


def benchmark_app(xml: Path, cfg: dict[str, int], seconds: int,
                  percentile: int = 50) -> dict[str, float]:
    """Run benchmark_app; returns throughput (FPS) and the latency percentile (ms)."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).parent / "benchmark_app")
    # benchmark_app accepts explicit streams/threads only with "-hint none"; they are the
    # values OpenVINO chose for the hint, so both tools run the same configuration
    cmd = [exe, "-m", str(xml), "-d", "CPU", "-hint", "none", "-infer_precision", "f32",
           "-t", str(seconds), "-nstreams", str(cfg["streams"]), "-nthreads",
           str(cfg["threads"]), "-nireq", str(cfg["nireq"]), "-latency_percentile",
           str(percentile)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    fps = float(re.search(r"Throughput:\s+([0-9.]+)\s+FPS", out)[1])
    label = "Median" if percentile == 50 else f"{percentile} percentile"
    latency = float(re.search(rf"{label}:\s+([0-9.]+)\s+ms", out)[1])
    return {"fps": fps, "latency_ms": latency}


def harness_run(model: str, xml: Path, scenario: str, cfg: dict[str, int], seconds: int,
                results: Path):
    """One harness test-mode run on the IR (process launcher, the harness's default infer
    request count); returns (result, infer requests used, telemetry)."""
    config = from_arguments({"--model": model, "--weights": str(xml), "--scenario": scenario,
                             "--duration-ms": seconds * 1000, "--streams": cfg["streams"],
                             "--threads": cfg["threads"], "--results-dir": str(results)})
    rep = ProcessLauncher(capture=True).launch(config)
    return (rep.result, rep.backend["properties"].get("NUM_INFER_REQUESTS"),
            rep.telemetry or {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="duration of each measurement")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    results = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    rows = []
    for model in args.models:
        xml, label = model_ir(model)
        tput, lat = _compiled_settings(xml, "THROUGHPUT"), _compiled_settings(xml, "LATENCY")
        print(f"{label}: IR {xml}\n  THROUGHPUT {tput}, LATENCY {lat}", flush=True)
        ba_tput = benchmark_app(xml, tput, args.seconds)
        off, nireq, _ = harness_run(model, xml, "Offline", tput, args.seconds, results)
        ba_lat = benchmark_app(xml, lat, args.seconds)
        ba_p90 = benchmark_app(xml, lat, args.seconds, percentile=90)
        ss, _, ss_tel = harness_run(model, xml, "SingleStream", lat, args.seconds, results)
        rows.append((label, tput, nireq, ba_tput, off, ba_lat, ba_p90, ss, ss_tel))
    print(f"\nharness vs benchmark_app, {args.seconds} s each (INFERENCE_PRECISION_HINT=f32)"
          f"\n{system.machine_line()}")
    for label, tput, nireq, ba_tput, off, ba_lat, ba_p90, ss, ss_tel in rows:
        r_tput = off.samples_per_second / ba_tput["fps"]
        r_lat = ss.p90_ms / ba_lat["latency_ms"]
        print(f"\n{label}: streams {tput['streams']} x threads {tput['threads']}, infer "
              f"requests benchmark_app {tput['nireq']}, harness {nireq}")
        print(f"  {'measure':42s} {'benchmark_app':>14s} {'harness':>10s} {'ratio':>7s} goal")
        print(f"  {'Offline throughput (samples/s)':42s} {ba_tput['fps']:14.2f} "
              f"{off.samples_per_second:10.2f} {r_tput:7.3f} >= 0.97 "
              f"{'OK' if r_tput >= 0.97 else 'MISSED'}")
        print(f"  {'SingleStream latency (ms): p90 vs median':42s} {ba_lat['latency_ms']:14.2f} "
              f"{ss.p90_ms:10.2f} {r_lat:7.3f} <= 1.05 {'OK' if r_lat <= 1.05 else 'MISSED'}")
        print(f"  {'  same percentile: p50 vs median':42s} {ba_lat['latency_ms']:14.2f} "
              f"{ss.p50_ms:10.2f} {ss.p50_ms / ba_lat['latency_ms']:7.3f}")
        print(f"  {'  same percentile: p90 vs p90':42s} {ba_p90['latency_ms']:14.2f} "
              f"{ss.p90_ms:10.2f} {ss.p90_ms / ba_p90['latency_ms']:7.3f}")
        if ss_tel.get("samples"):  # where the harness's SingleStream p50 goes
            p50 = {k: ss_tel[k]["p50_ms"] for k in ("queue", "inference", "response",
                                                     "sut_latency")}
            print(f"  SingleStream p50 inside the harness (ms): queue {p50['queue']:.3f}, "
                  f"inference {p50['inference']:.3f}, response {p50['response']:.3f}; "
                  f"LoadGen's own part {ss.p50_ms - p50['sut_latency']:.3f}")
    shutil.rmtree(results, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
