"""Model families: recipe `model.type` -> config and model classes, and Auto-class registration.

Registering the configs and models with the Auto classes is what lets
`AutoModelForSequenceClassification.from_pretrained(run_dir)` and
`transformers.pipeline("text-classification", model=run_dir)` load any attentext run.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from attentext.errors import RecipeError
from attentext.models.seed_transformer import (
    SeedTransformerConfig,
    SeedTransformerForSequenceClassification,
)
from attentext.recipes import ModelSpec


@dataclass(frozen=True)
class ModelFamily:
    config_cls: type[PretrainedConfig]
    model_cls: type[PreTrainedModel]

    def option_names(self) -> list[str]:
        params = inspect.signature(self.config_cls.__init__).parameters
        return [name for name in params if name not in ("self", "kwargs")]


MODEL_FAMILIES: dict[str, ModelFamily] = {
    "seed-transformer": ModelFamily(SeedTransformerConfig, SeedTransformerForSequenceClassification),
}


def register_auto_classes() -> None:
    """Make attentext's model types known to transformers' Auto classes (idempotent)."""
    for family in MODEL_FAMILIES.values():
        AutoConfig.register(family.config_cls.model_type, family.config_cls, exist_ok=True)
        AutoModelForSequenceClassification.register(family.config_cls, family.model_cls, exist_ok=True)


def model_family(model_type: str) -> ModelFamily:
    if model_type not in MODEL_FAMILIES:
        close = difflib.get_close_matches(model_type, list(MODEL_FAMILIES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(MODEL_FAMILIES)})"
        raise RecipeError(f"unknown model type '{model_type}'{hint}")
    return MODEL_FAMILIES[model_type]


def build_config(
    spec: ModelSpec, vocab_size: int, pad_token_id: int, label_names: list[str], max_length: int
) -> PretrainedConfig:
    """The config of a fresh model for recipe `spec`, sized for the vocabulary and the labels."""
    family = model_family(spec.type)
    known = family.option_names()
    for key in spec.options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"
            raise RecipeError(f"unknown option 'model.options.{key}' for {spec.type}{hint}")
    return family.config_cls(
        **spec.options,
        vocab_size=vocab_size,
        max_position_embeddings=max_length,
        pad_token_id=pad_token_id,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )


def build_model(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    """A freshly initialised model for recipe `spec`."""
    config = build_config(spec, len(tokenizer), tokenizer.pad_token_id, label_names, max_length)
    return model_family(spec.type).model_cls(config)


