"""INT8 that holds on every CPU kind: the INT8 kernels a run uses (AMX, VNNI, AVX2 without
VNNI), the NNCF overflow fix chosen for them, and the 99% gate under each kernel class.

``ONEDNN_MAX_CPU_ISA`` in a run's environment caps the kernels OpenVINO's CPU plugin uses, so
one machine runs the gate as an AMX, a VNNI and an AVX2-only CPU would (it cannot add AMX or
VNNI to a CPU without them: the expected kernel class is derived from /proc/cpuinfo here).
Measured figures (docs/int8-and-zoo.md, "INT8 per ISA") name the kernels they hold for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import system
from harness.backends.openvino import quantization
from harness.backends.openvino.config import QuantizationConfig
from harness.errors import HarnessError

from conftest import cpu_flags, manifest, run_cli, run_dirs
from test_gate import dequantized_mobilenet_fp32

#: The caps the gate tests run under: none (this CPU's best), VNNI, and AVX2 without VNNI.
CAPS = ("", "AVX512_CORE_VNNI", "AVX2")
ROOT = Path(__file__).resolve().parent.parent


def expected_isa(cap: str) -> str:
    """The kernel class a run under ``cap`` uses on this CPU, from /proc/cpuinfo's flags."""
    return system.int8_isa(cpu_flags(), cap or "DEFAULT")


# --- which kernels, which fix (hold on every CPU) -----------------------------------------

AMX_CPU = {"avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile"}
EPYC_CPU = {"avx2", "avx512f", "avx512bw", "avx512_vnni"}
I5_7260U = {"avx2"}


@pytest.mark.parametrize("flags, cap, isa", [
    (AMX_CPU, "DEFAULT", "AMX"), (AMX_CPU, "AVX512_CORE_AMX", "AMX"),
    (AMX_CPU, "AVX512_CORE_BF16", "AVX512_VNNI"), (AMX_CPU, "AVX512_CORE_VNNI", "AVX512_VNNI"),
    (AMX_CPU, "AVX2_VNNI", "AVX_VNNI"), (AMX_CPU, "AVX512_CORE", "AVX512"),
    (AMX_CPU, "AVX2", "AVX2"), (AMX_CPU, "AVX", "SSE41"),
    (EPYC_CPU, "DEFAULT", "AVX512_VNNI"), (EPYC_CPU, "AVX512_CORE_AMX", "AVX512_VNNI"),
    (EPYC_CPU, "AVX2_VNNI", "AVX2"), (I5_7260U, "DEFAULT", "AVX2"),
    (I5_7260U, "AVX512_CORE_VNNI", "AVX2")])
def test_int8_kernels_follow_the_cpu_and_the_cap(flags, cap, isa):
    """A cap only takes kernels away: AMX needs amx_int8 and a cap that allows it."""
    assert system.int8_isa(flags, cap) == isa


@pytest.mark.parametrize("flags, cap, bf16", [
    (AMX_CPU | {"amx_bf16", "avx512_bf16"}, "DEFAULT", True),
    (AMX_CPU | {"amx_bf16", "avx512_bf16"}, "AVX512_CORE_BF16", True),
    (AMX_CPU | {"amx_bf16", "avx512_bf16"}, "AVX512_CORE_AMX", True),
    (AMX_CPU | {"amx_bf16", "avx512_bf16"}, "AVX512_CORE_VNNI", False),
    (AMX_CPU | {"amx_bf16", "avx512_bf16"}, "AVX2", False),
    (EPYC_CPU | {"avx512_bf16"}, "DEFAULT", True), (EPYC_CPU, "DEFAULT", False),
    (I5_7260U, "AVX512_CORE_BF16", False)])
def test_bf16_follows_the_cpu_and_the_cap(flags, cap, bf16):
    """bf16 needs the CPU's AVX-512 BF16 or AMX-BF16 and a cap at avx512_core_bf16 or
    above (a run capped to AVX2 kernels cannot compute bf16)."""
    assert system.supports_bf16(flags, cap) is bf16


def test_overflow_fix_is_enabled_without_vnni(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    choice = quantization.isa_choice(QuantizationConfig())
    assert choice == {"int8_isa": "AVX2", "onednn_max_cpu_isa": "AVX2", "overflow_fix": "enable",
                      "reason": choice["reason"]} and "saturate" in choice["reason"]
    # a user's choice wins and says so
    choice = quantization.isa_choice(QuantizationConfig(overflow_fix="disable"))
    assert choice["overflow_fix"] == "disable" and choice["reason"] == "--overflow-fix"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    vnni = expected_isa("AVX512_CORE_VNNI")
    fix = quantization.isa_choice(QuantizationConfig())["overflow_fix"]
    assert fix == ("first_layer_only" if vnni in system.VNNI_ISAS else "enable")


def test_an_unknown_cap_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(HarnessError, match="ONEDNN_MAX_CPU_ISA=AVX3 is not a oneDNN ISA"):
        system.int8_isa(cap="AVX3")
    proc = run_cli("run", "--model", "resnet50", "--weights", "random", "--precision", "int8",
                   "--results-dir", str(tmp_path / "results"),
                   env={"ONEDNN_MAX_CPU_ISA": "AVX3"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "ONEDNN_MAX_CPU_ISA=AVX3 is not a oneDNN ISA name" in proc.stderr
    assert "Traceback" not in proc.stderr and not run_dirs(tmp_path / "results")


def test_bad_overflow_fix_and_validated_isas_are_refused(tmp_path):
    proc = run_cli("run", "--model", "resnet50", "--weights", "random", "--precision", "int8",
                   "--overflow-fix", "always", "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--overflow-fix: 'always'" in proc.stderr, proc.stderr
    from harness import cards

    card = cards.load("yolox_nano")
    card.extra["quantization"] = {"validated_isas": ["AVX3"]}
    with pytest.raises(HarnessError, match="validated_isas must be a non-empty list"):
        quantization.card_settings(card)


# --- the 99% gate under each kernel class (real models, real images) -----------------------

@pytest.fixture(scope="module")
def mobilenet_reference(mobilenet_tflite, imagenet_sample, tmp_path_factory):
    """The FP32 MobileNetV2 (dequantized from the trained uint8 TFLite) and its FP32 accuracy
    run on the first 300 images, shared by the INT8 runs below."""
    root = tmp_path_factory.mktemp("isa-mobilenet")
    fp32 = dequantized_mobilenet_fp32(mobilenet_tflite, root / "mobilenet_v2_fp32.xml")
    results = root / "results"
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(fp32), "--mode",
                   "accuracy", "--dataset", str(imagenet_sample), "--count", "300",
                   "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return fp32, results


@pytest.mark.slow
@pytest.mark.parametrize("cap", CAPS[1:])
def test_mobilenet_int8_passes_the_gate_under_each_isa(cap, mobilenet_reference,
                                                       imagenet_sample):
    """NNCF INT8 of MobileNetV2 keeps >= 99% of FP32 top-1 on 300 images with VNNI and with
    AVX2-only kernels (the uncapped run, AMX here, is test_gate's). Measured on an Intel Xeon
    with AMX, 1000 images: AMX 89.3%, AVX512_VNNI 89.2%, AVX2 (overflow fix) 89.2%."""
    fp32, results = mobilenet_reference
    calib = ROOT / "models/calibration/imagenet-sample-300.txt"
    proc = run_cli("run", "--model", "mobilenet_v2_quant", "--weights", str(fp32),
                   "--precision", "int8", "--mode", "accuracy", "--dataset",
                   str(imagenet_sample), "--count", "300", "--calibration-list", str(calib),
                   "--calibration-count", "100", "--results-dir", str(results),
                   env={"ONEDNN_MAX_CPU_ISA": cap})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = [d for d in run_dirs(results) if "/int8/" in str(d)
              and manifest(d)["quantization"]["run_onednn_max_cpu_isa"] == cap]
    m = manifest(run)
    isa = expected_isa(cap)
    assert m["system"]["int8_isa"] == isa == m["quantization"]["run_int8_isa"]
    fix = "first_layer_only" if isa in system.VNNI_ISAS else "enable"
    assert m["quantization"]["built_for"]["overflow_fix"] == fix
    assert m["accuracy_gate"]["result"] == "PASS", m["accuracy_gate"]
    # a capped run is another system (its folder names the cap), held to an FP32 reference
    # run under the same cap
    assert run.parts[-6].endswith(f"-{cap}")
    assert Path(m["accuracy_gate"]["reference_run"]).parts[-6] == run.parts[-6]


def test_a_run_on_kernels_the_card_was_not_validated_on_says_so(capsys):
    from harness import cards

    card = cards.load("yolox_nano")
    quantization.warn_unvalidated(card, "AVX2")
    assert capsys.readouterr().out == ""
    card.extra["quantization"] = {**card.extra["quantization"], "validated_isas": ["AMX"]}
    quantization.warn_unvalidated(card, "AVX2")
    out = capsys.readouterr().out
    assert out.startswith("WARNING: yolox_nano's INT8 settings were validated on AMX kernels, "
                          "not on this run's AVX2") and "check the accuracy gate" in out
