"""Frozen-encoder features, computed once per split and cached on disk.

The lesson's frozen-BERT classifier reruns the encoder on every batch of every epoch. With the
encoder frozen its output never changes, so attentext runs it once, caches the pooled features
(safetensors, keyed by everything they depend on) and trains the head on them: a head epoch then
costs milliseconds instead of an encoder pass.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from attentext.bars import ProgressBar
from attentext.encoders import encoder_fingerprint, resolve_encoder
from attentext.errors import AttentextWarning
from attentext.files import cache_root, remove_stale_temporaries_in, write_atomic
from attentext.precision import default_device, inference_model
from attentext.recipes import Recipe
from attentext.text.batching import run_in_batches
from attentext.text.windows import Chunking
from attentext.training.collator import WindowFeatureCollator
from attentext.training.tokenized import PackedRows, WindowRows

# a cache temporary this old was left by a killed writer (a live one writes for seconds)
ABANDONED_AFTER_S = 3600.0
CACHE_DIR: Path | None = None  # the feature cache's folder when set; else `features_dir()`'s


def features_dir() -> Path:
    """Where frozen-encoder features are cached: `CACHE_DIR`, else <cache_root()>/features."""
    return CACHE_DIR or cache_root() / "features"


def data_fingerprint(input_ids: list[list[int]]) -> str:
    """A hash of the tokenized split: changes with the texts, the tokenizer, max length, truncation."""
    digest = hashlib.sha256()
    for ids in input_ids:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def cache_key(**parts: Any) -> str:
    """The cache file name for features that depend on `parts` (encoder, pooling, data, ...)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def compute_features(
    model: Any,
    input_ids: list[list[int]],
    pad_token_id: int,
    precision: str = "fp32",
    batch_size: int = 64,
    description: str = "Encoding",
) -> torch.Tensor:
    """Pooled encoder features (N, H), float32, in length-sorted batches with a progress bar.

    In bf16 the encoder runs as a bf16 copy (`inference_model`); `model` is left as it was.
    The model goes to its device before inference mode starts: moved inside it, its parameters
    would become inference tensors, and the head the Trainer then trains on the GPU learned
    nothing (seen on an H200: chance accuracy on every run that extracted its own features).
    """
    model.eval().to(default_device())  # the GPU if there is one; the Trainer keeps it there
    with torch.inference_mode():
        return _pooled_features(model, input_ids, pad_token_id, precision, batch_size, description)


def _pooled_features(
    model: Any,
    input_ids: list[list[int]],
    pad_token_id: int,
    precision: str,
    batch_size: int,
    description: str,
) -> torch.Tensor:
    runner = inference_model(model, precision)
    device = next(model.parameters()).device

    def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
        ids, mask = (torch.from_numpy(batch[k]).to(device) for k in ("input_ids", "attention_mask"))
        return runner.pooled(ids, mask)[0].float().cpu().numpy()

    if not input_ids:
        return torch.empty(0, 0)
    with ProgressBar(total=len(input_ids), desc=description, unit="text") as bar:
        features = run_in_batches(input_ids, pooled, pad_token_id, batch_size, on_batch=bar.update)
    return torch.from_numpy(features)


def _checksum(features: torch.Tensor) -> str:
    return hashlib.sha256(features.contiguous().numpy().tobytes()).hexdigest()


def _mismatch(features: torch.Tensor, metadata: dict[str, str], rows: int, data: str) -> str | None:
    """Why a cache entry is not the one expected, or None when it is."""
    if "sha256" not in metadata:
        return "no checksum"
    if features.shape[0] != rows or metadata.get("rows") != str(rows):
        return f"{features.shape[0]} rows for {rows}"
    if metadata.get("data") != data:
        return "made from other data"
    if _checksum(features) != metadata["sha256"]:
        return "its values do not match their checksum"
    return None


def _cached(path: Path, rows: int, data: str) -> torch.Tensor | None:
    """The cached features at `path` if they are what was stored for these rows and data.

    safetensors parses any well-formed file, zeroed data included: the row count, the data
    fingerprint and a checksum of the values, stored beside them, must all match. A bad entry
    is removed with a warning and computed again.
    """
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            features = handle.get_tensor("features")
        problem = _mismatch(features, metadata, rows, data)
    except Exception as error:  # safetensors raises several types for a damaged file
        problem = f"unreadable ({type(error).__name__})"
    if problem is None:
        return features
    warnings.warn(
        f"feature cache entry {path.name} is damaged ({problem}); computing it again",
        AttentextWarning,
        stacklevel=3,
    )
    path.unlink(missing_ok=True)
    return None


def cached_features(
    key: str, compute: Any, rows: int, data: str, cache_dir: Path | None = None
) -> tuple[torch.Tensor, bool]:
    """Features from the cache under `key`, or `compute()`d and stored; returns (features, hit).

    `rows` and `data` (the token ids' fingerprint) are what the entry must hold; they are stored
    with a checksum of the values and checked on every read.
    """
    folder = cache_dir or features_dir()
    path = folder / f"{key}.safetensors"
    if path.exists() and (features := _cached(path, rows, data)) is not None:
        return features, True
    features = compute().contiguous()
    _store(path, features, data)
    return features, False


def _store(path: Path, features: torch.Tensor, data: str) -> None:
    """Write a cache entry whole (a temporary renamed over it), first removing the temporaries
    that writers killed mid-write left in its folder (a file per kill, as big as the entry).
    A cache that cannot be written (a full disk, a read-only $ATTENTEXT_CACHE) is said in one
    warning: the features are computed and the command goes on, where it failed after the
    encoder's pass (minutes), over a file it only keeps for next time."""
    metadata = {"rows": str(len(features)), "data": data, "sha256": _checksum(features)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries_in(path.parent, ABANDONED_AFTER_S)
        write_atomic(
            path, lambda tmp: save_file({"features": features}, str(tmp), metadata=metadata)
        )
    except OSError as error:
        warnings.warn(
            f"could not store {path.name} in the cache {path.parent} ({error.strerror or error});"
            " going on without it (it is computed again next time)",
            AttentextWarning,
            stacklevel=4,
        )


class DocumentFeatures(torch.utils.data.Dataset):
    """Cached window features grouped by document: row i is document i's (windows, F) features
    and its label; `collator` batches them for `WindowFeatureHead`."""

    collator = WindowFeatureCollator()

    def __init__(self, features: torch.Tensor, starts: np.ndarray, labels: np.ndarray | None):
        self.features, self.starts, self.labels = features, starts, labels

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "features": self.features[self.starts[index] : self.starts[index + 1]]
        }
        if self.labels is not None:
            label = self.labels[index]
            row["labels"] = label if self.labels.ndim == 2 else int(label)
        return row


def _split_rows(split: PackedRows | WindowRows, features: torch.Tensor) -> Any:
    """What the head trains on: one row of features per text, or per document its windows'."""
    if isinstance(split, WindowRows):
        return DocumentFeatures(features, split.starts, split.labels)
    return datasets.Dataset.from_dict(
        {"features": features.numpy(), "labels": split.labels}  # default_data_collator stacks
    ).with_format("torch")


def _window_ids(split: PackedRows | WindowRows) -> tuple[list[list[int]], list[int] | None]:
    """The rows the encoder reads (texts, or every window of every document) and, for
    documents, their window counts (part of what the cached features mean)."""
    if isinstance(split, WindowRows):
        return split.windows.id_lists(), split.lengths
    return split.id_lists(), None


def feature_splits(
    recipe: Recipe,
    model: Any,
    tokenized: dict[str, PackedRows | WindowRows],
    precision: str,
    pad_id: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pooled encoder features per split, from the cache or computed once; and cache facts.

    The key holds everything the features depend on: the encoder's exact weights, the
    tokenizer's settings (chunking included: windows are cached one row each), pooling,
    precision and the token ids themselves.
    """
    encoder = encoder_fingerprint(resolve_encoder(recipe.model.encoder))
    chunking = Chunking.of(recipe.tokenizer)
    facts: dict[str, Any] = {
        "extraction_precision": precision,
        "extraction_seconds": 0.0,
        "cache_hits": [],
    }
    splits = {}
    for name, split in tokenized.items():
        ids, counts = _window_ids(split)
        fingerprint = data_fingerprint(ids if counts is None else [*ids, counts])
        parts: dict[str, Any] = {"chunking": chunking.to_dict()} if chunking is not None else {}
        if getattr(model.config, "normalize", False):  # only then: other keys stay as they were
            parts["normalize"] = True
        key = cache_key(
            encoder=encoder,
            max_length=recipe.tokenizer.max_length,
            truncation=recipe.tokenizer.truncation,
            pooling=model.config.pooling,
            pooling_layers=model.config.pooling_layers,
            precision=precision,
            data=fingerprint,  # the token ids: they change with texts and tokenizer
            **parts,
        )
        start = time.perf_counter()
        features, hit = cached_features(
            key,
            lambda ids=ids, name=name: compute_features(
                model, ids, pad_id, precision, description=f"Encoding {name}"
            ),
            rows=len(ids),
            data=fingerprint,
        )
        facts["extraction_seconds"] += time.perf_counter() - start
        if hit:
            facts["cache_hits"].append(name)
        splits[name] = _split_rows(split, features)
    facts["extraction_seconds"] = round(facts["extraction_seconds"], 2)
    return splits, facts
