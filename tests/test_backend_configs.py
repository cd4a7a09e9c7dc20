"""The backend config base and the registries: every backend config extends one base that
the rest of the harness asks (no probing, no backend names outside harness/backends/), one
registry entry per backend, one list of launcher names; and the commands that moved into
workflows/ (show, models, scenarios)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import backends, launchers
from harness.backends.config import BackendConfig
from harness.backends.openvino.config import AUTO, QuantizationConfig
from harness.errors import HarnessError
from harness.run import config as run_config
from harness.run.results import precision_folder

from conftest import ROOT, run_cli

NAMES = tuple(backends.REGISTRY)


def test_one_registry_entry_per_backend_and_one_list_of_launcher_names():
    assert NAMES == ("openvino", "pytorch", "kserve")
    for name, entry in backends.REGISTRY.items():
        assert issubclass(entry.config, BackendConfig) and entry.config.name == name
        assert entry.config.__dataclass_fields__["name"].default == name
    assert backends.DEFAULT in backends.REGISTRY
    assert run_config.RunConfig().backend.name == backends.DEFAULT
    # the run layer checks the names; the launchers hold the classes of exactly those names
    assert tuple(launchers.REGISTRY) == run_config.LAUNCHERS
    assert all(cls.name == name for name, cls in launchers.REGISTRY.items())
    with pytest.raises(HarnessError, match="unknown backend 'onnx'. Valid backends: "
                                           "openvino, pytorch, kserve"):
        backends.create("onnx")


def test_backend_configs_import_no_runtime():
    """The run config (and with it every backend config and the registry) loads without
    OpenVINO or torch: each CLI call imports it."""
    code = ("import sys, harness.run.config, harness.backends; "
            "print(sorted(m for m in ('openvino', 'torch', 'tritonclient') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_summary_gives_each_deployment_setting_or_none():
    ov = run_config.from_arguments({"--streams": 2, "--hint": "latency", "--batch": 4,
                                    "--batch-timeout-us": 500})
    assert ov.backend.summary() == {"streams": 2, "threads": None, "hint": "LATENCY",
                                    "nireq": None, "batch": 4, "batch_timeout_us": 500}
    pt = run_config.from_arguments({"--backend": "pytorch", "--threads": 3, "--nireq": 2})
    assert pt.backend.summary() == {"streams": None, "threads": 3, "hint": None, "nireq": 2,
                                    "batch": None, "batch_timeout_us": None}
    ks = run_config.from_arguments({"--backend": "kserve", "--endpoint": "127.0.0.1:8081",
                                    "--concurrency": 8})
    assert ks.backend.summary() == dict.fromkeys(("streams", "threads", "hint", "nireq",
                                                  "batch", "batch_timeout_us"))
    assert (ov.backend.remote, pt.backend.remote, ks.backend.remote) == (False, False, True)
    assert (ov.backend.network_division, ks.backend.network_division) == (False, False)
    assert (ov.backend.runs_model_file, pt.backend.runs_model_file) == (True, False)
    # the base's defaults are no fields: each backend's own fields, in their own order
    assert [f for f in run_config.RunConfig().to_dict()["backend"]][:3] == \
        ["name", "device", "precision"]
    with pytest.raises(HarnessError, match="--batch: SingleStream sends one sample"):
        run_config.from_arguments({"--batch": 2, "--scenario": "SingleStream"})


def test_results_label_names_the_precision_folder():
    ov = run_config.RunConfig().backend
    pt = run_config.from_arguments({"--backend": "pytorch"}).backend
    assert precision_folder(ov, "uint8") == "uint8"
    assert precision_folder(pt, "fp32") == "pytorch-fp32"
    assert backends.REGISTRY["kserve"].config.results_label("int8") == "kserve-int8"


def test_openvino_search_space_and_its_points():
    ov_class = backends.REGISTRY["openvino"].config
    space = ov_class.search_space("Offline", 2)
    assert space["streams"] == space["threads"] == [AUTO, 1, 2]
    assert space["batch"] == [1, 2, 4, 8] and space["precision"][0] == "fp32"
    assert ov_class.search_space("SingleStream", 2)["batch"] == [1]
    base = run_config.from_arguments({"--precision": "int8", "--calibration-count": 7}).backend
    point = {"precision": "int8", "streams": 2, "threads": AUTO, "nireq_per_stream": 2,
             "hint": "LATENCY", "batch": 4}
    at = base.at_point(point)
    assert (at.streams, at.threads, at.nireq, at.hint, at.batch, at.device) == \
        (2, None, 4, "LATENCY", 4, "CPU")
    assert at.quantization.calibration_count == 7  # INT8: the base's calibration kept
    auto = base.at_point({**point, "precision": "fp32", "streams": AUTO, "batch": 1})
    assert (auto.streams, auto.nireq, auto.batch) == (None, None, None)
    assert auto.quantization == QuantizationConfig()
    pt = run_config.from_arguments({"--backend": "pytorch"}).backend
    with pytest.raises(HarnessError, match="does not search the pytorch backend"):
        pt.search_space("Offline", 2)
    with pytest.raises(HarnessError, match="does not search the pytorch backend"):
        pt.at_point(point)


def test_no_probing_and_no_backend_names_outside_backends():
    probe = re.compile(r"getattr\([^)]*backend")
    name = '"(?:openvino|pytorch|kserve)"'
    compare = re.compile(rf"[=!]=\s*{name}|{name}\s*[=!]=|\bin\s*\([^)]*{name}")
    found = []
    for path in (ROOT / "harness").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("harness/backends/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if probe.search(line) or compare.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    # submission/systems.py leaves out the version of "openvino" the library, not a backend
    assert [f for f in found if not f.startswith("harness/submission/systems.py")] == []


def test_listing_commands_run_from_their_workflow_modules(tmp_path):
    models = run_cli("models")
    assert models.returncode == 0 and re.search(r"^resnet50 .* benchmark=resnet50",
                                                models.stdout, re.M), models.stderr
    scen = run_cli("scenarios")
    assert scen.returncode == 0
    assert [line.split()[0] for line in scen.stdout.splitlines()] == \
        ["Offline", "Server", "SingleStream", "MultiStream"]
    show = run_cli("show", "--results-dir", str(tmp_path))
    assert show.returncode == 0 and show.stdout.strip() == f"no runs under {tmp_path}"
    assert "print the latest results as a table" in run_cli("--help").stdout
