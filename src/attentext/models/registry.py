"""Model families: recipe `model.type` -> how to build a model, and Auto-class registration.

Registering the configs and models with the Auto classes is what lets
`AutoModelForSequenceClassification.from_pretrained(run_dir)` and
`transformers.pipeline("text-classification", model=run_dir)` load any attentext run.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from attentext.encoders import resolve_encoder
from attentext.errors import RecipeError
from attentext.models.attention_rnn import (
    AttentionRNNConfig,
    AttentionRNNForSequenceClassification,
)
from attentext.models.encoder_classifier import (
    EncoderClassifierConfig,
    EncoderClassifierForSequenceClassification,
)
from attentext.models.seed_transformer import (
    SeedTransformerConfig,
    SeedTransformerForSequenceClassification,
)
from attentext.recipes import ModelSpec

Builder = Callable[[ModelSpec, PreTrainedTokenizerBase, list[str], int], PreTrainedModel]


@dataclass(frozen=True)
class ModelFamily:
    build: Builder
    options: tuple[str, ...]  # the keys `model.options` accepts
    config_cls: type[PretrainedConfig] | None = None  # attentext's own families
    model_cls: type[PreTrainedModel] | None = None


def _config_options(config_cls: type[PretrainedConfig], computed: set[str]) -> tuple[str, ...]:
    params = inspect.signature(config_cls.__init__).parameters
    return tuple(n for n in params if n not in {"self", "kwargs", *computed})


def _labels(label_names: list[str]) -> dict:
    return {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }


def build_seed_transformer(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    config = SeedTransformerConfig(
        **spec.options,
        vocab_size=len(tokenizer),
        max_position_embeddings=max_length,
        pad_token_id=tokenizer.pad_token_id,
        **_labels(label_names),
    )
    return SeedTransformerForSequenceClassification(config)


def build_attention_rnn(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    try:
        config = AttentionRNNConfig(
            **spec.options,
            vocab_size=len(tokenizer),
            max_position_embeddings=max_length,
            pad_token_id=tokenizer.pad_token_id,
            **_labels(label_names),
        )
    except ValueError as err:  # e.g. an unknown cell
        raise RecipeError(f"model.options of attention-rnn: {err}") from None
    return AttentionRNNForSequenceClassification(config)


def build_encoder_classifier(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    """A pretrained encoder (its weights loaded) with a fresh pooled head."""
    source = resolve_encoder(spec.encoder)
    encoder_config = AutoConfig.from_pretrained(source).to_dict()
    try:
        config = EncoderClassifierConfig(
            encoder=encoder_config, **spec.options, **_labels(label_names)
        )
    except ValueError as err:  # e.g. more pooling layers than the encoder has
        raise RecipeError(f"model.options of encoder-classifier: {err}") from None
    model = EncoderClassifierForSequenceClassification(config)
    model.load_encoder_weights(source)
    return model


def build_hf_sequence_classification(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    """`AutoModelForSequenceClassification` from a checkpoint, the base frozen unless told not to."""
    source = resolve_encoder(spec.encoder)
    model = AutoModelForSequenceClassification.from_pretrained(source, **_labels(label_names))
    if spec.options.get("freeze_base", True):
        for parameter in model.base_model.parameters():
            parameter.requires_grad = False
    return model


MODEL_FAMILIES: dict[str, ModelFamily] = {
    "seed-transformer": ModelFamily(
        build_seed_transformer,
        _config_options(
            SeedTransformerConfig, {"vocab_size", "max_position_embeddings", "pad_token_id"}
        ),
        SeedTransformerConfig,
        SeedTransformerForSequenceClassification,
    ),
    "attention-rnn": ModelFamily(
        build_attention_rnn,
        _config_options(
            AttentionRNNConfig, {"vocab_size", "max_position_embeddings", "pad_token_id"}
        ),
        AttentionRNNConfig,
        AttentionRNNForSequenceClassification,
    ),
    "encoder-classifier": ModelFamily(
        build_encoder_classifier,
        _config_options(EncoderClassifierConfig, {"encoder"}),
        EncoderClassifierConfig,
        EncoderClassifierForSequenceClassification,
    ),
    "hf-sequence-classification": ModelFamily(build_hf_sequence_classification, ("freeze_base",)),
}


def register_auto_classes() -> None:
    """Make attentext's model types known to transformers' Auto classes (idempotent)."""
    for family in MODEL_FAMILIES.values():
        if family.config_cls is not None:
            AutoConfig.register(family.config_cls.model_type, family.config_cls, exist_ok=True)
            AutoModelForSequenceClassification.register(
                family.config_cls, family.model_cls, exist_ok=True
            )


def model_family(model_type: str) -> ModelFamily:
    if model_type not in MODEL_FAMILIES:
        close = difflib.get_close_matches(model_type, list(MODEL_FAMILIES), n=1)
        hint = (
            f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(MODEL_FAMILIES)})"
        )
        raise RecipeError(f"unknown model type '{model_type}'{hint}")
    return MODEL_FAMILIES[model_type]


def build_model(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, label_names: list[str], max_length: int
) -> PreTrainedModel:
    """A model for recipe `spec`, sized for the tokenizer and the labels, its options checked."""
    family = model_family(spec.type)
    for key in spec.options:
        if key not in family.options:
            close = difflib.get_close_matches(key, family.options, n=1)
            hint = (
                f"; did you mean '{close[0]}'?"
                if close
                else f" (known: {', '.join(family.options)})"
            )
            raise RecipeError(f"unknown option 'model.options.{key}' for {spec.type}{hint}")
    return family.build(spec, tokenizer, label_names, max_length)
