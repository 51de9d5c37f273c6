"""How much of a text a served model reads, told apart from the server's own cut.

The server cuts a text over its `--max-chars` before any model sees it: that is `truncated` in
/v1/predict and /v1/explain alike (`ModelService.check_texts`). A model may then read only part
of what it was given: a token model its max_length tokens (kept by its truncation: the start,
the end, or both), a run that reads windows the `tokenizer.max_chunks` windows its recipe keeps
(the first, the last or spread), the TF-IDF baseline its first `model.options.max_chars`
characters, an ensemble what its members read. Both routes answer that as `partly_read`, from
this one place, so they agree on every text; TEI's `truncate: false` refuses a text over
`token_limit`, and its `truncation_direction` a text cut otherwise than it asks (`parts_kept`).
"""

from __future__ import annotations

from typing import Any

from attentext.text.encoding import tokenized
from attentext.text.windows import longest_read


def token_counts(classifier: Any, texts: list[str]) -> list[int]:
    """Each text's tokens, its special tokens included, as the model's tokenizer counts them."""
    return [len(ids) for ids in tokenized(classifier.tokenizer, texts, verbose=False)["input_ids"]]


def token_limit(classifier: Any) -> int | None:
    """The most tokens the model reads of a text: its max_length, or for a run that reads long
    texts in windows what its cap of windows holds (None: it reads every word, as the TF-IDF
    baseline and windows without a cap do)."""
    max_length = getattr(classifier, "max_length", None)
    if max_length is None or not hasattr(classifier, "tokenizer"):
        return None
    chunking = getattr(classifier, "chunking", None)
    if chunking is None:
        return max_length
    return longest_read(classifier.tokenizer, max_length, chunking)


def tokenizes(classifier: Any) -> bool:
    """Whether `partly_read` needs the model's tokenizer (so the model's thread) for it."""
    members = getattr(classifier, "members", None)
    if members is not None:
        return any(tokenizes(member) for member in members)
    return token_limit(classifier) is not None


def partly_read(classifier: Any, texts: list[str]) -> list[bool]:
    """Whether the model leaves part of each text unread (as the server gives it the text).
    It may tokenize the texts: run it where the model runs (`tokenizes` says)."""
    members = getattr(classifier, "members", None)
    if members is not None:  # an ensemble: a text any member reads in part
        per_member = [partly_read(member, texts) for member in members]
        return [any(flags) for flags in zip(*per_member, strict=True)]
    max_chars = getattr(classifier, "max_chars", None)
    if max_chars is not None:  # the TF-IDF baseline reads characters, not tokens
        return [len(text) > max_chars for text in texts]
    limit = token_limit(classifier)
    if limit is None:
        return [False] * len(texts)
    return [count > limit for count in token_counts(classifier, texts)]


def kept_part(classifier: Any) -> str:
    """What a model keeps of a text it cannot read whole, as its recipe trained it: "head" (the
    start; the TF-IDF baseline's first characters too), "tail", "head+tail", or "spread"
    (windows from the whole text)."""
    if getattr(classifier, "max_chars", None) is not None:
        return "head"
    chunking = getattr(classifier, "chunking", None)
    if chunking is not None:
        return chunking.kept
    return getattr(classifier, "truncation", "head")


def parts_kept(classifier: Any, texts: list[str]) -> list[set[str]]:
    """For each text, what the model keeps of it (`kept_part`; for an ensemble, each member that
    reads it in part): empty where the text is read whole. Tokenizes as `partly_read` does."""
    members = getattr(classifier, "members", None)
    if members is not None:
        per_member = [parts_kept(member, texts) for member in members]
        return [set().union(*kept) for kept in zip(*per_member, strict=True)]
    part = kept_part(classifier)
    return [{part} if partly else set() for partly in partly_read(classifier, texts)]


def read_limit(classifier: Any, max_chars: int) -> int:
    """The longest text the model reads whole, as TEI's `max_input_length` gives it: its token
    limit; for the TF-IDF baseline the characters it reads (its own max_chars, within the
    server's); for an ensemble the least of its members' (a text over it is read in part by one
    of them); else the server's `max_chars`, where every text is cut."""
    members = getattr(classifier, "members", None)
    if members is not None:
        return min(read_limit(member, max_chars) for member in members)
    own_chars = getattr(classifier, "max_chars", None)
    if own_chars is not None:
        return min(own_chars, max_chars)
    return token_limit(classifier) or max_chars
