"""From texts to result columns: what `predict --output` writes and the Ray `Predictor` returns,
by one code path, so that both give the same columns and values for the same rows.

Columns: `label` and `score` (the most probable label and its probability); for a multi-label
run, `labels` (every label at or over its threshold, joined by "|"); with `--top-k k`,
`label_2`, `score_2` ... `label_k`, `score_k`; with `--all-scores`, `prob_<label>` for every
label, in the model's label order. Scores are rounded to 6 decimals, ranked as
`inference.ranking.top_labels` ranks them (equal scores keep label order). A row whose text
cannot be classified (missing, empty, not a string, unreadable) keeps its place with null labels
and scores; the caller reports why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from attentext.data.multilabel import LABEL_JOIN
from attentext.data.readers import text_problem
from attentext.errors import DataError, short_list, shown

DECIMALS = 6


@dataclass(frozen=True)
class ResultSpec:
    """Which result columns a prediction has: the model's labels, top-k, all scores."""

    labels: tuple[str, ...]
    top_k: int = 1
    all_scores: bool = False
    thresholds: tuple[float, ...] | None = None  # a multi-label run's: adds the `labels` column

    @property
    def k(self) -> int:
        return max(1, min(self.top_k, len(self.labels)))

    def names(self) -> list[str]:
        ranked = [(f"label_{i}", f"score_{i}") for i in range(2, self.k + 1)]
        names = ["label", "score", *(name for pair in ranked for name in pair)]
        if self.thresholds is not None:
            names.append("labels")
        return names + ([f"prob_{label}" for label in self.labels] if self.all_scores else [])


def passthrough_names(id_column: str | None, columns: list[str] | tuple[str, ...]) -> list[str]:
    """The input columns copied to the output, the id first, each once."""
    return list(dict.fromkeys([*([id_column] if id_column else []), *columns]))


def check_names(passthrough: list[str], spec: ResultSpec) -> None:
    """Refuse an output with two columns of one name (an input column named like a result)."""
    names = passthrough + spec.names()
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        raise DataError(
            f"the output would have two columns named '{shown(twice[0])}': an input column you "
            f"pass through has the name of a result column ({short_list(spec.names())}); pass "
            "another column, or rename it in the input"
        )


def row_problems(texts: list[Any], problems: dict[int, str] | None = None) -> dict[int, str]:
    """Row -> why it is not classified: as read (`problems`), else its text (`text_problem`)."""
    found = dict(problems or {})
    for position, text in enumerate(texts):
        if position not in found and (problem := text_problem(text)) is not None:
            found[position] = problem
    return found


def split_rows(texts: list[Any], bad: dict[int, str]) -> tuple[list[str], np.ndarray]:
    """The texts to classify, and a mask of the rows that are not."""
    mask = np.zeros(len(texts), dtype=bool)
    mask[list(bad)] = True
    return [text for text, skip in zip(texts, mask, strict=True) if not skip], mask


def result_columns(probabilities: np.ndarray, mask: np.ndarray, spec: ResultSpec) -> dict[str, Any]:
    """The result columns (pyarrow arrays) of rows whose classified ones have `probabilities`
    ((not masked rows, labels), in order); masked rows get nulls."""
    full = np.zeros((len(mask), len(spec.labels)), dtype=np.float32)
    full[~mask] = probabilities
    order = np.argsort(-full, axis=1, kind="stable")[:, : spec.k]
    names = np.asarray(spec.labels, dtype=object)
    columns: dict[str, Any] = {}
    for rank in range(spec.k):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        chosen = order[:, rank]
        scores = np.take_along_axis(full, chosen[:, None], axis=1)[:, 0]
        columns[f"label{suffix}"] = pa.array(names[chosen], type=pa.string(), mask=mask)
        columns[f"score{suffix}"] = _scores(scores, mask)
    if spec.thresholds is not None:  # every label at or over its threshold, joined by "|"
        sets = [LABEL_JOIN.join(names[full[row] >= spec.thresholds]) for row in range(len(full))]
        columns["labels"] = pa.array(sets, type=pa.string(), mask=mask)
    if spec.all_scores:
        for i, label in enumerate(spec.labels):
            columns[f"prob_{label}"] = _scores(full[:, i], mask)
    return columns


def _scores(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(np.round(values.astype(np.float64), DECIMALS), type=pa.float64(), mask=mask)


def score_texts(
    classifier: Any, texts: list[Any], spec: ResultSpec, problems: dict[int, str] | None = None
) -> tuple[dict[str, Any], dict[int, str]]:
    """Result columns of `texts` in this process, and the rows not classified with why (those
    in `problems`, found as they were read, among them)."""
    bad = row_problems(texts, problems)
    wanted, mask = split_rows(texts, bad)
    probabilities = (
        classifier.predict_proba(wanted)
        if wanted
        else np.zeros((0, len(spec.labels)), dtype=np.float32)
    )
    return result_columns(probabilities, mask, spec), bad
