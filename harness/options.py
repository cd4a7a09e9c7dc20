"""Declaring, generating and checking the command-line options of typed configs.

A config field is a dataclass field whose metadata says how it appears on the command line:
``option(default, flag=..., help=...)``. The one generator of options works from those
fields, for the run config (:mod:`harness.run.config`) and for the workflows' own settings
(find-peak's search, quantize's INT8 settings): :func:`add_arguments` turns a dataclass's
fields into argparse arguments (with a prefix for nested use, e.g. ``--peak-steps``),
:func:`from_arguments` the parsed namespace back into the dataclass. :func:`check` raises the
one clear error a bad value gets: the option's flag, what is wrong and how to fix it.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import field
from typing import Any, Iterator

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


# --- the generator ------------------------------------------------------------------------

def alternatives(hint) -> tuple:
    """The types a type hint allows (``int | None`` -> ``(int, NoneType)``)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def scalar(hint) -> type:
    """The value type of an option field: str, int, float or bool.

    Raises:
        TypeError: a hint with none of them.
    """
    for alt in alternatives(hint):
        if alt in (str, int, float, bool):
            return alt
    raise TypeError(f"unsupported option type {hint}")


def flag_of(f: dataclasses.Field, prefix: str = "") -> str:
    """The flag of a field: ``option(flag=...)``, else ``--<field-name>``; with ``prefix``
    (e.g. ``peak``) ``--<prefix>-<flag>``."""
    flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
    return f"--{prefix}-{flag[2:]}" if prefix else flag


def dest_of(flag: str) -> str:
    """The argparse attribute of a flag (``--peak-steps`` -> ``peak_steps``)."""
    return flag.lstrip("-").replace("-", "_")


def option_fields(cls) -> Iterator[tuple[dataclasses.Field, Any]]:
    """The ``(field, type hint)`` pairs of ``cls`` that are options: not internal; nested
    dataclass sections included (their caller walks them)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("internal"):
            yield f, hints[f.name]


def _parser_type(kind: type):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n' if kind is int else ''}"
                                             f" {kind.__name__}")
    parse.__name__ = kind.__name__
    return parse


def add_argument(parser: argparse.ArgumentParser, flag: str, kind: type, help: str,
                 default: Any = None, multiple: bool = False) -> None:
    """Add one option: a bool is a switch (given: True, else None); ``multiple`` takes
    several values; other values are parsed as ``kind`` (a bad one: argparse's error,
    exit status 2)."""
    if kind is bool:
        parser.add_argument(flag, action="store_const", const=True, default=None, help=help)
    elif multiple:
        parser.add_argument(flag, nargs="+", default=default, help=help)
    else:
        parser.add_argument(flag, type=_parser_type(kind), default=default, help=help,
                            metavar=dest_of(flag).upper())


def add_arguments(parser: argparse.ArgumentParser, cls, prefix: str = "",
                  exclude: tuple[str, ...] = (), help: str | None = None) -> None:
    """Add the option fields of the dataclass ``cls`` to ``parser``, each defaulting to its
    field's default.

    Args:
        prefix: nested use: ``--<prefix>-<flag>`` (find-peak's ``--steps`` as
            prepare-submission's ``--peak-steps``).
        exclude: field names left out.
        help: a help text for every option in place of the fields' own, ``{flag}`` standing
            for the unprefixed flag (e.g. ``"find-peak {flag}"``).
    """
    for f, hint in option_fields(cls):
        if f.name in exclude:
            continue
        text = help.format(flag=flag_of(f)) if help else f.metadata.get("help", "")
        add_argument(parser, flag_of(f, prefix), scalar(hint), text, default=f.default)


def from_arguments(ns: argparse.Namespace, cls, prefix: str = "", **values: Any):
    """The dataclass ``cls`` from options :func:`add_arguments` added: ``values`` first,
    then each field whose option is in ``ns``; the others keep their defaults.

    Raises:
        HarnessError: values ``cls`` refuses (its ``__post_init__``).
    """
    for f, _ in option_fields(cls):
        dest = dest_of(flag_of(f, prefix))
        if f.name not in values and hasattr(ns, dest):
            values[f.name] = getattr(ns, dest)
    return cls(**values)
