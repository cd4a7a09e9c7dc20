"""The typed configuration of one run: one :class:`RunConfig` in, one report out.

A run config is nested, one section per axis of a benchmark (the layout of
optimum-benchmark's ``BenchmarkConfig``)::

    RunConfig
      model      ModelConfig      card name, weights
      data       DataConfig       dataset folder, first N samples
      backend    BackendConfig    each backend owns its options (harness/backends/<name>/
                                  config.py, one entry of harness.backends.REGISTRY);
                                  OpenVINO's hold its INT8 calibration settings (no
                                  module-level state)
      scenario   ScenarioConfig   scenario name, target QPS, user.conf
      mode       ModeConfig       performance | accuracy, the 99% gate's reference run
      execution  ExecutionConfig  test | valid, test-mode duration, results root, system name,
                                  LoadGen audit.config (compliance tests)
      launcher   LauncherConfig   inline | process | ray, CPUs to pin the run to, the Ray
                                  cluster's address

Validation lives in one place: each section's ``__post_init__`` checks its own values (a
config that exists is a valid one), :class:`RunConfig` checks what spans sections. Errors are
:class:`harness.errors.HarnessError` naming the ``harness run`` option and the fix.

The config round-trips through JSON exactly (``RunConfig.from_dict(c.to_dict()) == c``);
``run.json`` stores it under ``config``. The ``harness run`` options are generated once from
the fields (:func:`add_arguments`, :func:`from_arguments`); :func:`to_arguments` turns a
config back into the options that reproduce it.

Machine-dependent checks (does the model card, the dataset folder, the CPU exist here) are
not config validation: the run's prepare step and the launchers do them, before anything is
written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import backends
from ..accuracy import gate
from ..backends.config import BackendConfig
from ..backends.kserve.config import KServeConfig
from ..backends.openvino.config import OpenVINOConfig
from ..backends.pytorch.config import PyTorchConfig
from ..errors import HarnessError
from .. import options as fields
from ..options import check, option
from ..scenarios import get as get_scenario
from ..system import parse_cpu_list

MODES = ("performance", "accuracy")
EXECUTIONS = ("test", "valid")
#: The launchers a run config may name: the one list of their names, each the ``name`` of a
#: class in :data:`harness.launchers.REGISTRY` (the run layer cannot import launchers).
LAUNCHERS = ("inline", "process", "ray")


@dataclass
class ModelConfig:
    """Which model, with which weights."""

    name: str = option("resnet50", flag="--model",
                       help="model card name (see 'harness models')")
    weights: str | None = option(None, path=True, help="'default' (the card's standard weights), "
                                            "'random', or a file (.pth, .onnx, .tflite, .xml)")

    def __post_init__(self) -> None:
        check(bool(self.name), "--model", "names no model card")


@dataclass
class DataConfig:
    """Which samples: a dataset folder (None: synthetic data) and its first ``count``."""

    dataset: str | None = option(None, path=True, help="dataset folder (ImageNet: images + val_map.txt; "
                                            "COCO: val2017/ + annotations/); none: synthetic")
    count: int | None = option(None, help="use the first N samples (N >= 1)")

    def __post_init__(self) -> None:
        if self.dataset == "":
            self.dataset = None
        check(self.count is None or self.count >= 1, "--count",
              f"{self.count} must be at least 1 (or left out: every sample)")


@dataclass
class ScenarioConfig:
    """The LoadGen scenario and the load it is given."""

    name: str = option("Offline", flag="--scenario",
                       help="Offline, Server, SingleStream or MultiStream")
    target_qps: float | None = option(None, help="Offline expected / Server target QPS "
                                                 "(samples/s, > 0)")
    user_conf: str | None = option(None, path=True, help="user.conf to use instead of "
                                              "scenarios/<model>/<Scenario>/user.conf")

    def __post_init__(self) -> None:
        self.name = get_scenario(self.name).name  # canonical case; unknown: listed
        check(self.target_qps is None or self.target_qps > 0, "--target-qps",
              f"{self.target_qps} must be a positive rate (samples/s)")


@dataclass
class ModeConfig:
    """LoadGen's mode, and what an accuracy run is held to."""

    name: str = option("performance", flag="--mode", help="performance or accuracy")
    allow_random_accuracy: bool = option(
        False, help="accept WEIGHTS=random in accuracy mode (recorded as meaningless)")
    reference_run: str | None = option(
        None, path=True, help="accuracy mode: the FP32 accuracy run the 99%% gate compares with "
                   "(default: found in the results, or run first)")
    gate: str | None = option(
        None, internal=True, help="accuracy mode: the 99%% gate, decided once by the workflow "
                                  "that made the config (harness.accuracy.gate.decide): held, "
                                  "skipped or none; None: the run decides")

    def __post_init__(self) -> None:
        check(self.name in MODES, "--mode", f"unknown mode '{self.name}'; valid: "
                                            f"{', '.join(MODES)}")
        check(self.gate in (None, *gate.DECISIONS), "mode.gate",
              f"unknown decision '{self.gate}'; valid: {', '.join(gate.DECISIONS)}")


@dataclass
class ExecutionConfig:
    """How long LoadGen runs and where the result goes."""

    kind: str = option("test", flag="--execution",
                       help="test (short runs, not valid for submission) or valid (official)")
    duration_ms: int | None = option(None, help="test mode: minimum duration in ms (>= 1)")
    results_dir: str = option("results", path=True, help="results root")
    system: str | None = option(None, help="system name for the results folder "
                                           "(default: CPU model and core count)")
    audit_config: str | None = option(
        None, path=True, help="LoadGen audit.config of a compliance test (harness compliance sets it); "
                   "never read from the working directory")

    def __post_init__(self) -> None:
        check(self.kind in EXECUTIONS, "--execution",
              f"unknown execution mode '{self.kind}'; valid: {', '.join(EXECUTIONS)}")
        check(self.duration_ms is None or self.duration_ms >= 1, "--duration-ms",
              f"{self.duration_ms} must be a positive duration in ms")
        check(self.duration_ms is None or self.kind == "test", "--duration-ms",
              "applies to test mode only; valid runs use the official minimum duration")
        check(bool(self.results_dir), "--results-dir", "names no folder")
        check(self.system is None or (self.system and "/" not in self.system
                                      and not self.system.startswith(".")),
              "--system", f"'{self.system}' must be a plain folder name")


@dataclass
class LauncherConfig:
    """How the run is started: in this process, in a fresh one, or on a node of a Ray
    cluster; pinned to CPUs or not."""

    name: str = option("inline", flag="--launcher",
                       help="inline (this process), process (a fresh Python process) or ray "
                            "(a node of a Ray cluster, docs/scale-out.md)")
    cores: str | None = option(None, help="pin the run to these CPUs, taskset syntax "
                                          "('0', '0-1,4')")
    address: str | None = option(None, help="--launcher ray: the cluster's head, HOST:PORT, "
                                            "or 'auto' (the default: the cluster this machine "
                                            "belongs to, or RAY_ADDRESS)")

    def __post_init__(self) -> None:
        check(self.name in LAUNCHERS, "--launcher",
              f"unknown launcher '{self.name}'; valid: {', '.join(LAUNCHERS)}")
        if self.cores is not None:
            parse_cpu_list(self.cores)  # syntax; the launcher checks the CPUs exist
        if self.address is not None:
            host, _, port = self.address.rpartition(":")
            check(self.address == "auto" or (bool(host) and "/" not in host
                                             and port.isdigit() and 0 < int(port) < 65536),
                  "--address", f"'{self.address}' is not HOST:PORT (the Ray head's GCS "
                               f"port, e.g. 10.0.0.5:6379) or 'auto'")


@dataclass
class RunConfig:
    """The whole configuration of one run (saved in ``run.json`` as ``config``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    backend: BackendConfig = field(default_factory=backends.REGISTRY[backends.DEFAULT].config)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    mode: ModeConfig = field(default_factory=ModeConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    launcher: LauncherConfig = field(default_factory=LauncherConfig)

    def __post_init__(self) -> None:
        check(self.mode.name != "accuracy" or self.data.dataset is not None, "--dataset",
              "accuracy mode needs a real dataset: pass DATASET=<folder> (synthetic data "
              "has no labels)")
        check((self.backend.batch or 1) == 1
              or self.scenario.name != "SingleStream", "--batch",
              "SingleStream sends one sample per query and waits for it (MLPerf rules, "
              "scenarios): batching does not apply; leave --batch out")

    # --- identity ------------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The backend's precision (fp32, bf16, int8)."""
        return self.backend.precision

    @property
    def accuracy(self) -> bool:
        """True in accuracy mode (LoadGen AccuracyOnly)."""
        return self.mode.name == "accuracy"

    def label(self, precision: str | None = None) -> str:
        """One line naming the run, e.g. ``resnet50 int8 Offline performance``; ``precision``
        in place of ``--precision`` (a run's precision label, e.g. ``uint8``)."""
        return (f"{self.model.name} {precision or self.precision} {self.scenario.name} "
                f"{self.mode.name}")

    # --- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; the backend section carries its ``name``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "RunConfig":
        """The config of a ``to_dict`` output (e.g. a config file or ``run.json``'s
        ``config``).

        Raises:
            HarnessError: not an object, unknown keys, values of the wrong type, or values
                a section refuses (naming the key and the fix).
        """
        return _from_dict(cls, data, "config")

    def with_absolute_paths(self, base: str | Path) -> "RunConfig":
        """This config with every relative file or folder resolved against ``base`` (the
        working directory it was made in), so another process in another folder reruns the
        same thing. ``--weights random`` and ``default`` are names, not paths."""
        data = self.to_dict()

        def walk(cls, node: dict) -> None:
            hints = _hints(cls)
            for f in dataclasses.fields(cls):
                value = node.get(f.name)
                if isinstance(value, dict):
                    sub = hints[f.name]
                    walk(backends.REGISTRY[value["name"]].config if sub is BackendConfig
                         else sub, value)
                elif f.metadata.get("path") and isinstance(value, str) and value and \
                        value not in ("random", "default"):
                    node[f.name] = str((Path(base) / value).resolve())
        walk(RunConfig, data)
        return RunConfig.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        """A config file, or the ``config`` of an earlier run's ``run.json``.

        Raises:
            HarnessError: unreadable file, or not a run config.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HarnessError(f"--config {path}: cannot read a JSON run config: {exc}")
        if isinstance(data, dict) and "schema_version" in data and "config" in data:
            data = data["config"]  # a run.json: replay its config
        try:
            return cls.from_dict(data)
        except HarnessError as exc:
            raise HarnessError(f"--config {path}: {exc}") from None


# --- dict <-> dataclass ------------------------------------------------------------------

def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_dict(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise HarnessError(f"{where} must be a JSON object, not {type(data).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                           f"{', '.join(sorted(names))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _value(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _value(hint, value: Any, where: str):
    if hint is BackendConfig:  # chosen by its name
        if not isinstance(value, dict) or value.get("name") not in backends.REGISTRY:
            raise HarnessError(f"{where}: needs a 'name', one of "
                               f"{', '.join(backends.REGISTRY)}")
        return _from_dict(backends.REGISTRY[value["name"]].config, value, where)
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, where)
    alts = fields.alternatives(hint)
    if value is None:
        if type(None) in alts:
            return None
        raise HarnessError(f"{where} may not be null")
    for alt in alts:
        if alt is bool and isinstance(value, bool):
            return value
        if alt is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if alt is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if alt is str and isinstance(value, str):
            return value
    wanted = " or ".join(getattr(a, "__name__", str(a)) for a in alts)
    raise HarnessError(f"{where}: {value!r} is not {wanted}")


def _defaults(cls) -> dict[str, Any]:
    """The default values of a config dataclass as a dict, without checking them (a backend
    may need values the defaults cannot give, e.g. KServe's endpoint)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:  # a nested section
            out[f.name] = _defaults(f.default_factory)
        else:
            out[f.name] = f.default
    return out


# --- command-line options, generated from the fields -----------------------------------

@dataclass(frozen=True)
class Option:
    """One ``harness run`` option: its flag, the field path it sets, its type and help."""

    flag: str
    path: tuple[str, ...]       # e.g. ("backend", "quantization", "calibration_count")
    kind: type                  # str, int, float or bool
    help: str
    backends: tuple[str, ...]   # backends that have it ((): not a backend option)

    @property
    def dest(self) -> str:
        return fields.dest_of(self.flag)


def _walk(cls, prefix: tuple[str, ...], backend: str | None):
    for f, hint in fields.option_fields(cls):
        if dataclasses.is_dataclass(hint):
            yield from _walk(hint, prefix + (f.name,), backend)
            continue
        yield Option(fields.flag_of(f), prefix + (f.name,), fields.scalar(hint),
                     f.metadata.get("help", ""), (backend,) if backend else ())


def options() -> list[Option]:
    """Every ``harness run`` option, in section order; an option several backends share
    (``--precision``, ``--threads``) appears once, naming all of them."""
    out: dict[str, Option] = {}
    for f in dataclasses.fields(RunConfig):
        if f.name == "backend":
            out["--backend"] = Option("--backend", ("backend", "name"), str,
                                      "inference backend: " + ", ".join(backends.REGISTRY), ())
            for name, entry in backends.REGISTRY.items():
                for opt in _walk(entry.config, ("backend",), name):
                    if opt.path == ("backend", "name"):
                        continue
                    if opt.flag in out:
                        old = out[opt.flag]
                        opt = dataclasses.replace(old, backends=old.backends + opt.backends)
                    out[opt.flag] = opt
            continue
        for opt in _walk(_hints(RunConfig)[f.name], (f.name,), None):
            out[opt.flag] = opt
    return list(out.values())


def add_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = (),
                  multiple: tuple[str, ...] = ()) -> None:
    """Add the run options to ``parser``; every default is None (unset), so that
    :func:`from_arguments` knows what was given.

    Args:
        exclude: flags a command sets itself (e.g. ``--scenario`` for find-peak).
        multiple: flags that take several values (a sweep's axes).
    """
    for opt in options():
        if opt.flag in exclude:
            continue
        extra = ""
        if opt.backends and len(opt.backends) < len(backends.REGISTRY):
            extra = f" [{', '.join(opt.backends)}]"
        fields.add_argument(parser, opt.flag, opt.kind, opt.help + extra,
                            multiple=opt.flag in multiple)


def given(ns: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The run options the user gave (flag -> value), leaving out ``exclude`` (flags a
    command did not add, or added with another meaning)."""
    return {opt.flag: getattr(ns, opt.dest) for opt in options()
            if opt.flag not in exclude and getattr(ns, opt.dest, None) is not None}


def from_arguments(ns: argparse.Namespace | dict[str, Any],
                   base: RunConfig | None = None, exclude: tuple[str, ...] = ()) -> RunConfig:
    """A config from parsed options: the given ones override ``base`` (default: all
    defaults).

    Args:
        ns: an argparse namespace, or a ``{flag: value}`` dict.
        base: a config to start from (``--config``, a workflow's base run).
        exclude: as for :func:`given`.

    Raises:
        HarnessError: an option the chosen backend does not have, or invalid values.
    """
    values = ns if isinstance(ns, dict) else given(ns, exclude)
    data = (base or RunConfig()).to_dict()
    table = {opt.flag: opt for opt in options()}
    backend = values.get("--backend", data["backend"]["name"])
    config_class = backends.entry(backend).config  # an unknown one: listed
    if backend != data["backend"]["name"]:  # another backend: start from its defaults,
        old = data["backend"]                # keeping the options both have
        new = _defaults(config_class)
        for key in new:
            if key != "name" and key in old and not isinstance(old[key], dict):
                new[key] = old[key]
        data["backend"] = new
    for flag, value in values.items():
        opt = table[flag]
        if opt.backends and backend not in opt.backends:
            raise HarnessError(f"{flag} is an option of the {' and '.join(opt.backends)} "
                               f"backend, not of '{backend}'")
        node = data
        for key in opt.path[:-1]:
            node = node[key]
        node[opt.path[-1]] = value
    data["mode"]["gate"] = None  # decided for the config as now given (mode.gate)
    return RunConfig.from_dict(data)


#: Options :func:`to_arguments` always writes, first: what names a run.
IDENTITY_FLAGS = ("--model", "--scenario", "--mode", "--precision", "--execution")


def to_arguments(cfg: RunConfig) -> list[str]:
    """The ``harness run`` options that rebuild ``cfg``: the identity options
    (:data:`IDENTITY_FLAGS`) always, then those whose values differ from the defaults."""
    default = RunConfig().to_dict()
    data = cfg.to_dict()
    table = {opt.flag: opt for opt in options()}
    order = list(IDENTITY_FLAGS) + [f for f in table if f not in IDENTITY_FLAGS]
    out: list[str] = []
    for flag in order:
        opt = table[flag]
        value, base = data, default
        for key in opt.path:
            value = value.get(key) if isinstance(value, dict) else None
            base = base.get(key) if isinstance(base, dict) else None
        if value is None or (value == base and flag not in IDENTITY_FLAGS):
            continue
        if opt.kind is bool:
            if value:
                out.append(opt.flag)
        else:
            out += [opt.flag, str(value)]
    return out


__all__ = ["RunConfig", "ModelConfig", "DataConfig", "ScenarioConfig", "ModeConfig",
           "ExecutionConfig", "LauncherConfig", "BackendConfig", "OpenVINOConfig", "PyTorchConfig",
           "KServeConfig", "add_arguments", "from_arguments", "to_arguments", "options",
           "given"]
