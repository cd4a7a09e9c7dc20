"""``run.json``: the typed, versioned report of one run.

Every reader of a run directory goes through :func:`read` (or :func:`iter_reports`), which
returns a :class:`RunReport` or refuses the file with :class:`UnreadableReport` naming what
is wrong: not JSON, not an object, a ``schema_version`` this harness does not know, or fields
of the wrong type. (pyperf's ``_bench.py`` keeps its JSON format the same way: a version
constant, a written history, a clear error for an unknown version.)

Format history (``schema_version``):

- (none) harness 0.1: a flat ``config``; not readable by this version (re-run it).
- 1: harness 0.2: ``config`` is the nested :class:`harness.run.config.RunConfig`;
  ``result`` a :class:`KeyResult`; ``pid``/``host`` of the process that ran it (so a reader
  can call a run whose process is gone ``abandoned``). Fields added later within version 1
  have defaults, so earlier version-1 files still read: ``precision`` (the run's precision
  label and what the model file holds, :mod:`harness.model_precision`), ``attempts``,
  ``deployment``.
- 2: ``telemetry``, where the time of the SUT's samples went (queue,
  inference, response; the infer requests' utilisation: :mod:`harness.telemetry`), None
  for runs that did not reach LoadGen's end. Version-1 files still read, as version 2
  without telemetry.

A report read from disk names the directory it was read from as its ``run_dir`` (not the
path recorded when it was written): results folders travel between machines, and a reader
follows the files it was pointed at, never the original's.

A report's ``status`` is ``incomplete`` from the moment its run directory exists until the
run ends; then ``complete``, ``failed`` (``error`` says why) or ``interrupted``. Only a
``complete`` report is a result.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import HarnessError, shorten
from ..files import rewrite_in_place, write_json_atomic
from ..loadgen_logs import KeyResult
from ..system import process_exists
from .config import RunConfig

SCHEMA_VERSION = 2
#: Versions :func:`read` accepts; an older one is read as the current with the later
#: fields at their defaults.
READABLE_VERSIONS = (1, 2)
FILE_NAME = "run.json"

STATUS_INCOMPLETE = "incomplete"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
#: Readers' word for an ``incomplete`` run whose process (same host) no longer exists.
STATUS_ABANDONED = "abandoned"
STATUSES = (STATUS_INCOMPLETE, STATUS_COMPLETE, STATUS_FAILED, STATUS_INTERRUPTED)


class UnreadableReport(HarnessError):
    """A ``run.json`` that is not a report this harness can read (the message says why)."""


class RunFailed(HarnessError):
    """A run that failed or was stopped after its directory existed.

    Attributes:
        report: its report (status ``failed`` or ``interrupted``, ``error`` says why).
    """

    def __init__(self, message: str, report: "RunReport", exit_status: int = 2):
        super().__init__(message)
        self.report = report
        self.exit_status = exit_status


@dataclass
class RunReport:
    """Everything about one run: its config, where and how it ran, and its result.

    Attributes:
        config: the run's :class:`RunConfig` (``harness run --config run.json`` replays it).
        run_dir: the run directory (absolute path); in a report returned by :func:`read`
            or :func:`iter_reports`, the directory its ``run.json`` was read from.
        status: see the module docstring.
        valid_for_submission: a valid-mode run, VALID, trained weights, real data.
        started, ended: UTC ISO timestamps.
        pid, host: the process that ran it.
        command, cwd: how it was started.
        card, weights, dataset, system, git: facts recorded at the start (dicts as the
            cards, weights, datasets and system modules describe them).
        backend: ``{"name", "properties" (effective runtime properties), "model"}``.
        loadgen: benchmark, scenario, mode, sample counts and where each target came from.
        calibration: the pre-run calibration (samples/s or median latency ms).
        deployment: how the backend's parallelism was set and why: ``{"source": "user"}``
            with the options given, ``"default"`` (the performance hint's), or ``"server
            latency rule"`` with the splits measured, the rule and the choice
            (:meth:`harness.scenarios.Server.deploy`); and for a dispatching SUT, what its
            batching did (``batching``: :meth:`harness.sut.SUT.batching`).
        precision: the run's precision label and where it comes from
            (:func:`harness.model_precision.describe`: ``label``, ``requested``,
            ``as_given``, ``weight_types``, ``requantized_from``, ``note``).
        model_stats, quantization: model size facts; the INT8 build's record.
        audit_config: the text of the LoadGen audit.config of a compliance run, else None.
        result: performance result (None until LoadGen has finished, and for failures
            before it).
        accuracy, accuracy_gate: accuracy mode: the score and the 99% gate.
        error: why a run failed or was interrupted.
        attempts: earlier LoadGen attempts of this run (an Offline run re-run because it
            ended before its minimum duration), each ``{"attempt", "reason", "result",
            "logs" (the folder its LoadGen logs were moved to), "offline_expected_qps"}``.
        telemetry: where the time of the last LoadGen attempt's samples went inside the SUT
            (:meth:`harness.telemetry.Telemetry.summary`: counts, wall and busy ms,
            ``utilisation``, and ``queue``/``inference``/``response``/``sut_latency`` each
            with mean, p50, p99 and max in ms); None before LoadGen's end and in version-1
            reports.
    """

    config: RunConfig
    run_dir: str
    status: str = STATUS_INCOMPLETE
    schema_version: int = SCHEMA_VERSION
    harness_version: str = ""
    valid_for_submission: bool = False
    started: str | None = None
    ended: str | None = None
    pid: int | None = None
    host: str | None = None
    command: list[str] = field(default_factory=list)
    cwd: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    loadgen: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    deployment: dict[str, Any] = field(default_factory=dict)
    precision: dict[str, Any] = field(default_factory=dict)
    model_stats: dict[str, Any] | None = None
    quantization: dict[str, Any] | None = None
    audit_config: str | None = None
    result: KeyResult | None = None
    accuracy: dict[str, Any] | None = None
    accuracy_gate: dict[str, Any] | None = None
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    telemetry: dict[str, Any] | None = None

    # --- derived facts -------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    @property
    def system_name(self) -> str | None:
        return self.system.get("name")

    @property
    def precision_label(self) -> str:
        """What ran, e.g. ``fp32``, ``uint8`` (a quantized model as given), ``int8``
        (:mod:`harness.model_precision`); ``--precision`` for reports written before the
        label existed."""
        return self.precision.get("label") or self.config.precision

    def label(self) -> str:
        """One line naming the run with its precision label, e.g. ``mobilenet_v2_quant uint8
        Offline performance`` (:meth:`RunConfig.label` names ``--precision``)."""
        return self.config.label(self.precision_label)

    @property
    def complete(self) -> bool:
        return self.status == STATUS_COMPLETE

    @property
    def valid(self) -> bool:
        """A complete performance run that LoadGen called VALID."""
        return self.complete and self.result is not None and self.result.validity == "VALID"

    @property
    def gate_passed(self) -> bool | None:
        """The 99% gate: True (PASS), False (FAIL), None (no gate: FP32 or skipped)."""
        g = self.accuracy_gate or {}
        return {"PASS": True, "FAIL": False}.get(g.get("result"))

    def live_status(self) -> str:
        """``status``, or ``abandoned`` for an ``incomplete`` run whose process is gone
        (same host, no such process id: killed with SIGKILL, or the machine went down)."""
        if self.status != STATUS_INCOMPLETE or not self.pid or self.host != socket.gethostname():
            return self.status
        return self.status if process_exists(self.pid) else STATUS_ABANDONED

    # --- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config"] = self.config.to_dict()
        # schema_version first: a reader sees the format before anything else
        return {"schema_version": data.pop("schema_version"), **data}

    @classmethod
    def from_dict(cls, data: Any, source: str = "run.json") -> "RunReport":
        """Rebuild a report.

        Raises:
            UnreadableReport: not an object, no or an unknown ``schema_version``, a bad
                config, or fields of the wrong type.
        """
        if not isinstance(data, dict):
            raise UnreadableReport(f"{source}: not a run report (a JSON "
                                   f"{type(data).__name__}, expected an object)")
        version = data.get("schema_version")
        if version is None:
            raise UnreadableReport(f"{source}: no schema_version (written by harness 0.1, "
                                   f"whose format this version does not read); re-run it")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise UnreadableReport(f"{source}: schema_version {version!r} is unknown to this "
                                   f"harness (it reads "
                                   f"{', '.join(map(str, READABLE_VERSIONS))}); use the "
                                   f"harness version that wrote it")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UnreadableReport(f"{source}: unknown field(s) {', '.join(unknown)}")
        try:
            kwargs = dict(data)
            kwargs["schema_version"] = SCHEMA_VERSION  # older versions lack only new fields
            kwargs["config"] = RunConfig.from_dict(data.get("config"))
            if data.get("result") is not None:
                if not isinstance(data["result"], dict):
                    raise HarnessError("result is not an object")
                kwargs["result"] = KeyResult(**data["result"])
            report = cls(**kwargs)
        except (HarnessError, TypeError) as exc:
            raise UnreadableReport(f"{source}: {exc}") from None
        _check_types(report, source)
        return report

    def write(self) -> None:
        """Write ``run.json`` atomically (temporary file, then rename), mode 0644 like the
        logs beside it.

        Raises:
            HarnessError: the file cannot be written (disk full, read-only); the temporary
                file is removed.
        """
        write_json_atomic(self.path / FILE_NAME, self.to_dict())

    def write_in_place(self) -> None:
        """Rewrite ``run.json`` in place, compact, in the space it already holds: the last
        resort of a status update on a full disk (:func:`harness.files.rewrite_in_place`).

        Raises:
            HarnessError: it does not fit, or the write fails.
        """
        rewrite_in_place(self.path / FILE_NAME,
                         json.dumps(self.to_dict(), separators=(",", ":"), default=str) + "\n")


def _type_ok(hint, value) -> bool:
    alts = typing.get_args(hint) if (isinstance(hint, types.UnionType)
                                     or typing.get_origin(hint) is typing.Union) else (hint,)
    for alt in alts:
        base = typing.get_origin(alt) or alt
        if alt is type(None):
            if value is None:
                return True
        elif base is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif base is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif base is Any or isinstance(value, base):
            return True
    return False


def _check_types(obj: Any, source: str) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.name in ("config", "result"):
            continue
        value = getattr(obj, f.name)
        if not _type_ok(hints[f.name], value):
            raise UnreadableReport(f"{source}: field {f.name} is {type(value).__name__} "
                                   f"{shorten(repr(value), 60)}, expected {hints[f.name]}")
    if isinstance(obj, RunReport):
        if obj.status not in STATUSES:
            raise UnreadableReport(f"{source}: unknown status {obj.status!r}")
        if obj.result is not None:
            _check_types(obj.result, f"{source} result")


def read(run_dir: Path | str) -> RunReport:
    """The report of a run directory, with ``run_dir`` set to that directory (absolute): a
    copied or moved results folder is read where it is now, whatever path its ``run.json``
    recorded.

    Raises:
        UnreadableReport: missing, unreadable or unknown ``run.json``.
    """
    path = Path(run_dir) / FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UnreadableReport(f"{path} does not exist: not a run directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableReport(f"{path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableReport(f"{path} is not JSON ({exc})") from None
    report = RunReport.from_dict(data, str(path))
    report.run_dir = str(path.parent.resolve())
    return report


def replay_config(path: Path | str) -> RunConfig:
    """The config ``harness run --config PATH`` starts from: a config file, or the
    ``config`` of an earlier run's ``run.json`` (:meth:`RunConfig.from_file`), refusing a
    ``run.json`` of a ``schema_version`` this harness does not know (a newer harness wrote
    it: its config may mean what this one cannot run).

    Raises:
        HarnessError: unreadable file, not a run config, or an unknown ``schema_version``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None  # RunConfig.from_file says what is wrong
    if isinstance(data, dict) and "schema_version" in data \
            and data["schema_version"] not in READABLE_VERSIONS:
        raise HarnessError(f"--config {path}: a run.json of schema_version "
                           f"{data['schema_version']!r}, which this harness does not know (it "
                           f"reads {', '.join(map(str, READABLE_VERSIONS))}); replay it with "
                           f"the harness version that wrote it")
    return RunConfig.from_file(path)


def iter_reports(root: Path | str) -> Iterator[tuple[Path, RunReport | UnreadableReport]]:
    """``(run_dir, report)`` for every ``run.json`` below ``root`` (``report.run_dir`` is
    where it was found, see :func:`read`); an unreadable one yields its
    :class:`UnreadableReport` instead, so listings go on and can name it."""
    for path in sorted(Path(root).rglob(FILE_NAME)):
        try:
            yield path.parent, read(path.parent)
        except UnreadableReport as exc:
            yield path.parent, exc


__all__ = ["RunReport", "KeyResult", "UnreadableReport", "RunFailed", "SCHEMA_VERSION", "read",
           "iter_reports", "STATUS_COMPLETE", "STATUS_INCOMPLETE",
           "STATUS_FAILED", "STATUS_INTERRUPTED", "STATUS_ABANDONED"]
