"""The versioned records of the workflows' JSON files (harness.run.records): each round trip
through its dataclass, the unversioned files written before versions read as version 0 and
migrated, a newer version refused with one clear error; and a version-1 run.json still read
(harness.run.report)."""

from __future__ import annotations

import json

import pytest

from harness.errors import UnreadableRecord
from harness.reports import plots
from harness.run import report as run_report
from harness.run.config import RunConfig
from harness.run.records import SCHEMA_VERSION, OptimizeSearch, OptimizeTrials, PeakSearch

TRIAL = {"number": 0, "state": "COMPLETE", "params": {"precision": "fp32", "batch": 1},
         "score": 431.5, "no_valid_target": None, "accuracy": 71.2, "gate": "PASS",
         "gate_ratio": 0.998, "gate_violation": 0.0, "config": RunConfig().to_dict(),
         "facts": {"run_dir": "/r/1"}, "error": None, "skipped": None,
         "started": "2026-12-04T10:00:00+00:00", "seconds": 12.5}
SEARCH = {"scenario": "Offline", "space": {"model": ["mobilenet_v2_quant"], "batch": [1]},
          "options": {"scenario": "Offline", "trials": 3}, "with_accuracy": True,
          "accuracy": {"accuracy:mobilenet_v2_quant:fp32": {"value": 71.2, "gate": None}},
          "best": TRIAL, "side_by_side": None, "command": ["harness", "optimize"],
          "trials_to_best": 1}
# a peak_search.json as harness find-peak wrote it before records had versions
PEAK = {"status": "complete", "model": "mobilenet_v2_quant", "benchmark": "mobilenet",
        "system": "box", "precision": "uint8",
        "points": [{"target_qps": 50.0, "p99_ms": 12.0, "valid": True, "kind": "bisection",
                    "latency_bound_ms": 15.0}],
        "command": ["harness", "find-peak"], "base_config": RunConfig().to_dict(),
        "started": "2026-12-04T10:00:00+00:00", "offline_samples_per_second": 80.0,
        "offline_run_dir": "/r/off", "config": "device=CPU hint=THROUGHPUT",
        "peak_target_qps": 50.0, "server_to_offline_ratio": 0.625,
        "ended": "2026-12-04T10:05:00+00:00", "peak_file": "/r/peak.json"}


@pytest.mark.parametrize("record", [OptimizeTrials(trials=[TRIAL]), OptimizeSearch(**SEARCH),
                                    PeakSearch(**PEAK)])
def test_a_record_round_trips_through_its_file(record, tmp_path):
    path = tmp_path / record.FILE
    record.write(path)
    data = json.loads(path.read_text())
    assert list(data)[0] == "schema_version" and data["schema_version"] == SCHEMA_VERSION == 1
    back = type(record).read(path)
    assert back == record and back.to_dict() == data
    assert type(record).from_dict(record.to_dict()) == record


def test_unversioned_files_are_read_as_version_0_and_migrated(tmp_path):
    # trials.json was a bare list of trials
    (tmp_path / "trials.json").write_text(json.dumps([TRIAL, {**TRIAL, "number": 1}]))
    trials = OptimizeTrials.read(tmp_path / "trials.json")
    assert trials.schema_version == 1 and [t["number"] for t in trials.trials] == [0, 1]
    assert trials.trials[0] == TRIAL
    # search.json and peak_search.json: the same object, without a version
    (tmp_path / "search.json").write_text(json.dumps(SEARCH))
    assert OptimizeSearch.read(tmp_path / "search.json") == OptimizeSearch(**SEARCH)
    (tmp_path / "peak_search.json").write_text(json.dumps(PEAK))
    peak = PeakSearch.read(tmp_path / "peak_search.json")
    assert peak.schema_version == 1 and peak.peak_target_qps == 50.0
    assert peak.to_dict() == {"schema_version": 1, **PEAK, "stopped": None,
                              "latency_bound_ms": None}
    # the report's plot 6 reads it the same way
    (search,) = plots.read_peak_files([tmp_path])
    assert not search.get("error") and search["points"] == PEAK["points"]


@pytest.mark.parametrize("cls, data", [(OptimizeTrials, {"trials": [TRIAL]}),
                                       (OptimizeSearch, SEARCH), (PeakSearch, PEAK)])
def test_a_newer_version_is_refused_with_one_clear_error(cls, data, tmp_path):
    path = tmp_path / cls.FILE
    path.write_text(json.dumps({"schema_version": 2, **data}))
    with pytest.raises(UnreadableRecord) as err:
        cls.read(path)
    assert str(err.value) == (f"{path}: schema_version 2 is newer than this harness reads "
                              f"(1); read it with the harness version that wrote it")
    assert err.value.exit_status == 2
    if cls is PeakSearch:  # the report names the file instead of plotting it
        (search,) = plots.read_peak_files([tmp_path])
        assert "schema_version 2 is newer" in search["error"] and search["points"] == []


def test_what_is_not_a_record_is_refused(tmp_path):
    for text, words in (("{not json", "cannot read a trials.json record"),
                        ('"text"', "not a trials.json record (a JSON str"),
                        ('{"schema_version": "x", "trials": []}', "is not a version number"),
                        ('{"schema_version": 1, "trials": [], "more": 1}',
                         "unknown field(s) more"),
                        ('{"schema_version": 1}', "not a trials.json record")):
        (tmp_path / "trials.json").write_text(text)
        with pytest.raises(UnreadableRecord, match="trials.json") as err:
            OptimizeTrials.read(tmp_path / "trials.json")
        assert words in str(err.value), str(err.value)


def test_a_version_1_run_json_still_reads_and_replays(tmp_path):
    """run.json version 1 (before telemetry) reads as version 2 without telemetry, and
    ``harness run --config`` replays its config."""
    config = RunConfig()
    report = run_report.RunReport(config=config, run_dir=str(tmp_path), status="complete",
                                  telemetry={"queue_ms": 1.0})
    data = report.to_dict()
    data["schema_version"] = 1
    del data["telemetry"]
    (tmp_path / "run.json").write_text(json.dumps(data))
    back = run_report.read(tmp_path)
    assert back.schema_version == run_report.SCHEMA_VERSION == 2
    assert back.telemetry is None and back.config == config and back.complete
    assert run_report.replay_config(tmp_path / "run.json") == config
    data["schema_version"] = 3
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(run_report.UnreadableReport, match="schema_version 3 is unknown"):
        run_report.read(tmp_path)
    with pytest.raises(run_report.HarnessError, match="schema_version 3, which this harness"):
        run_report.replay_config(tmp_path / "run.json")


def test_a_hand_made_peak_file_keeps_its_bound_and_extras_are_not_used(tmp_path):
    """docs/reports.md: the bound may stand at the top; other keys are not used (the report
    reads them), while find-peak's own record refuses a field it does not have."""
    hand = {"model": "m", "latency_bound_ms": 15.0, "note": "by hand",
            "points": [{"target_qps": 5.0, "p99_ms": 9.0, "valid": True}]}
    (tmp_path / "peak_search_hand.json").write_text(json.dumps(hand))
    (search,) = plots.read_peak_files([tmp_path])
    assert not search.get("error") and search["latency_bound_ms"] == 15.0
    assert "note" not in search
    with pytest.raises(UnreadableRecord, match="unknown field"):
        PeakSearch.from_dict(hand)
