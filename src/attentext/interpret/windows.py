"""Explain a text read in windows: which windows decided, and which words within them.

A run that reads long texts in chunks predicts a text from its windows' logits, combined by its
aggregation (`text.windows.combine_windows`): each window gets a weight in the decision (the
learned attention over windows; 1/n for the mean; for the max, its share of the labels whose
maximum it holds). Each window also has its own attention over its words (`attention.py`). A
word's importance in the whole text is the sum, over the windows that read it, of the window's
weight times the word's importance within the window: a heat strip over the whole document
that still sums to 1. A text of one window is explained exactly as without chunking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from attentext.inference.torch_backend import TransformersClassifier
from attentext.interpret.attention import (
    batch_outputs,
    explanation_of,
    prepare_model,
    to_words,
    token_importance,
    word_groups,
)
from attentext.interpret.explanation import Explanation
from attentext.text.batching import length_sorted_batches, pad_rows
from attentext.text.encoding import EncodedText
from attentext.text.windows import combine_windows, encode_windows_with_offsets

EXPLAIN_WINDOWS = 16  # windows per pass: every layer's attention of a batch is held at once


@dataclass
class WindowWords:
    """One window's words (ids in the whole text) and their importance within the window."""

    word_ids: list[int]
    importances: np.ndarray
    method: str
    per_layer: list[np.ndarray] | None = None  # kept for texts of one window only
    pooling: np.ndarray | None = None  # its tokens' pooling weights, kept with per_layer


@dataclass
class _Document:
    """The words of a whole text gathered from its windows: spans, pieces and importance."""

    spans: dict[int, list[int]] = field(default_factory=dict)  # word id -> [start, end]
    # word id -> {character span: token id}: a word's pieces, once each, also where windows overlap
    pieces: dict[int, dict[tuple[int, int], int]] = field(default_factory=dict)
    importance: dict[int, float] = field(default_factory=dict)


def _window_words(
    classifier: TransformersClassifier,
    encoded: EncodedText,
    per_layer: list[np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
    pooling: np.ndarray | None = None,
) -> WindowWords:
    importance, _, method, _ = token_importance(
        classifier, encoded, per_layer, is_rnn, layer, head, pooling
    )
    groups = word_groups(encoded)
    words = to_words(groups, np.asarray(importance), None)[0] if groups else np.zeros(0)
    return WindowWords([int(encoded.word_ids[g[0]]) for g in groups], words, method)


def _run_windows(
    classifier: TransformersClassifier,
    windows: list[EncodedText],
    single: set[int],
    is_rnn: bool,
    where: tuple[int, int | None],
) -> tuple[list[WindowWords], np.ndarray, np.ndarray | None]:
    """Every window's words and importances, logits and scores, a few windows at a time; the
    attention of the windows in `single` (texts of one window) is kept whole. `where`: the
    layer and head shown."""
    layer, head = where
    words: list[WindowWords | None] = [None] * len(windows)
    logits = np.zeros((len(windows), len(classifier.labels)), dtype=np.float32)
    scores: np.ndarray | None = np.zeros(len(windows), dtype=np.float32)
    batch_size = min(classifier.batch_size, EXPLAIN_WINDOWS)
    for index in length_sorted_batches([len(w.ids) for w in windows], batch_size):
        batch = pad_rows([windows[i].ids for i in index], classifier.pad_id)
        attentions, batch_logits, batch_scores, pooling = batch_outputs(
            classifier, batch, is_rnn, layer, head
        )
        logits[index] = batch_logits
        if batch_scores is None:
            scores = None
        elif scores is not None:
            scores[index] = batch_scores
        for row, i in enumerate(index):
            per_layer = [a[row] for a in attentions]
            pooled = None if pooling is None else pooling[row]
            words[i] = _window_words(classifier, windows[i], per_layer, is_rnn, layer, head, pooled)
            if i in single:
                words[i].per_layer, words[i].pooling = per_layer, pooled
    return [w for w in words if w is not None], logits, scores


def _gather(windows: list[EncodedText], words: list[WindowWords], weights: np.ndarray) -> _Document:
    """A text's words from its windows: each word's span and pieces, and its importance (the
    windows' weights times the word's importance in each)."""
    document = _Document()
    for encoded, window, weight in zip(windows, words, weights, strict=True):
        for word_id, offsets, token in zip(
            encoded.word_ids, encoded.offsets, encoded.ids, strict=True
        ):
            if word_id is None:
                continue
            span = document.spans.setdefault(word_id, [offsets[0], offsets[1]])
            span[0], span[1] = min(span[0], offsets[0]), max(span[1], offsets[1])
            document.pieces.setdefault(word_id, {})[tuple(offsets)] = token
        for word_id, importance in zip(window.word_ids, window.importances, strict=True):
            document.importance[word_id] = (
                document.importance.get(word_id, 0.0) + float(weight) * importance
            )
    return document


def _whole_text(
    classifier: TransformersClassifier,
    text: str,
    windows: list[EncodedText],
    words: list[WindowWords],
    weights: np.ndarray,
    probabilities: np.ndarray,
) -> Explanation:
    """The explanation of a text of several windows: its words over the whole text."""
    document = _gather(windows, words, weights)
    order = sorted(document.spans)
    spans = [tuple(document.spans[w]) for w in order]
    if all(end > start for start, end in spans):
        tokens, offsets = [text[start:end] for start, end in spans], spans
    else:  # a tokenizer without offsets: the words rebuilt from their pieces
        pieces = [document.pieces[w] for w in order]
        tokens = [classifier.tokenizer.decode([p[k] for k in sorted(p)]) for p in pieces]
        offsets = None
    importances = np.array([document.importance.get(w, 0.0) for w in order], dtype=np.float64)
    total = importances.sum()
    labels = classifier.labels
    return Explanation(
        text=text,
        tokens=tokens,
        label=labels[int(np.argmax(probabilities))],
        probabilities={name: float(p) for name, p in zip(labels, probabilities, strict=True)},
        importances=importances / total if total > 0 else importances,
        attention=None,  # word x word over a whole document: too big to be useful
        offsets=offsets,
        method=f"{words[0].method} in each window, windows weighted by {classifier.aggregation}",
        truncated=any(w.truncated for w in windows),
    )


def _window_spans(windows: list[EncodedText]) -> list[tuple[int, int]]:
    """The characters each window read (from its first word's start to its last word's end)."""
    spans = []
    for encoded in windows:
        read = [o for o, w in zip(encoded.offsets, encoded.word_ids, strict=True) if w is not None]
        spans.append((read[0][0], read[-1][1]) if read else (0, 0))
    return spans


@torch.inference_mode()
def explain_windows(
    classifier: TransformersClassifier, texts: list[str], layer: int = -1, head: int | None = None
) -> list[Explanation]:
    """Each text's prediction from its windows, the windows' weights and its words' importance."""
    documents = [
        encode_windows_with_offsets(
            classifier.tokenizer, text, classifier.max_length, classifier.chunking
        )
        for text in texts
    ]
    windows = [window for document in documents for window in document]
    counts = np.array([len(document) for document in documents], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    single = {int(starts[i]) for i in range(len(texts)) if counts[i] == 1}
    is_rnn = prepare_model(classifier)
    words, logits, scores = _run_windows(classifier, windows, single, is_rnn, (layer, head))
    combined, weights = combine_windows(logits, scores, counts, classifier.aggregation)
    probabilities = classifier.probabilities_of(combined)
    explanations = []
    for i, text in enumerate(texts):
        part = slice(int(starts[i]), int(starts[i + 1]))
        if counts[i] == 1 and words[part][0].per_layer is not None:  # as without chunking
            explanation = explanation_of(
                classifier,
                text,
                documents[i][0],
                probabilities[i],
                words[part][0].per_layer,
                is_rnn,
                layer,
                head,
                words[part][0].pooling,
            )
        else:
            explanation = _whole_text(
                classifier, text, documents[i], words[part], weights[part], probabilities[i]
            )
        explanation.window_spans = _window_spans(documents[i])
        explanation.window_weights = weights[part].astype(np.float64)
        explanations.append(explanation)
    return explanations
