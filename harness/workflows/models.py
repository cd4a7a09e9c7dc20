"""``harness models``: the model cards (``models/*.toml``), one line each."""

from __future__ import annotations

HELP = "list model cards"


def add_arguments(_p) -> None:
    """No options."""


def main(_args) -> int:
    from .. import cards

    for name in cards.available():
        card = cards.load(name)
        print(f"{name:22s} {card.task:15s} benchmark={card.benchmark:14s} {card.description}")
    return 0
