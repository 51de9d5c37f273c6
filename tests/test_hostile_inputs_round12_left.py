"""Hostile inputs, round 12, the items round 11 left (R12-L): each fixed at its mechanism, and
each test failed before its fix.

Findings -> tests
R12-L1. a CSV label that is a number a float cannot hold (`1.0000000000000001`,
      `9007199254740993`): read through a float, the first was the index 1 of a classes.txt and
      the second the class `9007199254740992` of a run; labels that are numbers are now matched
      by their digits, exactly:
      test_r12_l1_a_number_label_is_matched_by_its_exact_digits
"""

from __future__ import annotations

import pytest
from conftest import labelled_csv, write_file

from attentext.data.dataset import load_text_dataset
from attentext.data.labels import UnknownLabel
from attentext.errors import DataError

TEXTS = [f"story number {i} about {'sport' if i % 2 else 'trade'}" for i in range(20)]


def test_r12_l1_a_number_label_is_matched_by_its_exact_digits(tmp_path):
    write_file(tmp_path, "classes.txt", "a\nb\nc\n")
    rows = [(text, str(i % 3)) for i, text in enumerate(TEXTS)]
    write_file(tmp_path, "train.csv", labelled_csv(rows))
    write_file(tmp_path, "test.csv", labelled_csv([("one more", "2.0"), ("and", "1.0")]))
    assert load_text_dataset(tmp_path).splits["test"]["label"] == [
        2,
        1,
    ]  # a whole float is an index
    write_file(tmp_path, "test.csv", labelled_csv([("one more", "1.0000000000000001")]))
    with pytest.raises(DataError, match=r"row 2: unknown label '1.0000000000000001'"):
        load_text_dataset(tmp_path)  # was the class 'b'
    big = "9007199254740992"  # 2**53: 9007199254740993 is the same float
    rows = [(text, big if i % 2 else "7") for i, text in enumerate(TEXTS)]
    run_data = tmp_path / "numbers"
    write_file(run_data, "train.csv", labelled_csv(rows))
    write_file(run_data, "test.csv", labelled_csv([("x", "9007199254740993"), ("y", "7.0")]))
    with pytest.raises(UnknownLabel, match=r"row 2: unknown label '9007199254740993'"):
        load_text_dataset(run_data, label_names=[big, "7"])  # was the class 2**53
    write_file(run_data, "test.csv", labelled_csv([("x", "9007199254740992.0"), ("y", "7.0")]))
    assert load_text_dataset(run_data, label_names=[big, "7"]).splits["test"]["label"] == [0, 1]

