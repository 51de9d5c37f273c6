"""The one batching path: sort by length, pad, run, put the rows back in order.

Texts of very different lengths padded together waste most of a batch on padding, so every reader
of token ids (training's collator, inference on torch and ONNX Runtime, frozen-encoder features,
explain, export checks) batches texts of similar length and pads each batch to its own longest
row, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

PAD_SIDES = ("right", "left")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of `batch_size`, shortest rows first (stable for equal lengths)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int, side: str = "right", width: int | None = None
) -> dict[str, np.ndarray]:
    """int64 `input_ids` (padded with `pad_id`) and `attention_mask` (1 on tokens), (B, T).

    T is the longest row, at least `width` when given and at least 1: an empty text still gets
    one (padding) slot, which the models treat as a text of its first token.
    """
    lengths = [len(row) for row in rows]
    width = max([1, *lengths, width or 0])
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    left = side == "left"
    for i, (row, length) in enumerate(zip(rows, lengths, strict=True)):
        if length:
            cells = slice(width - length, width) if left else slice(0, length)
            ids[i, cells] = row
            mask[i, cells] = 1
    return {"input_ids": ids, "attention_mask": mask}


def run_in_batches(
    encoded: Sequence[Sequence[int]],
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    pad_id: int,
    batch_size: int = 64,
    side: str = "right",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """`run(padded batch) -> (B, ...) array` over length-sorted batches, rows in input order.

    `on_batch(n_rows)` is called after each batch (a progress bar's update).
    """
    out: np.ndarray | None = None
    for index in length_sorted_batches([len(ids) for ids in encoded], batch_size):
        result = np.asarray(run(pad_rows([encoded[i] for i in index], pad_id, side)))
        if out is None:
            out = np.zeros((len(encoded), *result.shape[1:]), dtype=result.dtype)
        out[index] = result
        if on_batch is not None:
            on_batch(len(index))
    if out is None:
        raise ValueError("run_in_batches needs at least one row")
    return out
