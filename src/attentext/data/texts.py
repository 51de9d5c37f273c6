"""Texts without labels: what `predict --input` classifies and what an int8 export is checked on."""

from __future__ import annotations

import random
from pathlib import Path

from attentext.data.readers import SUFFIXES, find_split_files, read_file, read_text
from attentext.errors import DataError


def sample_texts(
    source: str | Path, limit: int, seed: int = 0, split: str | None = None
) -> list[str]:
    """Up to `limit` texts of a data folder (`split`, or its test split, else validation, else
    train), a data file or a text file, drawn with a fixed seed: a sample of the user's own texts
    to check a model against (int8 export)."""
    path = Path(source)
    if path.is_dir():
        files = find_split_files(path)
        order = (split,) if split else ("test", "validation", "train")
        chosen = next((files[s] for s in order if s in files), None)
        if chosen is None:
            raise DataError(f"{path}: no train.*, validation.* or test.* data file")
        path = chosen
    texts = load_texts(path)
    if len(texts) <= limit:
        return texts
    return random.Random(seed).sample(texts, limit)


def load_texts(path: str | Path) -> list[str]:
    """Read texts to classify: one per line of a .txt file, or the `text` column of a data file."""
    path = Path(path)
    if path.suffix.lower() in SUFFIXES:
        return read_file(path, "text", "text").texts
    lines = read_text(path).split("\n")  # not splitlines(): a form feed is part of a text
    texts = [line.removesuffix("\r") for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{path}: no texts (one text per line expected)")
    return texts
