"""The config arguments a model takes from the data rather than the recipe: its labels (the
names stay with the model) and, for word models, the vocabulary size, length and padding id."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from attentext.decisions import MULTI_LABEL, SINGLE_LABEL
from attentext.errors import RecipeError
from attentext.recipes import ModelSpec


def label_config(label_names: list[str], multi_label: bool = False) -> dict[str, Any]:
    """num_labels, id2label, label2id and problem_type for a model over `label_names`."""
    return {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
        "problem_type": MULTI_LABEL if multi_label else SINGLE_LABEL,
    }


def word_model_config(
    config_cls: type[PretrainedConfig],
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> PretrainedConfig:
    """A word model's config: the recipe's options, sized for the fitted vocabulary and labels.

    A bad option value (an unknown cell) is a one-line `RecipeError` naming the model type.
    """
    # [UNK]'s id, for word dropout; a stand-in tokenizer (a model sized before its data) may lack it
    unk = getattr(tokenizer, "unk_token_id", None)
    try:
        return config_cls(
            **spec.options,
            vocab_size=len(tokenizer),
            max_position_embeddings=max_length,
            pad_token_id=tokenizer.pad_token_id,
            **({} if unk is None else {"unk_token_id": unk}),
            **label_config(label_names, multi_label),
        )
    except ValueError as err:
        raise RecipeError(f"model.options of {spec.type}: {err}") from None
