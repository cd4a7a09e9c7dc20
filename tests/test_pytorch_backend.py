"""The vanilla PyTorch backend: eager FP32 in three scenarios and in accuracy mode, same
answers as OpenVINO and as PyTorch called directly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness import backends, cards
from harness.weights import random_weights

from conftest import manifest, mllog, run_cli, run_dirs


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
    detail = mllog(run_dir / "mlperf_log_detail.txt")
    assert detail["effective_scenario"] == scenario
    if scenario == "Server":
        # no --target-qps, user.conf target or recorded peak: half the calibrated rate,
        # said to be no peak search; resnet50's bound from LoadGen's mlperf.conf: 15 ms
        chosen = m["loadgen"]["server_target_qps"]
        assert chosen["value"] == pytest.approx(0.5 * m["calibration"]["samples_per_second"])
        assert "not a peak search" in chosen["source"]
        assert detail["effective_target_qps"] == pytest.approx(chosen["value"], rel=1e-3)
        assert detail["effective_target_latency_ns"] == 15_000_000


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


ACCURACY_COUNT = 8


def _centered_resnet50(path: Path, dataset) -> Path:
    """A ResNet-50 checkpoint whose answers differ from image to image: seeded random
    weights (which answer one class for every image) with the classifier's bias set to
    ``-W @ mean feature`` of 8 other images, so each image's class comes from how its
    features differ from theirs. Saved as a state dict (.pth)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    fc, model.fc = model.fc, torch.nn.Identity()
    others = np.concatenate([dataset.load_sample(i) for i in range(16, 24)])
    with torch.inference_mode():
        features = model(torch.from_numpy(others))
        fc.bias.copy_(-fc.weight @ features.mean(0))
    model.fc = fc
    torch.save(model.state_dict(), path)
    return path


def test_pytorch_accuracy_mode_answers_what_pytorch_computes(tmp_path, imagenet_sample):
    """Accuracy mode through the PyTorch backend: each QSL index's response is the class
    that PyTorch, called here on that image with the same weights and one thread, computes,
    and accuracy.txt counts the answers equal to val_map.txt."""
    import torch
    import torchvision

    from harness.datasets import open_dataset

    card = cards.load("resnet50")
    dataset = open_dataset(card, str(imagenet_sample), 24, synthetic_count=24)
    dataset.prepare()
    checkpoint = _centered_resnet50(tmp_path / "centered.pth", dataset)
    proc = run_cli("run", "--model", "resnet50", "--backend", "pytorch", "--threads", "1",
                   "--weights", str(checkpoint), "--mode", "accuracy",
                   "--dataset", str(imagenet_sample), "--count", str(ACCURACY_COUNT),
                   "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path / "results")
    assert "/resnet50/pytorch-fp32/Offline/accuracy/" in str(run_dir)
    m = manifest(run_dir)
    assert m["status"] == "complete" and m["backend"]["name"] == "pytorch"
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    answers = {e["qsl_idx"]: int(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0])
               for e in entries}
    assert sorted(answers) == list(range(ACCURACY_COUNT))
    # the same computation, here: same architecture, same checkpoint, one thread
    torch.set_num_threads(1)
    model = torchvision.models.resnet50()
    model.load_state_dict(torch.load(checkpoint))
    model.eval()
    with torch.inference_mode():
        expected = {i: int(model(torch.from_numpy(dataset.load_sample(i))).argmax())
                    for i in range(ACCURACY_COUNT)}
    assert answers == expected
    assert len(set(expected.values())) >= 3  # the answers tell the images apart
    labels = [int(line.split()[1]) for line in
              (imagenet_sample / "val_map.txt").read_text().splitlines()]
    good = sum(answers[i] == labels[i] for i in answers)
    line = (run_dir / "accuracy.txt").read_text().splitlines()[0]
    assert re.fullmatch(rf"accuracy={100 * good / ACCURACY_COUNT:.3f}%, good={good}, "
                        rf"total={ACCURACY_COUNT}", line), line
