"""Objects that name a key twice, found while `json.loads` builds them (its `object_pairs_hook`):
Python's json keeps the last value without a word, where a strict reader refuses the object.
Torch-free and serving-free, so that the data readers and the server can share it."""

from __future__ import annotations

from typing import Any

from attentext.errors import shown


class RepeatedKeys(dict):
    """An object that named `key` twice, kept whole so that its reader can say where it was (a
    row of a data file) once parsing is done."""

    key: str


def first_repeated_key(pairs: list[tuple[str, Any]]) -> str | None:
    """The first key `pairs` (an object's members, in order) names twice; None if each once."""
    if len({key for key, _ in pairs}) == len(pairs):
        return None
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None  # pragma: no cover (a shorter set means a key was seen twice)


def marked_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for a data file: the object, as `RepeatedKeys` naming the key where
    one is named twice (`{"text": "a", "label": "x", "label": "y"}` read as label "y")."""
    key = first_repeated_key(pairs)
    if key is None:
        return dict(pairs)
    found = RepeatedKeys(pairs)
    found.key = key
    return found


def repeated_key_problem(record: RepeatedKeys) -> str:
    """What is wrong with an object that names a key twice, in a few words."""
    return f"the key '{shown(record.key, 60)}' appears twice in one object; keep one"
