"""Shared fixtures: the real data in ../shared and a helper to run the CLI in its own process.

Tests that need ../shared skip with a reason when it is absent (a user's fresh clone); in CI
it is always present. Each LoadGen run happens in a fresh process (LoadGen applies its
built-in mlperf.conf only once per process).
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


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"../shared not found ({path} missing): real data and models live there; "
                    f"it is present in CI")
    return path


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
