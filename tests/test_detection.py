"""COCO detection: decoding, the MLPerf response format, mAP scoring, bad input, and real runs.

Real runs use YOLOX-Nano (a trained COCO detector, ../shared) on the 158-image COCO subset,
and SSD-MobileNetV1 (no trained weights exist here: a seeded random checkpoint given as a
.pth file, so accuracy mode runs and the response format is checked end to end).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import cpu_flags, manifest, run_cli, run_dirs
from harness import cards, system
from harness.postprocess import check_outputs
from harness.accuracy import coco as coco_acc
from harness.datasets import CocoDataset
from harness.detection import (COCO80_TO_91, class_ids, decode_ssd_boxes, ssd_anchors,
                               ssd_postprocess, yolox_postprocess)
from harness.errors import HarnessError

SUBSET_IMAGES = 158


# --- decoding and packing (no data needed) ------------------------------------------------

def test_ssd_anchors_match_the_head_layout():
    """19x19x3 + (10x10 + 5x5 + 3x3 + 2x2 + 1x1) x 6 = 1917 anchors, TF order and scales."""
    a = ssd_anchors([19, 10, 5, 3, 2, 1])
    assert a.shape == (1917, 4)
    # first cell of the lowest layer: centre (0.5/19, 0.5/19); box 0 is scale 0.1, ratio 1
    c = 0.5 / 19
    np.testing.assert_allclose(a[0], [c - 0.05, c - 0.05, c + 0.05, c + 0.05], atol=1e-6)
    # box 1: scale 0.2, ratio 2 -> height 0.2/sqrt2, width 0.2*sqrt2
    h, w = a[1, 2] - a[1, 0], a[1, 3] - a[1, 1]
    assert h == pytest.approx(0.2 / np.sqrt(2), rel=1e-5)
    assert w == pytest.approx(0.2 * np.sqrt(2), rel=1e-5)
    # the last anchor is on the 1x1 map, centred
    np.testing.assert_allclose((a[-1, 0] + a[-1, 2]) / 2, 0.5, atol=1e-6)
    # zero regression decodes to the anchor itself
    np.testing.assert_allclose(decode_ssd_boxes(np.zeros((5, 4), np.float32), a[:5]), a[:5],
                               atol=1e-6)


def test_coco80_maps_to_the_91_id_space():
    ids = class_ids("coco80", 80)
    assert ids[0] == 1 and ids[-1] == 90 and len(set(ids.tolist())) == 80
    assert not {12, 26, 29, 30, 45, 66, 68, 69, 71, 83} & set(ids.astype(int).tolist())
    np.testing.assert_array_equal(class_ids("coco91", 91), np.arange(91))
    with pytest.raises(HarnessError, match="maps 80 classes"):
        class_ids("coco80", 81)


class _Sizes:
    """The one dataset fact the decoders read: original (height, width) per QSL index."""

    def __init__(self, sizes):
        self.image_sizes = sizes


def test_yolox_decodes_a_known_point_into_the_original_image():
    card = cards.load("yolox_nano")
    out = np.zeros((1, 3549, 85), np.float32)
    # stride-8 level, row 5, column 10 -> point 5 * 52 + 10
    p = 5 * 52 + 10
    out[0, p, :4] = [0.5, 0.5, np.log(4.0), np.log(2.0)]  # centre (84, 44) px, 32 x 16 px
    out[0, p, 4] = 0.9
    out[0, p, 5 + 17] = 0.8
    post = yolox_postprocess(card, _Sizes([(0, 0), (416, 832)]))  # index 1: 832 wide, 416 high
    rows = post([out], 1).reshape(-1, 7)
    assert rows.shape == (1, 7) and rows.dtype == np.float32
    # letterbox scale min(416/832, 416/416) = 0.5: centre (168, 88), size 64 x 32 px
    expected = [1, (88 - 16) / 416, (168 - 32) / 832, (88 + 16) / 416, (168 + 32) / 832,
                0.9 * 0.8, COCO80_TO_91[17]]
    np.testing.assert_allclose(rows[0], expected, rtol=1e-5)


def test_yolox_rejects_an_output_that_does_not_fit_the_card():
    card = cards.load("yolox_nano")
    with pytest.raises(HarnessError, match=r"output shape.*\[1, 3549, 86\].*do not match"):
        check_outputs(card, [np.zeros((1, 3549, 86), np.float32)])


def test_ssd_keeps_the_confident_class_of_an_anchor():
    card = cards.load("ssd_mobilenet_v1")
    logits = np.full((1, 1917, 91), -20.0, np.float32)
    logits[0, 100, 3] = 5.0  # anchor 100, COCO category 3 (car)
    codes = np.zeros((1, 1917, 4), np.float32)
    rows = ssd_postprocess(card, None)([logits, codes], 7).reshape(-1, 7)
    assert rows.shape == (1, 7)
    anchor = np.clip(ssd_anchors([19, 10, 5, 3, 2, 1])[100], 0, 1)
    np.testing.assert_allclose(rows[0, 1:5], anchor, atol=1e-6)
    assert rows[0, 0] == 7 and rows[0, 6] == 3
    assert rows[0, 5] == pytest.approx(1 / (1 + np.exp(-5.0)), rel=1e-5)
    # nothing above the threshold: an empty (but valid) response
    assert ssd_postprocess(card, None)([np.full_like(logits, -20.0), codes], 7).size == 0


# --- scoring with pycocotools (a small COCO file written here) ----------------------------

def _write_coco(root: Path, n_images: int = 2, annotate=(0, 1), missing=()) -> dict:
    """A COCO-layout folder with n generated JPEGs (64x48) and one box per annotated image."""
    (root / "val2017").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    images, anns = [], []
    for i in range(n_images):
        name = f"{i:012d}.jpg"
        if i not in missing:
            Image.new("RGB", (64, 48), (i * 40 % 255, 90, 30)).save(root / "val2017" / name)
        images.append({"id": 1000 + i, "file_name": name, "width": 64, "height": 48})
        if i in annotate:
            anns.append({"id": i + 1, "image_id": 1000 + i, "category_id": 18,
                         "bbox": [8.0, 6.0, 32.0, 24.0], "area": 768.0, "iscrowd": 0})
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 18, "name": "dog"}, {"id": 3, "name": "car"}]}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return data


def _gt_row(idx: int, category: float, score: float = 0.9) -> np.ndarray:
    # bbox x 8..40 of 64, y 6..30 of 48, normalised as ymin, xmin, ymax, xmax
    return np.array([[idx, 6 / 48, 8 / 64, 30 / 48, 40 / 64, score, category]], np.float32)


def test_scorer_gives_full_marks_to_ground_truth_and_none_to_a_wrong_class(tmp_path):
    _write_coco(tmp_path)
    ann = tmp_path / "annotations" / "instances_val2017.json"
    right = coco_acc.coco_map(ann, {0: _gt_row(0, 18), 1: _gt_row(1, 18)})
    assert right["mAP"] == pytest.approx(100.0) and right["images"] == 2
    wrong = coco_acc.coco_map(ann, {0: _gt_row(0, 3), 1: _gt_row(1, 3)})
    assert wrong["mAP"] == pytest.approx(0.0)
    # an image answered without detections still counts: recall halves, AP drops
    half = coco_acc.coco_map(ann, {0: _gt_row(0, 18), 1: np.zeros((0, 7), np.float32)})
    assert half["images_without_detections"] == 1 and half["mAP"] < 60


def test_accuracy_log_reader_checks_payloads(tmp_path):
    log = tmp_path / "mlperf_log_accuracy.json"
    good = [{"seq_id": 0, "qsl_idx": 1, "data": _gt_row(1, 18).tobytes().hex().upper()},
            {"seq_id": 1, "qsl_idx": 0, "data": ""}]
    log.write_text(json.dumps(good))
    rows = coco_acc.read_log(log)
    assert rows[1].shape == (1, 7) and rows[0].shape == (0, 7)
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0,
                                "data": _gt_row(1, 18).tobytes().hex()}]))
    with pytest.raises(HarnessError, match="disagree"):
        coco_acc.read_log(log)
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0,
                                "data": np.zeros(5, np.float32).tobytes().hex()}]))
    with pytest.raises(HarnessError, match="not rows of 7"):
        coco_acc.read_log(log)


# --- bad input through the CLI: clear message, exit 2, nothing written --------------------

def _run_bad(dataset: Path, results: Path, *extra: str):
    proc = run_cli("run", "--model", "yolox_nano", "--mode", "accuracy", "--dataset",
                   str(dataset), "--results-dir", str(results), *extra, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert run_dirs(results) == []
    return proc.stderr


def test_missing_annotation_file_is_refused(tmp_path):
    _write_coco(tmp_path / "ds")
    (tmp_path / "ds" / "annotations" / "instances_val2017.json").unlink()
    err = _run_bad(tmp_path / "ds", tmp_path / "results")
    assert "annotation file" in err and "not found" in err


def test_malformed_annotation_file_is_refused(tmp_path):
    _write_coco(tmp_path / "ds")
    ann = tmp_path / "ds" / "annotations" / "instances_val2017.json"
    ann.write_text(ann.read_text()[:-40])
    assert "malformed" in _run_bad(tmp_path / "ds", tmp_path / "results")
    ann.write_text(json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}))
    assert "lacks file_name, width, height" in _run_bad(tmp_path / "ds", tmp_path / "results")


def test_listed_but_absent_images_are_all_named(tmp_path):
    _write_coco(tmp_path / "ds", n_images=4, missing=(1, 3))
    err = _run_bad(tmp_path / "ds", tmp_path / "results")
    assert "2 of 4 images" in err
    assert "000000000001.jpg" in err and "000000000003.jpg" in err
    assert "000000000000.jpg" not in err


def test_an_image_without_annotations_is_kept_and_said(tmp_path, capsys):
    """COCO val2017 itself has 48 such images, scored by accuracy-coco.py: not an error."""
    _write_coco(tmp_path / "ds", n_images=3, annotate=(0, 2))
    ds = CocoDataset(tmp_path / "ds", cards.load("yolox_nano").preprocessing, None)
    assert ds.without_annotations == ["000000000001.jpg"] and len(ds) == 3
    ds.prepare()
    assert "1 image(s) have no annotations (000000000001.jpg)" in capsys.readouterr().out
    assert ds.load_sample(1).shape == (1, 3, 416, 416)


def test_image_of_another_size_than_annotated_is_refused(tmp_path):
    _write_coco(tmp_path / "ds")
    Image.new("RGB", (50, 50)).save(tmp_path / "ds" / "val2017" / "000000000001.jpg")
    ds = CocoDataset(tmp_path / "ds", cards.load("yolox_nano").preprocessing, None)
    with pytest.raises(HarnessError, match="is 50x50 px but"):
        ds.prepare()


def test_model_output_not_matching_its_card_is_refused(tmp_path):
    """A model file whose output is [1, 3549, 86] given for the yolox_nano card (85):
    refused by one inference before any run directory exists."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, 416, 416], np.float32, name="images")
    mean = ops.reshape(ops.reduce_mean(x, [1, 2, 3], keep_dims=False), [1, 1, 1], False)
    y = ops.add(ops.constant(np.zeros((1, 3549, 86), np.float32)), mean)
    xml = tmp_path / "wrong.xml"
    ov.save_model(ov.Model([y], [x], "wrong"), xml)
    proc = run_cli("run", "--model", "yolox_nano", "--weights", str(xml), "--duration-ms",
                   "1000", "--results-dir", str(tmp_path / "results"), timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert re.search(r"output shape\(s\) \[\[1, 3549, 86\]\] do not match the card's "
                     r"\[\[1, 3549, 85\]\]", proc.stderr), proc.stderr
    assert run_dirs(tmp_path / "results") == []


# --- real runs on the COCO subset ---------------------------------------------------------

@pytest.fixture(scope="module")
def yolox_results(tmp_path_factory, coco_subset):
    """One FP32 accuracy run of YOLOX-Nano on the 158 images (the INT8 gate reuses it)."""
    results = tmp_path_factory.mktemp("results-yolox")
    proc = run_cli("run", "--model", "yolox_nano", "--mode", "accuracy",
                   "--dataset", str(coco_subset), "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(results)
    return results, run_dir


def _reference_map(log: Path, annotation_file: Path) -> float:
    """mAP computed the way MLCommons accuracy-coco.py does, straight from the log."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(annotation_file))
    images = gt.dataset["images"]
    dets, ids, seen = [], set(), set()
    for entry in json.loads(log.read_text()):
        idx = entry["qsl_idx"]
        if idx in seen:
            continue
        seen.add(idx)
        ids.add(images[idx]["id"])
        data = np.frombuffer(bytes.fromhex(entry["data"]), np.float32)
        h, w = images[idx]["height"], images[idx]["width"]
        for i in range(0, len(data), 7):
            _, ymin, xmin, ymax, xmax, score, label = data[i:i + 7]
            dets.append({"image_id": images[idx]["id"], "category_id": int(label),
                         "bbox": [float(xmin * w), float(ymin * h), float((xmax - xmin) * w),
                                  float((ymax - ymin) * h)], "score": float(score)})
    ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
    ev.params.imgIds = list(ids)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return 100.0 * ev.stats[0]


def test_yolox_map_matches_the_independent_measurement(yolox_results, coco_subset):
    """../shared/README.md: mAP@[.5:.95] 0.278 measured independently; accept 27.8 +- 0.5."""
    _, run_dir = yolox_results
    acc = manifest(run_dir)["accuracy"]
    assert acc["metric"] == "mAP" and acc["images"] == SUBSET_IMAGES
    assert 27.3 <= acc["value"] <= 28.3
    assert acc["value"] == pytest.approx(
        _reference_map(run_dir / "mlperf_log_accuracy.json",
                       coco_subset / "annotations" / "instances_val2017.json"), abs=1e-6)


def test_yolox_accuracy_txt_is_in_the_official_format(yolox_results):
    _, run_dir = yolox_results
    lines = (run_dir / "accuracy.txt").read_text().splitlines()
    m = re.fullmatch(r"mAP=(\d+\.\d{3})%", lines[0])
    assert m and float(m[1]) == pytest.approx(manifest(run_dir)["accuracy"]["value"], abs=5e-4)
    digest = hashlib.sha256((run_dir / "mlperf_log_accuracy.json").read_bytes()).hexdigest()
    assert lines[1] == f"hash={digest}"


def _check_response_format(run_dir: Path, n_images: int, annotation_file: Path) -> int:
    """Every QSL index answered once with rows of 7 float32 in the official layout; returns
    the number of detections."""
    entries = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(n_images))
    categories = {c["id"] for c in json.loads(annotation_file.read_text())["categories"]}
    total = 0
    for e in entries:
        data = np.frombuffer(bytes.fromhex(e["data"]), np.float32)
        assert data.size % 7 == 0
        rows = data.reshape(-1, 7)
        assert len(rows) <= 100
        assert np.all(rows[:, 0] == e["qsl_idx"])
        assert np.all((rows[:, 1:5] >= 0) & (rows[:, 1:5] <= 1))
        assert np.all(rows[:, 1] <= rows[:, 3]) and np.all(rows[:, 2] <= rows[:, 4])
        assert np.all(rows[:, 6] == np.round(rows[:, 6]))
        assert np.all((rows[:, 6] >= 1) & (rows[:, 6] <= 90))
        assert np.all(np.diff(rows[:, 5]) <= 0)  # best first
        total += len(rows)
        if "yolox" in str(run_dir):
            assert set(rows[:, 6].astype(int)) <= categories
    return total


def test_yolox_responses_follow_the_reference_layout(yolox_results, coco_subset):
    _, run_dir = yolox_results
    n = _check_response_format(run_dir, SUBSET_IMAGES,
                               coco_subset / "annotations" / "instances_val2017.json")
    assert n == manifest(run_dir)["accuracy"]["detections"]


def _int8_gate_run(results: Path, coco_subset: Path, fp32_dir: Path, *args: str,
                   env: dict | None = None):
    """One YOLOX-Nano INT8 accuracy run; checks the gate's bookkeeping, returns (run dir,
    manifest, stdout)."""
    before = set(run_dirs(results))
    proc = run_cli("run", "--model", "yolox_nano", "--precision", "int8", "--mode", "accuracy",
                   "--dataset", str(coco_subset), "--results-dir", str(results), *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (int8_dir,) = [d for d in set(run_dirs(results)) - before if "/int8/" in str(d)]
    m = manifest(int8_dir)
    gate = m["accuracy_gate"]
    # the reference: the fixture's FP32 run, or (under an ISA cap, another system) an FP32
    # run of that system, run first
    ref = manifest(Path(gate["reference_run"]))
    assert Path(gate["reference_run"]).parts[-6] == int8_dir.parts[-6]  # the same system
    if int8_dir.parts[-6] == fp32_dir.parts[-6]:  # the fixture's system: its FP32 run
        assert Path(gate["reference_run"]) == fp32_dir
    fp32 = ref["accuracy"]["value"]
    assert gate["reference_value"] == pytest.approx(fp32)
    assert gate["ratio"] == pytest.approx(m["accuracy"]["value"] / fp32)
    assert gate["result"] == ("PASS" if gate["ratio"] >= 0.99 else "FAIL")
    assert f"gate={gate['result']}" in (int8_dir / "accuracy.txt").read_text()
    assert f"-> {gate['result']}" in proc.stdout
    return int8_dir, m, proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("cap", ["", "AVX512_CORE_VNNI", "AVX2"])
def test_yolox_int8_with_the_cards_ignored_scope_passes_the_gate(cap, yolox_results,
                                                                 coco_subset):
    """INT8 (NNCF PTQ with the card's [quantization] ignored scope: head prediction convs,
    three backbone 1x1 convs and Concats in float; the overflow fix without VNNI) keeps >= 99%
    of the FP32 mAP (27.915%) on the 158 images under every kernel class. Measured on an Intel
    Xeon with AMX (ONEDNN_MAX_CPU_ISA caps the rest): AMX 27.765%, AVX512_VNNI 27.997%, AVX2
    28.088%. Before (9 head convs, no overflow fix): AMX 27.056% and VNNI 27.412% FAIL, AVX2
    10.409%."""
    results, fp32_dir = yolox_results
    _, m, out = _int8_gate_run(results, coco_subset, fp32_dir, env={"ONEDNN_MAX_CPU_ISA": cap})
    scope = m["quantization"]["card_settings"]["ignored_scope"]
    assert scope["types"] == ["Concat"] and len(scope["names"]) == 12
    isa = system.int8_isa(cpu_flags(), cap or "DEFAULT")
    assert m["system"]["int8_isa"] == m["quantization"]["run_int8_isa"] == isa
    assert m["quantization"]["built_for"]["overflow_fix"] == (
        "first_layer_only" if isa in system.VNNI_ISAS else "enable")
    assert "WARNING" not in out  # the card was validated on every kernel class
    assert m["accuracy_gate"]["ratio"] >= 0.99, m["accuracy_gate"]


@pytest.mark.slow
def test_yolox_accuracy_control_ends_within_bound_on_the_evaluated_images(yolox_results,
                                                                          coco_subset):
    """--max-accuracy-drop 0.01 with the card's validation_overlap: NNCF validates on the
    158 evaluated images, recorded as "validation overlaps evaluation"; its final metric is
    the run's mAP where the run computes with the kernels the model was built on (the card
    validates every kernel class, so one cached model serves all: under another cap NNCF's
    metric is of the build's kernels), and the run passes the gate."""
    results, fp32_dir = yolox_results
    _, m, out = _int8_gate_run(results, coco_subset, fp32_dir, "--max-accuracy-drop", "0.01")
    q = m["quantization"]
    ac = q["accuracy_control"]
    assert q["method"] == "nncf.quantize_with_accuracy_control"
    assert ac["validation_overlaps_evaluation"] is True and ac["validation_count"] == 158
    assert q["overlap"]["validation_overlapping"] == 158
    assert "validation overlaps evaluation" in q["overlap"]["validation_note"]
    assert "validation overlaps evaluation" in out
    fp32 = manifest(fp32_dir)["accuracy"]["value"]
    assert ac["fp32_metric"] == pytest.approx(fp32, abs=1e-3)
    if q["built_for"]["int8_isa"] == q["run_int8_isa"]:
        assert ac["final_metric"] == pytest.approx(m["accuracy"]["value"], abs=1e-3)
    assert ac["final_metric"] >= 0.99 * ac["fp32_metric"]
    assert m["accuracy_gate"]["result"] == "PASS", m["accuracy_gate"]


@pytest.mark.slow
def test_ssd_response_format_end_to_end_on_real_images(tmp_path, coco_subset):
    """SSD-MobileNetV1 through LoadGen accuracy mode on 12 real images. No trained weights
    exist here, so a seeded random checkpoint is given as a .pth file (the "converted
    checkpoint" path); its mAP is meaningless, the response format is what is checked."""
    import torch

    from harness.networks import build

    torch.manual_seed(0)
    ckpt = tmp_path / "ssd_random.pth"
    torch.save(build("ssd_mobilenet_v1").state_dict(), ckpt)
    results = tmp_path / "results"
    proc = run_cli("run", "--model", "ssd_mobilenet_v1", "--mode", "accuracy", "--weights",
                   str(ckpt), "--dataset", str(coco_subset), "--count", "12",
                   "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(results)
    n = _check_response_format(run_dir, 12, coco_subset / "annotations" / "instances_val2017.json")
    acc = manifest(run_dir)["accuracy"]
    assert n == acc["detections"] > 0 and acc["metric"] == "mAP"
    assert (run_dir / "accuracy.txt").read_text().startswith("mAP=")
