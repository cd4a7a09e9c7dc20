"""The SUT answers every sample even when inference fails, so LoadGen never hangs, and a
run whose inferences fail is marked failed and INVALID."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, manifest, mllog, run_cli, run_dirs

SCRIPT = textwrap.dedent("""
    import sys
    import mlperf_loadgen as lg
    from harness import cards, postprocess, weights
    from harness.backends.openvino.backend import OpenVINOBackend
    from harness.backends.openvino.config import OpenVINOConfig
    from harness.datasets import SyntheticDataset
    from harness.qsl import QSL
    from harness.sut import SUT

    class FlakyBackend(OpenVINOBackend):
        # real OpenVINO inference, but every third sample fails to start
        def start_async(self, sample, userdata):
            if userdata[1] % 3 == 0:
                raise RuntimeError("injected failure")
            super().start_async(sample, userdata)

    card = cards.load("mobilenet_v2_quant")
    backend = FlakyBackend()
    backend.load(card, weights.standard(card), OpenVINOConfig())
    qsl = QSL(SyntheticDataset(card.input_shape, card.input_dtype, 30), 30)
    sut = SUT(backend, qsl, postprocess.for_card(card), synchronous=False)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Offline
    settings.mode = lg.TestMode.PerformanceOnly
    settings.offline_expected_qps = 100
    settings.min_duration_ms = 100
    settings.min_query_count = 1
    log = lg.LogSettings()
    log.log_output.outdir = sys.argv[1]
    lg.StartTestWithLogSettings(sut.construct(), qsl.construct(), settings, log)
    sut.destroy()
    qsl.destroy()
    print("answered", sut.completed, "errors", sut.errors)
""")


def test_failed_inferences_are_answered(tmp_path, mobilenet_tflite):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answered, errors = (int(x) for x in proc.stdout.split()[1::2])
    assert answered > 0
    assert errors > 0 and errors < answered
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Samples per second" in summary


# --- end to end: a real model whose inference fails at run time ----------------------------

#: Mean pixel value (0..255) above which the accuracy tests' model fails.
FAIL_ABOVE = 125.0


def failing_classifier(path: Path, low: float, high: float) -> Path:
    """Write an OpenVINO IR with MobileNetV2's interface (1x224x224x3 uint8 in, 1x1001 f32
    out) whose inference fails at run time when the image's mean pixel value (0..255) is
    outside ``[low, high]``: a tensor of shape ``[k]`` (k = 2 for such images, else 1) is
    reshaped to ``[1]``, which the CPU plugin refuses for k = 2. (The refused shape is the
    Reshape's input shape, part of the plugin's shape-inference cache key, so the same
    images fail every time, in any order.)"""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 224, 224, 3], np.uint8, name="input")
    channel_means = ops.reduce_mean(ops.convert(x, np.float32), np.array([1, 2]), False)
    weights = np.random.default_rng(0).standard_normal((3, 1001)).astype(np.float32)
    logits = ops.matmul(channel_means, ops.constant(weights), False, False)
    mean = ops.reduce_mean(channel_means, np.array([0, 1]), False)
    outside = ops.logical_or(ops.greater(mean, ops.constant(np.float32(high))),
                             ops.less(mean, ops.constant(np.float32(low))))
    k = ops.add(ops.convert(outside, np.int64), ops.constant(np.int64(1)))
    zeros = ops.broadcast(ops.constant(np.float32(0.0)), ops.unsqueeze(k, np.int64(0)))
    zero = ops.reshape(zeros, ops.constant(np.array([1], np.int64)), False)
    out = ops.add(logits, zero)
    ov.save_model(ov.Model([out], [x], "fails_outside_a_brightness_band"), str(path))
    return path


def _means(imagenet_sample: Path, count: int) -> list[float]:
    """Mean pixel value of each of the first ``count`` images as the run feeds them (the
    card's preprocessing)."""
    from harness import cards
    from harness.datasets import open_dataset

    ds = open_dataset(cards.load("mobilenet_v2_quant"), str(imagenet_sample), count,
                      synthetic_count=count)
    ds.prepare()
    return [float(ds.load_sample(i).astype(np.float64).mean()) for i in range(count)]


def test_a_performance_run_whose_inferences_fail_is_failed_and_invalid(
        tmp_path, imagenet_sample):
    """Offline (the SUT's asynchronous path) with a model that fails on every image but
    the first (the harness's test inference before the run uses it): every failed sample is
    still answered, the last ones of the run included, the run ends, and it is marked failed
    and INVALID with OpenVINO's own error."""
    first = _means(imagenet_sample, 1)[0]
    model = failing_classifier(tmp_path / "failing.xml", first - 0.5, first + 0.5)
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(model),
                   "--dataset", str(imagenet_sample), "--count", "64", "--duration-ms", "1000",
                   "--results-dir", str(tmp_path / "results"), timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "samples failed inference" in proc.stderr and "Traceback" not in proc.stderr
    (run_dir,) = run_dirs(tmp_path / "results")
    m = manifest(run_dir)
    assert m["status"] == "failed" and "samples failed inference" in m["error"]
    res = m["result"]
    assert res["validity"] == "INVALID"
    assert 0 < res["inference_errors"] < res["samples_answered"]
    assert "reshape" in res["first_inference_error"].lower()
    # LoadGen got an answer for every sample it issued (Offline: one query of them all)
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert res["samples_answered"] == \
        detail["generated_query_count"] * detail["generated_samples_per_query"]


@pytest.mark.parametrize("scenario", ["SingleStream", "Offline"])
def test_an_accuracy_run_answers_exactly_the_failed_samples_empty(tmp_path, imagenet_sample,
                                                                   scenario):
    """Accuracy mode, each image once, through the SUT's synchronous (SingleStream) and
    asynchronous (Offline) paths: the images the model fails on (mean above 125), and only
    those, are answered with empty responses, each once, and counted."""
    count = 32
    bright = {i for i, m in enumerate(_means(imagenet_sample, count)) if m > FAIL_ABOVE}
    assert 0 not in bright and 0 < len(bright) < count
    model = failing_classifier(tmp_path / "failing.xml", 0.0, FAIL_ABOVE)
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(model),
                   "--scenario", scenario, "--mode", "accuracy",
                   "--dataset", str(imagenet_sample), "--count", str(count),
                   "--results-dir", str(tmp_path / "results"), timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"{len(bright)} of {count} samples failed inference" in proc.stderr
    (run_dir,) = run_dirs(tmp_path / "results")
    m = manifest(run_dir)
    assert m["status"] == "failed" and m["result"]["validity"] == "INVALID"
    assert m["result"]["inference_errors"] == len(bright)
    assert m["result"]["samples_answered"] == count
    assert m.get("accuracy") is None  # a failed run is not scored
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(count))
    assert {e["qsl_idx"] for e in entries if not e["data"]} == bright
