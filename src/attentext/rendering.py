"""User strings (label names, texts, run folder names, recipe values) as the outputs attentext
writes for people show them: a terminal, and each kind of report is given them through here.

A label is data, not layout: a label holding an ANSI escape must not clear the user's terminal,
one holding a line break must not print as two classes.
"""

from __future__ import annotations


def printable(value: object, keep: str = "") -> str:
    """`value` as text with each character that is not printable (control characters, line
    breaks, ANSI escapes, bidirectional overrides, zero-width and non-breaking spaces) written as
    its escape (`\\x1b`, `\\n`, `\\u202e`), so that it shows as one line, as written, and cannot
    drive a terminal; the characters in `keep` (a tab or line break of the caller's own layout)
    are left as they are."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else repr(ch)[1:-1] for ch in text)
