"""Ray Data: `Predictor`, a callable class that `Dataset.map_batches` runs in its actors.

    import ray
    from attentext.integrations.ray import Predictor

    ds = ray.data.read_parquet("s3://bucket/corpus/")
    ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"run_dir": "runs/best", "id_column": "id"},
        concurrency=8,  # actors, each loading the model once
        batch_size=256,
    ).write_parquet("s3://bucket/scored/")

Each actor loads the run directory once (in `__init__`), then maps every batch it is given to
the columns `attentext predict --output` writes for the same rows: the id and passed-through
columns, `label`, `score`, and with `top_k` / `all_scores` the same extra columns, computed by
the same code (`attentext.scoring.results`). A row whose text is missing, empty or not a string
gets null labels and scores (NaN in numpy and pandas batches): filter on `label` to find them.
The batch comes back in the format it came in: a pandas DataFrame, a pyarrow Table, or a dict
of numpy arrays (Ray Data's default).

This module does not import Ray: the Predictor is plain Python that Ray calls, so it loads
(and is tested) without Ray too; `pip install 'attentext[ray]'` installs Ray Data for the
pipelines that use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from attentext.errors import AttentextError, DataError, short_list, shown
from attentext.inference.classifier import check_backend
from attentext.scoring.results import (
    ResultSpec,
    check_names,
    passthrough_names,
    score_texts,
)
from attentext.scoring.sources import decode_texts
from attentext.scoring.workers import load_classifier


class Predictor:
    """Classify the `text_column` of Ray Data batches with an attentext run directory.

    `backend`: torch, onnx or onnx-int8, as for `attentext predict`. `threads` caps torch's and
    ONNX Runtime's threads in the actor (None: their defaults; Ray sets OMP_NUM_THREADS to the
    actor's `num_cpus`, which torch follows).
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        backend: str = "torch",
        text_column: str = "text",
        id_column: str | None = None,
        columns: list[str] | tuple[str, ...] = (),
        top_k: int = 1,
        all_scores: bool = False,
        threads: int | None = None,
    ) -> None:
        check_backend(backend)
        check_options(text_column, id_column, columns, top_k, all_scores)
        self.classifier = load_classifier(run_dir, backend, threads)
        thresholds = getattr(self.classifier, "thresholds", None)
        multi = getattr(self.classifier, "multi_label", False) and thresholds is not None
        self.spec = ResultSpec(
            tuple(self.classifier.labels),
            top_k,
            all_scores,
            tuple(float(t) for t in thresholds) if multi else None,
        )
        self.text_column = text_column
        self.passthrough = passthrough_names(id_column, list(columns))
        check_names(self.passthrough, self.spec)

    def __call__(self, batch: Any) -> Any:
        """The batch's passed-through columns and result columns, in the batch's format."""
        names = list(batch.column_names if isinstance(batch, pa.Table) else batch.keys())
        missing = [c for c in (self.text_column, *self.passthrough) if c not in names]
        if missing:
            raise DataError(
                f"the batch has no column '{shown(missing[0])}' (columns: {short_list(names)})"
            )
        texts, problems = decode_texts(values_of(batch, self.text_column))
        results, _ = score_texts(self.classifier, texts, self.spec, problems)
        columns = {name: column_of(batch, name) for name in self.passthrough}
        as_arrow = {
            name: c for name, c in columns.items() if isinstance(c, pa.Array | pa.ChunkedArray)
        }
        carried = {name: c for name, c in columns.items() if name not in as_arrow}
        return with_carried(
            like(batch, pa.table({**as_arrow, **results})), carried, self.passthrough
        )


def check_options(
    text_column: Any, id_column: Any, columns: Any, top_k: Any, all_scores: Any
) -> None:
    """Refuse options `predict --output` would refuse, before the model loads in each actor.

    Unchecked, `top_k=0` or `-1` gave one label without a word (the CLI refuses them),
    `columns="src"` was read as the columns 's', 'r', 'c', and `top_k="3"` failed inside
    numpy with "'<' not supported between instances of 'int' and 'str'".
    """
    if not isinstance(text_column, str):
        raise TypeError(f"text_column must be a column name, not {_given(text_column)}")
    if id_column is not None and not isinstance(id_column, str):
        raise TypeError(f"id_column must be a column name or None, not {_given(id_column)}")
    if isinstance(columns, str):
        raise TypeError(
            f"columns must be a list of column names, not the string {_given(columns)} "
            f"(one column: columns=[{_given(columns)}])"
        )
    if not all(isinstance(column, str) for column in columns):
        raise TypeError(f"columns must be a list of column names, not {_given(columns)}")
    if type(top_k) is not int:  # not a bool, not 2.5, not "3"
        raise TypeError(f"top_k must be a whole number, not {_given(top_k)}")
    if top_k < 1:
        raise AttentextError(f"top_k must be at least 1, got {top_k}")
    if not isinstance(all_scores, bool):
        raise TypeError(f"all_scores must be True or False, not {_given(all_scores)}")


def _given(value: Any) -> str:
    """A value as Python writes it (a string in quotes), cut for a one-line message."""
    return shown(repr(value))


def values_of(batch: Any, name: str) -> list[Any]:
    """A column of a batch (pyarrow Table, pandas DataFrame, dict of numpy arrays) as Python
    values: a text that is not a string stays what it is (bytes are decoded by the caller),
    and is reported as such."""
    if isinstance(batch, pa.Table):
        return batch.column(name).to_pylist()
    column = batch[name]
    return column.tolist() if hasattr(column, "tolist") else list(column)


def column_of(batch: Any, name: str) -> Any:
    """A passed-through column as Arrow (a pandas or numpy NaN is a null), or as it came (a
    numpy array) where Arrow cannot hold it: a pandas column of mixed types (an id column of
    ints and strings) failed the whole batch, "Could not convert 'a' with type str"."""
    if isinstance(batch, pa.Table):
        return batch.column(name)
    values = np.asarray(batch[name])
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return values


def with_carried(result: Any, carried: dict[str, np.ndarray], order: list[str]) -> Any:
    """`result` (a pandas DataFrame or a dict of numpy arrays) with the passed-through columns
    Arrow could not hold, `carried` as they came, each in its place in `order` (first)."""
    if not carried:
        return result
    if isinstance(result, dict):
        return {
            **{name: carried[name] if name in carried else result[name] for name in order},
            **{name: column for name, column in result.items() if name not in order},
        }
    for position, name in enumerate(order):
        if name in carried:
            result.insert(position, name, carried[name])
    return result


def like(batch: Any, table: pa.Table) -> Any:
    """`table` in the format of `batch`."""
    if isinstance(batch, pa.Table):
        return table
    if isinstance(batch, dict):
        return {
            name: column.to_numpy(zero_copy_only=False)
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    return table.to_pandas()
