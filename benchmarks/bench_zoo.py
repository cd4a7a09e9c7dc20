"""Speed of the optimized model zoo: Offline INT8 of resnet50, bnas_a/b/c and resnext101.

One LoadGen Offline run (test mode, random weights, synthetic data) per row, each in its own
process (``harness run``), then a table of samples/s, the ratio of each model to resnet50
INT8 beside the published ratio (MLPerf Inference v2.0 open, Intel, 2x Xeon 8380, INT8
Offline: resnet50 4181.64, bnas_a 10679.00, bnas_b 5999.10, bnas_c 7916.33 samples/s), the
parameters, GMACs and IR sizes; plus resnet50 INT8 over FP32 (OpenVINO) and OpenVINO INT8
over eager PyTorch FP32 (the "vanilla PyTorch" baseline).

Usage::

    python benchmarks/bench_zoo.py                       # make bench-zoo
    python benchmarks/bench_zoo.py --duration-ms 2000 --calibration-count 8 --models resnet50 bnas_a

Random weights and synthetic calibration give the same INT8 graph (and so the same speed) as
trained ones; accuracy is not measured here. Not a timed test: a benchmark for a quiet
machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import cards, model_stats, system  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.launchers import ProcessLauncher  # noqa: E402
from harness.run.config import from_arguments  # noqa: E402

#: Published INT8 Offline samples/s (MLPerf Inference v2.0 open, Intel, 2x Xeon 8380).
PUBLISHED = {"resnet50": 4181.64, "bnas_a": 10679.00, "bnas_b": 5999.10, "bnas_c": 7916.33}
ZOO = ("resnet50", "bnas_a", "bnas_b", "bnas_c", "resnext101")


def run_one(model: str, precision: str, backend: str, args) -> dict:
    """One Offline performance run (process launcher); returns its report's facts."""
    values = {"--model": model, "--precision": precision, "--backend": backend,
              "--scenario": "Offline", "--weights": "random",
              "--duration-ms": args.duration_ms, "--results-dir": str(args.results_dir)}
    if precision == "int8" and args.calibration_count:
        values["--calibration-count"] = args.calibration_count
    print(f"\n=== {model} {backend} {precision} ===", flush=True)
    try:
        rep = ProcessLauncher(capture=True).launch(from_arguments(values))
    except HarnessError as exc:
        raise SystemExit(f"run failed: {model} {backend} {precision}: {exc}")
    stats = rep.model_stats or {}
    fp32_ir = (rep.quantization or {}).get("fp32_ir")
    return {"model": model, "backend": backend, "precision": precision,
            "samples_per_s": float(rep.result.samples_per_second or 0.0),
            "validity": rep.result.validity, "params_m": stats.get("params_m"),
            "gmacs": stats.get("gmacs"), "size_mb": stats.get("size_mb"),
            "fp32_ir_mb": model_stats.ir_size_mb(fp32_ir) if fp32_ir else None,
            "streams": (rep.backend.get("properties") or {}).get("NUM_STREAMS"),
            "run_dir": rep.run_dir}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(ZOO))
    p.add_argument("--duration-ms", type=int, default=10000,
                   help="Offline min duration per run (ms)")
    p.add_argument("--calibration-count", type=int, default=None,
                   help="INT8 calibration samples (default 300, synthetic)")
    p.add_argument("--results-dir", default=None,
                   help="results root (default: a temporary folder)")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip resnet50 FP32 (OpenVINO) and PyTorch eager FP32")
    args = p.parse_args(argv)
    args.results_dir = Path(args.results_dir or tempfile.mkdtemp(prefix="bench-zoo-"))
    for name in args.models:
        cards.load(name)  # fail early on an unknown model

    rows = [run_one(m, "int8", "openvino", args) for m in args.models]
    base = next((r for r in rows if r["model"] == "resnet50"), None)
    extra = []
    if not args.no_baselines:
        extra.append(run_one("resnet50", "fp32", "openvino", args))
        extra.append(run_one("resnet50", "fp32", "pytorch", args))

    lines = ["| model | backend | precision | samples/s | ratio to resnet50 INT8 | published "
             "ratio (Xeon 8380) | params (M) | GMACs | IR MB (FP32 / INT8) | validity |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows + extra:
        ratio = (f"{r['samples_per_s'] / base['samples_per_s']:.2f}x"
                 if base and r["precision"] == "int8" and base["samples_per_s"] else "")
        pub = (f"{PUBLISHED[r['model']] / PUBLISHED['resnet50']:.2f}x"
               if r["model"] in PUBLISHED and r["precision"] == "int8" else "")
        size = (f"{r['fp32_ir_mb']} / {r['size_mb']}" if r["precision"] == "int8"
                else f"{r['size_mb']}" if r["size_mb"] else "-")
        lines.append(f"| {r['model']} | {r['backend']} | {r['precision']} | "
                     f"{r['samples_per_s']:.2f} | {ratio} | {pub} | {r['params_m']} | "
                     f"{r['gmacs']} | {size} | {r['validity']} |")
    summary = []
    if base and extra:
        fp32, torch_fp32 = extra
        if fp32["samples_per_s"]:
            q = base["samples_per_s"] / fp32["samples_per_s"]
            summary.append(f"resnet50 OpenVINO INT8 / FP32: {q:.2f}x (measured here; it "
                           f"depends on the INT8 and FP32 kernels: AMX, VNNI or AVX2)")
        if torch_fp32["samples_per_s"]:
            summary.append(f"resnet50 OpenVINO INT8 / PyTorch eager FP32: "
                           f"{base['samples_per_s'] / torch_fp32['samples_per_s']:.2f}x")
            summary.append(f"resnet50 OpenVINO FP32 / PyTorch eager FP32: "
                           f"{fp32['samples_per_s'] / torch_fp32['samples_per_s']:.2f}x")
    text = "\n".join([system.machine_line(), ""] + lines + [""] + summary) + "\n"
    print("\n" + text)
    out = args.results_dir / "bench_zoo.md"
    out.write_text(f"Offline, test mode, {args.duration_ms} ms per run, random weights, "
                   f"synthetic data\n\n" + text)
    (args.results_dir / "bench_zoo.json").write_text(json.dumps(rows + extra, indent=2))
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
