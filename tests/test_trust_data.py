"""Results you can trust, part 2 (issue 21): images of any bit depth, damaged caches, and the
val_map and dataset folders users really have.

Each case happens for real: images written at 16 bits and as floats from real ImageNet
JPEGs, cache entries cut and emptied on disk, ``harness run`` in its own process, and its
outcome asserted (the pixels, the exit status, one ``error:`` line or one "rebuilding" line,
the accuracy, the entry on disk).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import manifest, run_cli, run_dirs
from test_trust import _imagenet_copy
from harness import cards, model_stats, paths
from harness.datasets.preprocessing import preprocess, sample_layout
from harness.errors import HarnessError

MODEL = ["--model", "mobilenet_v2_quant"]
#: The three recipes of the cards: Pillow uint8 NHWC, Pillow float NCHW, OpenCV letterbox.
RECIPES = ["mobilenet_v2_quant", "resnet50", "yolox_nano"]


# --- helpers ------------------------------------------------------------------------------

def _one_error(proc, expect: str, results: Path | None = None) -> str:
    """Exit status 2 after exactly one ``error:`` line holding ``expect``, no traceback, and
    no run directory; returns the line."""
    text = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 2, text
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert expect in proc.stderr[proc.stderr.index(errors[0]):], proc.stderr[-3000:]
    if results is not None:
        assert run_dirs(results) == []
    return errors[0]


def _accuracy(root: Path, results: Path, cache: Path, *extra: str):
    """An accuracy run of MobileNetV2 on ``root`` with its own cache; the process."""
    return run_cli("run", *MODEL, "--mode", "accuracy", "--dataset", str(root), *extra,
                   "--results-dir", str(results), env={"HARNESS_CACHE_DIR": str(cache)})


def _good(proc, results: Path) -> int:
    """The correct count of the latest run below ``results`` after a clean exit."""
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    m = manifest(run_dirs(results)[-1])
    assert m["status"] == "complete"
    return m["accuracy"]["good"]


# --- 1. images of any bit depth ----------------------------------------------------------

@pytest.fixture(scope="module")
def deep_images(tmp_path_factory, imagenet_sample) -> dict[str, Path]:
    """One real ImageNet JPEG as: 8-bit grey PNG (the reference of the grey versions),
    16-bit grey PNG (value * 257, Pillow mode I;16), 16-bit RGB PNG (value * 257, written
    by OpenCV: Pillow cannot write 16-bit RGB), float TIFF (value / 255.0, mode F, the
    nominal range 0..1), and two that cannot be read correctly: a float TIFF holding 0..255
    and a signed 16-bit TIFF."""
    out = tmp_path_factory.mktemp("deep")
    jpeg = imagenet_sample / (imagenet_sample / "val_map.txt").read_text().split()[0]
    with Image.open(jpeg) as img:
        rgb = np.asarray(img.convert("RGB"))
        grey = np.asarray(img.convert("L"))
    files = {"jpeg": jpeg, "grey8": out / "grey8.png", "grey16": out / "grey16.png",
             "rgb16": out / "rgb16.png", "float": out / "float.tiff",
             "float255": out / "float255.tiff", "int16": out / "int16.tiff"}
    Image.fromarray(grey).save(files["grey8"])
    Image.fromarray(grey.astype(np.uint16) * 257).save(files["grey16"])
    assert cv2.imwrite(str(files["rgb16"]), rgb[..., ::-1].astype(np.uint16) * 257)
    Image.fromarray(grey.astype(np.float32) / np.float32(255.0)).save(files["float"])
    Image.fromarray(grey.astype(np.float32)).save(files["float255"])
    assert cv2.imwrite(str(files["int16"]), grey.astype(np.int16) * 128)
    with Image.open(files["grey16"]) as img:
        assert img.mode == "I;16"
        # what a bare convert("RGB") makes of it: a white picture
        assert np.asarray(img.convert("RGB")).mean() > 250
    with Image.open(files["float"]) as img:
        assert img.mode == "F"
        assert np.asarray(img.convert("RGB")).max() <= 1  # and of the float one: black
    assert cv2.imread(str(files["float"]), cv2.IMREAD_COLOR) is None  # OpenCV: unreadable
    return files


@pytest.mark.parametrize("recipe", RECIPES)
def test_16_bit_and_float_images_give_the_8_bit_pixels(deep_images, recipe):
    spec = cards.load(recipe).preprocessing
    grey = preprocess(deep_images["grey8"], spec)
    colour = preprocess(deep_images["jpeg"], spec)
    shape, dtype = sample_layout(spec)
    assert grey.shape == colour.shape == shape and grey.dtype == dtype
    assert grey.std() > 0.1 and colour.std() > 0.1  # real pictures, not a flat one
    for name, reference in (("grey16", grey), ("float", grey), ("rgb16", colour)):
        sample = preprocess(deep_images[name], spec)
        assert sample.shape == shape and sample.dtype == dtype, name
        # the same 8-bit pixels go into the same recipe: the same sample
        assert np.array_equal(sample, reference), (name, np.abs(
            sample.astype(np.float64) - reference).max())


@pytest.mark.parametrize("recipe", RECIPES)
def test_images_that_cannot_be_read_correctly_are_refused_by_name(deep_images, recipe):
    spec = cards.load(recipe).preprocessing
    with pytest.raises(HarnessError, match="outside 0..1") as err:
        preprocess(deep_images["float255"], spec)
    assert str(deep_images["float255"]) in str(err.value) and "mode F" in str(err.value)
    assert "values 0..255" in str(err.value) and "Save it as" in str(err.value)
    with pytest.raises(HarnessError, match="no defined 8-bit value") as err:
        preprocess(deep_images["int16"], spec)
    assert str(deep_images["int16"]) in str(err.value) and "mode I" in str(err.value)


def test_a_16_bit_dataset_scores_as_its_8_bit_twin(tmp_path, imagenet_sample,
                                                   mobilenet_tflite):
    """The same pictures as 8-bit and 16-bit grey PNGs: the same top-1, counted by a real
    accuracy run each (before the fix, the 16-bit ones were white)."""
    lines = (imagenet_sample / "val_map.txt").read_text().splitlines()[:8]
    scores, responses = {}, {}
    for bits in (8, 16):
        root = tmp_path / f"grey{bits}"
        root.mkdir()
        val_map = []
        for line in lines:
            name, label = line.split()
            with Image.open(imagenet_sample / name) as img:
                grey = np.asarray(img.convert("L"))
            png = Path(name).with_suffix(".png").name
            Image.fromarray(grey if bits == 8 else grey.astype(np.uint16) * 257).save(
                root / png)
            val_map.append(f"{png} {label}")
        (root / "val_map.txt").write_text("\n".join(val_map) + "\n")
        results = tmp_path / f"r{bits}"
        scores[bits] = _good(_accuracy(root, results, tmp_path / "cache"), results)
        log = json.loads((run_dirs(results)[0] / "mlperf_log_accuracy.json").read_text())
        responses[bits] = sorted((e["qsl_idx"], e["data"]) for e in log)
    assert scores[8] >= 3, scores  # grey pictures still score (white ones: at most 1 of 8)
    assert scores[16] == scores[8], scores
    assert responses[16] == responses[8]  # the very same answers


def test_a_float_image_of_0_to_255_is_one_line_naming_file_and_mode(tmp_path, deep_images,
                                                                    imagenet_sample,
                                                                    mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 3)
    shutil.copy(deep_images["float255"], data / "float255.tiff")
    with (data / "val_map.txt").open("a") as f:
        f.write("float255.tiff 0\n")
    proc = _accuracy(data, tmp_path / "r", tmp_path / "cache")
    line = _one_error(proc, "outside 0..1", tmp_path / "r")
    assert "float255.tiff (mode F" in line and "Save it as" in line


# --- 2. damaged caches --------------------------------------------------------------------

@pytest.fixture(scope="module")
def warm(tmp_path_factory, imagenet_sample, mobilenet_tflite) -> dict:
    """An accuracy run of MobileNetV2 on 8 images that filled a cache (its IR and 8
    preprocessed samples); tests copy the cache before damaging it."""
    root = tmp_path_factory.mktemp("warm")
    data = _imagenet_copy(root / "data", imagenet_sample, 8)
    cache, results = root / "cache", root / "results"
    proc = _accuracy(data, results, cache)
    good = _good(proc, results)
    assert good >= 6
    (ir_entry,) = [p for p in (cache / "ir").iterdir() if not p.name.startswith(".")]
    (npy_dir,) = list((cache / "preprocessed").glob("*/*"))
    return {"data": data, "cache": cache, "good": good, "ir": ir_entry.name,
            "npy": npy_dir.relative_to(cache), "bin": (ir_entry / "model.bin").read_bytes(),
            "samples": {p.name: np.load(p) for p in npy_dir.glob("*.npy")}}


def _damaged_rerun(tmp_path, warm, damage) -> tuple[Path, object]:
    """A copy of the warm cache, damaged by ``damage(cache)``, and the accuracy run on it."""
    cache = tmp_path / "cache"
    shutil.copytree(warm["cache"], cache)
    damage(cache)
    results = tmp_path / "r"
    proc = _accuracy(warm["data"], results, cache)
    assert _good(proc, results) == warm["good"]  # the same run's result
    return cache, proc


def _rebuilt_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "rebuilding" in line]


def test_damaged_preprocessed_samples_are_rebuilt_and_said(tmp_path, warm):
    def damage(cache: Path) -> None:
        folder = cache / warm["npy"]
        (folder / "000001.npy").write_bytes(b"")  # zero bytes
        whole = (folder / "000002.npy").read_bytes()
        (folder / "000002.npy").write_bytes(whole[:len(whole) // 2])  # cut
        np.save(folder / "000003.npy", np.zeros((3, 224, 224), np.uint8))  # wrong shape
        np.save(folder / "000004.npy", np.zeros((224, 224, 3), np.float32))  # wrong dtype
        (folder / "000005.npy").write_bytes(b"garbage " * 100)  # not .npy

    cache, proc = _damaged_rerun(tmp_path, warm, damage)
    (line,) = _rebuilt_lines(proc)
    assert line.startswith(f"preprocessing cache {cache / warm['npy']}: 5 damaged entries")
    for part in ("000001.npy: 0 bytes", "000002.npy: ", "(cut)",
                 "000003.npy: holds uint8 (3, 224, 224), not uint8 (224, 224, 3)",
                 "000004.npy: holds float32", "000005.npy: not a .npy file"):
        assert part in line, line
    assert line.endswith("rebuilding them")
    for name, sample in warm["samples"].items():  # every entry whole again, same pixels
        assert np.array_equal(np.load(cache / warm["npy"] / name), sample), name


@pytest.mark.parametrize("damage,reason", [
    ("cut model.bin", "Incorrect weights in bin file"),
    ("empty model.xml", "Unable to read the model"),
    ("no model.bin", "model.bin missing"),
])
def test_a_damaged_ir_entry_is_rebuilt_and_said(tmp_path, warm, damage, reason):
    def do(cache: Path) -> None:
        entry = cache / "ir" / warm["ir"]
        if damage == "cut model.bin":
            (entry / "model.bin").write_bytes(warm["bin"][:len(warm["bin"]) // 2])
        elif damage == "empty model.xml":
            (entry / "model.xml").write_bytes(b"")
        else:
            (entry / "model.bin").unlink()

    cache, proc = _damaged_rerun(tmp_path, warm, do)
    (line,) = _rebuilt_lines(proc)
    entry = cache / "ir" / warm["ir"]
    assert line.startswith(f"IR cache entry {entry} is damaged (")
    assert reason in line and line.endswith("; rebuilding it")
    assert "converting" in proc.stdout  # built again
    assert (entry / "model.bin").read_bytes() == warm["bin"]
    assert (entry / "model.xml").stat().st_size > 0
    assert [p.name for p in (cache / "ir").iterdir()] == [warm["ir"]]  # no temp left


def test_an_int8_entry_with_a_cut_quantization_record_is_rebuilt(tmp_path, warm):
    """An INT8 IR entry whose quantization.json is cut (the run reads it into run.json) is
    damaged like a cut model: rebuilt, said, and the run's record whole."""
    perf = ("run", *MODEL, "--precision", "int8", "--dataset", str(warm["data"]),
            "--calibration-count", "4", "--duration-ms", "500", "--results-dir")
    cache = tmp_path / "cache"
    shutil.copytree(warm["cache"], cache)
    proc = run_cli(*perf, str(tmp_path / "r1"), env={"HARNESS_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = (cache / "ir").glob("*/quantization.json")
    whole = record.read_text()
    record.write_text(whole[:len(whole) // 2])
    proc = run_cli(*perf, str(tmp_path / "r2"), env={"HARNESS_CACHE_DIR": str(cache)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = _rebuilt_lines(proc)
    assert f"IR cache entry {record.parent} is damaged (quantization.json is unreadable" in line
    assert json.loads(record.read_text())["calibration"]["count"] == 4
    assert manifest(run_dirs(tmp_path / "r2")[-1])["quantization"]["calibration"]["count"] == 4


def test_a_damaged_model_stats_entry_is_counted_again(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    card = cards.load("resnet50")
    first = model_stats.count(card)
    (entry,) = (tmp_path / "stats").glob("*.json")
    entry.write_text('{"params": 1')
    assert model_stats.count(card) == first
    assert json.loads(entry.read_text()) == first


@pytest.mark.parametrize("where", ["a file", "under a file", "/proc/harness-cache", "/sys"])
def test_an_unusable_cache_folder_is_one_error_before_anything(tmp_path, where,
                                                               monkeypatch):
    (tmp_path / "file").write_text("x")
    cache = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "cache"}.get(
        where, Path(where))
    proc = run_cli("run", *MODEL, "--dataset", str(tmp_path / "missing"), "--results-dir",
                   str(tmp_path / "r"), env={"HARNESS_CACHE_DIR": str(cache)})
    line = _one_error(proc, f"cache folder {cache} (HARNESS_CACHE_DIR) cannot be used",
                      tmp_path / "r")
    assert "Point HARNESS_CACHE_DIR to a writable folder" in line
    assert "does not exist" not in proc.stderr  # before the dataset is even looked at
    if where == "a file":
        assert "it is a file, not a folder" in line
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    with pytest.raises(HarnessError, match="cannot be used"):
        paths.check_cache_dir()


# --- 3. val_map and dataset folders as users have them ------------------------------------

def test_bom_crlf_tabs_and_blank_lines_are_read_as_the_plain_val_map(tmp_path, warm):
    data = tmp_path / "data"
    shutil.copytree(warm["data"], data)
    lines = (data / "val_map.txt").read_text().splitlines()
    odd = [line.replace(" ", "\t") if i % 2 else line.replace(" ", "   ")
           for i, line in enumerate(lines)]
    text = "\r\n".join(odd[:4]) + "\r\n\r\n  \r\n" + "\r\n".join(odd[4:]) + "\r\n"
    (data / "val_map.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    results = tmp_path / "r"
    proc = _accuracy(data, results, tmp_path / "cache")
    assert _good(proc, results) == warm["good"]
    assert manifest(run_dirs(results)[0])["dataset"]["count"] == 8


def _val_map_case(data: Path, case: str) -> str:
    """Break the val_map of ``data`` as ``case`` says; returns the text the error holds."""
    val_map = data / "val_map.txt"
    lines = val_map.read_text().splitlines()
    name = lines[1].split()[0]
    if case == "utf-16":
        val_map.write_bytes("\n".join(lines).encode("utf-16"))
        return "is UTF-16 or UTF-32 text"
    if case == "latin-1":
        val_map.write_bytes(("\n".join(lines) + "\nnaïve.JPEG 3\n").encode("latin-1"))
        return "is not UTF-8 text"
    bad = {"arabic-indic digit": "٣", "fullwidth digit": "３", "superscript": "²",
           "word": "three", "decimal": "3.0", "plus": "+3"}
    if case in bad:
        lines[1] = f"{name} {bad[case]}"
        val_map.write_text("\n".join(lines) + "\n")
        return ("val_map.txt:2: expected '<file name> <class index>'"
                if case in ("word", "decimal", "plus") else
                "val_map.txt:2: the class index is not written in ASCII digits 0-9")
    if case == "three columns":
        lines[1] = f"{name} 3 7"
        val_map.write_text("\n".join(lines) + "\n")
        return "val_map.txt:2: expected '<file name> <class index>'"
    if case == "image is a folder":
        (data / name).unlink()
        (data / name).mkdir()
        return f"{name} (a folder, not a file)"
    if case == "val_map is a folder":
        val_map.unlink()
        val_map.mkdir()
        return "val_map.txt is a folder, not a file"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["utf-16", "latin-1", "arabic-indic digit", "fullwidth digit",
                                  "superscript", "word", "decimal", "plus", "three columns",
                                  "image is a folder", "val_map is a folder"])
def test_a_malformed_val_map_is_one_line_before_anything(tmp_path, imagenet_sample, case,
                                                         mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 3)
    expect = _val_map_case(data, case)
    proc = _accuracy(data, tmp_path / "r", tmp_path / "cache")
    _one_error(proc, expect, tmp_path / "r")
    assert "converting" not in proc.stdout  # refused before any model work
    assert not (tmp_path / "cache" / "preprocessed").exists()


@pytest.mark.parametrize("label,expect", [("-3", "class -3"), ("1000", "class 1000")])
def test_labels_outside_the_classes_are_one_line(tmp_path, imagenet_sample, label, expect,
                                                 mobilenet_tflite):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 3)
    lines = (data / "val_map.txt").read_text().splitlines()
    lines[2] = f"{lines[2].split()[0]} {label}"
    (data / "val_map.txt").write_text("\n".join(lines) + "\n")
    line = _one_error(_accuracy(data, tmp_path / "r", tmp_path / "cache"),
                      "1 class index is outside 0..999", tmp_path / "r")
    assert f"line 3: {expect}" in line


def test_dataset_naming_a_file_points_to_its_folder(tmp_path, imagenet_sample):
    data = _imagenet_copy(tmp_path / "data", imagenet_sample, 2)
    proc = _accuracy(data / "val_map.txt", tmp_path / "r", tmp_path / "cache")
    line = _one_error(proc, "is a file, not a folder", tmp_path / "r")
    assert f"(its folder {data}?)" in line and "--dataset" in line


def _coco_copy(root: Path, source: Path, n: int) -> Path:
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    data = json.loads((source / "annotations" / "instances_val2017.json").read_text())
    data["images"] = data["images"][:n]
    for img in data["images"]:
        shutil.copy(source / "val2017" / img["file_name"], root / "val2017")
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return root


@pytest.mark.parametrize("case,expect", [
    ("bom", "starts with a UTF-8 byte-order mark"),
    ("utf-16", "is UTF-16 or UTF-32 text"),
    ("string id", "images[1] has id '42'"),
    ("zero width", "images[0] has a size of 0"),
    ("string category_id", "annotations[2] lacks an integer category_id (has '1')"),
    ("val2017 is a file", "val2017 is a file, not a folder"),
    ("annotations is a folder", "instances_val2017.json is a folder, not a file"),
])
def test_a_malformed_coco_folder_is_one_line_before_anything(tmp_path, coco_subset, case,
                                                             expect):
    root = _coco_copy(tmp_path / "coco", coco_subset, 3)
    ann = root / "annotations" / "instances_val2017.json"
    data = json.loads(ann.read_text())
    if case == "bom":
        ann.write_bytes(b"\xef\xbb\xbf" + ann.read_bytes())
    elif case == "utf-16":
        ann.write_bytes(ann.read_text().encode("utf-16"))
    elif case in ("string id", "zero width", "string category_id"):
        if case == "string id":
            data["images"][1]["id"] = "42"
        elif case == "zero width":
            data["images"][0]["width"] = 0
        else:
            data["annotations"][2]["category_id"] = "1"
        ann.write_text(json.dumps(data))
    elif case == "val2017 is a file":
        shutil.rmtree(root / "val2017")
        (root / "val2017").write_text("x")
    else:
        ann.unlink()
        ann.mkdir()
    proc = run_cli("run", "--model", "yolox_nano", "--mode", "accuracy", "--dataset",
                   str(root), "--results-dir", str(tmp_path / "r"),
                   env={"HARNESS_CACHE_DIR": str(tmp_path / "cache")})
    _one_error(proc, expect, tmp_path / "r")
    assert "converting" not in proc.stdout
