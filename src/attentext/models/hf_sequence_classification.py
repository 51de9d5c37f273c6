"""Any `AutoModelForSequenceClassification` checkpoint, its base frozen unless told otherwise: the
lesson's `BertForSequenceClassification` path (only the classifier trains)."""

from __future__ import annotations

from typing import Any

from transformers import AutoModelForSequenceClassification, PreTrainedModel

from attentext.encoders import resolve_encoder
from attentext.models.config_args import label_config
from attentext.recipes import ModelSpec


def build(
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> PreTrainedModel:
    """The checkpoint `spec.encoder` with a fresh classifier for `label_names`."""
    source = resolve_encoder(spec.encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, **label_config(label_names, multi_label)
    )
    if spec.options.get("freeze_base", True):
        for parameter in model.base_model.parameters():
            parameter.requires_grad = False
    if "aggregation" in spec.options:  # long documents in windows: mean or max of their logits
        model.config.aggregation = spec.options["aggregation"]
    return model
