"""Preprocessing against the reference transform, user.conf validation, dataset caching."""

from __future__ import annotations

import numpy as np
import pytest

from harness import cards, scenarios
from harness.scenarios import settings
from harness.datasets import ImageNetDataset, SyntheticDataset
from harness.datasets.preprocessing import preprocess
from harness.errors import HarnessError


def test_resnet50_preprocessing_equals_torchvision_transform(imagenet_sample):
    """The card's spec reproduces ResNet50_Weights.IMAGENET1K_V1.transforms() exactly."""
    import torchvision.models as tvm
    from PIL import Image

    card = cards.load("resnet50")
    transform = tvm.ResNet50_Weights.IMAGENET1K_V1.transforms()
    for name in sorted(p.name for p in imagenet_sample.glob("*.JPEG"))[:5]:
        ours = preprocess(imagenet_sample / name, card.preprocessing)
        with Image.open(imagenet_sample / name) as img:
            ref = transform(img.convert("RGB")).numpy()
        assert ours.shape == ref.shape == (3, 224, 224)
        assert ours.dtype == np.float32
        # torchvision resizes a tensor (antialiased bilinear), we resize with Pillow:
        # both round to uint8 pixels at the same places; allow one grey level of difference
        assert np.mean(np.abs(ours - ref)) < 0.01
        assert np.max(np.abs(ours - ref)) < 0.1


def test_mobilenet_preprocessing_is_uint8_nhwc(imagenet_sample):
    card = cards.load("mobilenet_v2_quant")
    name = next(imagenet_sample.glob("*.JPEG"))
    sample = preprocess(name, card.preprocessing)
    assert sample.shape == (224, 224, 3) and sample.dtype == np.uint8


def test_dataset_cache_is_reused(imagenet_sample, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    card = cards.load("mobilenet_v2_quant")
    ds = ImageNetDataset(imagenet_sample, card.preprocessing, count=3)
    ds.prepare()
    files = sorted(ds.cache.glob("*.npy"))
    assert len(files) == 3
    mtimes = [f.stat().st_mtime_ns for f in files]
    ImageNetDataset(imagenet_sample, card.preprocessing, count=3).prepare()
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert ds.load_sample(0).shape == (1, 224, 224, 3)
    assert ds.labels.tolist() == [0, 1, 2]


def test_synthetic_dataset_is_seeded():
    ds = SyntheticDataset((1, 3, 8, 8), "float32", 4)
    assert np.array_equal(ds.load_sample(2), ds.load_sample(2))
    assert not np.array_equal(ds.load_sample(1), ds.load_sample(2))


def test_user_conf_validation():
    entries = settings.validate_user_conf(
        "# comment\n\nresnet50.Server.target_qps = 12.5\n*.Offline.min_duration = 600000\n",
        "t")
    assert entries == [("resnet50", "Server", "target_qps", "12.5"),
                       ("*", "Offline", "min_duration", "600000")]
    with pytest.raises(HarnessError, match="unknown key 'target_qsp'"):
        settings.validate_user_conf("*.Server.target_qsp = 3", "t")
    with pytest.raises(HarnessError, match="line 2"):
        settings.validate_user_conf("*.Server.target_qps = 3\nnonsense\n", "t")


def test_scenario_lookup_and_definitions():
    assert scenarios.get("offline").name == "Offline"
    assert scenarios.get("SingleStream").synchronous
    assert not scenarios.get("Server").synchronous
    with pytest.raises(HarnessError, match="Valid scenarios"):
        scenarios.get("Batch")
