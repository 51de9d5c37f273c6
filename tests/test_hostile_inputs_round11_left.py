"""Hostile inputs, round 11, the items two audits left (R11-L): each fixed at its mechanism, and
each test failed before its fix.

Findings -> tests
R11-L1. a JSON Lines (or .json array) data row naming a key twice ({"text": "a", "label": "x",
      "label": "y"}): json kept the last value without a word, where the server refuses such a
      body (R9-H4): test_r11_l1_a_data_row_naming_a_key_twice_is_refused_naming_row_and_key
"""

from __future__ import annotations

import json

import pytest
from conftest import write_file

from attentext.data.dataset import load_text_dataset
from attentext.errors import DataError
from attentext.scoring.sources import parse_record

ROWS = [(f"story number {i} about {'sport' if i % 2 else 'trade'}", "ab"[i % 2]) for i in range(20)]


def _records(rows: list[tuple[str, object]]) -> list[str]:
    return [json.dumps({"text": text, "label": label}) for text, label in rows]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_r11_l1_a_data_row_naming_a_key_twice_is_refused_naming_row_and_key(tmp_path, suffix):
    lines = _records(ROWS)
    lines[2] = '{"text": "a", "label": "a", "label": "b"}'
    content = "\n".join(lines) if suffix == ".jsonl" else "[" + ",\n".join(lines) + "]"
    data = write_file(tmp_path, f"d{suffix}", content)
    with pytest.raises(DataError, match=r"row 3: the key 'label' appears twice in one object"):
        load_text_dataset(data)
    record, problem = parse_record(b'{"text": "a", "text": "b"}')  # predict's streaming reader
    assert record is None and "the key 'text' appears twice" in problem
