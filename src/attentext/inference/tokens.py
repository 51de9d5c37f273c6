"""What the PyTorch and ONNX Runtime classifiers share: texts -> token ids -> length-sorted,
padded batches -> logits, in input order; probabilities and labels from the logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attentext.text.batching import run_in_batches
from attentext.text.encoding import encode


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = np.asarray(logits, dtype=np.float32)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def model_max_length(tokenizer: Any, config: Any) -> int:
    """The longest input a run reads: its tokenizer's limit, within the model's positions."""
    return min(tokenizer.model_max_length, getattr(config, "max_position_embeddings", 10**6))


class TokenClassifier:
    """A model reading token ids, with the run's tokenizer, max length and truncation.

    Subclasses give `run_batch(padded) -> logits` for one padded batch; texts are encoded as at
    training and batched by length so that little time goes to padding.
    """

    def __init__(
        self, tokenizer: Any, labels: list[str], max_length: int, truncation: str, batch_size: int
    ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode(self.tokenizer, list(texts), self.max_length, self.truncation)

    def run_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits, (len(texts), len(labels)), float32."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        if not len(texts):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return run_in_batches(
            self.encode(texts),
            self.run_batch,
            self.pad_id,
            self.batch_size,
            self.tokenizer.padding_side,
        ).astype(np.float32)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""
        return softmax(self.logits(texts))

    def predict(self, texts: list[str]) -> list[str]:
        """The most probable label name of each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=-1)]
