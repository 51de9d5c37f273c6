"""How much of a text a served model reads, told apart from the server's own cut.

The server cuts a text over its `--max-chars` before any model sees it: that is `truncated` in
/v1/predict and /v1/explain alike (`ModelService.check_texts`). A model may then read only part
of what it was given: a token model its max_length tokens (kept by its truncation: the start,
the end, or both), a run that reads windows the `tokenizer.max_chunks` windows its recipe keeps
(the first, the last or spread), the TF-IDF baseline its first `model.options.max_chars`
characters, an ensemble what its members read. Both routes answer that as `partly_read`, from
this one place, so they agree on every text; TEI's `truncate: false` refuses a text over
`token_limit`.
"""

from __future__ import annotations

from typing import Any

from attentext.text.windows import longest_read


def token_counts(classifier: Any, texts: list[str]) -> list[int]:
    """Each text's tokens, its special tokens included, as the model's tokenizer counts them."""
    return [len(ids) for ids in classifier.tokenizer(texts, verbose=False)["input_ids"]]


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
