"""The error types the harness raises for bad input or an impossible request."""

import textwrap


class HarnessError(Exception):
    """A problem the user can fix: the message names the problem and the fix.

    The CLI prints ``error: <message>`` and exits with status 2; no traceback, no result
    directory that looks complete.
    """

    #: Process exit status the CLI returns for this error.
    exit_status = 2


class NoValidServerTarget(HarnessError):
    """``harness find-peak`` completed its search and no Server target QPS was VALID.

    Exit status 3, so scripts (``make submission``) can tell "this system cannot meet the
    latency bound" from a failed run.
    """

    exit_status = 3


class BatchNotSupported(HarnessError):
    """``--batch N`` asked of a model that fixes its batch size inside (e.g. the MobileNetV2
    TFLite's final Reshape to [1, 1001]), so OpenVINO cannot reshape it.

    Exit status 4, which the launchers carry back, so ``harness optimize`` can drop the
    batch sizes above 1 of that model from its search instead of failing trial after trial.
    """

    exit_status = 4


class UnreadableLog(HarnessError):
    """A LoadGen log that is not what LoadGen writes (e.g. a detail-log line whose JSON is
    not an MLLOG entry).

    Attributes:
        path: the log file.
        problem: what is wrong, naming the line (the message is ``<path>: <problem>``).
    """

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UnreadableRecord(HarnessError):
    """A workflow's JSON record (``trials.json``, ``search.json``, ``peak_search.json``) this
    harness cannot read: not JSON, not such a record, or a ``schema_version`` newer than it
    knows (the message says which and what to do; :mod:`harness.run.records`)."""


def shorten(text: str, width: int = 300) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters with
    `` [...]`` marking the cut (``textwrap.shorten``), for quoting a library's long message
    in an error line."""
    return textwrap.shorten(str(text), width=width, placeholder=" [...]")
