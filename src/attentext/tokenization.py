"""Tokenizers for recipes, truncation strategies, and tokenizing dataset splits once, unpadded."""

from __future__ import annotations

import datasets
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from attentext.encoders import resolve_encoder
from attentext.recipes import Recipe
from attentext.vectorizer import fit_word_vectorizer


def build_tokenizer(recipe: Recipe, train_texts: list[str]) -> PreTrainedTokenizerBase:
    """A fresh tokenizer for a recipe: a word vectorizer fitted on train, or the encoder's own."""
    spec = recipe.tokenizer
    if spec.type == "word":
        return fit_word_vectorizer(train_texts, spec.max_tokens, spec.max_length)
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(recipe.model.encoder))
    tokenizer.model_max_length = spec.max_length
    return tokenizer


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(path)


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, truncation: str = "head"
) -> list[list[int]]:
    """Token ids of each text with special tokens, at most `max_length`, cut by `truncation`.

    "head" keeps the start (the usual way), "tail" the end, "head+tail" half of each: for long
    news items and reviews the opening and the conclusion carry most of the label (Sun et al.,
    "How to Fine-Tune BERT for Text Classification?", 2019).
    """
    if truncation == "head":
        return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pieces = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    head = budget // 2 if truncation == "head+tail" else 0
    tail = budget - head
    encoded = []
    for ids in pieces:
        if len(ids) > budget:
            ids = ids[:head] + ids[len(ids) - tail :]
        encoded.append(prefix + ids + suffix)
    return encoded


def special_tokens_around(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one sequence ([CLS] / [SEP] for BERT)."""
    content = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(content) + 1):
        if full[start : start + len(content)] == content:
            return full[:start], full[start + len(content) :]
    return [], []


def tokenize_split(
    split: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    truncation: str = "head",
) -> datasets.Dataset:
    """input_ids + attention_mask + length per row, truncated, unpadded (the collator pads)."""

    def batch_encode(batch: dict[str, list]) -> dict[str, list]:
        ids = encode(tokenizer, batch["text"], max_length, truncation)
        return {
            "input_ids": ids,
            "attention_mask": [[1] * len(x) for x in ids],
            "length": [len(x) for x in ids],
        }

    return split.map(
        batch_encode, batched=True, batch_size=2048, remove_columns=["text"], desc="Tokenizing"
    )
