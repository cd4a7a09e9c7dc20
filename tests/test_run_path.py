"""The run path: one typed config in, one versioned report out, launchers start runs.

Real runs (MobileNetV2 on real images, real LoadGen, real OpenVINO) check that a run's
``run.json`` replays to the same identity in- and out-of-process, that LoadGen never reads
an audit.config it was not given, and that the submission workflow (``make submission``)
leaves Server out when find-peak finds no VALID target.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.launchers import ProcessLauncher
from harness.run import config as run_config
from harness.run import report as report_mod
from harness.run.config import (DataConfig, ExecutionConfig, LauncherConfig, ModeConfig,
                                ModelConfig, OpenVINOConfig, PyTorchConfig, RunConfig,
                                ScenarioConfig)

from conftest import ROOT, manifest, run_cli, run_dirs

MODEL = ["--model", "mobilenet_v2_quant"]


# --- the config --------------------------------------------------------------------------

CONFIGS = [
    RunConfig(),
    RunConfig(model=ModelConfig(name="bnas_a", weights="random"),
              backend=OpenVINOConfig(precision="int8", streams=2, threads=1, nireq=4,
                                     hint="latency"),
              scenario=ScenarioConfig(name="server", target_qps=12.5),
              execution=ExecutionConfig(duration_ms=1500, results_dir="/tmp/r", system="box"),
              launcher=LauncherConfig(name="process", cores="0-1")),
    RunConfig(model=ModelConfig(name="resnet50", weights="random"),
              data=DataConfig(dataset="/data", count=8),
              backend=PyTorchConfig(threads=1), mode=ModeConfig(name="accuracy",
                                                               allow_random_accuracy=True)),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["defaults", "int8-server", "pytorch-accuracy"])
def test_config_round_trips_through_json_exactly(cfg):
    again = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    # the command-line options rebuild it too
    assert run_config.from_arguments(_parse(run_config.to_arguments(cfg))) == cfg


def _parse(argv: list[str]):
    import argparse

    p = argparse.ArgumentParser()
    run_config.add_arguments(p)
    return p.parse_args(argv)


def test_config_normalises_and_validates_in_one_place():
    cfg = CONFIGS[1]
    assert cfg.scenario.name == "Server" and cfg.backend.hint == "LATENCY"
    for bad, message in (
            (lambda: OpenVINOConfig(streams=0), "--streams: 0 must be at least 1"),
            (lambda: OpenVINOConfig(threads=-2), "--threads: -2 must be at least 1"),
            (lambda: OpenVINOConfig(nireq=0), "--nireq"),
            (lambda: OpenVINOConfig(precision="fp16"), "unknown precision 'fp16'"),
            (lambda: ScenarioConfig(target_qps=-50), "--target-qps: -50"),
            (lambda: ScenarioConfig(name="Batch"), "unknown scenario 'Batch'"),
            (lambda: DataConfig(count=0), "--count: 0 must be at least 1"),
            (lambda: ExecutionConfig(duration_ms=-1000), "--duration-ms: -1000"),
            (lambda: ExecutionConfig(kind="valid", duration_ms=100), "test mode only"),
            (lambda: LauncherConfig(cores="0,x"), "bad CPU list"),
            (lambda: LauncherConfig(name="slurm"), "unknown launcher 'slurm'"),
            (lambda: OpenVINOConfig(quantization=OpenVINOConfig().quantization.__class__(
                calibration_count=5)), "apply to PRECISION=int8 only"),
            (lambda: PyTorchConfig(precision="int8"), "eager FP32 only"),
            (lambda: RunConfig(mode=ModeConfig(name="accuracy")), "needs a real dataset")):
        with pytest.raises(HarnessError, match=message):
            bad()
    with pytest.raises(HarnessError, match="unknown key.*streamz"):
        RunConfig.from_dict({"backend": {"name": "openvino", "streamz": 2}})
    with pytest.raises(HarnessError, match="is not int"):
        RunConfig.from_dict({"backend": {"name": "openvino", "streams": "2"}})
    with pytest.raises(HarnessError, match="--streams is an option of the openvino backend"):
        run_config.from_arguments({"--backend": "pytorch", "--streams": 2})


@pytest.mark.parametrize("args,message", [
    (["--streams", "0"], "--streams: 0 must be at least 1"),
    (["--streams", "-2"], "--streams: -2"),
    (["--target-qps", "-50"], "--target-qps: -50"),
    (["--count", "0"], "--count: 0"),
    (["--count", "-5"], "--count: -5"),
    (["--duration-ms", "-1000"], "--duration-ms: -1000"),
    (["--cores", "0,99"], "--cores 0,99: CPU(s) 99 are not available here"),
    (["--backend", "pytorch", "--streams", "2"], "option of the openvino backend"),
])
def test_bad_run_options_get_one_error_line(tmp_path, args, message):
    proc = run_cli("run", *MODEL, *args, "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert proc.stderr.strip().startswith("error:")
    assert not (tmp_path / "r").exists() or not run_dirs(tmp_path / "r")


# --- the report --------------------------------------------------------------------------

def test_report_refuses_unknown_versions_and_non_reports(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    rep = report_mod.RunReport(config=RunConfig(), run_dir=str(d))
    rep.write()
    assert report_mod.read(d) == rep
    assert oct((d / "run.json").stat().st_mode & 0o777) == "0o644"
    for content, message in (({**rep.to_dict(), "schema_version": 99}, "schema_version 99"),
                             ({k: v for k, v in rep.to_dict().items()
                               if k != "schema_version"}, "no schema_version"),
                             ([], "not a run report"),
                             ({**rep.to_dict(), "status": 3}, "field status is int")):
        (d / "run.json").write_text(json.dumps(content))
        with pytest.raises(report_mod.UnreadableReport, match=message):
            report_mod.read(d)
    (d / "run.json").write_bytes(b"\x00\xff\xfe binary")
    with pytest.raises(report_mod.UnreadableReport):
        report_mod.read(d)


# --- real runs: replay, launchers, the audit config ---------------------------------------

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """The same config run inline (harness run) and through the process launcher."""
    root = tmp_path_factory.mktemp("runpath")
    common = [*MODEL, "--dataset", str(imagenet_sample), "--count", "64", "--scenario",
              "SingleStream", "--duration-ms", "800", "--results-dir", str(root / "a")]
    out = {}
    for launcher in ("inline", "process"):
        proc = run_cli("run", *common, "--launcher", launcher)
        assert proc.returncode == 0, proc.stderr[-2000:]
        (d,) = [d for d in run_dirs(root / "a")
                if manifest(d)["config"]["launcher"]["name"] == launcher]
        out[launcher] = d
    return root, out


def test_inline_and_process_runs_give_the_same_report_fields(two_runs):
    _, runs = two_runs
    a, b = (report_mod.read(runs[k]) for k in ("inline", "process"))
    assert a.to_dict().keys() == b.to_dict().keys()
    for rep in (a, b):
        assert rep.complete and rep.result.validity == "VALID"
        assert rep.result.score == rep.result.early_stopping_latency_ms > 0
        assert rep.backend["settings"]["hint"] == "LATENCY"
    # the child recorded the command that asked for the run, not its own argv
    assert b.command[1:3] == ["run", "--model"]
    assert a.config.launcher.name == "inline" and b.config.launcher.name == "process"


@pytest.mark.parametrize("launcher", ["inline", "process"])
def test_run_json_replays_the_same_identity(two_runs, launcher):
    root, runs = two_runs
    earlier = report_mod.read(runs[launcher])
    proc = run_cli("run", "--config", str(runs[launcher] / "run.json"),
                   "--results-dir", str(root / f"replay-{launcher}"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (d,) = run_dirs(root / f"replay-{launcher}")
    again = report_mod.read(d)
    assert again.config == earlier.config.__class__.from_dict(
        {**earlier.config.to_dict(),
         "execution": {**earlier.config.to_dict()["execution"],
                       "results_dir": str(root / f"replay-{launcher}")}})
    assert d.parts[-5:-1] == runs[launcher].parts[-5:-1]  # model/precision/scenario/mode
    assert again.backend["settings"] == earlier.backend["settings"]
    assert again.dataset == earlier.dataset


def test_a_stray_audit_config_in_the_working_directory_is_never_read(tmp_path,
                                                                     mobilenet_tflite):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "scenarios" / "compliance" / "TEST04" / "audit.config", work)
    proc = run_cli("run", *MODEL, "--count", "64", "--duration-ms", "500",
                   "--results-dir", str(tmp_path / "r"), cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (d,) = run_dirs(tmp_path / "r")
    detail = (d / "mlperf_log_detail.txt").read_text()
    assert "Found Audit Config" not in detail
    assert '"effective_performance_issue_same", "value": false' in detail
    assert manifest(d)["audit_config"] is None


def test_process_launcher_reports_bad_input_without_a_run(tmp_path):
    cfg = RunConfig(model=ModelConfig(name="resnet5000"),
                    execution=ExecutionConfig(results_dir=str(tmp_path)))
    with pytest.raises(HarnessError, match="unknown model 'resnet5000'"):
        ProcessLauncher(capture=True).launch(cfg)
    assert not run_dirs(tmp_path)


def test_loadgen_settings_are_made_once_per_process(tmp_path):
    from harness.scenarios import settings

    conf = tmp_path / "user.conf"
    conf.write_text("*.Offline.min_duration = 100\n")
    code = ("import sys\nfrom harness.scenarios import settings\n"
            f"settings.test_settings({str(conf)!r}, 'resnet50', 'Offline', False)\n"
            "try:\n"
            f"    settings.test_settings({str(conf)!r}, 'resnet50', 'Offline', False)\n"
            "except Exception as e:\n    print(e)\n")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert "only on the first FromConfig of a process" in out.stdout, out.stderr
    assert settings.LOADGEN_SCENARIOS  # the module is importable without side effects


# --- the submission workflow (make submission) --------------------------------------------

def test_prepare_submission_leaves_out_server_when_no_target_is_valid(tmp_path,
                                                                      imagenet_sample,
                                                                      mobilenet_tflite):
    """The whole workflow with short runs: a 1 ms Server bound no CPU meets, so find-peak
    exits with "no VALID target" and Server is left out of the runs and the tree; Offline
    gets its performance and accuracy runs, TEST01 and TEST04, the tree and its check."""
    conf = tmp_path / "tight.conf"
    conf.write_text("*.Server.target_latency = 1\n")
    out = tmp_path / "tree"
    proc = run_cli("prepare-submission", "--models", "mobilenet_v2_quant",
                   "--scenarios", "Offline", "Server", "--execution", "test",
                   "--duration-ms", "1000", "--user-conf", str(conf),
                   "--accuracy-dataset", str(imagenet_sample), "--count", "32",
                   "--compliance-ms", "1000", "--peak-steps", "1",
                   "--peak-offline-duration-ms", "1000", "--peak-min-queries", "20",
                   "--peak-duration-ms", "500", "--results-dir", str(tmp_path / "results"),
                   "--tree-system", "box", "--submitter", "ORG", "-o", str(out),
                   "--min-duration-s", "1", timeout=1500)
    text = proc.stdout + proc.stderr
    assert "NOTE: find-peak found no VALID Server target for mobilenet_v2_quant" in text
    assert "the tree leaves out Server" in text
    assert "took" in text
    # no Server run was made after the search
    assert not [d for d in run_dirs(tmp_path / "results")
                if "peak_search" not in str(d) and "/Server/" in str(d)]
    scen = out / "open" / "ORG" / "results" / "box" / "mobilenet_v2_quant"
    assert sorted(p.name for p in scen.iterdir()) == ["Offline"]
    for test in ("TEST01", "TEST04"):
        assert (scen / "Offline" / test / "verify_performance.txt").is_file(), text[-3000:]
    assert (scen / "Offline" / "TEST01" / "verify_accuracy.txt").is_file()
    # the check ran: only the dataset size is left (the sample is not the 50,000 images)
    assert "does not cover all dataset" in text
    assert proc.returncode == 1, text[-3000:]
