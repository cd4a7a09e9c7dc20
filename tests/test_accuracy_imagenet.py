"""Accuracy mode on real images with a real trained model (MobileNetV2 uint8 TFLite)."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from conftest import manifest, run_cli, run_dirs
from harness.accuracy import imagenet


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory, imagenet_sample):
    results = tmp_path_factory.mktemp("results-acc")
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--mode", "accuracy",
                   "--dataset", str(imagenet_sample), "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(results)
    return proc, run_dir


def test_top1_matches_the_independent_measurement(accuracy_run):
    """../shared/README.md: 890/1000 measured independently; we accept 89.0% +- 1.0."""
    _, run_dir = accuracy_run
    m = manifest(run_dir)
    assert m["accuracy"]["metric"] == "top1"
    assert m["accuracy"]["total"] == 1000
    assert 88.0 <= m["accuracy"]["value"] <= 90.0


def test_accuracy_txt_is_in_the_official_format(accuracy_run):
    _, run_dir = accuracy_run
    lines = (run_dir / "accuracy.txt").read_text().splitlines()
    m = re.fullmatch(r"accuracy=(\d+\.\d{3})%, good=(\d+), total=(\d+)", lines[0])
    assert m, lines[0]
    good, total = int(m[2]), int(m[3])
    assert float(m[1]) == pytest.approx(100 * good / total, abs=5e-4)
    digest = hashlib.sha256((run_dir / "mlperf_log_accuracy.json").read_bytes()).hexdigest()
    assert lines[1] == f"hash={digest}"


def test_log_follows_the_reference_conventions(accuracy_run, imagenet_sample):
    """QSL index i is line i of val_map.txt; the response is the class as float32."""
    _, run_dir = accuracy_run
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(1000))
    labels = [int(line.split()[1]) for line in
              (imagenet_sample / "val_map.txt").read_text().splitlines()]
    good = 0
    for e in entries:
        data = np.frombuffer(bytes.fromhex(e["data"]), np.float32)
        assert data.shape == (1,)
        assert 0 <= data[0] < 1000
        good += int(data[0]) == labels[e["qsl_idx"]]
    assert good == manifest(run_dir)["accuracy"]["good"]


def test_score_counts_repeated_indices_once(tmp_path):
    log = [{"seq_id": i, "qsl_idx": idx, "data": np.array([c], np.float32).tobytes().hex()}
           for i, (idx, c) in enumerate([(0, 5), (1, 7), (0, 5), (2, 1)])]
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(json.dumps(log))
    res = imagenet.score(path, np.array([5, 3, 1]))
    assert (res["good"], res["total"]) == (2, 3)
    assert res["top1"] == pytest.approx(200 / 3)


def test_accuracy_mode_refuses_synthetic_data(tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--mode", "accuracy",
                   "--results-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "accuracy mode needs a real dataset" in proc.stderr
    assert run_dirs(tmp_path) == []


def test_random_weights_refused_in_accuracy_mode(tmp_path, imagenet_sample):
    proc = run_cli("run", "--model", "resnet50", "--mode", "accuracy", "--weights", "random",
                   "--dataset", str(imagenet_sample), "--count", "8",
                   "--results-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "only in performance mode" in proc.stderr
    assert run_dirs(tmp_path) == []


def test_accuracy_without_loadable_weights_names_the_three_ways(tmp_path, imagenet_sample):
    """Offline and with an empty torch hub cache (TORCH_HOME), the standard weights cannot
    be had (whatever this machine's own cache holds)."""
    proc = run_cli("run", "--model", "resnet50", "--mode", "accuracy",
                   "--dataset", str(imagenet_sample), "--count", "8",
                   "--results-dir", str(tmp_path), env={"TORCH_HOME": str(tmp_path / "torch")})
    assert proc.returncode == 2
    err = proc.stderr
    assert "(1) the standard weights" in err and "(2) a local file" in err
    assert "(3) WEIGHTS=random" in err
    assert run_dirs(tmp_path) == []
