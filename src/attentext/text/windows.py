"""Long texts read as windows, and the windows' outputs combined back into one per text.

A model reads at most `max_length` tokens. With `tokenizer.long_text: chunks` a longer text is
not cut: its content tokens are split into windows of the model's length (each with its own
special tokens, [CLS] ... [SEP]), consecutive windows sharing `stride` tokens, at most
`max_chunks` of them kept (the first, the last, or evenly spread). Every window is one row of the
one batching path (`text/batching.py`), so the windows of many texts are sorted by length and
batched together, a batch at a time: a 100,000-word text never becomes one tensor.

`combine_windows` turns the windows' logits into one text's logits, outside any model graph (the
PyTorch and ONNX Runtime classifiers share it): the mean of the logits, their maximum, or the
attention the model learned (a softmax over its per-window scores, weighting the logits).
Training aggregates with the PyTorch twin of the same formulas (`models/aggregation.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attentext.errors import RecipeError
from attentext.text.encoding import EncodedText, content_ids, special_tokens_around, tokenized

KEPT = ("head", "tail", "spread")


@dataclass(frozen=True)
class Chunking:
    """How a text over the model's length is read: overlap, cap and which windows the cap keeps."""

    stride: int = 0
    max_chunks: int = 0  # 0: every window
    kept: str = "head"

    @classmethod
    def of(cls, spec: Any) -> Chunking | None:
        """The chunking of a recipe's tokenizer section; None when it truncates (the default)."""
        if getattr(spec, "long_text", "truncate") != "chunks":
            return None
        return cls(spec.stride, spec.max_chunks, spec.chunks_kept)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_spans(n_tokens: int, budget: int, stride: int = 0) -> list[tuple[int, int]]:
    """[start, end) of each window over `n_tokens` content tokens, `budget` per window.

    Window k starts at k * (budget - stride), so consecutive windows share exactly `stride`
    tokens and the last one ends at the text's end (it may be shorter). A text that fits, the
    empty text included, is one window.
    """
    step = budget - stride
    if step < 1:
        raise ValueError(f"stride {stride} leaves no new token in windows of {budget}")
    if n_tokens <= budget:
        return [(0, n_tokens)]
    count = 1 + -(-(n_tokens - budget) // step)  # ceil
    return [(k * step, min(k * step + budget, n_tokens)) for k in range(count)]


def kept_windows(n_windows: int, max_chunks: int, kept: str = "head") -> list[int]:
    """Which of `n_windows` windows a cap of `max_chunks` keeps (all when 0 or when they fit).

    "head" the first ones, "tail" the last ones, "spread" evenly spaced from the first window to
    the last (the opening, the end and the middle all read).
    """
    if max_chunks <= 0 or n_windows <= max_chunks:
        return list(range(n_windows))
    if kept == "head":
        return list(range(max_chunks))
    if kept == "tail":
        return list(range(n_windows - max_chunks, n_windows))
    if max_chunks == 1:
        return [0]
    gaps = max_chunks - 1  # more windows than kept: the spacing is over 1, every index distinct
    return [(i * (n_windows - 1) * 2 + gaps) // (2 * gaps) for i in range(max_chunks)]


def _budget(tokenizer: Any, max_length: int, stride: int) -> tuple[list[int], list[int], int]:
    """The special tokens around each window and the content tokens a window holds."""
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    if budget - stride < 1:
        raise RecipeError(
            f"tokenizer.stride {stride} leaves no new token per window: a window of "
            f"{max_length} holds {budget} tokens besides its special ones; lower the stride"
        )
    return prefix, suffix, budget


def longest_read(tokenizer: Any, max_length: int, chunking: Chunking) -> int | None:
    """The most tokens (special tokens of one text included, as a tokenizer counts them) a text
    can have and still be read whole under the cap; None when every window is read."""
    if chunking.max_chunks <= 0:
        return None
    prefix, suffix, budget = _budget(tokenizer, max_length, chunking.stride)
    step = budget - chunking.stride
    return budget + (chunking.max_chunks - 1) * step + len(prefix) + len(suffix)


def text_windows(n_tokens: int, budget: int, chunking: Chunking) -> list[tuple[int, int]]:
    """The spans of the windows a text of `n_tokens` content tokens is read as, cap applied."""
    spans = window_spans(n_tokens, budget, chunking.stride)
    return [spans[i] for i in kept_windows(len(spans), chunking.max_chunks, chunking.kept)]


def encode_windows(
    tokenizer: Any, texts: Sequence[str], max_length: int, chunking: Chunking
) -> list[list[list[int]]]:
    """Each text's windows: token ids with special tokens, at most `max_length` each."""
    prefix, suffix, budget = _budget(tokenizer, max_length, chunking.stride)
    pieces = content_ids(tokenizer, texts)  # split into windows just below
    return [
        [
            prefix + ids[start:end] + suffix
            for start, end in text_windows(len(ids), budget, chunking)
        ]
        for ids in pieces
    ]


def encode_windows_with_offsets(
    tokenizer: Any, text: str, max_length: int, chunking: Chunking
) -> list[EncodedText]:
    """One text's windows with each token's word id (in the whole text) and character span;
    `truncated` when the cap left some of the text unread."""
    enc = tokenized(
        tokenizer, text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    word_ids = list(enc.word_ids()) if hasattr(enc, "word_ids") else list(range(len(ids)))
    prefix, suffix, budget = _budget(tokenizer, max_length, chunking.stride)
    spans = text_windows(len(ids), budget, chunking)
    covered = {i for start, end in spans for i in range(start, end)}
    unread = len(covered) < len(ids)
    return [
        EncodedText(
            prefix + ids[start:end] + suffix,
            [None] * len(prefix) + word_ids[start:end] + [None] * len(suffix),
            [(0, 0)] * len(prefix) + offsets[start:end] + [(0, 0)] * len(suffix),
            unread,
        )
        for start, end in spans
    ]


def flatten(documents: Sequence[Sequence[Sequence[int]]]) -> tuple[list[Sequence[int]], np.ndarray]:
    """Every document's windows in one list (documents in order), and the windows per document."""
    windows = [window for document in documents for window in document]
    return windows, np.array([len(document) for document in documents], dtype=np.int64)


def combine_windows(
    logits: np.ndarray, scores: np.ndarray | None, counts: np.ndarray, how: str
) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) window logits, grouped by document (`counts` windows each, in order) -> (B, C)
    document logits, and each window's weight in its document's decision (they sum to 1).

    "mean" averages the logits (weights 1/n); "max" takes each label's largest logit (a window's
    weight is its share of the labels whose maximum it holds); "attention" weights the logits by
    the softmax of the windows' learned scores (the weights are that softmax). A linear head makes
    the attention-weighted logits those of the attention-weighted features, so the model graph
    stops at the windows' logits and scores.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if (counts < 1).any():
        raise ValueError("every document has at least one window")
    logits = np.asarray(logits, dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    document = np.repeat(np.arange(len(counts)), counts)
    if how == "mean":
        combined = np.add.reduceat(logits, starts, axis=0) / counts[:, None]
        weights = 1.0 / counts[document]
    elif how == "max":
        combined = np.maximum.reduceat(logits, starts, axis=0)
        holds = (logits == combined[document]).astype(np.float64)  # (N, C)
        holders = np.add.reduceat(holds, starts, axis=0)[document]
        weights = (holds / holders).sum(axis=1) / logits.shape[1]
    elif how == "attention":
        if scores is None:
            raise ValueError("attention aggregation needs the windows' scores")
        scores = np.asarray(scores, dtype=np.float64)
        shifted = np.exp(scores - np.maximum.reduceat(scores, starts)[document])
        weights = shifted / np.add.reduceat(shifted, starts)[document]
        combined = np.add.reduceat(weights[:, None] * logits, starts, axis=0)
    else:
        raise ValueError(f"unknown aggregation {how!r}")
    return combined.astype(np.float32), weights.astype(np.float32)
