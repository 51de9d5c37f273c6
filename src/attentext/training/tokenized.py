"""Tokenizing dataset splits once, unpadded, and holding them in memory as the Trainer reads them."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from attentext.evaluation.multilabel import multi_hot
from attentext.text.encoding import encode
from attentext.text.windows import Chunking, encode_windows


def tokenize_split(
    split: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    truncation: str = "head",
) -> datasets.Dataset:
    """`input_ids` per row (with the `label` column kept), truncated, unpadded: the collator pads."""

    def batch_encode(batch: dict[str, list]) -> dict[str, list]:
        return {"input_ids": encode(tokenizer, batch["text"], max_length, truncation)}

    return split.map(
        batch_encode, batched=True, batch_size=2048, remove_columns=["text"], desc="Tokenizing"
    )


def tokenize_windows(
    split: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    chunking: Chunking,
) -> datasets.Dataset:
    """`input_ids` per row as a list of windows (`text.windows`), the `label` column kept."""

    def batch_encode(batch: dict[str, list]) -> dict[str, list]:
        return {"input_ids": encode_windows(tokenizer, batch["text"], max_length, chunking)}

    return split.map(
        batch_encode, batched=True, batch_size=512, remove_columns=["text"], desc="Windows"
    )


def _labels(split: datasets.Dataset, table: Any) -> np.ndarray | None:
    """The split's labels as an array: ids, or multi-hot float32 rows (several labels per text)."""
    if "label" not in table.column_names:
        return None
    feature = split.features["label"]
    if isinstance(feature, datasets.Sequence):
        id_lists = table.column("label").to_pylist()
        return multi_hot(id_lists, feature.feature.num_classes, np.float32)
    return table.column("label").to_numpy(zero_copy_only=False)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


class PackedRows(torch.utils.data.Dataset):
    """Tokenized rows in memory, every row's ids in one flat array: what the Trainer reads.

    A batch read from a `datasets.Dataset` goes through an Arrow gather and per-row Python
    formatting: 1.4 ms for 128 AG News rows, 11 % of a seed-transformer step on 2 cores
    (benchmarks/breakdown.py). Here a row is a slice of one numpy array. The ids take the
    column's own integer size per token (int32 for AG News: its 120,000 training rows, ~20 MB).
    Rows carry `input_ids` and `label` (when the split has labels); their attention mask is all
    ones, which `PadCollator` fills in.
    """

    def __init__(
        self,
        ids: np.ndarray,
        offsets: np.ndarray,
        labels: np.ndarray | None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError("offsets must start at 0 and end at len(ids)")
        if labels is not None and len(labels) != len(offsets) - 1:
            raise ValueError(f"{len(labels)} labels for {len(offsets) - 1} rows")
        for name, values in (extra or {}).items():
            if len(values) != len(offsets) - 1:
                raise ValueError(f"{len(values)} rows of {name} for {len(offsets) - 1} rows")
        self.ids, self.offsets, self.labels = ids, offsets, labels
        self.extra = dict(extra or {})  # per-row arrays the batches carry (teacher logits)

    @classmethod
    def from_dataset(cls, split: datasets.Dataset) -> PackedRows:
        """Read a `tokenize_split` result (any selection or order of it) into memory, once.

        Multi-label splits (a list of label ids per row) become multi-hot float32 rows.
        """
        table = split.with_format("arrow")[:]  # applies the split's index mapping, if any
        column = table.column("input_ids").combine_chunks()
        offsets = _offsets(column.value_lengths().to_numpy(zero_copy_only=False))
        ids = column.flatten().to_numpy(zero_copy_only=False)
        return cls(ids, offsets, _labels(split, table))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        index %= len(self)
        row: dict[str, Any] = {"input_ids": self.ids[self.offsets[index] : self.offsets[index + 1]]}
        if self.labels is not None:
            label = self.labels[index]
            row["label"] = label if self.labels.ndim == 2 else int(label)
        for name, values in self.extra.items():
            row[name] = values[index]
        return row

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self[index] for index in indices]

    def with_column(self, name: str, values: np.ndarray) -> PackedRows:
        """The same rows, each also carrying `values[row]` as `name`."""
        return PackedRows(self.ids, self.offsets, self.labels, {**self.extra, name: values})

    @classmethod
    def concatenate(cls, first: PackedRows, second: PackedRows) -> PackedRows:
        """`first`'s rows then `second`'s (both labelled; the same extra columns)."""
        if first.labels is None or second.labels is None or set(first.extra) != set(second.extra):
            raise ValueError("rows to concatenate need labels and the same extra columns")
        return cls(
            np.concatenate([first.ids, second.ids.astype(first.ids.dtype)]),
            np.concatenate([first.offsets, second.offsets[1:] + first.offsets[-1]]),
            np.concatenate([first.labels, second.labels.astype(first.labels.dtype)]),
            {k: np.concatenate([first.extra[k], second.extra[k]]) for k in first.extra},
        )

    @property
    def lengths(self) -> list[int]:
        """Tokens per row, for length-grouped batching."""
        return np.diff(self.offsets).tolist()

    def id_lists(self) -> list[list[int]]:
        """Every row's ids as a list (what feature extraction and fingerprints read)."""
        bounds = zip(self.offsets[:-1], self.offsets[1:], strict=True)
        return [self.ids[start:end].tolist() for start, end in bounds]


class WindowRows(torch.utils.data.Dataset):
    """Documents read in windows: row i is document i, its `input_ids` the list of its windows'
    ids (so the Trainer's length grouping groups documents by their number of windows), with its
    label. The windows are one `PackedRows` (every window's ids in one flat array).
    """

    def __init__(self, windows: PackedRows, counts: np.ndarray, labels: np.ndarray | None) -> None:
        if int(np.sum(counts)) != len(windows) or (np.asarray(counts) < 1).any():
            raise ValueError("every document needs at least one window, and counts their sum")
        if labels is not None and len(labels) != len(counts):
            raise ValueError(f"{len(labels)} labels for {len(counts)} documents")
        self.windows, self.labels = windows, labels
        self.starts = _offsets(np.asarray(counts, dtype=np.int64))

    @classmethod
    def from_dataset(cls, split: datasets.Dataset) -> WindowRows:
        """Read a `tokenize_windows` result into memory, once."""
        table = split.with_format("arrow")[:]
        documents = table.column("input_ids").combine_chunks()  # list<list<int>>
        windows = documents.flatten()
        ids = windows.flatten().to_numpy(zero_copy_only=False)
        offsets = _offsets(windows.value_lengths().to_numpy(zero_copy_only=False))
        counts = documents.value_lengths().to_numpy(zero_copy_only=False)
        return cls(PackedRows(ids, offsets, None), counts, _labels(split, table))

    def __len__(self) -> int:
        return len(self.starts) - 1

    def window_range(self, index: int) -> range:
        return range(int(self.starts[index]), int(self.starts[index + 1]))

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"document {index} of {len(self)}")
        index %= len(self)
        row: dict[str, Any] = {
            "input_ids": [self.windows[i]["input_ids"] for i in self.window_range(index)]
        }
        if self.labels is not None:
            label = self.labels[index]
            row["label"] = label if self.labels.ndim == 2 else int(label)
        return row

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self[index] for index in indices]

    @property
    def counts(self) -> np.ndarray:
        """Windows per document."""
        return np.diff(self.starts)

    @property
    def lengths(self) -> list[int]:
        return self.counts.tolist()

    def window_summary(self) -> dict[str, Any]:
        """How many windows the documents were read as (for metrics.json and benchmarks)."""
        counts = self.counts
        return {
            "documents": len(counts),
            "windows": int(counts.sum()),
            "mean": round(float(counts.mean()), 3) if len(counts) else 0.0,
            "median": float(np.median(counts)) if len(counts) else 0.0,
            "max": int(counts.max()) if len(counts) else 0,
            "one_window": int((counts == 1).sum()),
        }
