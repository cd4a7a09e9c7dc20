"""The 99% accuracy gate: synthetic PASS/FAIL cases and a real FP32 -> INT8 classifier.

The real case: Google's trained MobileNetV2 (../shared, a uint8 TFLite) turned into a plain
FP32 network by removing its FakeQuantize operations (the affine range mappings of input and
output kept) and folding the dequantized weights into FP32 constants. That FP32 model scores
89.1% top-1 on the 1000-image sample -- the trained accuracy of the original -- and NNCF
quantizes it back to INT8 with the harness's own pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.accuracy import gate
from harness.errors import HarnessError

from conftest import cpu_has_bf16, manifest, run_cli, run_dirs


def dequantized_mobilenet_fp32(tflite: Path, out_xml: Path) -> Path:
    """Write an FP32 OpenVINO IR of a uint8-quantized TFLite classifier.

    FakeQuantize operations become identities, or the affine map ``(x - il) * (oh - ol) /
    (ih - il) + ol`` where input and output ranges differ; the final Convert to uint8 is
    dropped; weight Convert(Constant) becomes an FP32 Constant and constant folding removes the
    dequantization arithmetic.
    """
    import openvino as ov
    import openvino.opset13 as ops
    from openvino.passes import ConstantFolding, Manager

    model = ov.Core().read_model(str(tflite))
    for op in model.get_ops():
        if op.get_type_name() != "FakeQuantize":
            continue
        il, ih, ol, oh = (op.input_value(k).get_node().get_data().astype(np.float32)
                          for k in range(1, 5))
        if np.allclose(il, ol) and np.allclose(ih, oh):
            op.output(0).replace(op.input_value(0))
        else:
            y = ops.add(ops.multiply(ops.subtract(op.input_value(0), ops.constant(il)),
                                     ops.constant((oh - ol) / (ih - il))), ops.constant(ol))
            op.output(0).replace(y.output(0))
    for res in model.get_results():
        src = res.input_value(0).get_node()
        if src.get_type_name() == "Convert":
            src.output(0).replace(src.input_value(0))
    for op in model.get_ops():
        if (op.get_type_name() == "Convert"
                and op.input_value(0).get_node().get_type_name() == "Constant"):
            data = op.input_value(0).get_node().get_data().astype(np.float32)
            op.output(0).replace(ops.constant(data).output(0))
    model.validate_nodes_and_infer_types()
    manager = Manager()
    manager.register_pass(ConstantFolding())
    manager.run_passes(model)
    assert not [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return out_xml


@pytest.fixture(scope="module")
def fp32_mobilenet(mobilenet_tflite, tmp_path_factory) -> Path:
    return dequantized_mobilenet_fp32(mobilenet_tflite,
                                      tmp_path_factory.mktemp("fp32") / "mobilenet_v2_fp32.xml")


# --- synthetic cases -------------------------------------------------------------------

def test_threshold_is_99_percent_of_reference():
    ref = {"metric": "top1", "value": 80.0}
    assert gate.evaluate({"metric": "top1", "value": 79.2}, ref)["result"] == "PASS"
    fail = gate.evaluate({"metric": "top1", "value": 79.19}, ref)
    assert fail["result"] == "FAIL" and fail["ratio"] == pytest.approx(0.989875)
    # generic over the metric: mAP works the same way
    assert gate.evaluate({"metric": "mAP", "value": 27.0},
                         {"metric": "mAP", "value": 27.8})["result"] == "FAIL"
    assert gate.evaluate({"metric": "mAP", "value": 27.6},
                         {"metric": "mAP", "value": 27.8})["result"] == "PASS"


def test_metric_mismatch_and_zero_reference_are_refused():
    with pytest.raises(HarnessError, match="not comparable"):
        gate.evaluate({"metric": "top1", "value": 70.0}, {"metric": "mAP", "value": 20.0})
    with pytest.raises(HarnessError, match="nothing to hold"):
        gate.evaluate({"metric": "top1", "value": 70.0}, {"metric": "top1", "value": 0.0})


def _fake_run(root: Path, stamp: str, status: str = "complete", precision: str = "fp32",
              count: int = 100, identity: str = "w1", trained: bool = True) -> Path:
    """A run report as an FP32 reference candidate (no LoadGen run: the lookup reads
    reports only)."""
    from harness.run.config import (DataConfig, ModeConfig, ModelConfig, OpenVINOConfig,
                                    RunConfig)
    from harness.run.report import RunReport

    d = root / "sys" / "m" / precision / "Offline" / "accuracy" / stamp
    d.mkdir(parents=True)
    RunReport(config=RunConfig(model=ModelConfig(name="m"), data=DataConfig(dataset="/data"),
                               backend=OpenVINOConfig(precision=precision),
                               mode=ModeConfig(name="accuracy")),
              run_dir=str(d), status=status, started=stamp,
              dataset={"path": "/data", "count": count},
              weights={"identity": identity, "trained": trained},
              accuracy={"metric": "top1", "value": 70.0}).write()
    return d


def test_find_reference_matches_dataset_count_weights_and_status(tmp_path):
    from harness.workflows.reference import find_reference

    assert find_reference(tmp_path, "sys", "m", "/data", 100, "w1") is None
    _fake_run(tmp_path, "2026-01-05", status="failed")
    _fake_run(tmp_path, "2026-01-06", count=50)
    _fake_run(tmp_path, "2026-01-07", identity="other")
    _fake_run(tmp_path, "2026-01-08", precision="int8")
    _fake_run(tmp_path, "2026-01-09", trained=False)
    assert find_reference(tmp_path, "sys", "m", "/data", 100, "w1") is None
    old = _fake_run(tmp_path, "2026-01-01")
    new = _fake_run(tmp_path, "2026-01-02")
    assert find_reference(tmp_path, "sys", "m", "/data", 100, "w1") == new
    assert old != new
    # an optimized architecture's reference model: any trained weights (the newest is the
    # one with other weights; the untrained one is never a reference)
    assert find_reference(tmp_path, "sys", "m", "/data", 100, None).name == "2026-01-07"
    # an unreadable run.json among them is skipped, not a crash
    bad = tmp_path / "sys" / "m" / "fp32" / "Offline" / "accuracy" / "2026-01-03"
    bad.mkdir()
    (bad / "run.json").write_text("[]")
    assert find_reference(tmp_path, "sys", "m", "/data", 100, "w1") == new


def test_reference_spec_of_derived_runs():
    from harness import cards

    assert gate.reference_spec("fp32", cards.load("resnet50"), None) is None
    spec = gate.reference_spec("int8", cards.load("resnet50"), "x.pth")
    assert spec["model"] == "resnet50" and spec["weights"] == "x.pth" and spec["same_weights"]
    spec = gate.reference_spec("fp32", cards.load("bnas_a"), None)
    assert spec["model"] == "resnet50" and not spec["same_weights"]


# --- real trained model, real data -----------------------------------------------------

COUNT = "300"


def _correct(run_dir: Path, dataset: Path) -> int:
    """Images of an accuracy run whose response (the class as float32, as MLCommons'
    accuracy-imagenet.py reads it) is the val_map.txt label; each QSL index counted once."""
    labels = [int(line.split()[1]) for line in (dataset / "val_map.txt").read_text().splitlines()]
    answers = {}
    for entry in json.loads((run_dir / "mlperf_log_accuracy.json").read_text()):
        answers[entry["qsl_idx"]] = int(np.frombuffer(bytes.fromhex(entry["data"]),
                                                      np.float32)[0])
    assert len(answers) == int(COUNT)
    return sum(answers[i] == labels[i] for i in answers)


def test_real_int8_gate_runs_reference_first_and_passes(fp32_mobilenet, imagenet_sample,
                                                        tmp_path):
    """FP32 MobileNetV2 -> NNCF INT8 on real images: the FP32 reference is run first, the
    ratio and PASS go into accuracy.txt (after the official lines) and the manifest."""
    res = tmp_path / "results"
    calib = Path(__file__).resolve().parent.parent / "models/calibration/imagenet-sample-300.txt"
    args = ["run", "--model", "mobilenet_v2_quant", "--weights", str(fp32_mobilenet),
            "--precision", "int8", "--mode", "accuracy", "--dataset", str(imagenet_sample),
            "--count", COUNT, "--calibration-list", str(calib), "--calibration-count", "100",
            "--results-dir", str(res), "--system", "sys"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "running it first" in proc.stdout
    runs = {manifest(d)["config"]["backend"]["precision"]: d for d in run_dirs(res)}
    assert set(runs) == {"fp32", "int8"}
    ref, derived = manifest(runs["fp32"]), manifest(runs["int8"])
    assert ref["weights"]["identity"] == derived["weights"]["identity"]
    # both runs scored here, from their LoadGen accuracy logs and val_map.txt
    good_fp32 = _correct(runs["fp32"], imagenet_sample)
    good_int8 = _correct(runs["int8"], imagenet_sample)
    assert good_fp32 > 0.8 * int(COUNT)   # trained: ~89% on the sample
    assert ref["accuracy"]["value"] == pytest.approx(100 * good_fp32 / int(COUNT), abs=1e-6)
    g = derived["accuracy_gate"]
    assert g["reference_value"] == pytest.approx(100 * good_fp32 / int(COUNT), abs=1e-6)
    assert g["ratio"] == pytest.approx(good_int8 / good_fp32, rel=1e-9)
    assert good_int8 >= 0.99 * good_fp32, (good_int8, good_fp32)  # INT8 keeps 99%: PASS
    assert g["result"] == "PASS", g
    lines = (runs["int8"] / "accuracy.txt").read_text().splitlines()
    assert lines[0].startswith("accuracy=") and lines[1].startswith("hash=")
    assert lines[3].endswith("gate=PASS")
    q = derived["quantization"]
    assert q["calibration"]["source"] == "list" and q["calibration"]["count"] == 100
    assert q["overlap"]["overlapping"] > 0 and "overlap" in q["overlap"]["note"]

    # A synthetic reference far above the real one, found first: the same INT8 run FAILs.
    fake = json.loads((runs["fp32"] / "run.json").read_text())
    fake["accuracy"]["value"] = 99.9
    fake["started"] = "9999-01-01T00:00:00+00:00"
    fake_dir = runs["fp32"].parent / "99990101T000000Z"
    fake_dir.mkdir()
    (fake_dir / "run.json").write_text(json.dumps(fake))
    proc = run_cli(*args)
    # a complete run whose gate FAILs: recorded, and the command says so with exit status 1
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "accuracy gate FAIL" in proc.stderr and "Traceback" not in proc.stderr
    assert "running it first" not in proc.stdout
    latest = max((d for d in run_dirs(res) if "/int8/" in str(d)), key=lambda d: d.name)
    g = manifest(latest)["accuracy_gate"]
    assert g["result"] == "FAIL" and g["reference_run"] == str(fake_dir)
    assert g["reference_value"] == 99.9
    assert g["ratio"] == pytest.approx(100 * _correct(latest, imagenet_sample) / int(COUNT)
                                       / 99.9, rel=1e-9)
    assert (latest / "accuracy.txt").read_text().splitlines()[3].endswith("gate=FAIL")


def test_random_weights_accuracy_needs_the_flag_and_skips_the_gate(tmp_path, imagenet_sample):
    # a submission of random-weight performance needs accuracy logs; a 99% gate on random
    # weights is meaningless, so no FP32 reference run is made and the gate says SKIPPED.
    # A derived precision this CPU (and the suite's ONEDNN_MAX_CPU_ISA) computes: bf16, else
    # INT8 (quantized on 8 calibration images)
    precision = ["--precision", "bf16"] if cpu_has_bf16() else [
        "--precision", "int8", "--calibration-count", "8"]
    args = ["run", "--model", "resnet50", *precision, "--weights", "random",
            "--mode", "accuracy", "--dataset", str(imagenet_sample), "--count", "8",
            "--results-dir", str(tmp_path), "--system", "t"]
    proc = run_cli(*args)
    assert proc.returncode == 2 and "--allow-random-accuracy" in proc.stderr
    assert not run_dirs(tmp_path)
    proc = run_cli(*args, "--allow-random-accuracy")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (only,) = run_dirs(tmp_path)  # the derived run alone: no FP32 reference run
    m = manifest(only)
    assert m["config"]["backend"]["precision"] == precision[1]
    assert m["accuracy_gate"]["result"] == "SKIPPED"
    assert "meaningless" in m["accuracy"]["note"]
    assert (only / "accuracy.txt").read_text().startswith("accuracy=")
