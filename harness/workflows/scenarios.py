"""``harness scenarios``: the LoadGen scenarios (``scenarios/scenarios.toml``), one line each."""

from __future__ import annotations

HELP = "list scenarios"


def add_arguments(_p) -> None:
    """No options."""


def main(_args) -> int:
    from .. import scenarios

    for s in scenarios.all_scenarios():
        answers = "sync " if s.synchronous else "async"
        print(f"{s.name:13s} answers={answers} hint={s.hint:10s} metric: {s.metric}")
    return 0
