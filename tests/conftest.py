"""Shared fixtures: the real data in ../shared, a helper to run the CLI in its own process,
and readers of LoadGen's logs that are independent of the harness's own parser.

Tests that need ../shared skip with a reason when it is absent (a user's fresh clone); in CI
it is always present. Any other skip is a failure wherever ../shared is present or ``CI`` is
set (``.ci/run`` sets it): a skipped test is a blind spot that a green ``make test`` hides
(:func:`pytest_runtest_makereport`). Each LoadGen run happens in a fresh process (LoadGen
applies its built-in mlperf.conf only once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
#: The start of the one skip reason allowed where skips are failures.
MISSING_SHARED = "../shared not found"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{MISSING_SHARED} ({path} missing): real data and models live there; "
                    f"it is present in CI")
    return path


# --- no skips in CI -----------------------------------------------------------------------

def skips_are_failures() -> bool:
    """True where a skip (other than for an absent ../shared) fails the test: ``CI`` is set
    (not empty, ``0`` or ``false``) or ../shared is present."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or SHARED.is_dir()


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip(report) -> None:
    """Turn a skip report into a failure, unless the skip is for an absent ../shared."""
    if not report.skipped or hasattr(report, "wasxfail") or not skips_are_failures():
        return
    reason = _skip_reason(report)
    if MISSING_SHARED in reason:
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped where skips are failures (CI is set or ../shared is "
                       f"present; only an absent ../shared may skip): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the project root."""
    return _need(SHARED)


@pytest.fixture(scope="session")
def imagenet_sample() -> Path:
    """1000 ImageNet images with val_map.txt (MLPerf layout)."""
    return _need(SHARED / "data" / "imagenet-sample")


@pytest.fixture(scope="session")
def coco_subset() -> Path:
    """158 COCO val2017 images with annotations/instances_val2017.json."""
    return _need(SHARED / "data" / "coco-val2017-subset")


@pytest.fixture(scope="session")
def mobilenet_tflite() -> Path:
    """The trained uint8 MobileNetV2 TFLite model."""
    return _need(SHARED / "models" / "mobilenet_v2_quant" / "mobilenet_v2_1.0_224_quant.tflite")


def run_cli(*args: str, timeout: float = 600, env: dict | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m harness <args>`` in a fresh process; returns the completed process."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd or ROOT)


def run_dirs(results: Path) -> list[Path]:
    """Every run directory (holding run.json) below ``results``, sorted."""
    return sorted(p.parent for p in Path(results).rglob("run.json"))


def manifest(run_dir: Path) -> dict:
    """A run's run.json."""
    return json.loads((Path(run_dir) / "run.json").read_text())


# --- independent readers of LoadGen's logs and the CPU's flags ------------------------------

def mllog(path: Path) -> dict:
    """``{key: value}`` of a detail log: the JSON after ``:::MLLOG `` on each line (the last
    entry of a key wins). Written here, not taken from ``harness.loadgen_logs``, so a test
    compares the harness's reading of LoadGen's logs with a reading of its own."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            out[entry["key"]] = entry["value"]
    return out


def summary(path: Path) -> dict[str, str]:
    """``{key: value}`` of a summary log's ``key : value`` lines (first occurrence wins),
    e.g. ``summary(p)["Result is"] == "VALID"``; values are the text after the colon."""
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def summary_failed_checks(path: Path) -> list[str]:
    """The ``... satisfied : NO`` lines of a summary log, as ``"<check>: NO"``."""
    out = []
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip().endswith("satisfied") and value.strip().upper() == "NO":
            out.append(f"{key.strip()}: NO")
    return out


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (read here, not by ``harness.system``)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    raise AssertionError("/proc/cpuinfo has no flags line")


#: ONEDNN_MAX_CPU_ISA values that keep oneDNN's bf16 kernels (oneDNN docs, "CPU Dispatcher
#: Control": avx512_core_bf16 and every ISA above it).
BF16_CAPS = {"", "DEFAULT", "ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX",
             "AVX512_CORE_AMX_FP16", "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16",
             "AVX10_2_512", "AVX10_2_512_AMX_2"}


def cpu_has_bf16() -> bool:
    """True when OpenVINO computes bf16 here: the CPU has AVX-512 BF16 or AMX-BF16 and the
    suite's ``ONEDNN_MAX_CPU_ISA`` (if any) leaves those kernels."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
           or "").strip().upper()
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"}) and cap in BF16_CAPS
