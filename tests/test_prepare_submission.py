"""`harness prepare-submission` (what `make submission` runs): the system type decides the
scenarios, the output says what the tree leaves out and why, and one short end-to-end run
goes from runs to a checked tree with its compliance folders."""

from __future__ import annotations

import re
from conftest import run_cli


def _prepare(*args: str, timeout: float = 600):
    return run_cli("prepare-submission", "--models", "mobilenet_v2_quant", *args,
                   timeout=timeout)


def test_system_types_without_resnet_scenarios_are_refused(imagenet_sample, tmp_path):
    # round v6.1: ResNet-50 is an edge benchmark; the datacenter table has no entry for it
    proc = _prepare("--system-type", "datacenter", "--accuracy-dataset", str(imagenet_sample),
                    "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --system-type datacenter: round v6.1 requires no scenario of 'resnet' "
        "(mobilenet_v2_quant) on datacenter systems (constants.py required-scenarios "
        "tables); use --system-type edge or datacenter,edge, or name the scenarios with "
        "--scenarios"]
    proc = _prepare("--system-type", "cloud", "--accuracy-dataset", str(imagenet_sample),
                    "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and proc.stderr.startswith(
        "error: --system-type: unknown 'cloud'; valid: edge, datacenter, datacenter,edge")
    assert not (tmp_path / "r").exists()


def test_offline_only_end_to_end(imagenet_sample, mobilenet_tflite, tmp_path):
    """Offline only on an edge system: one performance run, one accuracy run, TEST01 and
    TEST04, the tree and its check; the output names the required scenarios left out."""
    out = tmp_path / "sub"
    proc = _prepare("--scenarios", "Offline", "--execution", "test", "--duration-ms", "1500",
                    "--min-duration-s", "1", "--compliance-ms", "1500", "--count", "64",
                    "--accuracy-dataset", str(imagenet_sample),
                    "--results-dir", str(tmp_path / "r"), "-o", str(out), timeout=900)
    log = proc.stdout + proc.stderr
    for scenario in ("SingleStream", "MultiStream"):
        assert (f"NOTE: the tree leaves out {scenario} for mobilenet_v2_quant (not asked for "
                f"with --scenarios); system type edge requires it, the open division accepts "
                f"a subset") in log, log[-3000:]
    # progress: a line as each run starts and its outcome as it ends
    assert "-- mobilenet_v2_quant Offline performance (test mode) ..." in log, log[-3000:]
    assert re.search(r"^   VALID, samples/s = [0-9.]+ in \d+ s: \S+/Offline/performance/",
                     log, re.M), log[-3000:]
    assert re.search(r"^   accuracy top1 = [0-9.]+% in \d+ s: \S+/Offline/accuracy/", log,
                     re.M), log[-3000:]
    assert re.search(r"^TEST01 mobilenet_v2_quant Offline: (PASS|FAIL)$", log, re.M), log[-3000:]
    assert re.search(r"^TEST04 mobilenet_v2_quant Offline: (PASS|FAIL)$", log, re.M)
    # the check's only error: 64 images are not the 50,000-image validation set
    errors = re.findall(r"^ERROR (.+)$", log, re.M)
    assert len(errors) == 1 and "accuracy run does not cover all dataset, accuracy " \
                                "samples: 64, dataset size: 50000" in errors[0], errors
    assert proc.returncode == 1
    model = out / "open" / "MyOrg" / "results"
    scenario_dirs = sorted(p.relative_to(model) for p in model.glob("*/*/*") if p.is_dir())
    assert [p.parts[1:] for p in scenario_dirs] == [("mobilenet_v2_quant", "Offline")]
    d = model / scenario_dirs[0]
    assert sorted(p.name for p in d.iterdir() if p.is_dir()) == [
        "TEST01", "TEST04", "accuracy", "performance"]
    assert '"system_type": "edge"' in next((out / "open" / "MyOrg" / "systems").glob(
        "*.json")).read_text()
    assert not list((tmp_path / "r").glob("**/TEST05"))  # retired: never run
