"""How `compare` ranks runs measured on the same texts, and what it says of a tie at the top.

One label per text: by accuracy, a tie broken by macro-F1 (it weighs every class, where two runs
right on as many texts can differ on the small ones). Several labels per text: by macro-F1
(subset accuracy is too strict). Runs tied on every key keep the order they were given in. The
best run is the one every p-value is taken against, so the leaderboard, its p-values and the
terminal all use this one order; a best tied on the first key is said so, since "best" then
rests on the tie-break or on the order given alone (it was the first given, without a word).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SINGLE_LABEL_KEYS = ("accuracy", "macro_f1")
MULTI_LABEL_KEYS = ("macro_f1",)
SHOWN = {"accuracy": "accuracy", "macro_f1": "macro-F1"}


def is_multi_label(rows: list[dict[str, Any]]) -> bool:
    """Whether `rows` are of runs with several labels per text (only their rows have micro-F1)."""
    return bool(rows) and "micro_f1" in rows[0]


def rank_keys(multi_label: bool) -> tuple[str, ...]:
    """The scores runs are ranked by, the first deciding, the next breaking its ties."""
    return MULTI_LABEL_KEYS if multi_label else SINGLE_LABEL_KEYS


def rank_order(rows: list[dict[str, Any]], multi_label: bool) -> list[int]:
    """The indices of `rows`, best first: higher on the rank keys, ties in the order given."""
    keys = rank_keys(multi_label)
    return sorted(range(len(rows)), key=lambda i: tuple(-rows[i].get(key, 0.0) for key in keys))


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` best first (`rank_order`)."""
    return [rows[i] for i in rank_order(rows, is_multi_label(rows))]


def tie_note(rows: list[dict[str, Any]], name: Callable[[Any], str] = str) -> str | None:
    """What to say where the best of `rows` (ranked, best first) is tied on the first rank key
    with other runs: with whom, and what ranked them; None where it is not. `name` renders a
    run's name for where the note goes (the terminal, Markdown)."""
    if len(rows) < 2:
        return None
    keys = rank_keys(is_multi_label(rows))
    best = rows[0]
    tied = [row for row in rows[1:] if row.get(keys[0]) == best.get(keys[0])]
    if not tied:
        return None
    names = ", ".join(name(row["model"]) for row in tied)
    note = f"best: {name(best['model'])}, tied on {SHOWN[keys[0]]} with {names}"
    if len(keys) == 1:
        return f"{note}; ranked in the order given"
    also = [row for row in tied if all(row.get(key) == best.get(key) for key in keys)]
    if not also:
        return f"{note}; ranked by {SHOWN[keys[1]]}"
    also_names = ", ".join(name(row["model"]) for row in also)
    return (
        f"{note}; ranked by {SHOWN[keys[1]]}, then in the order given (tied on "
        f"{SHOWN[keys[1]]} too with {also_names})"
    )
