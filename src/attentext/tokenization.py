"""Tokenizers for recipes, truncation strategies, and tokenizing dataset splits once, unpadded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
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


class PackedRows(torch.utils.data.Dataset):
    """Tokenized rows in memory, every row's ids in one flat array: what the Trainer reads.

    A batch read from a `datasets.Dataset` goes through an Arrow gather and per-row Python
    formatting: 1.6 ms for 128 AG News rows, 11 % of a seed-transformer epoch on 2 cores
    (benchmarks/breakdown.py). Here a row is a slice of one numpy array. The ids take the
    column's own integer size per token (int32 for AG News: its 120,000 training rows, ~20 MB).
    Rows carry `input_ids` and `label` (when the split has labels); their attention mask is all
    ones, which `PadCollator` fills in.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray | None) -> None:
        if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError("offsets must start at 0 and end at len(ids)")
        if labels is not None and len(labels) != len(offsets) - 1:
            raise ValueError(f"{len(labels)} labels for {len(offsets) - 1} rows")
        self.ids, self.offsets, self.labels = ids, offsets, labels

    @classmethod
    def from_dataset(cls, split: datasets.Dataset) -> PackedRows:
        """Read a `tokenize_split` result (any selection or order of it) into memory, once."""
        table = split.with_format("arrow")[:]  # applies the split's index mapping, if any
        column = table.column("input_ids").combine_chunks()
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = column.flatten().to_numpy(zero_copy_only=False)
        labels = None
        if "label" in table.column_names:
            labels = table.column("label").to_numpy(zero_copy_only=False)
        return cls(ids, offsets, labels)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        index %= len(self)
        row: dict[str, Any] = {"input_ids": self.ids[self.offsets[index] : self.offsets[index + 1]]}
        if self.labels is not None:
            row["label"] = int(self.labels[index])
        return row

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self[index] for index in indices]

    @property
    def lengths(self) -> list[int]:
        """Tokens per row, for length-grouped batching."""
        return np.diff(self.offsets).tolist()


@dataclass
class PadCollator:
    """Pads rows of `tokenize_split` into a batch: what `DataCollatorWithPadding` returns, faster.

    transformers' collator goes through `tokenizer.pad`, which converts every row in Python: 4.4 ms
    for a batch of 128 AG News rows, about a fifth of a seed-transformer training step on 2 cores.
    Filling one numpy array per column takes 0.2 ms. Columns: input_ids (padded with
    `pad_token_id`), attention_mask (0; a row without one is all ones), label -> labels; other
    columns (length) are dropped.

    Args:
        pad_token_id: the tokenizer's padding id.
        max_length: pad every batch to this width (fixed padding) instead of its longest row.
        padding_side: "right" (BERT, the word vectorizer) or "left".
    """

    pad_token_id: int
    max_length: int | None = None
    padding_side: str = "right"

    @classmethod
    def for_tokenizer(
        cls, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None
    ) -> PadCollator:
        return cls(tokenizer.pad_token_id or 0, max_length, tokenizer.padding_side)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = [len(row["input_ids"]) for row in rows]
        width = max([*lengths, self.max_length or 0])
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        left = self.padding_side == "left"
        for i, (row, length) in enumerate(zip(rows, lengths, strict=True)):
            cells = slice(width - length, width) if left else slice(0, length)
            input_ids[i, cells] = row["input_ids"]
            attention_mask[i, cells] = row.get("attention_mask", 1)  # PackedRows: all ones
        batch = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
        }
        key = "label" if "label" in rows[0] else "labels" if "labels" in rows[0] else None
        if key is not None:
            batch["labels"] = torch.tensor([row[key] for row in rows], dtype=torch.long)
        return batch
