"""Harness Server against a minimal reference SUT: same IR, data, configuration and loads.

The reference SUT (:func:`reference_run`) is LoadGen and one ``openvino.AsyncInferQueue``,
written plainly: ``issue_queries`` starts each sample on the queue from LoadGen's thread, the
completion callback takes the argmax of the output and calls ``QuerySamplesComplete``.
Nothing else: no dispatcher, no batching, no failure handling, no telemetry. What the
harness adds in the Server path shows as the difference (and what it saves: the plain
reference lets pybind11 create and delete a Python thread state for every callback, which
the harness's backend avoids, ``docs/optimize.md``).

Both run the same target-QPS ladder (by default fractions of the reference's asynchronous
throughput, measured first) with the same user.conf (``*.Server.target_latency``, 100 ms
by default: a bound a 2-core machine meets; ``--bound-ms``), the same test-mode minimum
duration and query count, streams, threads and infer requests (OpenVINO's choice for the
THROUGHPUT hint and the harness's default of two requests per stream, unless given). For
each load each side runs ``--repeat`` times (3), alternating, and the bench prints both
median p99 latencies, whether each side met the load (all its runs VALID) and the spread of
the reference's own p99s (the noise the difference must be read against); then each side's
peak (the highest load of the ladder it met), the ratio of peaks (goal >= 0.97) and the
largest p99 difference at a load both meet (goal <= 0.5 ms).

Each LoadGen run is its own process (LoadGen applies its mlperf.conf once per process);
runs alternate reference, harness at each load, so both see the same machine.
``make bench-server`` (about 15 minutes with the defaults; ``--repeat 1`` a third of it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np
import openvino as ov

from harness import cards, loadgen_logs, system
from harness.backends.openvino.backend import compile_config
from harness.backends.openvino.config import NIREQ_PER_STREAM, OpenVINOConfig
from harness.launchers import ProcessLauncher
from harness.run.config import from_arguments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness_vs_benchmark_app import (  # noqa: E402
    MODELS, _compiled_settings, load_samples, model_ir)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "imagenet-sample"
#: Test-mode minimum query count of Server (scenarios/scenarios.toml), used by both sides.
MIN_QUERY_COUNT = 100
#: Default ladder: these fractions of the reference's measured asynchronous throughput.
FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def compiled(xml: Path, cfg: dict) -> ov.CompiledModel:
    """The IR compiled as the harness compiles it for ``cfg`` (streams, threads)."""
    settings = OpenVINOConfig(precision="fp32", hint="THROUGHPUT", streams=cfg["streams"],
                              threads=cfg["threads"])
    return ov.Core().compile_model(str(xml), "CPU", compile_config(settings))


# --- the reference SUT --------------------------------------------------------------------

def reference_run(xml: Path, samples: list[np.ndarray], cfg: dict, card: cards.ModelCard,
                  conf: Path, qps: float, seconds: float, outdir: Path) -> dict:
    """One LoadGen Server run of the reference SUT; its key result as a dict."""
    queue = ov.AsyncInferQueue(compiled(xml, cfg), cfg["nireq"])
    offset = int(card.postprocessing.get("class_offset", 0))

    def done(request, sample_id):
        cls = np.array([np.argmax(request.get_output_tensor(0).data) + offset], np.float32)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, cls.ctypes.data,
                                                        cls.nbytes)])

    def issue(query_samples):
        for qs in query_samples:
            queue.start_async([samples[qs.index]], qs.id, share_inputs=True)

    queue.set_callback(done)
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(len(samples), len(samples), lambda _: None, lambda _: None)
    settings = lg.TestSettings()
    if settings.FromConfig(str(conf), card.benchmark, "Server"):
        raise SystemExit(f"LoadGen refuses {conf}")
    settings.scenario = lg.TestScenario.Server
    settings.mode = lg.TestMode.PerformanceOnly
    settings.server_target_qps = qps
    settings.min_duration_ms = int(seconds * 1000)
    settings.min_query_count = MIN_QUERY_COUNT
    outdir.mkdir(parents=True, exist_ok=True)
    log = lg.LogSettings()
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    lg.StartTestWithLogSettings(sut, qsl, settings, log, str(outdir / "no-audit.config"))
    queue.wait_all()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    result = loadgen_logs.key_result(outdir)
    return {"validity": result.validity, "p99_ms": result.p99_ms,
            "scheduled_qps": result.scheduled_qps}


def reference_throughput(xml: Path, samples: list[np.ndarray], cfg: dict,
                         seconds: float = 3.0) -> float:
    """The reference queue's asynchronous throughput (samples/s), no LoadGen."""
    queue = ov.AsyncInferQueue(compiled(xml, cfg), cfg["nireq"])
    for i in range(cfg["nireq"]):
        queue.start_async([samples[i % len(samples)]], share_inputs=True)
    queue.wait_all()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        queue.start_async([samples[n % len(samples)]], share_inputs=True)
        n += 1
    queue.wait_all()
    return n / (time.perf_counter() - start)


# --- both sides -----------------------------------------------------------------------------

def run_reference(args, xml: Path, cfg: dict, conf: Path, qps: float, out: Path) -> dict:
    """The reference at ``qps`` in a fresh process."""
    cmd = [sys.executable, __file__, "--reference-child", json.dumps(
        {"xml": str(xml), "cfg": cfg, "conf": str(conf), "qps": qps, "out": str(out)}),
        "--model", args.model, "--seconds", str(args.seconds), "--count", str(args.count)]
    if args.dataset:
        cmd += ["--dataset", args.dataset]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"reference run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_harness(args, xml: Path, cfg: dict, conf: Path, qps: float, results: Path) -> dict:
    """``harness run --scenario Server`` at ``qps`` on the same IR and configuration."""
    options = {"--model": args.model, "--weights": str(xml), "--scenario": "Server",
               "--target-qps": qps, "--user-conf": str(conf), "--count": args.count,
               "--duration-ms": int(args.seconds * 1000), "--streams": cfg["streams"],
               "--threads": cfg["threads"], "--nireq": cfg["nireq"],
               "--results-dir": str(results)}
    if args.dataset:
        options["--dataset"] = args.dataset
    rep = ProcessLauncher(capture=True).launch(from_arguments(options))
    return {"validity": rep.result.validity, "p99_ms": rep.result.p99_ms,
            "scheduled_qps": rep.result.scheduled_qps, "telemetry": rep.telemetry}


def met(runs: list[dict]) -> bool:
    """A load is met when every run of it was VALID (each repeat confirms the others)."""
    return all(r["validity"] == "VALID" for r in runs)


def median_p99(runs: list[dict]) -> float:
    return float(np.median([r["p99_ms"] for r in runs]))


def peak(rows: list[dict], side: str) -> float | None:
    """The highest target QPS of the ladder that ``side`` met."""
    valid = [r["qps"] for r in rows if met(r[side])]
    return max(valid) if valid else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2_quant", choices=MODELS)
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET) if DEFAULT_DATASET.is_dir()
                        else None, help="image folder (default ../shared/data/imagenet-sample "
                                        "when present, else synthetic data)")
    parser.add_argument("--count", type=int, default=256, help="samples loaded (first N)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="minimum duration of each LoadGen run")
    parser.add_argument("--bound-ms", type=float, default=100.0,
                        help="the Server p99 latency bound (*.Server.target_latency)")
    parser.add_argument("--qps", type=float, nargs="+",
                        help="the target-QPS ladder (default: fractions "
                             f"{', '.join(map(str, FRACTIONS))} of the reference's "
                             "measured throughput)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each side at each load (alternating); a load is met "
                             "when all its runs are VALID, p99s are compared as medians")
    parser.add_argument("--streams", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--nireq", type=int)
    parser.add_argument("--reference-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    card = cards.load(args.model)
    if args.reference_child:  # one reference run in this fresh process
        job = json.loads(args.reference_child)
        samples = load_samples(args.model, args.dataset, args.count)
        print(json.dumps(reference_run(Path(job["xml"]), samples, job["cfg"], card,
                                       Path(job["conf"]), job["qps"], args.seconds,
                                       Path(job["out"]))))
        return 0
    xml, label = model_ir(args.model)
    cfg = _compiled_settings(xml, "THROUGHPUT")
    cfg = {"streams": args.streams or cfg["streams"], "threads": args.threads or cfg["threads"]}
    cfg["nireq"] = args.nireq or NIREQ_PER_STREAM * cfg["streams"]
    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    conf = work / "user.conf"
    conf.write_text(f"*.Server.target_latency = {args.bound_ms:g}\n")
    ladder = args.qps
    if not ladder:
        rate = reference_throughput(xml, load_samples(args.model, args.dataset, args.count),
                                    cfg)
        print(f"reference asynchronous throughput: {rate:.1f} samples/s", flush=True)
        ladder = [round(f * rate, 1) for f in FRACTIONS]
    print(system.machine_line())
    print(f"{label}: IR {xml}\n  {cfg}, p99 bound {args.bound_ms:g} ms, {args.seconds:g} s "
          f"per run, {args.repeat} runs of each side per load, ladder {ladder}", flush=True)
    rows = []
    for i, qps in enumerate(ladder):
        row: dict = {"qps": qps, "reference": [], "harness": []}
        for n in range(args.repeat):
            row["reference"].append(run_reference(args, xml, cfg, conf, qps,
                                                  work / f"ref-{i}-{n}"))
            row["harness"].append(run_harness(args, xml, cfg, conf, qps, work / "results"))
        rows.append(row)
        ref, ours = row["reference"], row["harness"]
        spread = max(r["p99_ms"] for r in ref) - min(r["p99_ms"] for r in ref)
        tels = [r["telemetry"] or {} for r in ours]
        busy = np.median([t.get("utilisation") or 0 for t in tels])
        queue = np.median([(t.get("queue") or {}).get("p99_ms", float("nan")) for t in tels])
        print(f"  {qps:8.1f} q/s  p99 (median) reference {median_p99(ref):8.2f} ms "
              f"{'met' if met(ref) else 'NOT met':7s}  harness {median_p99(ours):8.2f} ms "
              f"{'met' if met(ours) else 'NOT met':7s}  diff "
              f"{median_p99(ours) - median_p99(ref):+7.2f} ms  (reference's own spread "
              f"{spread:.2f} ms; harness busy {busy:.0%}, queue p99 {queue:.2f} ms)",
              flush=True)
    ref_peak, our_peak = peak(rows, "reference"), peak(rows, "harness")
    print(f"\nServer peak (highest load of the ladder whose {args.repeat} runs were all "
          f"VALID), p99 bound {args.bound_ms:g} ms:")
    print(f"  reference SUT {ref_peak} q/s, harness {our_peak} q/s", end="")
    if ref_peak and our_peak:
        ratio = our_peak / ref_peak
        print(f", ratio {ratio:.3f} (goal >= 0.97: {'OK' if ratio >= 0.97 else 'MISSED'})")
    else:
        print(" (no VALID load on one side: lower the ladder or raise --bound-ms)")
    both = [r for r in rows if met(r["reference"]) and met(r["harness"])]
    if both:
        worst = max(both, key=lambda r: median_p99(r["harness"]) - median_p99(r["reference"]))
        diff = median_p99(worst["harness"]) - median_p99(worst["reference"])
        spread = (max(r["p99_ms"] for r in worst["reference"])
                  - min(r["p99_ms"] for r in worst["reference"]))
        print(f"  largest p99 difference (medians) at a load both meet: {diff:+.2f} ms at "
              f"{worst['qps']} q/s (goal <= 0.5 ms: {'OK' if diff <= 0.5 else 'MISSED'}; "
              f"the reference's own p99s there spread over {spread:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
