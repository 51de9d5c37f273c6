"""Hostile inputs, round 9: what round 8 left. Each test failed before its fix:

R9-L1  `predict RUN --input MISSING.txt`: the run was loaded first (seconds for an encoder run)
       and only then was the mistyped file name said. A missing --input is said at once.
R9-L2  A CSV holding one huge quoted text: csv read it from an `io.StringIO`, which holds the
       whole file as 4-byte characters (400 MB for a 100 MB text). csv now reads the file's
       lines one at a time, split as `open(newline="")` splits them.
"""

from __future__ import annotations

import io
import random
import tracemalloc
from pathlib import Path

import pytest
from conftest import run_cli_here

from attentext.data import readers
from attentext.data.readers import _lines_kept, _quoted_records


def test_r9_l1_a_missing_input_file_is_said_before_the_run_is_loaded(tmp_path, monkeypatch):
    loaded = []

    def load(*args, **kwargs):
        loaded.append(args)
        raise AssertionError("the run was loaded before the input was checked")

    monkeypatch.setattr("attentext.inference.classifier.load", load)

    result = run_cli_here("predict", tmp_path, "--input", tmp_path / "no-such-file.txt")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no-such-file.txt: file not found" in result.stderr
    assert loaded == []


@pytest.mark.parametrize("seed", range(5))
def test_r9_l2_lines_are_split_as_open_newline_empty_splits_them(seed):
    rng = random.Random(seed)
    for _ in range(2_000):
        # \x85 and \u2028 are line breaks to str.splitlines, characters to csv and to open()
        content = "".join(rng.choice('ab\r\n\x85\u2028,"') for _ in range(rng.randint(0, 40)))
        assert list(_lines_kept(content)) == list(io.StringIO(content, newline=""))


def test_r9_l2_a_quoted_field_over_lines_keeps_its_row_numbers():
    content = 'text,label\n"one\r\ntwo\u2028still two",a\r"three",b\nfour,c'

    records, failure = _quoted_records(content, ",")

    assert failure is None
    assert records == [
        (1, 1, ["text", "label"]),
        (2, 3, ["one\r\ntwo\u2028still two", "a"]),
        (4, 4, ["three", "b"]),
        (5, 5, ["four", "c"]),
    ]


def test_r9_l2_reading_a_huge_quoted_text_holds_no_4_byte_copy_of_the_file():
    text = "word " * 2_000_000  # 10 MB of ASCII
    content = 'text,label\n"' + text + '",a\nshort,b\n'

    tracemalloc.start()
    try:
        records, failure = _quoted_records(content, ",")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert failure is None and records[1][2] == [text, "a"]
    # csv's own field buffer is 4 bytes a character (~4-8x); StringIO's copy added 4x more
    assert peak < 10 * len(content), f"peak {peak / 1e6:.0f} MB for {len(content) / 1e6:.0f} MB"


def test_r9_l2_a_csv_file_reads_as_before(tmp_path: Path):
    path = tmp_path / "data.csv"
    path.write_text('text,label\r\n"a, quoted\r\ntext",x\r\nplain,y\r\n\r\n', encoding="utf-8")

    rows = readers._csv_rows(path, ",")

    assert rows == [(1, ["text", "label"]), (2, ["a, quoted\r\ntext", "x"]), (3, ["plain", "y"])]
