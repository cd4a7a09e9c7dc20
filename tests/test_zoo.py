"""The optimized model zoo: BootstrapNAS architectures rebuilt from their IR, counts, runs."""

from __future__ import annotations

import collections

import pytest
import torch
import torchvision

from harness import cards, model_stats
from harness.networks import build, load_torch_model
from harness.networks.resnet_spec import (ResNetSpec, spec_from_xml, spec_of_card,
                                          torch_convolutions, xml_classifier,
                                          xml_convolutions)

from conftest import manifest, run_cli, run_dirs

BNAS = {"bnas_a": "BootstrapNAS_A.xml", "bnas_b": "BootstrapNAS_B.xml",
        "bnas_c": "BootstrapNAS_C.xml"}


@pytest.mark.parametrize("name", sorted(BNAS))
def test_rebuilt_bnas_convolutions_equal_the_xml(name, shared_dir):
    """Every convolution (weight shape, stride, input size) of the network built from the
    card's spec is one of the published IR's, and vice versa; so is the classifier."""
    xml = shared_dir / "models" / "bootstrapnas" / BNAS[name]
    card = cards.load(name)
    assert spec_of_card(card) == spec_from_xml(xml)
    torch.manual_seed(0)
    model = build(card.source["arch"])
    rebuilt = collections.Counter(torch_convolutions(model))
    published = collections.Counter(xml_convolutions(xml))
    assert rebuilt == published
    assert tuple(model.fc.weight.shape) == xml_classifier(xml)


def test_spec_builder_generalises_torchvision_resnet50():
    """The ResNet-50 spec gives torchvision's ResNet-50, tensor for tensor."""
    spec = ResNetSpec(64, (256, 512, 1024, 2048), (1, 2, 2, 2),
                      ((64,) * 3, (128,) * 4, (256,) * 6, (512,) * 3))
    ours = {k: tuple(v.shape) for k, v in
            __import__("harness.networks.resnet_spec", fromlist=["build"]).build(spec)
            .state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in torchvision.models.resnet50().state_dict().items()}
    assert ours == theirs


def test_counts_match_torchvision_metadata():
    """ptflops' counts equal torchvision's published params and GMACs (its ``_ops``)."""
    for name, enum in (("resnet50", torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
                       ("resnext101", torchvision.models.ResNeXt101_32X8D_Weights.IMAGENET1K_V1)):
        stats = model_stats.count(cards.load(name))
        assert stats["params"] == enum.meta["num_params"]
        assert stats["gmacs"] == pytest.approx(enum.meta["_ops"], abs=0.01)
    a = model_stats.count(cards.load("bnas_a"))
    assert a["gmacs"] < 0.5 * model_stats.count(cards.load("resnet50"))["gmacs"]


def test_card_stats_tables_match_the_counter():
    """The [stats] written into the zoo cards are what the library counts now."""
    for name in ("bnas_a", "bnas_b", "bnas_c", "resnext101"):
        card = cards.load(name)
        stats = model_stats.count(card)
        assert card.extra["stats"]["params_m"] == pytest.approx(stats["params_m"], abs=1e-3)
        assert card.extra["stats"]["gmacs"] == pytest.approx(stats["gmacs"], abs=1e-3)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    """A bnas_b checkpoint given to bnas_a: exit 2 naming the first mismatching layer."""
    torch.manual_seed(0)
    ckpt = tmp_path / "bnas_b.pth"
    torch.save(build("bnas_b").state_dict(), ckpt)
    res = tmp_path / "results"
    proc = run_cli("run", "--model", "bnas_a", "--weights", str(ckpt), "--duration-ms", "1000",
                   "--results-dir", str(res))
    assert proc.returncode == 2, proc.stderr
    assert "layer 'conv1.weight'" in proc.stderr
    assert "(48, 3, 7, 7)" in proc.stderr and "(40, 3, 7, 7)" in proc.stderr
    assert not run_dirs(res)


def test_bnas_checkpoint_loads(tmp_path):
    """A user's checkpoint of the right architecture is applied (outputs follow it)."""
    card = cards.load("bnas_c")
    torch.manual_seed(1)
    net = build("bnas_c")
    ckpt = tmp_path / "bnas_c.pth"
    torch.save({"state_dict": net.state_dict()}, ckpt)
    from harness.weights import from_file

    loaded = load_torch_model(card, from_file(ckpt, card))
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), net.eval()(x))


def test_bnas_int8_offline_run(tmp_path):
    """make offline MODEL=bnas_c PRECISION=int8 WEIGHTS=random, with a small calibration."""
    res = tmp_path / "results"
    proc = run_cli("run", "--model", "bnas_c", "--precision", "int8", "--weights", "random",
                   "--calibration-count", "8", "--duration-ms", "1500",
                   "--results-dir", str(res))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(res)
    assert "/bnas_c/int8/Offline/performance/" in str(run_dir)
    m = manifest(run_dir)
    assert m["status"] == "complete"
    assert m["loadgen"]["benchmark"] == "resnet50"
    assert m["weights"]["kind"] == "random"
    q = m["quantization"]
    assert q["method"] == "nncf.quantize"
    assert q["calibration"]["source"] == "synthetic" and q["calibration"]["count"] == 8
    stats = m["model_stats"]
    assert stats["gmacs"] == pytest.approx(1.92, abs=0.01)
    # INT8 weights: the IR is about a quarter of the FP32 one
    assert stats["size_mb"] < 0.4 * model_stats.ir_size_mb(q["fp32_ir"])
