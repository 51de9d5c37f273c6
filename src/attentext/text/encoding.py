"""Token ids of texts, cut to a model's length by a truncation strategy.

"head" keeps the start (the usual way), "tail" the end, "head+tail" half of each: for long news
items and reviews the opening and the conclusion carry most of the label (Sun et al., "How to
Fine-Tune BERT for Text Classification?", 2019). Training, inference, export and explain all
encode through here, so a text is cut the same way wherever it goes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

TRUNCATIONS = ("head", "tail", "head+tail")

# A fast tokenizer keeps its truncation as state: a call with `truncation=True` sets it on the
# Rust tokenizer and one with `truncation=False` clears it before encoding. Two threads calling
# one tokenizer with different settings (`explain` beside `predict` on one loaded model) encoded
# under each other's: predict was given 1,400 tokens for a 56-token model (an audit, round 12).
# Every call attentext makes goes through `tokenized`, one at a time (the batch inside it is still
# encoded in parallel by the library).
TOKENIZER_LOCK = threading.Lock()


def tokenized(tokenizer: Any, texts: str | list[str], **options: Any) -> Any:
    """`tokenizer(texts, **options)`, with no other call of attentext's to a tokenizer at once."""
    with TOKENIZER_LOCK:
        return tokenizer(texts, **options)


# A user's text is read as text: a "[SEP]", "[PAD]" or "<s>" typed in it is characters, not the
# tokenizer's special token (by default a tokenizer matches them in the text: "great [SEP] awful"
# got a real separator, "[PAD]" the pad id with attention 1). Given to every tokenizer attentext
# makes or loads (`text.tokenizers`, `text.vectorizer`, `inference.tokens`), so training and every
# reader of a run agree; transformers saves it in a run's tokenizer_config.json (`pipeline` reads
# it there) and passes it to the Rust tokenizer as `encode_special_tokens`. The special tokens a
# tokenizer adds itself ([CLS] ... [SEP]) and a text without special tokens keep their ids.
SPECIAL_TOKENS_AS_TEXT: dict[str, Any] = {"split_special_tokens": True}

# The one exception: texts attentext itself masked word by word (distillation's noisy copies, the
# few-shot recipe's noisy pass) write the mask as this text, and while `masks_written_as` is in
# force the tokenizer's mask token stands where it is written (`content_ids`), as the tokenizer
# read it before special tokens were text. A model without a mask token reads it as text.
_MASK_WRITTEN_AS: ContextVar[str | None] = ContextVar("mask_written_as", default=None)


@contextmanager
def masks_written_as(mask: str) -> Iterator[None]:
    """Within it, `mask` in a text is the tokenizer's mask token, for every encoding here (the
    teacher's `predict` and windows included); everything else in the text stays text."""
    token = _MASK_WRITTEN_AS.set(mask)
    try:
        yield
    finally:
        _MASK_WRITTEN_AS.reset(token)


def content_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids without special tokens or a cut; under `masks_written_as`, each
    mask written in it is the tokenizer's mask token (the text around it tokenized apart, as
    the tokenizers library does around a special token it matches)."""
    mask, mask_id = _MASK_WRITTEN_AS.get(), getattr(tokenizer, "mask_token_id", None)
    if mask is None or mask_id is None:
        return _plain_ids(tokenizer, texts)
    parts = [text.split(mask) for text in texts]
    pieces = iter(_plain_ids(tokenizer, [p for row in parts for p in row]))
    rows = []
    for row in parts:
        ids = list(next(pieces))
        for _ in row[1:]:
            ids += [mask_id, *next(pieces)]
        rows.append(ids)
    return rows


def _plain_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    # verbose=False: texts longer than the model are expected; callers cut them
    return sliced_ids(
        texts,
        lambda part: tokenized(
            tokenizer, part, add_special_tokens=False, truncation=False, verbose=False
        ),
    )


# Texts given to the tokenizer at once. A fast tokenizer's answer holds, besides the ids, an
# `Encoding` per text (tokens, offsets, word ids, masks) until the call returns: `predict` of
# 100,000 short AG News texts held 630 MB of them at once, 1,000,000 texts several GB, where
# slices of this size hold ~120 MB and take the same time (the library is parallel within one).
ENCODE_SLICE = 10_000


def sliced_ids(texts: Sequence[str], tokenize: Callable[[list[str]], Any]) -> list[list[int]]:
    """`tokenize(part)["input_ids"]` of the texts, ENCODE_SLICE at a time, joined; no texts give
    no rows (the tokenizer raises IndexError on an empty batch)."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), ENCODE_SLICE):
        ids.extend(tokenize(list(texts[start : start + ENCODE_SLICE]))["input_ids"])
    return ids


def special_tokens_around(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one sequence ([CLS] / [SEP] for BERT)."""
    content = tokenized(tokenizer, "a", add_special_tokens=False)["input_ids"]
    full = tokenized(tokenizer, "a")["input_ids"]
    for start in range(len(full) - len(content) + 1):
        if full[start : start + len(content)] == content:
            return full[:start], full[start + len(content) :]
    return [], []


def kept_positions(n_tokens: int, budget: int, truncation: str) -> list[int] | None:
    """Which of `n_tokens` content tokens a text keeps within `budget`; None when all fit."""
    if n_tokens <= budget:
        return None
    head = {"head": budget, "tail": 0, "head+tail": budget // 2}[truncation]
    return list(range(head)) + list(range(n_tokens - (budget - head), n_tokens))


def encode(
    tokenizer: Any, texts: Sequence[str], max_length: int, truncation: str = "head"
) -> list[list[int]]:
    """Token ids of each text with special tokens, at most `max_length`, cut by `truncation`.
    No texts give no rows (the tokenizer's IndexError on an empty batch was a traceback where
    self-training took no text: round 6)."""
    if not texts:
        return []
    if truncation == "head" and _MASK_WRITTEN_AS.get() is None:
        return sliced_ids(
            texts, lambda part: tokenized(tokenizer, part, truncation=True, max_length=max_length)
        )
    pieces = content_ids(tokenizer, texts)
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    encoded = []
    for ids in pieces:
        keep = kept_positions(len(ids), budget, truncation)
        if keep is not None:
            ids = [ids[i] for i in keep]
        encoded.append(prefix + ids + suffix)
    return encoded


@dataclass
class EncodedText:
    """One text's ids with what explanations need: word ids and character offsets per token."""

    ids: list[int]
    word_ids: list[int | None]  # None for special tokens
    offsets: list[tuple[int, int]]
    truncated: bool


def encode_with_offsets(
    tokenizer: Any, text: str, max_length: int, truncation: str = "head"
) -> EncodedText:
    """`encode` of one text, keeping each token's word id and character span (same ids)."""
    enc = tokenized(
        tokenizer, text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    word_ids = list(enc.word_ids()) if hasattr(enc, "word_ids") else list(range(len(ids)))
    prefix, suffix = special_tokens_around(tokenizer)
    keep = kept_positions(len(ids), max_length - len(prefix) - len(suffix), truncation)
    if keep is not None:
        ids = [ids[i] for i in keep]
        offsets = [offsets[i] for i in keep]
        word_ids = [word_ids[i] for i in keep]
    return EncodedText(
        prefix + ids + suffix,
        [None] * len(prefix) + word_ids + [None] * len(suffix),
        [(0, 0)] * len(prefix) + offsets + [(0, 0)] * len(suffix),
        keep is not None,
    )
