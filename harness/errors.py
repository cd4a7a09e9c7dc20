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


def shorten(text: str, width: int = 300) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters with
    `` [...]`` marking the cut (``textwrap.shorten``), for quoting a library's long message
    in an error line."""
    return textwrap.shorten(str(text), width=width, placeholder=" [...]")
