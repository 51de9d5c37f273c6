"""User strings (label names, texts, run folder names, recipe values) as the outputs attentext
writes for people show them: a terminal, and each kind of report is given them through here.

A label is data, not layout: a label holding an ANSI escape must not clear the user's terminal,
one holding a line break must not print as two classes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


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


# Characters that can make inline Markdown (GitHub's, the Hub's) read a string as layout: a code
# span, emphasis, a link or image, raw HTML, a table's column, math, strikethrough, an entity.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>|$~#&")


def markdown_text(value: object) -> str:
    """`value` as inline Markdown (a table cell, a heading, a sentence) that renders as written:
    one line, and each character Markdown could read as layout backslash-escaped (`a|b` stays
    in its cell, `<script>` and `[x](javascript:...)` show as text, `$x$` is not math). An
    underscore inside a word, which never starts emphasis, stays as it is (`ag_news_tiny`)."""
    text = printable(value)
    escaped = []
    for i, ch in enumerate(text):
        inside_word = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        special = ch in _MARKDOWN_SPECIAL and not (ch == "_" and inside_word)
        escaped.append("\\" + ch if special else ch)
    return "".join(escaped)


def markdown_prose(value: object) -> str:
    """`value` as inline Markdown that keeps its code spans (`` `--shots N` `` in a recipe's
    description shows as code) and escapes everything else as `markdown_text` does: with every
    character escaped, the built-in recipes' descriptions showed their backticks in the card."""
    text = printable(value)
    shown, end = [], 0
    for span in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", text):  # runs of equal length
        shown += [markdown_text(text[end : span.start()]), markdown_code(span.group(2))]
        end = span.end()
    return "".join([*shown, markdown_text(text[end:])])


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def markdown_code(value: object, in_table: bool = False) -> str:
    """`value` as an inline code span that shows it whole: fenced by more backticks than it
    holds, one line; in a table cell its `|` escaped (GitHub reads `\\|` there as `|`; outside a
    table a code span shows the backslash, so it is escaped only `in_table`)."""
    text = printable(value)
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_fence(text: str, info: str = "") -> list[str]:
    """`text` as the lines of a fenced code block that no line of it can close: the fence is
    longer than any run of backticks in it (a recipe value holding ``` ended the block)."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [f"{fence}{info}", text, fence]


def python_string(value: str) -> str:
    """`value` as a Python string literal for a snippet to copy: quotes and backslashes escaped,
    control and bidirectional characters written as escapes."""
    return printable(json.dumps(value, ensure_ascii=False))


def interval_text(interval: Any) -> str:
    """A 95 % interval as the terminal and report.md write it beside its score, " (95 % interval
    0.8752-0.8897)"; nothing where there is none (runs from before intervals)."""
    if not interval:
        return ""
    return f" (95 % interval {interval[0]:.4f}-{interval[1]:.4f})"


def shortened(value: object, width: int) -> str:
    """`value` as one line (`printable`) of at most `width` characters: its start and end kept
    around a "…", so that long labels that differ at the end stay apart."""
    text = printable(value)
    if len(text) <= width:
        return text
    head = (width - 1) - (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1) // 2 :]


REPR_LABELS = 8  # labels a classifier's repr names before it counts the rest

# the most classes a per-class table shows (the terminal, report.md, the card) and the card's
# sentence names (trec_fine's 50 are all shown); 2,000 classes printed 4,000 table rows after
# train, and their card and report.md held every row of both splits (1.6 MB of card for
# 200-character labels)
TABLE_CLASSES = 50
CLASS_NOUNS, LABEL_NOUNS = ("class", "classes"), ("label", "labels")


def shown_classes(
    per_class: dict[str, Any], limit: int = TABLE_CLASSES, nouns: tuple[str, str] = CLASS_NOUNS
) -> tuple[list[tuple[str, Any]], str]:
    """The rows a per-class table shows, and what it says of the others ("" when it shows
    every class): every class up to `limit`; beyond, the `limit` classes with the most texts
    in the split (`support`; ties in the run's order), most first, as the per-label chart
    picks its bars. `nouns`: what a row is called, one and several."""
    rows = list(per_class.items())
    if len(rows) <= limit:
        return rows, ""

    def support(row: Any) -> float:
        value = row.get("support") if isinstance(row, dict) else None
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0

    kept = sorted(rows, key=lambda item: -support(item[1]))[:limit]
    rest = len(rows) - limit
    one, several = nouns
    return kept, (
        f"the {limit} {several} of most texts here, most first; {rest:,} more "
        f"{several if rest > 1 else one} in metrics.json"
    )


def classifier_text(classifier: object) -> str:
    """`TransformersClassifier(run='runs/seed', labels=['World', 'Sports', ...])`: a loaded
    classifier as a notebook shows it; object's default (`<... object at 0x7f...>`) named
    neither the run nor its labels."""
    labels = list(getattr(classifier, "labels", []))
    named = ", ".join(repr(shortened(label, 40)) for label in labels[:REPR_LABELS])
    if len(labels) > REPR_LABELS:
        named += f", ... ({len(labels):,} labels)"
    parts = [f"labels=[{named}]"]
    run = getattr(classifier, "run_dir", None)
    if run is not None:
        parts.insert(0, f"run={str(run)!r}")
    if getattr(classifier, "multi_label", False):
        parts.append("multi_label=True")
    return f"{type(classifier).__name__}({', '.join(parts)})"


class _EscapingDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing a string that holds a character `printable` escapes as a
    double-quoted scalar (see `yaml_text`)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None if value.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_EscapingDumper.add_representer(str, _represent_str)


def _yaml_escape(ch: str) -> str:
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def yaml_text(data: Any, width: int = 100) -> str:
    """`data` as YAML (keys in their order) whose strings read back exactly and show no control,
    bidirectional or invisible character raw: each is a `\\u` escape in a double-quoted scalar.

    PyYAML escapes C0 controls, but with `allow_unicode` (which keeps `体育` readable) it writes
    a bidi override (U+202E), an isolate (U+2066-2069) or a zero-width space as it is: a label
    holding one reversed the rest of its line in the card's front matter, which the Hub reads
    the labels from. Every string holding such a character is double-quoted by the dumper, so
    each one left in the text is inside a double-quoted scalar, where `\\u` is its escape."""
    dumped = yaml.dump(
        data, Dumper=_EscapingDumper, sort_keys=False, allow_unicode=True, width=width
    )
    return "".join(ch if ch.isprintable() or ch == "\n" else _yaml_escape(ch) for ch in dumped)
