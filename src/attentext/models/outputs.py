"""The one place a classifier's logits become its output and loss, for every attentext family."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, multi_label: bool = False
) -> torch.Tensor:
    """Cross-entropy over classes (one label per text), or binary cross-entropy per label on
    multi-hot targets (several labels per text); in fp32, also under bf16 autocast."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    return F.cross_entropy(logits.float(), labels)


def classification_output(
    logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    attentions: tuple[torch.Tensor, ...] | None = None,
    multi_label: bool = False,
) -> SequenceClassifierOutput:
    """Logits, the loss when labels are given, and the attentions when asked for."""
    loss = classification_loss(logits, labels, multi_label) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits, attentions=attentions)


@dataclass
class WindowClassifierOutput(SequenceClassifierOutput):
    """A classifier's output with one learned score per input row: how much that row (a window
    of a long document) should weigh in its document's prediction (`models/aggregation.py`)."""

    window_scores: torch.FloatTensor | None = None
