"""Offline batching (--batch N): grouped requests, a padded last batch whose padding is never
answered, and the same accuracy responses as batch 1 on a real trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import manifest, run_cli, run_dirs

COUNT = "37"  # not a multiple of 4: the last batch holds 1 sample and 3 padding rows


def batchable_mobilenet(tflite: Path, out_xml: Path) -> Path:
    """The trained uint8 MobileNetV2 as an OpenVINO IR whose batch can change: its final
    Reshape to [1, 1001] becomes [-1, 1001] (the TFLite file fixes batch 1 there)."""
    import openvino as ov
    import openvino.opset13 as ops

    model = ov.Core().read_model(str(tflite))
    changed = 0
    for op in model.get_ops():
        if op.get_type_name() != "Reshape":
            continue
        target = op.input_value(1).get_node()
        if target.get_type_name() != "Constant":
            continue
        values = target.get_data()
        if values.size and values[0] == 1:
            new = ops.constant(np.array([-1, *values[1:]], dtype=values.dtype))
            op.input(1).replace_source_output(new.output(0))
            changed += 1
    assert changed, "no batch-fixing Reshape found"
    model.validate_nodes_and_infer_types()
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return out_xml


@pytest.fixture(scope="module")
def batchable(mobilenet_tflite, tmp_path_factory) -> Path:
    return batchable_mobilenet(mobilenet_tflite,
                               tmp_path_factory.mktemp("batchable") / "mobilenet_b.xml")


def _responses(run_dir: Path) -> dict[int, str]:
    return {e["qsl_idx"]: e["data"] for e in
            json.loads((run_dir / "mlperf_log_accuracy.json").read_text())}


def _detail(run_dir: Path) -> dict:
    out = {}
    for line in (run_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            e = json.loads(line[9:])
            out[e["key"]] = e["value"]
    return out


def test_accuracy_responses_equal_batch_one(batchable, imagenet_sample, tmp_path):
    runs = {}
    for batch in ("1", "4"):
        proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(batchable),
                       "--mode", "accuracy", "--dataset", str(imagenet_sample), "--count",
                       COUNT, "--batch", batch, "--results-dir", str(tmp_path / batch))
        assert proc.returncode == 0, proc.stderr[-2000:]
        (runs[batch],) = run_dirs(tmp_path / batch)
    one, four = _responses(runs["1"]), _responses(runs["4"])
    assert len(one) == len(four) == int(COUNT)
    assert one == four  # every sample's answer, byte for byte
    m = manifest(runs["4"])
    assert m["backend"]["settings"]["batch"] == 4
    assert m["result"]["samples_answered"] == int(COUNT)  # the 3 padding rows never answered
    assert m["accuracy"]["good"] > 25  # the trained model: ~88% top-1


def test_offline_performance_with_batches(batchable, tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(batchable),
                   "--count", COUNT, "--batch", "4", "--duration-ms", "1500",
                   "--results-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (d,) = run_dirs(tmp_path)
    m, log = manifest(d), _detail(d)
    assert m["status"] == "complete" and log["result_validity"] == "VALID"
    # LoadGen counts what it issued; the SUT answered exactly that many samples
    assert m["result"]["samples_answered"] == log["generated_samples_per_query"]
    assert m["result"]["inference_errors"] == 0


def test_batching_is_refused_where_it_does_not_apply(mobilenet_tflite, tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--scenario", "SingleStream",
                   "--batch", "4", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "SingleStream sends one sample per query" in proc.stderr
    # the TFLite file fixes batch 1 inside: one clear line, no traceback, and its own exit
    # status (BatchNotSupported: 4), which harness optimize reads to skip the model's batches
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--batch", "4", "--count", "8",
                   "--results-dir", str(tmp_path))
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "cannot be reshaped to a batch of 4" in proc.stderr
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--backend", "kserve",
                   "--endpoint", "127.0.0.1:1", "--batch", "2", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "--batch is an option of the openvino backend" in proc.stderr
    assert not run_dirs(tmp_path)
