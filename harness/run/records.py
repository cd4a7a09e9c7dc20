"""The typed, versioned JSON records the workflows write beside their runs, each written and
read back through its dataclass:

- :class:`OptimizeTrials`: ``harness optimize``'s ``trials.json``, every trial of a search;
- :class:`OptimizeSearch`: its ``search.json``, the search's settings, best and baselines;
- :class:`PeakSearch`: ``harness find-peak``'s ``peak_search.json``, one Server peak search.

(``run.json`` is :mod:`harness.run.report`; ``best_<Scenario>.json`` is a run config,
:class:`harness.run.config.RunConfig`.)

Like pyperf's ``_bench.py``, a reader knows every format it ever wrote: a record of an
older ``schema_version`` is migrated, one step at a time, to the current one; one of a newer
version (a newer harness wrote it) is refused with one :class:`UnreadableRecord` naming the
version and the fix, never half read.

Format history (``schema_version``, every record):

- 0: the files written before records were versioned: no ``schema_version``;
  ``trials.json`` was a bare list of trials. Read as version 1 (the same fields).
- 1: ``schema_version`` first; ``trials.json`` an object ``{"schema_version", "trials"}``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from ..errors import UnreadableRecord
from ..files import write_json_atomic

#: The version every record is written in.
SCHEMA_VERSION = 1


def _unversioned(data: Any) -> Any:
    """Version 0 -> 1 of an object record: the same fields, now with a version."""
    return data


class Record:
    """What every record shares: ``schema_version`` first in :meth:`to_dict`; :meth:`from_dict`
    migrates older versions and refuses newer ones; :meth:`write` and :meth:`read` a file.

    A subclass is a dataclass with a ``schema_version: int = SCHEMA_VERSION`` field, names
    its file in ``FILE`` and may replace ``MIGRATIONS`` (version N -> the data of N + 1).
    """

    FILE: ClassVar[str] = "record"
    MIGRATIONS: ClassVar[dict[int, Callable[[Any], Any]]] = {0: _unversioned}

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict, ``schema_version`` first (a reader sees the format before
        anything else)."""
        data = dataclasses.asdict(self)
        return {"schema_version": data.pop("schema_version"), **data}

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, ignore_unknown: bool = False):
        """The record of ``data`` (a :meth:`to_dict` output, or an older version's);
        ``ignore_unknown``: fields it does not have are dropped (a hand-made file's extras)
        instead of refused.

        Raises:
            UnreadableRecord: a ``schema_version`` newer than :data:`SCHEMA_VERSION` or not
                a version number, not such a record, unknown or missing fields.
        """
        source = source or cls.FILE
        version = data.get("schema_version", 0) if isinstance(data, dict) else 0
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise UnreadableRecord(f"{source}: schema_version {version!r} is not a version "
                                   f"number")
        if version > SCHEMA_VERSION:
            raise UnreadableRecord(f"{source}: schema_version {version} is newer than this "
                                   f"harness reads ({SCHEMA_VERSION}); read it with the "
                                   f"harness version that wrote it")
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "schema_version"}
        for step in range(version, SCHEMA_VERSION):
            data = cls.MIGRATIONS[step](data)
        if not isinstance(data, dict):
            raise UnreadableRecord(f"{source}: not a {cls.FILE} record (a JSON "
                                   f"{type(data).__name__}, expected an object)")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown and ignore_unknown:
            data = {k: v for k, v in data.items() if k in names}
        elif unknown:
            raise UnreadableRecord(f"{source}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required field missing
            raise UnreadableRecord(f"{source}: not a {cls.FILE} record ({exc})") from None

    def write(self, path: Path | str) -> None:
        """Write the record to ``path`` atomically (:func:`harness.files.write_json_atomic`).

        Raises:
            HarnessError: the file cannot be written.
        """
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: Path | str):
        """The record in the file ``path`` (migrated to the current version).

        Raises:
            UnreadableRecord: the file cannot be read, is not JSON, or :meth:`from_dict`
                refuses it.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadableRecord(f"{path}: cannot read a {cls.FILE} record: {exc}") from None
        return cls.from_dict(data, str(path))


@dataclass
class OptimizeTrials(Record):
    """``trials.json``: every trial of an optimize search, in the order Optuna numbered them.

    Attributes:
        trials: one dict a trial: ``number``, ``state`` (``COMPLETE``, ``PRUNED``, ``FAIL``,
            ``SKIPPED``, ``INTERRUPTED``), ``params`` (the point), ``score`` (the scenario's
            objective, :data:`harness.reports.optimize.OBJECTIVES`; None: none),
            ``no_valid_target``, ``accuracy`` (percent or None), ``gate``, ``gate_ratio``,
            ``gate_violation`` (<= 0: feasible), ``config`` (a run config dict), ``facts``,
            ``error``, ``skipped``, ``started`` (ISO time), ``seconds``.
    """

    FILE: ClassVar[str] = "trials.json"
    # version 0 was the bare list of trials
    MIGRATIONS: ClassVar[dict[int, Callable[[Any], Any]]] = {
        0: lambda data: {"trials": data} if isinstance(data, list) else data}

    trials: list[dict[str, Any]]
    schema_version: int = SCHEMA_VERSION


@dataclass
class OptimizeSearch(Record):
    """``search.json``: how an optimize search ran and what it found.

    Attributes:
        scenario: Offline, SingleStream or Server.
        space: the values of each dimension searched.
        options: the search's settings (:class:`harness.workflows.optimize.Options`).
        with_accuracy: accuracy was measured (else speed only).
        accuracy: ``"accuracy:<model>:<precision>"`` -> the accuracy and gate measured.
        best: the best trial (a trial dict of :class:`OptimizeTrials`) or None.
        side_by_side: the baselines measured with the best, or None.
        command: the command line.
        trials_to_best: measured trials needed to reach the best, or None.
    """

    FILE: ClassVar[str] = "search.json"

    scenario: str
    space: dict[str, list]
    options: dict[str, Any]
    with_accuracy: bool
    accuracy: dict[str, Any]
    best: dict[str, Any] | None
    side_by_side: dict[str, Any] | None
    command: list[str]
    trials_to_best: int | None
    schema_version: int = SCHEMA_VERSION


@dataclass
class PeakSearch(Record):
    """``peak_search.json``: one Server peak search of ``harness find-peak``, written as it
    goes (``status`` ``incomplete`` until it ends: ``complete``, ``unconfirmed`` or
    ``failed``).

    Attributes:
        status, model, benchmark, system, precision: the search and what it searched.
        points: one dict a Server run: ``target_qps``, ``p99_ms``, ``valid``,
            ``latency_bound_ms``, ``kind`` (``bisection`` or ``confirm``), ...
        command, base_config (a run config dict), started, ended (ISO times).
        offline_samples_per_second, offline_run_dir: the Offline reference run.
        config: the backend configuration the peak belongs to.
        stopped: why the bisection stopped early, or None.
        peak_target_qps: the confirmed peak (samples/s) or None;
        server_to_offline_ratio: its ratio to the Offline samples/s.
        peak_file: the ``peak.json`` it was recorded in.
    """

    FILE: ClassVar[str] = "peak_search.json"

    status: str | None = None
    model: str | None = None
    benchmark: str | None = None
    system: str | None = None
    precision: str | None = None
    points: list[dict[str, Any]] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    base_config: dict[str, Any] | None = None
    started: str | None = None
    offline_samples_per_second: float | None = None
    offline_run_dir: str | None = None
    config: str | None = None
    stopped: str | None = None
    peak_target_qps: float | None = None
    server_to_offline_ratio: float | None = None
    ended: str | None = None
    peak_file: str | None = None
    #: the latency bound of every point (ms), in a hand-made file; find-peak records the
    #: bound with each point
    latency_bound_ms: float | None = None
    schema_version: int = SCHEMA_VERSION


__all__ = ["Record", "OptimizeTrials", "OptimizeSearch", "PeakSearch", "SCHEMA_VERSION",
           "UnreadableRecord"]
