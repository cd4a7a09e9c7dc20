"""``harness check-submission``: the checks of the MLCommons submission checker, round v6.1.

Follows mlcommons/inference ``tools/submission/submission_checker/`` (``main.py`` runs the
performance, accuracy, system, measurements and power checks on every result that
``loader.py`` finds) for a tree ``DIR/<division>/<submitter>/``:

- systems (``checks/system_check.py``): ``systems/<system>.json`` exists for every results
  system; every required key present, the meaningful ones non-empty; ``status`` in
  available|preview|rdi; ``system_type`` datacenter|edge|both; ``division`` and ``submitter``
  match the folders; ``is_network`` only in the network division; ``number_of_nodes`` and
  ``accelerators_per_node`` whole numbers (``results.py`` multiplies them).
- ``src/`` exists; models that are not official benchmark names are mapped in
  ``model_mapping.json`` (``loader.py``); the scenarios the system type requires of the
  model (``loader.check_scenarios``): an error in closed, a warning in open.
- measurements (``checks/measurements_checks.py``): ``measurements.json`` with the five
  required keys non-empty; ``README.md`` and ``user.conf`` present and non-empty.
- performance (``checks/performance_check.py``): ``performance/run_1`` holds the summary
  and detail logs; result VALID; no LoadGen error lines; performance sample count; the
  round's seeds; early stopping met and the Server latency bound; minimum query count
  (Offline); minimum duration 600 s; the logged scenario is the folder's (stricter than
  the checker, which lets edge systems infer some scenarios from others).
- accuracy (``checks/accuracy_check.py``): the four accuracy files; ``accuracy.txt`` matches
  the benchmark's pattern and has a ``hash=`` line (the hash is 64 hex digits); accuracy
  below the target is a warning in the open division; the accuracy log is truncated
  (at most 10 KiB); no LoadGen errors; the accuracy run covers the whole dataset. Stricter:
  a whole (untruncated) accuracy log must match the ``hash=`` value, and its accuracy,
  re-scored against the dataset ``measurements.json`` names when it is here, must match
  ``accuracy.txt`` (:func:`check_accuracy_log`).
- compliance (``checks/compliance_check.py``, skipped by the checker in the open
  division): the TEST01/TEST04 folders as the closed division wants them, as warnings.

A detail-log line that is JSON but no MLLOG entry is an error naming the file and line
(LoadGen never writes one; the checker's ``log_parser.MLPerfLog`` stops on it too).

Each failure is printed as ``ERROR <file>: <message>``; exit status 1 when any.
``--min-duration-s`` (tests only) lowers the 600 s minimum.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import cards
from ..accuracy import LOG_SCORERS
from ..datasets import open_dataset
from ..errors import HarnessError, UnreadableLog
from ..hashing import sha256_file
from ..loadgen_logs import read_accuracy_txt, read_detail
from . import rules
from .truncate import MARKER

#: accuracy.txt writes percentages with 3 decimals: a re-scored value may differ by half a
#: unit of the last one.
ACCURACY_TOLERANCE = 0.0005 + 1e-9

HELP = "check a submission tree as the MLCommons submission checker does (open division)"


@dataclass
class Report:
    """Failures and warnings, each ``(file, message)``."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0

    def error(self, path, msg: str) -> None:
        self.errors.append((str(path), msg))

    def warn(self, path, msg: str) -> None:
        self.warnings.append((str(path), msg))


def parse_detail(path: Path) -> tuple[dict[str, Any], list[str]]:
    """``{key: value}`` of a LoadGen detail log and the values of its error entries.

    Raises:
        UnreadableLog: a line that is no MLLOG entry (:func:`harness.loadgen_logs.read_detail`).
    """
    values = read_detail(path)
    return values, [str(e["value"]) for e in values["_errors"]]


def _detail_or_error(path: Path, rep: Report) -> tuple[dict[str, Any], list[str]] | None:
    """:func:`parse_detail`, or None with an error naming the line LoadGen never wrote."""
    try:
        return parse_detail(path)
    except UnreadableLog as exc:
        rep.error(path, exc.problem)
        return None


def _list_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def check_system(path: Path, division: str, submitter: str, rep: Report) -> dict | None:
    if not path.is_file():
        rep.error(path, "system json file not found")
        return None
    try:
        desc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        rep.error(path, f"not valid JSON: {exc}")
        return None
    if not isinstance(desc, dict):
        rep.error(path, f"not a system description (a JSON {type(desc).__name__}, expected "
                        f"an object of 'key': 'value' pairs)")
        return None
    for key in rules.SYSTEM_REQUIRED_FIELDS:
        if key not in desc:
            rep.error(path, f"field {key} is missing")
        elif key in rules.SYSTEM_MEANINGFUL_FIELDS and not desc[key]:
            rep.error(path, f"field {key} requires a meaningful response but is empty")
    if str(desc.get("status", "")).lower() not in rules.AVAILABILITIES:
        rep.error(path, f"invalid status ({desc.get('status')}); valid: "
                        f"{', '.join(rules.AVAILABILITIES)}")
    if desc.get("system_type") not in rules.SYSTEM_TYPES:
        rep.error(path, f"invalid system type ({desc.get('system_type')}); valid: "
                        f"{', '.join(rules.SYSTEM_TYPES)}")
    for key in rules.SYSTEM_INTEGER_FIELDS:
        if key in desc and not str(desc[key]).strip().isdigit():
            rep.error(path, f"field {key} must be a whole number (the checker's results.py "
                            f"computes int(number_of_nodes) * int(accelerators_per_node)), "
                            f"found {desc[key]!r}")
    is_network = str(desc.get(rules.SYSTEM_IS_NETWORK, "")).lower() == "true"
    if division in ("closed", "network") and is_network != (division == "network"):
        rep.error(path, f"incorrect network mode ({rules.SYSTEM_IS_NETWORK}="
                        f"{desc.get(rules.SYSTEM_IS_NETWORK)}) for division '{division}'")
    if desc.get(rules.SYSTEM_IS_NETWORK):  # system_check.py: the network fields then
        for key in rules.SYSTEM_REQUIRED_FIELDS_NETWORK:
            if key not in desc:
                rep.error(path, f"field {key} is missing (a network-mode system)")
    if str(desc.get("submitter", "")).lower() != submitter.lower():
        rep.error(path, f"has submitter {desc.get('submitter')}, directory has {submitter}")
    if str(desc.get("division", "")).lower() != division.lower():
        rep.error(path, f"has division {desc.get('division')}, directory has {division}")
    return desc


def _required_files(folder: Path, names, rep: Report) -> bool:
    ok = True
    for n in names:
        if not (folder / n).is_file():
            rep.error(folder / n, "required file is missing")
            ok = False
    return ok


def check_measurements(d: Path, rep: Report) -> None:
    path = d / "measurements.json"
    if not path.is_file():
        rep.error(path, "measurements json file not found")
    else:
        try:
            meas = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            rep.error(path, f"not valid JSON: {exc}")
            meas = {}
        for key in rules.MEASUREMENTS_REQUIRED_FIELDS:
            if key not in meas:
                rep.error(path, f"field {key} is missing")
            elif not meas[key]:
                rep.error(path, f"field {key} is missing meaningful value")
    for n in rules.REQUIRED_MEASURE_FILES:
        f = d / n
        if not f.is_file():
            rep.error(f, "required file is missing")
        elif f.stat().st_size == 0:
            rep.error(f, "is empty")


def _errors_blocking(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(i in e for i in rules.IGNORED_ERRORS)]


def check_performance(d: Path, model: str, scenario: str, min_duration_ms: float,
                      rep: Report, network: bool = False) -> None:
    run1 = d / "performance" / "run_1"
    if not _required_files(run1, rules.REQUIRED_PERF_FILES, rep):
        return
    detail = run1 / "mlperf_log_detail.txt"
    parsed = _detail_or_error(detail, rep)
    if parsed is None:
        return
    log, errors = parsed
    if log.get("result_validity") != "VALID":
        rep.error(detail, f"result is {log.get('result_validity')}, not VALID")
    if network and rules.NETWORK_SUT_NAME not in str(log.get("sut_name", "")):
        rep.error(detail, f"a network-division result's SUT name must contain "
                          f"'{rules.NETWORK_SUT_NAME}'; LoadGen logged "
                          f"{log.get('sut_name')!r} (run with --network-division)")
    blocking = _errors_blocking(errors)
    if blocking:
        rep.error(detail, f"has loadgen errors, number of errors: {len(blocking)} "
                          f"(first: {blocking[0]})")
    eff_scen = log.get("effective_scenario")
    if eff_scen != scenario:
        rep.error(detail, f"scenario in the log is {eff_scen}, the folder says {scenario} "
                          f"(results can not be inferred from another scenario here)")
    need_psc = rules.PERFORMANCE_SAMPLE_COUNT.get(model)
    psc = log.get("effective_performance_sample_count")
    if need_psc and (psc is None or psc < need_psc):
        rep.error(detail, f"performance_sample_count, found {psc}, needs to be >= {need_psc}")
    for key, want in rules.SEEDS.items():
        found = log.get(f"effective_{key}")
        if found != want:
            rep.error(detail, f"{key} is wrong, expected={want}, found={found}")
    if scenario in rules.EARLY_STOPPING_SCENARIOS:
        if not log.get("early_stopping_met"):
            rep.error(detail, f"early stopping condition was not met, msg="
                              f"{str(log.get('early_stopping_result', '')).strip()}")
        bound = rules.LATENCY_CONSTRAINT_NS.get(model, {}).get(scenario)
        target = log.get("effective_target_latency_ns")
        if bound and (target is None or target > bound):
            rep.error(detail, f"latency constraint with early stopping not met, "
                              f"expected={bound} ns, found={target} ns")
    else:
        need_q = rules.MIN_QUERIES.get(model, {}).get(scenario)
        minq = log.get("effective_min_query_count")
        if need_q and (minq is None or minq < need_q):
            rep.error(detail, f"required minimum query count not met by user config, "
                              f"expected={need_q}, found={minq}")
    dur = log.get("effective_min_duration_ms")
    if dur is None or dur < min_duration_ms:
        rep.error(detail, f"test duration less than {min_duration_ms / 1000:g} s in user "
                          f"config, expected={min_duration_ms:g} ms, found={dur} ms")


def check_accuracy(d: Path, model: str, division: str, rep: Report) -> None:
    acc = d / "accuracy"
    if not _required_files(acc, rules.REQUIRED_ACC_FILES, rep):
        return
    txt = acc / "accuracy.txt"
    kind, target = rules.ACCURACY_TARGET.get(model, (None, None))
    value = hash_val = None
    for line in txt.read_text(errors="replace").splitlines():
        if kind and value is None:
            m = re.match(rules.ACC_PATTERN[kind], line)
            if m:
                value = float(m.group(1))
        m = re.match(rules.HASH_PATTERN, line)
        if m:
            hash_val = m.group(1)
    if kind and value is None:
        rep.error(txt, f"no {kind} line matching {rules.ACC_PATTERN[kind]!r}")
    elif kind and value < target:
        msg = f"accuracy not met: expected={target:.4f}, found={value}"
        (rep.warn if division == "open" else rep.error)(txt, msg)
    if not hash_val:
        rep.error(txt, "no hash value for accuracy.txt (line 'hash=<sha256 of the full "
                       "mlperf_log_accuracy.json>')")
    elif not re.fullmatch(r"[0-9a-f]{64}", hash_val):
        rep.error(txt, f"hash '{hash_val}' is not a sha256 hex digest")
    js = acc / "mlperf_log_accuracy.json"
    if js.stat().st_size > rules.MAX_ACCURACY_LOG_SIZE:
        rep.error(js, f"is not truncated ({js.stat().st_size} bytes > "
                      f"{rules.MAX_ACCURACY_LOG_SIZE}); keep its first and last "
                      f"{rules.VIEWABLE_SIZE} bytes")
    check_accuracy_log(d, rep)
    detail = acc / "mlperf_log_detail.txt"
    parsed = _detail_or_error(detail, rep)
    if parsed is None:
        return
    log, errors = parsed
    blocking = _errors_blocking(errors)
    if blocking:
        rep.error(detail, f"has loadgen errors, number of errors: {len(blocking)} "
                          f"(first: {blocking[0]})")
    need = rules.DATASET_SIZE.get(model)
    count = log.get("effective_accuracy_sample_count", log.get("qsl_reported_total_count"))
    if need and count != need:
        rep.error(detail, f"accuracy run does not cover all dataset, accuracy samples: "
                          f"{count}, dataset size: {need}: the full "
                          f"{rules.DATASET_NAME[model]} is required")


def _is_truncated_log(data: bytes) -> bool:
    """An accuracy log cut as ``truncate_accuracy_log.py`` cuts it: its first and last
    :data:`rules.VIEWABLE_SIZE` bytes around a ``...`` line."""
    n = rules.VIEWABLE_SIZE
    return len(data) == 2 * n + len(MARKER) and \
        data[n:n + len(MARKER)] == MARKER


def _stated_accuracy(d: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``accuracy.txt``'s accuracy (:func:`read_accuracy_txt`) and its ``hash=`` value."""
    txt = d / "accuracy" / "accuracy.txt"
    hashes = [m.group(1) for line in txt.read_text(errors="replace").splitlines()
              if (m := re.match(rules.HASH_PATTERN, line))]
    return read_accuracy_txt(txt), (hashes[0] if hashes else None)


def _rescored(d: Path, js: Path) -> tuple[dict[str, Any] | None, str]:
    """The accuracy of ``js`` re-scored with the harness's scorer against the dataset that
    ``measurements.json`` names (``harness_model``, ``dataset_accuracy``), or None and why
    it could not be (no such keys, the dataset is not here or changed since the run).

    Raises:
        HarnessError: the scorer refuses the log (its message says why).
    """
    try:
        meas = json.loads((d / "measurements.json").read_text())
        model, data = meas["harness_model"], meas["dataset_accuracy"]
        path, count, key = data["path"], data.get("count"), data.get("content_key")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return None, ("measurements.json names no harness model and accuracy dataset "
                      "(harness_model, dataset_accuracy.path)")
    try:
        card = cards.load(model)
        dataset = open_dataset(card, path, count, synthetic_count=0)
    except HarnessError as exc:
        return None, f"its dataset is not available here ({exc})"
    if key and getattr(dataset, "content_key", key) != key:
        return None, (f"the dataset at {path} differs from the one the run scored (content "
                      f"key {getattr(dataset, 'content_key', None)}, the run's {key})")
    if card.task not in LOG_SCORERS:
        return None, f"the harness has no scorer for task '{card.task}'"
    return LOG_SCORERS[card.task](card, dataset, js), f"{dataset.describe()['path']}"


def check_accuracy_log(d: Path, rep: Report) -> None:
    """The accuracy log against ``accuracy.txt``, recomputed (stricter than the checker,
    which only looks for a ``hash=`` line): the sha256 of ``mlperf_log_accuracy.json``
    against the ``hash=`` value, and the accuracy re-scored from it with the harness's
    scorer (:data:`harness.accuracy.LOG_SCORERS`) against the dataset ``measurements.json``
    names when that dataset is here unchanged (else a warning says why it was not). A log
    truncated to its first and last 4096 bytes cannot be recomputed: a warning says so.
    """
    txt, js = d / "accuracy" / "accuracy.txt", d / "accuracy" / "mlperf_log_accuracy.json"
    stated, hash_val = _stated_accuracy(d)
    data = js.read_bytes()
    if _is_truncated_log(data):
        rep.warn(js, f"holds only the first and last {rules.VIEWABLE_SIZE} bytes of the "
                     f"log: its hash and accuracy cannot be recomputed from the tree")
        return
    digest = sha256_file(js)
    if hash_val and digest != hash_val:
        rep.error(js, f"its sha256 is {digest}, accuracy.txt says hash={hash_val}: the log "
                      f"is not the one the run scored (edited or replaced)")
        return
    try:
        scored, where = _rescored(d, js)
    except (HarnessError, KeyError, TypeError, ValueError) as exc:
        rep.error(js, f"cannot be re-scored: {exc}")
        return
    if scored is None:
        rep.warn(txt, f"accuracy not re-scored from mlperf_log_accuracy.json: {where}")
        return
    if stated is None or stated["metric"] != scored["metric"] or \
            abs(stated["value"] - scored["value"]) > ACCURACY_TOLERANCE:
        said = f"{stated['metric']} {stated['value']:.3f}%" if stated else "no accuracy"
        rep.error(txt, f"says {said}; mlperf_log_accuracy.json re-scored against {where} "
                       f"gives {scored['metric']} {scored['value']:.3f}%: accuracy.txt is "
                       f"not the run's (edited)")


def check_compliance(d: Path, model: str, rep: Report) -> None:
    """The TEST0x folders as ``checks/compliance_check.py`` checks them in the closed
    division (the open division skips it): reported as warnings.

    TEST01 and TEST04: ``verify_performance.txt`` with a ``TEST PASS`` line,
    ``performance/run_1`` holding exactly the summary and detail logs
    (``mlperf_log_accuracy.json`` tolerated), the audit run VALID with the round's seeds and
    performance sample count (``PerformanceCheck`` on it); TEST01 also
    ``verify_accuracy.txt`` with a ``TEST PASS`` line (else the non-deterministic
    ``accuracy/`` files). A retired TEST05 folder is ignored by the checker.
    """
    for test in rules.RETIRED_TESTS:
        if (d / test).is_dir():
            rep.warn(d / test, f"{test} is retired (round {rules.ROUND} runs TEST01 and "
                               f"TEST04); the checker ignores it")
    for test in rules.COMPLIANCE_TESTS_RUN:
        t = d / test
        if not t.is_dir():
            if test in rules.COMPLIANCE_TESTS.get(model, ()):
                rep.warn(t, f"{test} not present (required in the closed division only)")
            continue
        files = ["verify_performance.txt"] + (["verify_accuracy.txt"] if test == "TEST01"
                                              else [])
        for f in files:
            p = t / f
            if not p.is_file():
                rep.warn(p, f"{test} verification file missing")
            elif "TEST PASS" not in [line.strip() for line in
                                     p.read_text(errors="replace").splitlines()]:
                rep.warn(p, f"{test} did not pass (no 'TEST PASS' line)")
        run1 = t / "performance" / "run_1"
        present = {p.name for p in run1.iterdir() if p.is_file()} if run1.is_dir() else set()
        extra = present - set(rules.REQUIRED_COMP_PER_FILES) - {"mlperf_log_accuracy.json"}
        missing = set(rules.REQUIRED_COMP_PER_FILES) - present
        if missing or extra:
            rep.warn(run1, f"{test} performance/run_1 file list mismatch (missing: "
                           f"{sorted(missing)}, extra: {sorted(extra)})")
        parsed = _detail_or_error(run1 / "mlperf_log_detail.txt", rep) \
            if "mlperf_log_detail.txt" in present else None
        if parsed is not None:
            log, _ = parsed
            if log.get("result_validity") != "VALID":
                rep.warn(run1, f"{test} audit run is {log.get('result_validity')}")
            need_psc = rules.PERFORMANCE_SAMPLE_COUNT.get(model)
            psc = log.get("effective_performance_sample_count")
            if need_psc and (psc is None or psc < need_psc):
                rep.warn(run1, f"{test} audit run's performance_sample_count {psc} < "
                               f"{need_psc} (its dataset has fewer samples; the closed "
                               f"division rejects it)")
            if any(log.get(f"effective_{k}") != v for k, v in rules.SEEDS.items()):
                rep.warn(run1, f"{test} audit run does not use the round's seeds")


def check_scenarios(model_dir: Path, model: str, system_type: str, division: str,
                    rep: Report) -> None:
    """The scenarios the system type requires of the model (``loader.py``
    ``check_scenarios``, constants.py ``required-scenarios-*``): an error in the closed
    division, a warning in the open one, which accepts a subset."""
    if system_type not in rules.SYSTEM_TYPES:
        return  # check_system reported it
    required = rules.required_scenarios(system_type, model)
    present = {p.name for p in _list_dirs(model_dir)}
    report = rep.error if division != "open" else rep.warn
    if required is None:
        report(model_dir, f"round {rules.ROUND} requires no scenario of {model} on "
                          f"{system_type} systems: {model} is no {system_type} benchmark")
        return
    missing = [s for s in required if s not in present]
    if missing:
        report(model_dir, f"does not have all scenarios system type {system_type} requires "
                          f"of {model}, missing {', '.join(missing)}"
                          + (" (the open division accepts a subset)"
                             if division == "open" else ""))


def check_tree(root: Path, min_duration_s: float | None = None) -> Report:
    """Check every division/submitter below ``root``.

    Raises:
        HarnessError: ``root`` holds no division folder.
    """
    rep = Report()
    min_ms = (min_duration_s * 1000) if min_duration_s is not None else rules.TEST_DURATION_MS
    divisions = [d for d in _list_dirs(Path(root)) if d.name in rules.DIVISIONS]
    if not divisions:
        raise HarnessError(f"{root} holds no division folder ({', '.join(rules.DIVISIONS)}); "
                           f"give the folder passed to 'harness submission -o'")
    marker = Path(root) / "harness_submission.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("test_tree") and min_duration_s is None:
            rep.error(marker, f"test tree built with a lowered minimum duration "
                              f"({info.get('min_duration_s')} s): not a valid submission")
    for div in divisions:
        if div.name == "network":
            rep.warn(div, "network division: the harness checks the open-division rules plus "
                          "the network ones (is_network, the network fields, the SUT name); "
                          "the MLCommons checker applies the closed division's rules too")
        elif div.name != "open":
            rep.warn(div, "only the open-division rules are checked by the harness")
        for sub in _list_dirs(div):
            mapping: dict[str, str] = {}
            mfile = sub / "model_mapping.json"
            if mfile.is_file():
                try:
                    mapping = json.loads(mfile.read_text())
                except json.JSONDecodeError as exc:
                    rep.error(mfile, f"not valid JSON: {exc}")
            if not (sub / "src").is_dir():
                rep.error(sub / "src", "src directory does not exist")
            results = sub / "results"
            if not results.is_dir():
                rep.error(results, "no results folder")
                continue
            for system in _list_dirs(results):
                desc = check_system(sub / "systems" / f"{system.name}.json", div.name,
                                    sub.name, rep)
                system_type = str((desc or {}).get("system_type", ""))
                for model_dir in _list_dirs(system):
                    name = model_dir.name
                    model = name if name in rules.OFFICIAL_MODELS else \
                        mapping.get(name) or rules.BUILTIN_MODEL_MAPPING.get(name)
                    if model not in rules.OFFICIAL_MODELS:
                        rep.error(model_dir, f"model '{name}' is no benchmark the checker "
                                             f"knows and model_mapping.json does not map it "
                                             f"(e.g. \"{name}\": \"resnet\")")
                        continue
                    check_scenarios(model_dir, model, system_type, div.name, rep)
                    for sdir in _list_dirs(model_dir):
                        if sdir.name not in rules.SCENARIOS:
                            rep.error(sdir, f"unknown scenario folder; valid: "
                                            f"{', '.join(rules.SCENARIOS)}")
                            continue
                        rep.checked += 1
                        check_measurements(sdir, rep)
                        check_performance(sdir, model, sdir.name, min_ms, rep,
                                          network=div.name == "network")
                        check_accuracy(sdir, model, div.name, rep)
                        check_compliance(sdir, model, rep)
    return rep


def add_arguments(p) -> None:
    p.add_argument("dir", help="the submission folder (holding open/)")
    p.add_argument("--min-duration-s", type=float, default=None,
                   help="TESTS ONLY: minimum duration instead of the official 600 s")


def print_report(rep: Report, min_duration_s: float | None = None) -> None:
    """Print a check's warnings, errors and tally."""
    for path, msg in rep.warnings:
        print(f"WARNING {path}: {msg}")
    for path, msg in rep.errors:
        print(f"ERROR {path}: {msg}")
    if min_duration_s is not None:
        print(f"NOTE: minimum duration lowered to {min_duration_s:g} s (tests only)")
    print(f"{rep.checked} result(s) checked: {len(rep.errors)} error(s), "
          f"{len(rep.warnings)} warning(s)")


def main(args) -> int:
    rep = check_tree(Path(args.dir), args.min_duration_s)
    print_report(rep, args.min_duration_s)
    return 1 if rep.errors else 0
