"""Declaring and checking the fields of the typed configs (:mod:`harness.run.config`).

A config field is a dataclass field whose metadata says how it appears on the command line:
``option(default, flag=..., help=...)``. :func:`check` raises the one clear error a bad value
gets: the option's flag, what is wrong and how to fix it.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .errors import HarnessError


def option(default: Any, *, help: str, flag: str | None = None, internal: bool = False,
           path: bool = False):
    """A config field with its command-line flag (default ``--<field-name>``) and help.

    ``internal`` fields are part of the config (and of ``run.json``) but have no flag;
    ``path`` fields name files or folders (relative to the working directory of the run).
    """
    meta = {"help": help, "internal": internal, "path": path}
    if flag:
        meta["flag"] = flag
    return field(default=default, metadata=meta)


def check(condition: bool, flag: str, message: str) -> None:
    """Raise ``HarnessError("<flag>: <message>")`` unless ``condition`` holds."""
    if not condition:
        raise HarnessError(f"{flag}: {message}")
