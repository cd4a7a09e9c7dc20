"""Scenarios: definitions from ``scenarios/scenarios.toml`` and LoadGen settings.

LoadGen facts this module relies on (verified with mlcommons-loadgen 6.0.17):
- ``TestSettings.FromConfig(user_conf, benchmark, scenario)`` applies the built-in
  mlperf.conf and then user.conf, keyed by the official benchmark name.
- The built-in mlperf.conf is applied only by the first ``FromConfig`` call in a process;
  later calls silently get LoadGen's bare defaults. So each LoadGen run needs its own process
  (the CLI runs one test per invocation; :func:`harness.runner.run_subprocess` for more).
- ``FromConfig`` returns non-zero for a malformed line but ignores unknown keys silently,
  so :func:`validate_user_conf` checks every line first.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg

from .errors import HarnessError
from .paths import scenarios_dir

#: Keys LoadGen's user.conf parser reads (loadgen/test_settings_internal.cc, FromConfig).
USER_CONF_KEYS = frozenset({
    "target_qps", "target_latency", "target_latency_percentile", "target_duration",
    "min_duration", "max_duration", "min_query_count", "max_query_count", "qsl_rng_seed",
    "sample_index_rng_seed", "schedule_rng_seed", "accuracy_log_rng_seed",
    "accuracy_log_probability", "accuracy_log_sampling_target", "test05",
    "test05_qsl_rng_seed", "test05_sample_index_rng_seed", "test05_schedule_rng_seed",
    "performance_issue_unique", "performance_issue_same", "performance_issue_same_index",
    "performance_sample_count_override", "sample_concatenate_permutation",
    "samples_per_query", "max_async_queries", "coalesce_queries",
    "server_num_issue_query_threads", "use_token_latencies", "ttft_latency", "tpot_latency",
    "infer_token_latencies", "token_latency_scaling_factor", "print_timestamps"})

_LINE = re.compile(r"^(?P<model>[\w*-]+)\.(?P<scenario>[\w*]+)\.(?P<key>\w+)\s*=\s*"
                   r"(?P<value>[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)\s*$")

EXECUTION_MODES = ("test", "valid")


@dataclass(frozen=True)
class Scenario:
    """One scenario definition (a table of scenarios.toml)."""

    name: str
    loadgen: str
    issue: str
    hint: str
    metric: str
    test_mode: tuple[str, ...]

    @property
    def lg_scenario(self) -> "lg.TestScenario":
        return getattr(lg.TestScenario, self.loadgen)


def definitions() -> dict[str, Scenario]:
    """All scenario definitions, by name."""
    with (scenarios_dir() / "scenarios.toml").open("rb") as f:
        data = tomllib.load(f)
    return {name: Scenario(name=name, loadgen=t["loadgen"], issue=t["issue"], hint=t["hint"],
                           metric=t["metric"], test_mode=tuple(t.get("test_mode", ())))
            for name, t in data.items()}


def get(name: str) -> Scenario:
    """The scenario ``name`` (case-insensitive).

    Raises:
        HarnessError: unknown scenario (lists the valid ones).
    """
    defs = definitions()
    for key, scenario in defs.items():
        if key.lower() == str(name).lower():
            return scenario
    raise HarnessError(f"unknown scenario '{name}'. Valid scenarios: {', '.join(defs)}")


def user_conf_path(model: str, scenario: str) -> Path:
    """``scenarios/<model>/<Scenario>/user.conf`` if present, else ``scenarios/default/...``."""
    own = scenarios_dir() / model / scenario / "user.conf"
    return own if own.is_file() else scenarios_dir() / "default" / scenario / "user.conf"


def validate_user_conf(text: str, source: str) -> list[tuple[str, str, str, str]]:
    """Check every line of a user.conf; return ``[(model, scenario, key, value), ...]``.

    Raises:
        HarnessError: a line that is not ``<model>.<scenario>.<key> = <number>``, or a key
            LoadGen does not know (LoadGen itself would ignore it silently).
    """
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise HarnessError(f"invalid user.conf {source}, line {lineno}: {raw.strip()!r}; "
                               f"expected '<model>.<Scenario>.<key> = <number>', e.g. "
                               f"'*.Offline.target_qps = 100'")
        if m["key"] not in USER_CONF_KEYS:
            raise HarnessError(f"invalid user.conf {source}, line {lineno}: unknown key "
                               f"'{m['key']}' (LoadGen would ignore it silently). Known keys: "
                               f"{', '.join(sorted(USER_CONF_KEYS))}")
        entries.append((m["model"], m["scenario"], m["key"], m["value"]))
    return entries


def conf_value(text: str, scenario: str, key: str) -> str | None:
    """The last value of ``*.<scenario>.<key>`` or ``<model>.<scenario>.<key>`` in text."""
    value = None
    for _model, scen, k, v in validate_user_conf(text, "<text>"):
        if k == key and scen in (scenario, "*"):
            value = v
    return value


def test_settings(user_conf: Path, benchmark: str, scenario: Scenario,
                  accuracy: bool) -> "lg.TestSettings":
    """LoadGen settings from the built-in mlperf.conf plus ``user_conf``.

    Args:
        user_conf: the effective user.conf of the run (already validated).
        benchmark: official benchmark name (e.g. ``resnet50``), never a variant name.
        scenario: the scenario.
        accuracy: AccuracyOnly instead of PerformanceOnly.

    Raises:
        HarnessError: LoadGen rejects the file.
    """
    settings = lg.TestSettings()
    rc = settings.FromConfig(str(user_conf), benchmark, scenario.loadgen)
    if rc != 0:
        raise HarnessError(f"LoadGen rejected user.conf {user_conf} (FromConfig returned "
                           f"{rc}); check its lines")
    settings.scenario = scenario.lg_scenario
    settings.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    return settings
