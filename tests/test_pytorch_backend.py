"""The vanilla PyTorch backend: eager FP32 in all three scenarios, same answers as OpenVINO."""

from __future__ import annotations

import numpy as np
import pytest

from harness import backends, cards
from harness.weights import random_weights

from conftest import manifest, run_cli, run_dirs


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream", "Server"])
def test_pytorch_runs_every_scenario(scenario, tmp_path):
    res = tmp_path / "results"
    proc = run_cli("run", "--model", "resnet50", "--backend", "pytorch", "--weights", "random",
                   "--scenario", scenario, "--threads", "1", "--duration-ms", "1000",
                   "--results-dir", str(res))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(res)
    assert f"/resnet50/pytorch-fp32/{scenario}/performance/" in str(run_dir)
    m = manifest(run_dir)
    assert m["status"] == "complete" and m["backend"]["name"] == "pytorch"
    props = m["backend"]["properties"]
    assert props["num_threads"] == 1 and "inference_mode" in props["mode"]
    assert m["result"]["samples_answered"] > 0 and m["result"]["inference_errors"] == 0
    assert m["model_stats"]["gmacs"] == pytest.approx(4.089, abs=0.01)


def test_pytorch_and_openvino_fp32_agree():
    """Same card, same (seeded random) weights: eager PyTorch and OpenVINO FP32 give the
    same logits."""
    card = cards.load("bnas_a")
    w = random_weights()
    from harness.backends.openvino.config import OpenVINOConfig
    from harness.backends.pytorch.config import PyTorchConfig

    pt, ov = backends.create("pytorch"), backends.create("openvino")
    pt.load(card, w, PyTorchConfig(threads=2))
    ov.load(card, w, OpenVINOConfig(precision="fp32", threads=2))
    x = np.random.default_rng(0).standard_normal(card.input_shape, dtype=np.float32)
    a, b = pt.infer(x)[0], ov.infer(x)[0]
    assert a.shape == b.shape == (1, 1000)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(np.abs(a).max()))


def test_pytorch_refuses_int8_and_non_torch_models(tmp_path):
    proc = run_cli("run", "--model", "resnet50", "--backend", "pytorch", "--precision", "int8",
                   "--weights", "random", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "eager FP32 only" in proc.stderr
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--backend", "pytorch",
                   "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "no PyTorch definition" in proc.stderr
    assert not run_dirs(tmp_path)
