"""`harness submission` and `harness check-submission` on trees built from short real runs;
every rule the checker enforces is broken on purpose in a copy of a good tree."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from harness.submission import checker, rules

from conftest import run_cli

MODEL = ["--model", "mobilenet_v2_quant"]
SYSTEM = {"status": "available", "system_type": "edge", "cooling": "air",
          "host_storage_type": "SSD", "host_networking": "none",
          "host_network_card_count": "0", "host_memory_configuration": "unknown DIMMs"}


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    return proc


@pytest.fixture(scope="module")
def results(tmp_path_factory, imagenet_sample, mobilenet_tflite):
    """Short test-mode runs: Offline (synthetic inputs) and Server (bound relaxed to 2 s so
    the checker's 15 ms rule has something to flag), each with an accuracy run."""
    root = tmp_path_factory.mktemp("sub")
    conf = root / "relaxed.conf"
    conf.write_text("*.Server.target_latency = 2000\n")
    r = ["--results-dir", str(root / "results"), "--system", "box"]
    acc = [*MODEL, "--mode", "accuracy", "--dataset", str(imagenet_sample), "--count", "32", *r]
    # expected QPS above this CPU's: the run lasts at least its minimum duration (VALID)
    # however busy the machine is while calibrating
    _ok(run_cli("run", *MODEL, "--scenario", "Offline", "--duration-ms", "1500",
                "--target-qps", "400", *r))
    _ok(run_cli("run", *acc, "--scenario", "Offline"))
    _ok(run_cli("run", *MODEL, "--scenario", "Server", "--duration-ms", "13000",
                "--target-qps", "40", "--user-conf", str(conf), *r))
    _ok(run_cli("run", *acc, "--scenario", "Server", "--user-conf", str(conf)))
    (root / "system.json").write_text(json.dumps(SYSTEM))
    for m in (root / "results").rglob("run.json"):
        res = json.loads(m.read_text()).get("result") or {}
        if json.loads(m.read_text())["config"]["mode"]["name"] == "performance" \
                and res.get("validity") != "VALID":
            pytest.skip(f"a short run was INVALID on this busy machine: {res}")
    return root


def _build(results, out, *extra):
    return run_cli("submission", "--submitter", "ORG", "--system", "box", "--system-file",
                   str(results / "system.json"), "--results-dir", str(results / "results"),
                   "-o", str(out), *extra)


@pytest.fixture(scope="module")
def tree(results):
    out = results / "tree"
    _ok(_build(results, out, "--min-duration-s", "1"))
    return out


def _errors(out, **kw):
    return [f"{p}: {m}" for p, m in checker.check_tree(out, **kw).errors]


def test_test_mode_runs_are_refused_with_the_missing_runs_named(results, tmp_path):
    proc = _build(results, tmp_path / "t")
    assert proc.returncode == 2
    for scen in ("Offline", "Server"):
        assert re.search(f"mobilenet_v2_quant fp32 {scen} performance: only test-mode runs",
                         proc.stderr)
        assert re.search(f"harness run --model mobilenet_v2_quant --scenario {scen} --mode "
                         f"accuracy .*--execution valid", proc.stderr)
    assert "--execution valid" in proc.stderr
    assert not (tmp_path / "t").exists()


def test_dry_run_writes_nothing(results, tmp_path):
    proc = _ok(_build(results, tmp_path / "d", "--min-duration-s", "1", "--dry-run"))
    # the fixture's 32-sample accuracy log is under the checker's 10 KiB: copied as it is
    assert "would write" in proc.stdout
    assert re.search(r"accuracy/mlperf_log_accuracy.json \(copied from ", proc.stdout)
    assert "(truncated" not in proc.stdout
    assert not (tmp_path / "d").exists()


def test_tree_layout_and_contents(tree):
    sub = tree / "open" / "ORG"
    d = sub / "results" / "box" / "mobilenet_v2_quant" / "Offline"
    for f in ("README.md", "user.conf", "measurements.json", "performance/run_1/"
              "mlperf_log_detail.txt", "performance/run_1/mlperf_log_summary.txt",
              "accuracy/accuracy.txt", "accuracy/mlperf_log_accuracy.json",
              "accuracy/mlperf_log_detail.txt", "accuracy/mlperf_log_summary.txt"):
        assert (d / f).is_file(), f
    system = json.loads((sub / "systems" / "box.json").read_text())
    assert set(rules.SYSTEM_REQUIRED_FIELDS) <= set(system)
    assert system["submitter"] == "ORG" and system["cooling"] == "air"
    assert system["host_processor_core_count"].isdigit()
    assert json.loads((sub / "model_mapping.json").read_text()) == {
        "mobilenet_v2_quant": "resnet"}
    meas = json.loads((d / "measurements.json").read_text())
    assert all(meas[k] for k in rules.MEASUREMENTS_REQUIRED_FIELDS)
    readme = (d / "README.md").read_text()
    assert "harness run" in readme and "--mode accuracy" in readme and "TEST TREE" in readme
    assert "commit" in (sub / "src" / "README.md").read_text()
    assert json.loads((tree / "harness_submission.json").read_text())["min_duration_s"] == 1


def test_scenarios_subset_builds_a_tree_without_the_others(results, tmp_path):
    # open division: a system that cannot meet the Server bound submits the rest
    out = tmp_path / "offline_only"
    _ok(_build(results, out, "--min-duration-s", "1", "--scenarios", "Offline"))
    model_dir = out / "open" / "ORG" / "results" / "box" / "mobilenet_v2_quant"
    assert sorted(p.name for p in model_dir.iterdir()) == ["Offline"]
    errs = _errors(out, min_duration_s=1)
    # only the accuracy sample count is left (the sample is not the 50,000-image set)
    assert len(errs) == 1 and "does not cover all dataset" in errs[0], errs
    proc = _build(results, tmp_path / "bad", "--scenarios", "Sever")
    assert proc.returncode == 2 and "--scenarios: unknown Sever" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_existing_tree_is_never_overwritten(results, tree):
    proc = _build(results, tree, "--min-duration-s", "1")
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_checker_on_the_good_tree(tree):
    errs = _errors(tree, min_duration_s=1)
    # left: the sample is not the 50,000-image set; the Server bound was relaxed to 2 s
    assert len([e for e in errs if "does not cover all dataset" in e]) == 2
    assert any("50,000" in e for e in errs)
    assert len([e for e in errs if "Latency constraint" in e or "latency constraint" in e]) == 1
    assert len(errs) == 3, errs
    # without the test-only option: 600 s minimum and the test-tree marker
    errs = _errors(tree)
    assert len([e for e in errs if "test duration less than 600 s" in e]) == 2
    assert any("test tree built with a lowered minimum duration" in e for e in errs)
    proc = run_cli("check-submission", str(tree), "--min-duration-s", "1")
    assert proc.returncode == 1 and re.search(r"^ERROR .*accuracy/mlperf_log_detail.txt: "
                                              r"accuracy run does not cover", proc.stdout, re.M)


def _broken(tree, tmp_path, edit) -> list[str]:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    edit(copy / "open" / "ORG", copy / "open" / "ORG" / "results" / "box" /
         "mobilenet_v2_quant" / "Offline")
    base = set(_errors(tree, min_duration_s=1))
    return [e.replace(str(copy), str(tree)) for e in _errors(copy, min_duration_s=1)
            if e.replace(str(copy), str(tree)) not in base]


def _json_edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _sub(path, pattern, repl):
    text = path.read_text()
    new = re.sub(pattern, repl, text, flags=re.M)
    assert new != text, pattern
    path.write_text(new)


BREAKS = {
    "system key missing": (lambda s, d: _json_edit(s / "systems" / "box.json",
                                                    lambda j: j.pop("host_memory_capacity")),
                           "field host_memory_capacity is missing"),
    "system key empty": (lambda s, d: _json_edit(s / "systems" / "box.json",
                                                  lambda j: j.update(cooling="")),
                         "field cooling requires a meaningful response"),
    "bad status": (lambda s, d: _json_edit(s / "systems" / "box.json",
                                           lambda j: j.update(status="soon")),
                   "invalid status"),
    "wrong submitter": (lambda s, d: _json_edit(s / "systems" / "box.json",
                                                lambda j: j.update(submitter="Other")),
                        "has submitter Other, directory has ORG"),
    "no src": (lambda s, d: shutil.rmtree(s / "src"), "src directory does not exist"),
    "no mapping": (lambda s, d: (s / "model_mapping.json").write_text("{}"),
                   "model_mapping.json does not map it"),
    "measurements key": (lambda s, d: _json_edit(d / "measurements.json",
                                                 lambda j: j.update(retraining="")),
                         "field retraining is missing meaningful value"),
    "no README": (lambda s, d: (d / "README.md").unlink(), "README.md: required file"),
    "perf log missing": (lambda s, d: (d / "performance/run_1/mlperf_log_summary.txt").unlink(),
                         "mlperf_log_summary.txt: required file is missing"),
    "INVALID": (lambda s, d: _sub(d / "performance/run_1/mlperf_log_detail.txt",
                                  r'"key": "result_validity", "value": "VALID"',
                                  '"key": "result_validity", "value": "INVALID"'),
                "result is INVALID, not VALID"),
    "seed": (lambda s, d: _sub(d / "performance/run_1/mlperf_log_detail.txt",
                               r'"key": "effective_qsl_rng_seed", "value": \d+',
                               '"key": "effective_qsl_rng_seed", "value": 1'),
             "qsl_rng_seed is wrong"),
    "loadgen error": (lambda s, d: (d / "performance/run_1/mlperf_log_detail.txt").open("a")
                      .write(':::MLLOG {"key": "error_runtime", "value": "boom", "metadata": '
                             '{"is_error": true}}\n'),
                      "has loadgen errors"),
    "sample count": (lambda s, d: _sub(d / "performance/run_1/mlperf_log_detail.txt",
                                       r'"key": "effective_performance_sample_count", '
                                       r'"value": \d+',
                                       '"key": "effective_performance_sample_count", '
                                       '"value": 100'),
                     "performance_sample_count, found 100, needs to be >= 1024"),
    "duration": (lambda s, d: _sub(d / "performance/run_1/mlperf_log_detail.txt",
                                   r'"key": "effective_min_duration_ms", "value": \d+',
                                   '"key": "effective_min_duration_ms", "value": 500'),
                 "test duration less than 1 s"),
    "no hash": (lambda s, d: _sub(d / "accuracy/accuracy.txt", r"^hash=.*$", ""),
                "no hash value"),
    "accuracy pattern": (lambda s, d: _sub(d / "accuracy/accuracy.txt", r"^accuracy=",
                                           "top1="),
                         "no acc line"),
    "not truncated": (lambda s, d: (d / "accuracy/mlperf_log_accuracy.json")
                      .write_text("[" + " " * 20000 + "]"), "is not truncated"),
    "scenario folder": (lambda s, d: shutil.move(d, d.parent / "Offline2"),
                        "unknown scenario folder"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_checker_flags_each_broken_rule(tree, tmp_path, name):
    edit, expected = BREAKS[name]
    new = _broken(tree, tmp_path, edit)
    assert any(expected in e for e in new), (name, new)


def test_truncation_keeps_head_and_tail(tmp_path):
    from harness.submission.truncate import sha256_file, truncate_accuracy_log

    src = tmp_path / "a.json"
    src.write_bytes(b"[" + b"x" * 30000 + b"]")
    info = truncate_accuracy_log(src, tmp_path / "b.json")
    out = (tmp_path / "b.json").read_bytes()
    assert info["truncated"] and info["sha256"] == sha256_file(src)
    assert out.startswith(src.read_bytes()[:4096]) and out.endswith(src.read_bytes()[-4096:])
    assert len(out) == 2 * 4096 + len(b"\n\n...\n\n") <= rules.MAX_ACCURACY_LOG_SIZE
