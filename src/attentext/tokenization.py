"""Tokenizers for recipes, and tokenizing dataset splits once, without padding."""

from __future__ import annotations

import datasets
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from attentext.recipes import TokenizerSpec
from attentext.vectorizer import fit_word_vectorizer


def build_tokenizer(spec: TokenizerSpec, train_texts: list[str]) -> PreTrainedTokenizerBase:
    """A fresh tokenizer for a recipe: a word vectorizer fitted on the training texts."""
    if spec.type == "word":
        return fit_word_vectorizer(train_texts, spec.max_tokens, spec.max_length)
    raise ValueError(f"unknown tokenizer type {spec.type!r}")


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(path)


def tokenize_split(
    split: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> datasets.Dataset:
    """input_ids + attention_mask + length per row, truncated, unpadded (the collator pads)."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    return split.map(encode, batched=True, batch_size=2048, remove_columns=["text"], desc="Tokenizing")
