"""harness report / harness sweep on real runs: the table's numbers equal the LoadGen logs.

Real short LoadGen runs (MobileNetV2, the trained model in ../shared) made by `harness sweep`
in subprocesses; the official-layout trees are built from those runs' real logs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from conftest import manifest, run_cli, run_dirs
from harness.reports import collect, markdown, plots

MODEL = "mobilenet_v2_quant"


def _mllog(path: Path) -> dict:
    """Independent reading of a detail log: the JSON after ':::MLLOG ' on each line."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            out[entry["key"]] = entry["value"]
    return out


def _summary_value(path: Path, key: str) -> float:
    """The number on a summary log's ``key : value`` line."""
    for line in path.read_text().splitlines():
        if line.split(":")[0].strip() == key:
            return float(line.split(":", 1)[1])
    raise KeyError(key)


@pytest.fixture(scope="module")
def results(tmp_path_factory, mobilenet_tflite, imagenet_sample) -> Path:
    """Real runs: Offline + SingleStream + Server pinned to CPU 0, and a short accuracy run."""
    root = tmp_path_factory.mktemp("report-results")
    common = ["--model", MODEL, "--duration-ms", "1000", "--results-dir", str(root)]
    proc = run_cli("sweep", *common, "--scenario", "Offline", "SingleStream", "--streams", "1",
                   "--cores", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Server loads from this machine: 10% and 40% of the pinned one-stream Offline rate
    (offline,) = [d for d in run_dirs(root) if "/Offline/" in str(d)]
    rate = _summary_value(offline / "mlperf_log_summary.txt", "Samples per second")
    targets = f"{0.1 * rate:.2f},{0.4 * rate:.2f}"
    proc = run_cli("sweep", *common, "--scenario", "Server", "--target-qps", targets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli("run", "--model", MODEL, "--mode", "accuracy", "--dataset",
                   str(imagenet_sample), "--count", "50", "--results-dir", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def _check_row_against_logs(row, run_dir: Path) -> None:
    log = _mllog(run_dir / "mlperf_log_detail.txt")
    assert row["log_status"] == "ok"
    assert row["validity"] == log["result_validity"]
    for col, key in (("p50_ms", "result_50.00_percentile_latency_ns"),
                     ("p90_ms", "result_90.00_percentile_latency_ns"),
                     ("p99_ms", "result_99.00_percentile_latency_ns"),
                     ("max_ms", "result_max_latency_ns")):
        assert row[col] == pytest.approx(log[key] / 1e6, rel=1e-12)
    summary = run_dir / "mlperf_log_summary.txt"
    assert row["p90_ms"] == pytest.approx(_summary_value(summary, "90.00 percentile latency (ns)")
                                          / 1e6, rel=1e-12)
    scenario = log["effective_scenario"]
    expected = {"Offline": "result_samples_per_second",
                "Server": "result_scheduled_samples_per_sec",
                "SingleStream": "result_qps_with_loadgen_overhead"}[scenario]
    assert row["throughput"] == pytest.approx(log[expected], rel=1e-12)


def test_table_numbers_equal_our_logs(results):
    df = collect.collect([results])
    perf = df[df["mode"] == "performance"]
    assert set(perf["scenario"]) == {"Offline", "SingleStream", "Server"}
    assert len(perf) == 4
    for _, row in perf.iterrows():
        _check_row_against_logs(row, Path(row["run_dir"]))
    acc = df[df["mode"] == "accuracy"].iloc[0]
    text = (Path(acc["run_dir"]) / "accuracy.txt").read_text()
    assert f"accuracy={acc['accuracy']:.3f}%" in text
    assert acc["accuracy"] == pytest.approx(manifest(Path(acc["run_dir"]))["accuracy"]["value"],
                                            abs=5e-4)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_sweep_pins_cores_and_config_is_identity(results):
    df = collect.collect([results])
    pinned = df[df["scenario"].isin(["Offline", "SingleStream"]) & (df["mode"] == "performance")]
    for _, row in pinned.iterrows():
        assert manifest(Path(row["run_dir"]))["config"]["launcher"]["cores"] == "0"
        assert row["config"] == "streams=1 cores=0"
    summ = collect.summary(df)
    # The pinned runs and the unpinned Server runs are two configurations of one model.
    assert set(summ.loc[summ["model"] == MODEL, "config"]) == {"streams=1 cores=0", "default"}


def _submission_tree(root: Path, run: Path, acc_run: Path, system: str, model: str,
                     v20: bool) -> Path:
    """A submission tree in the official layout from a real run's LoadGen logs."""
    org = root / "open" / "TestOrg"
    scen = json.loads((run / "run.json").read_text())["config"]["scenario"]["name"]
    scen_dir = org / "results" / system / model / scen
    perf = scen_dir / "performance" / "run_1"
    perf.mkdir(parents=True)
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        shutil.copy(run / name, perf / name)
    (scen_dir / "accuracy").mkdir()
    shutil.copy(acc_run / "accuracy.txt", scen_dir / "accuracy" / "accuracy.txt")
    (org / "systems").mkdir(exist_ok=True)
    (org / "systems" / f"{system}.json").write_text(json.dumps({
        "division": "open", "submitter": "TestOrg", "status": "available",
        "system_name": system, "host_processor_model_name": "Test CPU",
        "framework": "OpenVINO"}))
    meas = {"input_data_types": "uint8", "retraining": "No",
            "starting_weights_filename": "mobilenet_v2_1.0_224_quant.tflite",
            "weight_data_types": "INT8", "weight_transformations": "none"}
    if v20:
        mdir = org / "measurements" / system / model / scen
        mdir.mkdir(parents=True)
        (mdir / f"{system}_{scen}.json").write_text(json.dumps(meas))
    else:
        (scen_dir / "measurements.json").write_text(json.dumps(meas))
    return perf


def test_official_layouts_current_and_v20(results, tmp_path):
    runs = {manifest(d)["config"]["scenario"]["name"]: d for d in run_dirs(results)
            if manifest(d)["config"]["mode"]["name"] == "performance"}
    acc_run = next(d for d in run_dirs(results) if manifest(d)["config"]["mode"]["name"] == "accuracy")
    cur = _submission_tree(tmp_path / "cur", runs["Offline"], acc_run, "sysA", "mnv2", False)
    old = _submission_tree(tmp_path / "old", runs["SingleStream"], acc_run, "sysB", "mnv2",
                           True)
    df = collect.collect([tmp_path / "cur", tmp_path / "old"])
    assert len(df) == 2 and set(df["source"]) == {"submission"}
    by_sys = df.set_index("system")
    assert by_sys.loc["sysA", "layout"] == "submission"
    assert by_sys.loc["sysB", "layout"] == "submission v2.0"
    for system, perf in (("sysA", cur), ("sysB", old)):
        row = by_sys.loc[system]
        assert row["precision"] == "int8" and row["backend"] == "openvino"
        assert row["cpu_model"] == "Test CPU"
        _check_row_against_logs(row, perf)
        acc_text = (acc_run / "accuracy.txt").read_text()
        assert f"accuracy={row['accuracy']:.3f}%" in acc_text
    # A published v2.0 Offline run may hold only the summary: numbers come from it.
    (old / "mlperf_log_detail.txt").unlink()
    row = collect.collect([tmp_path / "old"]).iloc[0]
    assert row["log_status"] == "summary only"
    assert row["p90_ms"] == pytest.approx(_summary_value(old / "mlperf_log_summary.txt",
                                                      "90.00 percentile latency (ns)") / 1e6)


def test_missing_and_truncated_logs_are_reported(results, tmp_path):
    src = next(d for d in run_dirs(results) if manifest(d)["config"]["scenario"]["name"] == "Offline"
               and manifest(d)["config"]["mode"]["name"] == "performance")
    root = tmp_path / "broken"
    missing = root / "missing" / "run"
    truncated = root / "truncated" / "run"
    shutil.copytree(src, missing)
    shutil.copytree(src, truncated)
    (missing / "mlperf_log_detail.txt").unlink()
    (missing / "mlperf_log_summary.txt").unlink()
    text = (truncated / "mlperf_log_detail.txt").read_text()
    (truncated / "mlperf_log_detail.txt").write_text(text[: len(text) // 2])
    df = collect.collect([root])
    status = dict(zip(df["run_dir"], df["log_status"]))
    assert status[str(missing)] == "missing"
    assert status[str(truncated)] == "truncated"
    assert df["p90_ms"].isna().all()
    assert set(collect.problems(df)["run_dir"]) == {str(missing), str(truncated)}
    # The CLI reports them (exit 0), the report lists them.
    out = tmp_path / "report"
    proc = run_cli("report", str(root), str(results), "--out", str(out), "--formats", "png")
    assert proc.returncode == 0, proc.stderr
    assert "missing" in proc.stdout and "truncated" in proc.stdout
    report = (out / "report.md").read_text()
    assert str(missing) in report and str(truncated) in report


def test_report_has_plots_from_real_runs(results, tmp_path):
    out = tmp_path / "report"
    path = markdown.write_report([results], out, baseline=f"{MODEL}:uint8:openvino",
                                 formats=("png", "svg"))
    text = path.read_text()
    # Without INT8 runs, plot 3 says what is missing; the five others are drawn.
    for name in ("1_relative_throughput", "2_accuracy_latency", "4_latency_distribution",
                 "5_configurations", "6_server_peak_search"):
        image = mpimg.imread(out / f"{name}.png")
        assert image.shape[0] > 200 and image.shape[1] > 300
        assert (out / f"{name}.svg").stat().st_size > 1000
        assert f"({name}.png)" in text
    assert "needs a model run at both fp32 and int8" in text
    runs = collect.collect([results])
    csv = __import__("pandas").read_csv(out / "runs.csv")
    assert csv["p99_ms"].sum() == pytest.approx(runs["p99_ms"].sum())


def test_peak_search_file_is_plotted(results, tmp_path):
    df = collect.collect([results])
    server = df[df["scenario"] == "Server"].sort_values("target_qps")
    points = [{"target_qps": r["target_qps"], "p99_ms": r["p99_ms"],
               "valid": r["validity"] == "VALID", "latency_bound_ms": r["latency_bound_ms"]}
              for _, r in server.iterrows()]
    (tmp_path / "peak_search.json").write_text(json.dumps(points))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "peak_search.json").write_text("{not json")
    searches = plots.read_peak_files([tmp_path])
    assert [bool(s.get("error")) for s in searches] == [False, True]
    plot = plots.plot_server_search(searches)
    line = plot.figure.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == list(server["target_qps"])
    assert list(line.get_ydata()) == pytest.approx(list(server["p99_ms"]))
    bounds = [ln.get_ydata()[0] for ln in plot.figure.axes[0].get_lines()[1:]]
    assert server["latency_bound_ms"].iloc[0] in bounds
