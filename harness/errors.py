"""The one error type the harness raises for bad input or an impossible request."""


class HarnessError(Exception):
    """A problem the user can fix: the message names the problem and the fix.

    The CLI prints ``error: <message>`` and exits with status 2; no traceback, no result
    directory that looks complete.
    """
