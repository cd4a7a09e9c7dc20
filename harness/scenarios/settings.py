"""user.conf files and LoadGen ``TestSettings``.

LoadGen facts this module relies on (verified with mlcommons-loadgen 6.0.17):

- ``TestSettings.FromConfig(user_conf, benchmark, scenario)`` applies the built-in mlperf.conf
  and then user.conf, keyed by the official benchmark name.
- The built-in mlperf.conf is applied only by the first ``FromConfig`` call in a process;
  later calls silently get LoadGen's bare defaults. So each LoadGen run needs its own process
  (:mod:`harness.launchers`), and :func:`test_settings` refuses a second call.
- ``FromConfig`` returns non-zero for a malformed line but ignores unknown keys, and lines
  whose model or scenario does not match the benchmark and scenario it was given, silently.
  :func:`validate_user_conf` checks every line first.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlperf_loadgen as lg

from ..errors import HarnessError

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
    "infer_token_latencies", "token_latency_scaling_factor", "print_timestamps", "mode"})

#: Scenario names LoadGen's conf parser matches (the second field of a line).
LOADGEN_SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")

#: Performance sample counts of the official benchmarks (LoadGen's built-in mlperf.conf,
#: ``*.performance_sample_count_override``), read without a throwaway ``FromConfig``.
PERFORMANCE_SAMPLE_COUNT = {"resnet50": 1024, "ssd-mobilenet": 256, "retinanet": 64}

#: Server p99 latency bounds (ms) of the official benchmarks (LoadGen's built-in mlperf.conf,
#: ``<benchmark>.Server.target_latency``); other benchmarks get its ``*`` line's 10 ms.
SERVER_TARGET_LATENCY_MS = {"resnet50": 15.0, "retinanet": 100.0}
DEFAULT_SERVER_TARGET_LATENCY_MS = 10.0

_LINE = re.compile(r"^(?P<model>[\w*-]+)\.(?P<scenario>[\w*]+)\.(?P<key>\w+)\s*=\s*"
                   r"(?P<value>[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)\s*$")

_FROM_CONFIG_CALLED = False


def read_user_conf(path: Path) -> str:
    """The text of a user.conf file.

    Raises:
        HarnessError: missing, unreadable or not text.
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"user.conf {path} does not exist")
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise HarnessError(f"user.conf {path} is not a text file (not UTF-8); a user.conf "
                           f"holds lines '<model>.<Scenario>.<key> = <number>'") from None
    except OSError as exc:
        raise HarnessError(f"user.conf {path} cannot be read: {exc.strerror or exc}") from None


def validate_user_conf(text: str, source: str, benchmark: str | None = None
                       ) -> list[tuple[str, str, str, str]]:
    """Check every line of a user.conf; return ``[(model, scenario, key, value), ...]``.

    Args:
        text: the file's text.
        source: where it comes from, for the message.
        benchmark: the official benchmark name the run passes to LoadGen (e.g.
            ``resnet50``); when given, every line must name it or ``*``, since LoadGen
            silently ignores lines for other models.

    Raises:
        HarnessError: a line that is not ``<model>.<scenario>.<key> = <number>``, a key
            LoadGen does not know, a scenario LoadGen does not know, or a model other than
            ``benchmark`` (LoadGen would ignore each of these silently).
    """
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        where = f"invalid user.conf {source}, line {lineno}: {raw.strip()!r}"
        if not m:
            raise HarnessError(f"{where}; expected '<model>.<Scenario>.<key> = <number>', "
                               f"e.g. '*.Offline.target_qps = 100'")
        if m["key"] not in USER_CONF_KEYS:
            raise HarnessError(f"{where}: unknown key '{m['key']}' (LoadGen would ignore it "
                               f"silently). Known keys: {', '.join(sorted(USER_CONF_KEYS))}")
        if m["scenario"] != "*" and m["scenario"] not in LOADGEN_SCENARIOS:
            raise HarnessError(f"{where}: unknown scenario '{m['scenario']}' (LoadGen would "
                               f"ignore the line silently); use '*' or one of "
                               f"{', '.join(LOADGEN_SCENARIOS)}")
        if benchmark is not None and m["model"] not in ("*", benchmark):
            raise HarnessError(f"{where}: LoadGen is given the benchmark name '{benchmark}', "
                               f"so it would ignore a line for '{m['model']}' silently; write "
                               f"'{benchmark}.{m['scenario']}.{m['key']}' or "
                               f"'*.{m['scenario']}.{m['key']}'")
        entries.append((m["model"], m["scenario"], m["key"], m["value"]))
    return entries


def conf_value(text: str, scenario: str, key: str) -> str | None:
    """The last value of ``*.<scenario>.<key>`` or ``<model>.<scenario>.<key>`` in text."""
    value = None
    for _model, scen, k, v in validate_user_conf(text, "<text>"):
        if k == key and scen in (scenario, "*"):
            value = v
    return value


def server_latency_bound_ms(text: str, benchmark: str) -> float:
    """The Server latency bound (ms) a run gets: the user.conf ``text``'s
    ``target_latency``, else LoadGen's built-in value for ``benchmark``."""
    value = conf_value(text, "Server", "target_latency")
    if value is not None:
        return float(value)
    return SERVER_TARGET_LATENCY_MS.get(benchmark, DEFAULT_SERVER_TARGET_LATENCY_MS)


def test_settings(user_conf: Path, benchmark: str, loadgen_scenario: str,
                  accuracy: bool) -> "lg.TestSettings":
    """LoadGen settings from the built-in mlperf.conf plus ``user_conf``.

    Args:
        user_conf: the effective user.conf of the run (already validated).
        benchmark: official benchmark name (e.g. ``resnet50``), never a variant name.
        loadgen_scenario: the ``mlperf_loadgen.TestScenario`` member name.
        accuracy: AccuracyOnly instead of PerformanceOnly.

    Raises:
        HarnessError: LoadGen rejects the file, or settings were already made in this
            process (LoadGen would silently leave out its mlperf.conf).
    """
    global _FROM_CONFIG_CALLED
    if _FROM_CONFIG_CALLED:
        raise HarnessError("LoadGen applies its built-in mlperf.conf only on the first "
                           "FromConfig of a process: run each LoadGen test in its own process "
                           "(the process launcher)")
    _FROM_CONFIG_CALLED = True
    settings = lg.TestSettings()
    rc = settings.FromConfig(str(user_conf), benchmark, loadgen_scenario)
    if rc != 0:
        raise HarnessError(f"LoadGen rejected user.conf {user_conf} (FromConfig returned "
                           f"{rc}); check its lines")
    settings.scenario = getattr(lg.TestScenario, loadgen_scenario)
    settings.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    return settings
