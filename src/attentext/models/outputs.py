"""The one place a classifier's logits become its output and loss, for every attentext family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
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


def initialize_label_priors(model: nn.Module, multi_hot_labels: np.ndarray) -> int:
    """Start each label's output bias at the log-odds of its share of the training texts.

    With many labels each text carries few of them: from a zero bias (sigmoid 0.5 for every
    label) the first hundreds of steps only learn "mostly no", and a fine-tuned encoder at a
    small learning rate stalls there (Reuters, 90 topics: micro-F1 0.09 after 300 steps). The
    prior start (Lin et al. 2017, focal loss) begins where that lesson ends. Every attentext
    family and Hugging Face's own name their last layer `classifier`; returns how many were set.
    """
    texts, n_labels = multi_hot_labels.shape
    share = (multi_hot_labels.sum(axis=0) + 0.5) / (texts + 1.0)  # never 0 or 1: finite
    prior = torch.tensor(np.log(share / (1.0 - share)), dtype=torch.float32)
    initialized = 0
    for name, module in model.named_modules():
        if (
            name.rsplit(".", 1)[-1] == "classifier"
            and isinstance(module, nn.Linear)
            and module.out_features == n_labels
            and module.bias is not None
        ):
            with torch.no_grad():
                module.bias.copy_(prior.to(module.bias.dtype))
            initialized += 1
    return initialized


@dataclass
class WindowClassifierOutput(SequenceClassifierOutput):
    """A classifier's output with one learned score per input row: how much that row (a window
    of a long document) should weigh in its document's prediction (`models/aggregation.py`)."""

    window_scores: torch.FloatTensor | None = None


@dataclass
class PooledClassifierOutput(SequenceClassifierOutput):
    """A classifier's output with each token's weight in the vector it classifies (attention
    pooling, `model.options.pooling: attention` of the seed transformer), for explain."""

    pooling_weights: torch.FloatTensor | None = None
