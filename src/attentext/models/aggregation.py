"""One prediction per document from its windows' outputs, in PyTorch: what training optimizes.

A document read in windows (`text/windows.py`) gets one logit vector per window; the aggregation
turns them into the document's: the mean of the logits, their maximum, or a learned additive
attention over the windows (Bahdanau-style, as the lesson's attention RNN weighs words: a score
per window from its features, a softmax over the document's windows). Its weights say which part
of the document decided. The formulas are those of `text.windows.combine_windows`, which
inference uses outside any graph (ONNX included); the tests hold the two together.

Windows travel flat, `(N, ...)`, with `window_document` (N,) naming each window's document in the
batch: no padded (documents x windows x tokens) tensor, so a batch costs its real windows only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attentext.decisions import MULTI_LABEL
from attentext.models.outputs import classification_output
from attentext.recipes import AGGREGATIONS

EVAL_WINDOWS = 256  # windows per encoder pass when not training: evaluation memory stays flat


def aggregate(
    logits: torch.Tensor,
    scores: torch.Tensor | None,
    window_document: torch.Tensor,
    n_documents: int,
    how: str,
) -> torch.Tensor:
    """(N, C) window logits -> (n_documents, C) document logits, in float32.

    Scatter operations group the windows by `window_document`, so neither the order of the
    windows nor how many windows the other documents have changes a document's result.
    """
    values = logits.float()
    index = window_document.unsqueeze(-1).expand_as(values)
    shape = (n_documents, values.shape[-1])
    if how == "max":
        empty = values.new_full(shape, float("-inf"))
        return empty.scatter_reduce(0, index, values, "amax", include_self=False)
    if how == "mean":
        counts = torch.bincount(window_document, minlength=n_documents).clamp(min=1)
        return values.new_zeros(shape).index_add(0, window_document, values) / counts[:, None]
    if how != "attention":
        raise ValueError(f"unknown aggregation {how!r}; known: {', '.join(AGGREGATIONS)}")
    if scores is None:
        raise ValueError("attention aggregation needs the windows' scores")
    weights = window_weights(scores, window_document, n_documents)
    return values.new_zeros(shape).index_add(0, window_document, weights[:, None] * values)


def window_weights(
    scores: torch.Tensor, window_document: torch.Tensor, n_documents: int
) -> torch.Tensor:
    """The softmax of the windows' scores within each document, (N,), float32."""
    scores = scores.float()
    top = scores.new_full((n_documents,), float("-inf"))
    top = top.scatter_reduce(0, window_document, scores, "amax", include_self=False).detach()
    shifted = torch.exp(scores - top[window_document])
    total = shifted.new_zeros(n_documents).index_add(0, window_document, shifted)
    return shifted / total[window_document]


class WindowAttention(nn.Module):
    """score_w = v . tanh(W f_w + b): one learned score per window from its pooled features.

    `v` starts at zero, so a fresh model weighs every window alike (the mean) and learns from
    there which windows to trust.
    """

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.project = nn.Linear(features, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.project.weight, std=0.02)
        nn.init.zeros_(self.project.bias)
        nn.init.zeros_(self.score.weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.score(torch.tanh(self.project(features))).squeeze(-1)


def n_documents_of(window_document: torch.Tensor, labels: torch.Tensor | None) -> int:
    """Documents in a batch: one label each when labelled, else the highest index + 1."""
    if labels is not None:
        return int(labels.shape[0])
    return int(window_document.max()) + 1 if window_document.numel() else 0


class WindowedClassifier(nn.Module):
    """A sequence classifier read over documents of windows: what the Trainer trains when a
    recipe reads long texts in chunks (fine-tuned encoders, Hugging Face models, word models).

    Each window runs through `model` as a text of its own; `aggregate` makes one prediction per
    document and the loss is the document's, so the attention over windows (and the encoder,
    when it trains) learn end to end. `model` is the module saved: this wrapper adds no weight.
    """

    def __init__(self, model: nn.Module, aggregation: str) -> None:
        super().__init__()
        self.model = model
        self.aggregation = aggregation
        self.multi_label = getattr(model.config, "problem_type", None) == MULTI_LABEL

    def window_outputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each window's logits and (attention aggregation) its score; evaluation runs the
        windows in slices of EVAL_WINDOWS."""
        step = len(input_ids) if self.training else EVAL_WINDOWS
        logits, scores = [], []
        for start in range(0, len(input_ids), max(1, step)):
            part = slice(start, start + step)
            output = self.model(input_ids=input_ids[part], attention_mask=attention_mask[part])
            logits.append(output.logits)
            scores.append(getattr(output, "window_scores", None))
        if any(s is None for s in scores):
            return torch.cat(logits), None
        return torch.cat(logits), torch.cat(scores)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        window_document: torch.Tensor,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        logits, scores = self.window_outputs(input_ids, attention_mask)
        n_documents = n_documents_of(window_document, labels)
        combined = aggregate(logits, scores, window_document, n_documents, self.aggregation)
        return classification_output(combined, labels, multi_label=self.multi_label)


class WindowFeatureHead(nn.Module):
    """The trainable part of a frozen encoder over documents of windows, on cached window
    features: the model's head and (attention aggregation) its window attention.

    Both are the model's own submodules, so training this trains the model that is saved; a
    document's logits come from its windows' as when the whole model reads them.
    """

    def __init__(self, head: nn.Module, window_attention: nn.Module | None, how: str) -> None:
        super().__init__()
        self.head = head
        self.window_attention = window_attention
        self.aggregation = how
        self.multi_label = bool(getattr(head, "multi_label", False))

    def forward(
        self,
        features: torch.Tensor,
        window_document: torch.Tensor,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        logits = self.head(features).logits
        scores = self.window_attention(features) if self.window_attention is not None else None
        n_documents = n_documents_of(window_document, labels)
        combined = aggregate(logits, scores, window_document, n_documents, self.aggregation)
        return classification_output(combined, labels, multi_label=self.multi_label)
