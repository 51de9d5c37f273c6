"""The one place a classifier's logits become its output and loss, for every attentext family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput


def classification_output(
    logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    attentions: tuple[torch.Tensor, ...] | None = None,
) -> SequenceClassifierOutput:
    """Logits, the cross-entropy loss when labels are given (computed in fp32, also under
    bf16 autocast), and the attentions when asked for."""
    loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits, attentions=attentions)
