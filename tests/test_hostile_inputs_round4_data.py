"""Hostile inputs, round 4: the shapes of data users bring (docs/reliability.md, "Hostile inputs,
round 4"). Each test failed before its fix.

Findings -> tests
R4-1. labels written as floats (`1.0`, `2.0`, `3.0`: a CSV pandas wrote from a column that once
      held NaN) were names, not numbers: `evaluate` on a file labelled `1`, `2` read each number as
      an index, the classes `2.0` and `3.0`, without a word; `1` beside `1.0` was warned about as
      "numbers mixed with names"; ten or more float classes were ordered as strings:
      test_float_class_names_match_labels_by_value_not_by_index,
      test_a_label_written_1_and_1_0_is_warned_about_as_one_number,
      test_float_class_names_are_ordered_by_value
"""

from __future__ import annotations

import warnings
from pathlib import Path

import attentext
from attentext.errors import AttentextWarning


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A text,label CSV of `rows`, each text quoted."""
    lines = ["text,label", *(f'"{text}",{label}' for text, label in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_float_class_names_match_labels_by_value_not_by_index(tmp_path):
    test = _csv(tmp_path / "test.csv", [("a goal", "1"), ("a bank", "2"), ("a vote", "1")])
    dataset = attentext.load_text_dataset(
        test, label_names=["1.0", "2.0", "3.0"], val_fraction=0.0
    )  # as `evaluate` reads a test file for a run trained on 1.0, 2.0, 3.0
    assert dataset.labels("train") == [0, 1, 0]  # was [1, 2, 1]: the classes 2.0 and 3.0


def test_a_label_written_1_and_1_0_is_warned_about_as_one_number(tmp_path):
    rows = [(f"text {i}", "1" if i % 2 else "1.0") for i in range(6)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)
    said = [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]
    assert dataset.label_names == ["1", "1.0"]  # kept apart, as '1' and '01' are
    assert any("how a number is written" in m and "'1' / '1.0'" in m for m in said), said
    assert not any("mix numbers" in m for m in said), said


def test_float_class_names_are_ordered_by_value(tmp_path):
    rows = [(f"text {i}", f"{i % 11}.0") for i in range(22)]
    dataset = attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)
    assert dataset.label_names == [f"{i}.0" for i in range(11)]  # 10.0 after 9.0, not 1.0
