"""`harness optimize`: a tiny real search (real LoadGen runs, real accuracy on real images)
whose best configuration replays, whose gate-failing trials are never best, and whose study
resumes; the selection rule on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.run.records import OptimizeTrials
from harness.workflows import optimize

from conftest import manifest, run_cli, run_dirs

MODEL = "mobilenet_v2_quant"


def _rec(number, score, gate=None, state="COMPLETE", violation=0.0):
    return {"number": number, "state": state, "params": {}, "score": score, "accuracy": 80.0,
            "gate": gate, "gate_ratio": None, "gate_violation": violation}


def test_a_trial_failing_the_gate_is_never_best():
    trials = [_rec(0, 100.0), _rec(1, 500.0, gate="FAIL", violation=0.2),
              _rec(2, 120.0, gate="PASS"), _rec(3, 900.0, state="FAIL"),
              _rec(4, 999.0, state="SKIPPED"), _rec(5, 130.0, state="PRUNED")]
    best = optimize.select_best(trials, "Offline")
    assert best["number"] == 2
    # latency: the lowest wins, still never a failing one
    lat = [_rec(0, 9.0), _rec(1, 3.0, gate="FAIL", violation=0.1), _rec(2, 7.0)]
    assert optimize.select_best(lat, "SingleStream")["number"] == 2
    assert optimize.select_best([_rec(0, 5.0, gate="FAIL", violation=0.5)], "Offline") is None
    # trials to reach the best count measured trials only
    assert optimize.trials_to_best(trials, "Offline") == 3
    assert optimize.speedup("SingleStream", 5.0, 10.0) == 2.0
    assert optimize.speedup("Offline", 150.0, 100.0) == 1.5
    front = optimize.pareto_front([(100, 80.0), (120, 79.0), (90, 81.0), (95, 79.5)], False)
    assert front == [(90, 81.0), (100, 80.0), (120, 79.0)]


def test_models_of_another_family_are_refused():
    optimize.family_check(["resnet50", "bnas_a", "bnas_c"])  # BootstrapNAS: resnet50's family
    with pytest.raises(optimize.HarnessError, match="not one family"):
        optimize.family_check(["resnet50", "mobilenet_v2_quant"])


@pytest.fixture(scope="module")
def search(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """A tiny search with real accuracy: fp32 (the trained uint8 TFLite as given) and NNCF
    int8, whose FP32 reference is made to look far better (99.9%) so int8 fails the gate."""
    root = tmp_path_factory.mktemp("optimize")
    results = root / "results"
    common = ["--results-dir", str(results), "--system", "box"]
    # the FP32 reference on these 48 images, then a copy that claims 99.9%: found first
    proc = run_cli("run", "--model", MODEL, "--mode", "accuracy", "--dataset",
                   str(imagenet_sample), "--count", "48", *common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (ref,) = run_dirs(results)
    fake = ref.parent / "99990101T000000Z"
    shutil.copytree(ref, fake)
    m = json.loads((fake / "run.json").read_text())
    m["accuracy"]["value"] = 99.9
    m["started"] = "9999-01-01T00:00:00+00:00"
    m["run_dir"] = str(fake)
    (fake / "run.json").write_text(json.dumps(m))
    args = ["optimize", "--models", MODEL, "--trials", "3", "--duration-ms", "800",
            "--dataset", str(imagenet_sample), "--count", "48", "--calibration-count", "8",
            "--precisions", "fp32", "int8", "--streams", "auto", "2", "--threads", "auto", "2",
            "--nireq-per-stream", "1", "2", "--hints", "THROUGHPUT", "--batches", "1",
            "--baseline-rounds", "1", "--study", "tiny", *common]
    proc = run_cli(*args, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = [p for p in (results / "box" / "optimize").iterdir() if p.is_dir()]
    return {"root": root, "results": results, "out": out, "proc": proc, "args": args}


def test_search_writes_its_files_and_prints_the_ratio(search):
    out, proc = search["out"], search["proc"]
    for name in ("trials.json", "trials.csv", "best_Offline.json", "best_Offline.user.conf",
                 "pareto.png", "report.md", "search.json"):
        assert (out / name).is_file(), name
    assert (search["results"] / "box" / "optimize" / "tiny.journal").is_file()
    assert "best / default THROUGHPUT hint:" in proc.stdout
    trials = OptimizeTrials.read(out / "trials.json").trials
    measured = [t for t in trials if t["state"] != "SKIPPED"]
    assert len(measured) == 3
    for t in measured:
        assert t["state"] == "COMPLETE", t
        assert t["config"]["backend"]["precision"] in ("fp32", "int8")
        assert Path(t["facts"]["run_dir"], "mlperf_log_detail.txt").is_file()
        # the trial's score is its run's samples/s, read from LoadGen's own summary
        summary = Path(t["facts"]["run_dir"], "mlperf_log_summary.txt").read_text()
        sps = float(summary.split("Samples per second:")[1].split()[0])
        assert t["score"] == pytest.approx(sps, rel=1e-6)
    report = (out / "report.md").read_text()
    assert "| default |" in report and "| best |" in report
    # the search starts from the baseline it has to beat: its first trial runs exactly the
    # default THROUGHPUT hint's backend (streams, threads and requests left to OpenVINO)
    default = json.loads((out / "search.json").read_text())["side_by_side"]["configs"]["default"]
    assert trials[0]["params"]["streams"] == "auto"
    assert trials[0]["config"]["backend"] == default["backend"]  # fp32: the best, see below
    assert default["backend"]["streams"] is None and default["backend"]["nireq"] is None
    # auto streams with another requests-per-stream value would repeat a run: skipped
    for t in trials:
        if t["params"]["streams"] == "auto" and t["params"]["nireq_per_stream"] != 2:
            assert t["state"] == "SKIPPED", t


def test_space_values_are_checked():
    assert optimize._ints("--streams", ["auto", "3"], auto=True) == ["auto", 3]
    for bad in (["0"], ["x"], ["auto"]):
        with pytest.raises(optimize.HarnessError, match="--threads: .* not a positive"):
            optimize._ints("--threads", bad, auto=False)


def test_gate_failing_int8_is_never_best(search):
    info = json.loads((search["out"] / "search.json").read_text())
    acc = info["accuracy"]
    assert acc[f"accuracy:{MODEL}:int8"]["gate"] == "FAIL"  # against the 99.9% reference
    assert acc[f"accuracy:{MODEL}:fp32"]["value"] > 80.0     # the trained model, measured
    assert info["best"]["params"]["precision"] == "fp32"
    trials = OptimizeTrials.read(search["out"] / "trials.json").trials
    for t in trials:
        if t["params"].get("precision") == "int8" and t["state"] == "COMPLETE":
            assert t["gate"] == "FAIL" and t["gate_violation"] > 0


def test_best_config_replays(search, tmp_path):
    best = search["out"] / "best_Offline.json"
    proc = run_cli("run", "--config", str(best), "--results-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (d,) = run_dirs(tmp_path)
    m = manifest(d)
    cfg = json.loads(best.read_text())
    assert m["config"]["backend"] == cfg["backend"]
    assert m["config"]["model"]["name"] == MODEL and m["status"] == "complete"


def test_an_interrupted_study_resumes(search):
    args = list(search["args"])
    args[args.index("--trials") + 1] = "4"  # one more than before
    proc = run_cli(*args, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "resuming study tiny (3 trials done)" in proc.stdout
    newest = max(p for p in (search["results"] / "box" / "optimize").iterdir() if p.is_dir())
    trials = OptimizeTrials.read(newest / "trials.json").trials
    assert len([t for t in trials if t["state"] != "SKIPPED"]) == 4


def test_a_model_that_cannot_batch_costs_one_failed_trial(tmp_path, mobilenet_tflite):
    """The MobileNetV2 TFLite fixes its batch inside: the first batch > 1 trial fails with the
    backend's own message, and the other batch > 1 points are skipped, not run."""
    proc = run_cli("optimize", "--models", MODEL, "--trials", "3", "--duration-ms", "500",
                   "--precisions", "fp32", "--streams", "auto", "--threads", "auto",
                   "--nireq-per-stream", "2", "--hints", "THROUGHPUT", "--batches", "1", "2",
                   "4", "--sampler", "grid", "--baseline-rounds", "0",
                   "--results-dir", str(tmp_path), "--system", "box", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = [p for p in (tmp_path / "box" / "optimize").iterdir() if p.is_dir()]
    trials = {t["params"]["batch"]: t for t in OptimizeTrials.read(out / "trials.json").trials}
    assert trials[1]["state"] == "COMPLETE"
    states = sorted((trials[2]["state"], trials[4]["state"]))
    assert states == ["FAIL", "SKIPPED"], trials
    failed = trials[2] if trials[2]["state"] == "FAIL" else trials[4]
    skipped = trials[4] if failed is trials[2] else trials[2]
    assert "fixes its batch size inside" in failed["error"]
    assert skipped["skipped"].startswith("the model fixes its batch size inside")


def test_a_point_measured_before_is_not_run_again():
    import optuna

    study = optuna.create_study()
    point = {"streams": "auto", "batch": 1}
    study.enqueue_trial(point)
    study.enqueue_trial(point)
    study.enqueue_trial({"streams": 2, "batch": 1})
    seen = []

    def objective(trial):
        params = {"streams": trial.suggest_categorical("streams", ["auto", 2]),
                  "batch": trial.suggest_categorical("batch", [1])}
        seen.append(optimize.measured_before(study, trial, params))
        return 1.0

    study.optimize(objective, n_trials=3)
    assert seen == [None, "same point as trial 0", None]


def test_a_best_that_is_the_default_is_not_measured_against_itself(tmp_path, mobilenet_tflite):
    """A space of one point, the default hint's: the side by side does not divide two noisy
    measurements of that one configuration (a Server search once printed 1.59x that way)."""
    proc = run_cli("optimize", "--models", MODEL, "--trials", "1", "--duration-ms", "500",
                   "--precisions", "fp32", "--streams", "auto", "--threads", "auto",
                   "--nireq-per-stream", "2", "--hints", "THROUGHPUT", "--batches", "1",
                   "--baseline-rounds", "2", "--results-dir", str(tmp_path), "--system", "box",
                   timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "best / default THROUGHPUT hint: 1.00x (the best configuration is the default " \
        "hint's" in proc.stdout
    (out,) = [p for p in (tmp_path / "box" / "optimize").iterdir() if p.is_dir()]
    side = json.loads((out / "search.json").read_text())["side_by_side"]
    assert side["same_as_best"] == ["default"]
    assert len(side["samples"]["best"]) == 2 and side["samples"]["default"] == []
    assert side["means"]["default"] == side["means"]["best"]
    assert "| default | the best configuration itself" in (out / "report.md").read_text()


def test_a_server_search_with_no_valid_target_names_no_best(tmp_path, mobilenet_tflite):
    """A 1 ms bound no run can meet: the trial is complete with no score (Optuna is told 0),
    nothing is best, no best_Server.json is written, and the command exits 1 saying why."""
    conf = tmp_path / "strict.conf"
    conf.write_text("*.Server.target_latency = 1\n")
    proc = run_cli("optimize", "--models", MODEL, "--scenario", "Server", "--trials", "1",
                   "--duration-ms", "500", "--precisions", "fp32", "--streams", "auto",
                   "--threads", "auto", "--nireq-per-stream", "2", "--hints", "THROUGHPUT",
                   "--batches", "1", "--user-conf", str(conf), "--results-dir",
                   str(tmp_path / "results"), "--system", "box", timeout=900)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "No trial reached a VALID Server target at the latency bound" in proc.stdout
    (out,) = [p for p in (tmp_path / "results" / "box" / "optimize").iterdir() if p.is_dir()]
    (trial,) = OptimizeTrials.read(out / "trials.json").trials
    assert trial["state"] == "COMPLETE" and trial["score"] is None
    assert "no Server target was VALID" in trial["no_valid_target"]
    assert not (out / "best_Server.json").exists()
    assert "| no VALID target |" in (out / "report.md").read_text()
