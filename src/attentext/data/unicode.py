"""The one list of characters that draw nothing, and a text's standard form for word models.

Characters that draw nothing and are not spaces: the soft hyphen, the zero-width space, the word
joiner, the BOM, and the bidirectional marks, embeddings and isolates (LRM, RLM, U+202A-U+202E,
U+2066-U+2069). Inside or beside a word they made it another word; a text of only them is
empty. The zero-width (non-)joiners stay: they change how emoji and some scripts (Persian,
Indic) are written. Shared by the data readers (a blank text), the word tokenizer and the TF-IDF
baseline (the words they read), so that the three agree.
"""

from __future__ import annotations

import re
import unicodedata

# the body of a regular-expression character class (Python's re and the tokenizers library's)
INVISIBLE = "\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_INVISIBLE_RUN = re.compile(f"[{INVISIBLE}]+")


def standard_text(text: str) -> str:
    """`text` composed (NFC) and without the characters that draw nothing: `café` typed with
    `e` + U+0301 (as macOS writes it) reads as the `café` trained on, `hel<U+200B>lo` as
    `hello`."""
    if text.isascii():
        return text
    return _INVISIBLE_RUN.sub("", unicodedata.normalize("NFC", text))


def unpaired_surrogate(text: str) -> str | None:
    """Where `text` is not valid Unicode, what is wrong (a lone surrogate, which JSON can escape
    as "\\ud800" and Python strings can hold), else None: no tokenizer or encoder takes one."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        return f"character {error.start} is an unpaired surrogate (U+{code:04X})"
    return None
