"""Frozen-encoder features, computed once per split and cached on disk.

The lesson's frozen-BERT classifier reruns the encoder on every batch of every epoch. With the
encoder frozen its output never changes, so attentext runs it once, caches the pooled features
(safetensors, keyed by everything they depend on) and trains the head on them: a head epoch then
costs milliseconds instead of an encoder pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from attentext.precision import inference_model

CACHE_DIR = (
    Path(os.environ.get("ATTENTEXT_CACHE", Path.home() / ".cache" / "attentext")) / "features"
)


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


@torch.inference_mode()
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
    """
    model.eval()
    runner = inference_model(model, precision)
    order = np.argsort([len(ids) for ids in input_ids], kind="stable")
    features: torch.Tensor | None = None
    device = next(model.parameters()).device
    with tqdm(total=len(order), desc=description, unit="text") as bar:
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            longest = max(len(input_ids[i]) for i in index)
            ids = torch.full((len(index), longest), pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, i in enumerate(index):
                ids[row, : len(input_ids[i])] = torch.tensor(input_ids[i])
                mask[row, : len(input_ids[i])] = 1
            pooled, _ = runner.pooled(ids.to(device), mask.to(device))
            if features is None:
                features = torch.empty(len(order), pooled.shape[-1], dtype=torch.float32)
            features[torch.from_numpy(index)] = pooled.float().cpu()
            bar.update(len(index))
    return features if features is not None else torch.empty(0, 0)


def cached_features(
    key: str, compute: Any, cache_dir: Path | None = None
) -> tuple[torch.Tensor, bool]:
    """Features from the cache under `key`, or `compute()`d and stored; returns (features, hit)."""
    folder = cache_dir or CACHE_DIR
    path = folder / f"{key}.safetensors"
    if path.exists():
        try:
            return load_file(str(path))["features"], True
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    features = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({"features": features.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return features, False
