"""`Explanation`: one text's prediction and the attention behind it, word by word."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attentext.errors import AttentextError


class ExplainError(AttentextError):
    """An explanation was asked for with a bad layer, head or format, or of a model without attention."""


@dataclass
class Explanation:
    """One text's prediction and the attention behind it, word by word.

    `tokens` are the words the model read (word pieces merged, special tokens dropped, cut at the
    model's max_length), `offsets` their character spans in `text` (None when the tokenizer has
    no offsets), `importances` sum to 1 over `tokens`, and `attention` is the word x word
    attention of the chosen layer/head (rows: the attending word), None for the attention RNN.

    A run that reads long texts in windows also gives each window's character span and weight
    in the decision (`window_spans`, `window_weights`, summing to 1); the words then cover every
    window read, and `attention` is None for a text of several windows.
    """

    text: str
    tokens: list[str]
    label: str
    probabilities: dict[str, float]
    importances: np.ndarray
    attention: np.ndarray | None = None
    offsets: list[tuple[int, int]] | None = None
    method: str = ""  # how the importances were computed
    attention_source: str = ""  # which layer/head `attention` shows
    truncated: bool = False
    window_spans: list[tuple[int, int]] | None = None
    window_weights: np.ndarray | None = None
    # a run of several labels per text: the labels it gives the text (each at or over its
    # threshold, as `predict`); `label` is then only the most probable one. None: one label.
    labels: list[str] | None = None

    def summary(self, name: Callable[[str], str] = str) -> str:
        """The prediction in words: `Sports 0.912`; for a run of several labels per text the labels
        it gives (`earn, grain`, or `no label`) and then the most probable one with its
        probability, which alone read as the prediction (`earn 0.215` for a text `predict` gives
        no label, earn's threshold being 0.6). `name` shows a label (the HTML page shortens
        long ones)."""
        p = self.probabilities[self.label]
        if self.labels is None or self.labels == [self.label]:
            return f"{name(self.label)} {p:.3f}"
        given = ", ".join(map(name, self.labels)) if self.labels else "no label"
        return f"{given} (most probable: {name(self.label)} {p:.3f})"

    def windows(self) -> list[dict[str, Any]] | None:
        """Each window read as {"start", "end" (characters), "weight"}; None without windows."""
        if self.window_spans is None or self.window_weights is None:
            return None
        return [
            {"start": int(start), "end": int(end), "weight": float(weight)}
            for (start, end), weight in zip(self.window_spans, self.window_weights, strict=True)
        ]

    def top_tokens(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most important words with their importance, most important first."""
        order = np.argsort(-self.importances, kind="stable")[:k]
        return [(self.tokens[i], float(self.importances[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (arrays as lists)."""
        return {
            "text": self.text,
            "tokens": self.tokens,
            "label": self.label,
            "probabilities": self.probabilities,
            "importances": self.importances.tolist(),
            "attention": None if self.attention is None else self.attention.tolist(),
            "offsets": self.offsets,
            "method": self.method,
            "attention_source": self.attention_source,
            "truncated": self.truncated,
            "windows": self.windows(),
            "labels": self.labels,
        }
