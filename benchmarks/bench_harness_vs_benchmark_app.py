"""Harness overhead against OpenVINO's benchmark_app: same IR, precision, streams, threads.

For each model, in ``--repeat`` rounds (each measurement its own process; the rounds'
medians are compared, so one noisy run does not decide a goal):

- harness Offline samples/s / benchmark_app throughput (THROUGHPUT hint)  (goal >= 0.97);
- harness SingleStream p50 latency / benchmark_app median latency (LATENCY hint), like for
  like (goal <= 1.03 for the light INT8 models), and p90 / median (goal <= 1.05);
- where SingleStream's p50 goes, one step at a time: benchmark_app's median (its C++ loop on
  one input tensor) -> a bare Python loop on one input (what calling OpenVINO from Python
  costs) -> the same loop over the QSL's samples in random order (inputs not in the cache,
  as in every LoadGen run) -> a minimal Python SUT under LoadGen (the same inference in
  ``issue_queries``, an argmax, ``QuerySamplesComplete``) -> the harness's p50; and the
  harness's own telemetry (queue, inference, response).

Models: resnet50 FP32 (47 ms per inference here: the harness's per-sample overhead hides in
it) and the light INT8 models bnas_a (NNCF INT8) and mobilenet_v2_quant (the uint8 TFLite as
given), where the per-sample overhead shows. Random weights where no trained ones exist:
speed does not depend on them.

Both tools run the streams and threads OpenVINO chooses for the hint on this machine.
benchmark_app uses its default number of infer requests (OpenVINO's optimal number, one per
stream here); the harness its own default (two per stream, so every stream has the next
request while Python answers the last): each as a user runs it, both counts printed.

Run it on a quiet machine: ``make bench ARGS="--models bnas_a mobilenet_v2_quant"`` (about 6
minutes a model with the defaults).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np
import openvino as ov
import openvino.properties as props

from harness import cards, loadgen_logs, system, weights
from harness.backends.openvino import ir, quantization
from harness.backends.openvino.backend import compile_config
from harness.backends.openvino.config import OpenVINOConfig, QuantizationConfig
from harness.datasets import open_dataset
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


def bare_loop(model: str, xml: Path, cfg: dict[str, int], count: int,
              seconds: float) -> dict[str, float]:
    """The bare Python loop and the minimal LoadGen SUT, in one fresh process.

    The loop: p50 wall time (ms) of one synchronous inference (``set_input_tensor``,
    ``start_async``, ``wait``) on the IR compiled as the harness compiles it, with one input
    (``one``, as benchmark_app) and with ``count`` synthetic samples taken in random order
    (``many``, as LoadGen takes the QSL's samples); blocks of 100 of each alternate. Then
    the minimal SUT: LoadGen SingleStream whose ``issue_queries`` runs the same inference,
    an argmax and ``QuerySamplesComplete``, nothing else (``sut_p50``: LoadGen's p50;
    ``sut_inference``: the inference call's p50 under LoadGen), so what LoadGen itself adds
    shows beside the harness.
    """
    job = json.dumps({"model": model, "xml": str(xml), "cfg": cfg, "count": count,
                      "seconds": seconds})
    out = subprocess.run([sys.executable, __file__, "--bare-child", job], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def load_samples(model: str, dataset: str | None, count: int) -> list[np.ndarray]:
    """The run's samples, preprocessed as the harness does (synthetic when no dataset)."""
    ds = open_dataset(cards.load(model), dataset, count, synthetic_count=count)
    ds.prepare()
    return [ds.load_sample(i) for i in range(len(ds))]


def _bare_child(job: dict) -> dict[str, float]:
    samples = load_samples(job["model"], None, job["count"])
    settings = OpenVINOConfig(precision="fp32", hint="LATENCY", streams=job["cfg"]["streams"],
                              threads=job["cfg"]["threads"])
    request = ov.Core().compile_model(job["xml"], "CPU",
                                      compile_config(settings)).create_infer_request()

    def infer(i: int) -> int:
        t = time.perf_counter_ns()
        request.set_input_tensor(ov.Tensor(samples[i], shared_memory=True))
        request.start_async()
        request.wait()
        return time.perf_counter_ns() - t

    rng = np.random.default_rng(0)
    times: dict[str, list[int]] = {"one": [], "many": [], "sut_inference": []}
    end = time.perf_counter() + job["seconds"]
    while time.perf_counter() < end:
        for key, picks in (("one", [0] * 100), ("many", rng.integers(0, len(samples), 100))):
            times[key] += [infer(i) for i in picks]

    def issue(query_samples):
        qs = query_samples[0]
        times["sut_inference"].append(infer(qs.index))
        cls = np.array([np.argmax(request.get_output_tensor(0).data)], np.float32)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(qs.id, cls.ctypes.data, cls.nbytes)])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(len(samples), len(samples), lambda _: None, lambda _: None)
    test = lg.TestSettings()
    test.scenario = lg.TestScenario.SingleStream
    test.mode = lg.TestMode.PerformanceOnly
    test.min_duration_ms = int(job["seconds"] * 1000)
    test.min_query_count = 100
    test.single_stream_expected_latency_ns = int(np.percentile(times["many"], 50))
    log = lg.LogSettings()
    log.log_output.outdir = tempfile.mkdtemp(prefix="bench-minimal-sut-")
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, test, log)
    lg.DestroySUT(sut)
    lg.DestroyQSL(qsl)
    out = {k: float(np.percentile(v[50:], 50)) / 1e6 for k, v in times.items()}
    out["sut_p50"] = loadgen_logs.key_result(Path(log.log_output.outdir)).p50_ms
    shutil.rmtree(log.log_output.outdir, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each measurement")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of all measurements; medians are compared")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--bare-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        print(json.dumps(_bare_child(json.loads(args.bare_child))))
        return 0
    results = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    print(system.machine_line(), flush=True)
    for model in args.models:
        xml, label = model_ir(model)
        tput, lat = _compiled_settings(xml, "THROUGHPUT"), _compiled_settings(xml, "LATENCY")
        print(f"\n{label}: IR {xml}\n  THROUGHPUT {tput}, LATENCY {lat}; {args.repeat} rounds "
              f"of {args.seconds} s measurements", flush=True)
        m: dict[str, list] = {k: [] for k in ("ba_fps", "off", "ba_med", "ss50", "ss90",
                                               "bare_one", "bare_many", "sut_inference",
                                               "sut_p50", "tel")}
        nireq = None
        for n in range(args.repeat):
            m["ba_fps"].append(benchmark_app(xml, tput, args.seconds)["fps"])
            off, nireq, _ = harness_run(model, xml, "Offline", tput, args.seconds, results)
            m["off"].append(off.samples_per_second)
            m["ba_med"].append(benchmark_app(xml, lat, args.seconds)["latency_ms"])
            ss, _, tel = harness_run(model, xml, "SingleStream", lat, args.seconds, results)
            m["ss50"].append(ss.p50_ms)
            m["ss90"].append(ss.p90_ms)
            m["tel"].append(tel)
            bare = bare_loop(model, xml, lat, ss.performance_sample_count or 1024, args.seconds)
            for key in ("one", "many"):
                m[f"bare_{key}"].append(bare[key])
            for key in ("sut_inference", "sut_p50"):
                m[key].append(bare[key])
            print(f"  round {n + 1}: Offline {m['off'][-1]:.1f} vs {m['ba_fps'][-1]:.1f} "
                  f"samples/s; SingleStream p50 {ss.p50_ms:.3f} vs median "
                  f"{m['ba_med'][-1]:.3f} ms", flush=True)
        report(label, tput, nireq, m)
    shutil.rmtree(results, ignore_errors=True)
    return 0


def report(label: str, tput: dict, nireq, m: dict[str, list]) -> None:
    """Print one model's medians over the rounds, the goals, and where SingleStream's p50
    goes."""
    med = {k: float(np.median(v)) for k, v in m.items() if k != "tel"}
    r_tput = med["off"] / med["ba_fps"]
    r_50 = med["ss50"] / med["ba_med"]
    r_90 = med["ss90"] / med["ba_med"]
    per_round = " ".join(f"{a / b:.3f}" for a, b in zip(m["ss50"], m["ba_med"]))
    print(f"\n{label}: streams {tput['streams']} x threads {tput['threads']}, infer "
          f"requests benchmark_app {tput['nireq']}, harness {nireq}; medians of "
          f"{len(m['off'])} rounds")
    print(f"  {'measure':42s} {'benchmark_app':>14s} {'harness':>10s} {'ratio':>7s} goal")
    print(f"  {'Offline throughput (samples/s)':42s} {med['ba_fps']:14.2f} {med['off']:10.2f} "
          f"{r_tput:7.3f} >= 0.97 {'OK' if r_tput >= 0.97 else 'MISSED'}")
    print(f"  {'SingleStream latency (ms): p50 vs median':42s} {med['ba_med']:14.3f} "
          f"{med['ss50']:10.3f} {r_50:7.3f} <= 1.03 {'OK' if r_50 <= 1.03 else 'MISSED'}"
          f"  (rounds: {per_round})")
    print(f"  {'SingleStream latency (ms): p90 vs median':42s} {med['ba_med']:14.3f} "
          f"{med['ss90']:10.3f} {r_90:7.3f} <= 1.05 {'OK' if r_90 <= 1.05 else 'MISSED'}")
    steps = [("benchmark_app median (C++ loop, one input)", med["ba_med"]),
             ("bare Python loop, one input", med["bare_one"]),
             ("bare Python loop, the QSL's samples at random", med["bare_many"]),
             ("minimal Python SUT under LoadGen: its p50", med["sut_p50"]),
             ("harness SingleStream p50 (LoadGen + SUT)", med["ss50"])]
    print("  where SingleStream's p50 goes (ms, medians; each step adds one thing):")
    prev = None
    for name, value in steps:
        extra = "" if prev is None else f"  {value - prev:+.3f}"
        print(f"    {name:48s} {value:7.3f}{extra}")
        prev = value
    print(f"  (the minimal SUT's inference call took {med['sut_inference']:.3f} ms under "
          f"LoadGen; its p50 / benchmark_app's median: "
          f"{med['sut_p50'] / med['ba_med']:.3f})")
    tels = [t for t in m["tel"] if t.get("samples")]
    if tels:  # the harness's own telemetry: its stages' p50, medians over the rounds
        p50 = {k: float(np.median([t[k]["p50_ms"] for t in tels]))
               for k in ("queue", "inference", "response")}
        print(f"  inside the harness (telemetry p50): queue {p50['queue']:.3f}, inference "
              f"{p50['inference']:.3f}, response {p50['response']:.3f} ms (the response "
              f"includes QuerySamplesComplete's own work, after LoadGen's completion stamp)")


if __name__ == "__main__":
    sys.exit(main())
