"""Every bad input gets one clear message, exit status 2 and no result that looks complete."""

from __future__ import annotations

import shutil

import pytest

from conftest import run_cli, run_dirs


def _fails(tmp_path, *args, expect: str) -> str:
    proc = run_cli("run", *args, "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert expect in proc.stderr, proc.stderr
    assert run_dirs(tmp_path / "results") == []
    return proc.stderr


@pytest.fixture
def small_imagenet(tmp_path, imagenet_sample):
    """A 4-image copy of the ImageNet sample, to break on purpose."""
    root = tmp_path / "imagenet"
    root.mkdir()
    lines = (imagenet_sample / "val_map.txt").read_text().splitlines()[:4]
    for line in lines:
        shutil.copy(imagenet_sample / line.split()[0], root)
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")
    return root


def test_missing_dataset_folder(tmp_path):
    _fails(tmp_path, "--dataset", str(tmp_path / "nope"), expect="does not exist")


def test_val_map_naming_missing_images_lists_them(tmp_path, small_imagenet):
    with (small_imagenet / "val_map.txt").open("a") as f:
        f.write("ghost_1.JPEG 3\nghost_2.JPEG 4\n")
    err = _fails(tmp_path, "--model", "mobilenet_v2_quant", "--dataset", str(small_imagenet),
                 expect="2 of 6 images")
    assert "ghost_1.JPEG" in err and "ghost_2.JPEG" in err
    assert "not shrunk silently" in err


def test_corrupt_image_is_named(tmp_path, small_imagenet):
    victim = (small_imagenet / "val_map.txt").read_text().split()[0]
    (small_imagenet / victim).write_bytes(b"this is not a jpeg")
    err = _fails(tmp_path, "--model", "mobilenet_v2_quant", "--dataset", str(small_imagenet),
                 expect="corrupt or unreadable image")
    assert victim in err


def test_unknown_model_lists_valid_ones(tmp_path):
    err = _fails(tmp_path, "--model", "resnet5000", expect="unknown model 'resnet5000'")
    assert "resnet50" in err and "mobilenet_v2_quant" in err


def test_unknown_scenario_lists_valid_ones(tmp_path):
    err = _fails(tmp_path, "--scenario", "Batch", expect="unknown scenario 'Batch'")
    assert "Offline" in err and "Server" in err and "SingleStream" in err


def test_count_out_of_range(tmp_path, small_imagenet):
    _fails(tmp_path, "--model", "mobilenet_v2_quant", "--dataset", str(small_imagenet),
           "--count", "5", expect="--count 5 is outside 1..4")


def test_missing_weights_file(tmp_path):
    _fails(tmp_path, "--weights", str(tmp_path / "missing.pth"), expect="does not exist")


def test_unreadable_weights_files(tmp_path):
    bad_onnx = tmp_path / "garbage.onnx"
    bad_onnx.write_bytes(b"\x00garbage" * 10)
    _fails(tmp_path, "--model", "mobilenet_v2_quant", "--weights", str(bad_onnx),
           expect="OpenVINO cannot read model file")
    bad_pth = tmp_path / "garbage.pth"
    bad_pth.write_bytes(b"not a checkpoint")
    _fails(tmp_path, "--weights", str(bad_pth), expect="not a readable PyTorch checkpoint")
    txt = tmp_path / "weights.txt"
    txt.write_text("x")
    _fails(tmp_path, "--weights", str(txt), expect="has suffix '.txt'")


def test_checkpoint_of_another_architecture_names_the_layer(tmp_path):
    import torch
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    _fails(tmp_path, "--weights", str(path), expect="does not fit architecture 'resnet50'")


@pytest.mark.parametrize("text,expect", [
    ("*.Offline.target_qps = fast\n", "line 1"),
    ("*.Offline.min_duraton = 1000\n", "unknown key 'min_duraton'"),
    ("# fine\nOffline target_qps 3\n", "line 2"),
])
def test_invalid_user_conf(tmp_path, text, expect, mobilenet_tflite):
    conf = tmp_path / "user.conf"
    conf.write_text(text)
    _fails(tmp_path, "--model", "mobilenet_v2_quant", "--user-conf", str(conf), expect=expect)


def test_valid_mode_refuses_duration_override(tmp_path):
    _fails(tmp_path, "--execution", "valid", "--duration-ms", "100",
           expect="applies to test mode only")
