"""Hostile inputs, round 16: `predict --input FILE --output OUT` and JSON arrays. Each test failed
before its fix (docs/reliability.md, round 16):

R16-P1  `predict RUN -i rows.json -o out.csv` where rows.json is one JSON array (`json.dump(rows)`,
        what every other reader of attentext takes): refused, "convert it first (jq -c '.[]'
        ...)". Streamed an item at a time (`scoring.sources.JsonArraySource`, by the reader
        `predict` without --output streams an array with), each item a row numbered from 1; an
        item that is no object, or lacks the text field, a row of OUT.errors.jsonl.
R16-P2  `predict RUN -i in.csv -o out.json`: "cannot tell the output format from '.json'". One
        JSON array of the rows (`sinks._assemble_array`: the parts are JSON Lines, joined with a
        comma after each row but the last, in bounded memory), --resume as for the other formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    batch_options,
    jsonl_rows,
    sentiment_tfidf_run,
    write_file,
)

import attentext
from attentext.scoring.engine import predict_file
from attentext.scoring.workdir import errors_path

TEXTS = ["a great film", "a dull mess", "loved every minute", "boring and far too long", "wow"]


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory) -> Path:
    """A TF-IDF run on six texts (a second)."""
    return sentiment_tfidf_run(tmp_path_factory, "r16-scoring")


def _records(texts: list[str]) -> list[dict]:
    return [{"id": f"r{i}", "text": text} for i, text in enumerate(texts)]


def test_r16_p1_a_json_array_streams_as_its_json_lines_do(tfidf_run, tmp_path):
    """The same rows as the same records written as JSON Lines, chunk by chunk (2 rows a chunk,
    an array written on one line and indented alike)."""
    records = _records(TEXTS)
    lines = write_file(tmp_path, "in.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    wanted = tmp_path / "want.jsonl"
    predict_file(tfidf_run, lines, wanted, batch_options(chunk_rows=2, id_column="id"))
    for indent in (None, 2):
        array = write_file(tmp_path, f"in{indent}.json", json.dumps(records, indent=indent))
        out = tmp_path / f"out{indent}.jsonl"
        summary = predict_file(tfidf_run, array, out, batch_options(chunk_rows=2, id_column="id"))
        assert summary.rows == len(TEXTS)
        assert jsonl_rows(out) == jsonl_rows(wanted)


def test_r16_p1_items_that_are_no_rows_keep_their_place_and_are_named(tfidf_run, tmp_path):
    """An item that is a number, or an object without the text field: a row of the errors
    file, numbered by its place in the array; the others classified."""
    items = [{"text": "a great film"}, 7, {"title": "no text"}, {"text": "a dull mess"}]
    array = write_file(tmp_path, "in.json", json.dumps(items))
    out = tmp_path / "out.jsonl"

    summary = predict_file(tfidf_run, array, out, batch_options(chunk_rows=3))

    rows = jsonl_rows(out)
    assert summary.rows == 4 and summary.not_classified == 2
    assert [row["label"] is None for row in rows] == [False, True, True, False]
    errors = jsonl_rows(errors_path(out))
    assert [(e["row"], e["error"]) for e in errors] == [
        (2, "not a JSON object"),
        (3, "no field 'text'"),
    ]


def test_r16_p1_a_field_asked_for_that_the_first_object_lacks_is_one_line(tfidf_run, tmp_path):
    array = write_file(tmp_path, "in.json", json.dumps(_records(TEXTS)))
    with pytest.raises(attentext.AttentextError, match=r"no field 'key' \(fields: id, text\)"):
        predict_file(tfidf_run, array, tmp_path / "out.csv", batch_options(id_column="key"))


def test_r16_p2_a_json_output_is_one_array_of_the_rows(tfidf_run, tmp_path):
    """The rows of a .jsonl output, as one JSON array, over several chunks; a row that could
    not be classified keeps its place."""
    source = write_file(tmp_path, "in.txt", "\n".join([*TEXTS, "", *TEXTS]) + "\n")
    as_lines, as_array = tmp_path / "out.jsonl", tmp_path / "out.json"
    for output in (as_lines, as_array):
        predict_file(tfidf_run, source, output, batch_options(chunk_rows=4, top_k=2))

    found = json.loads(as_array.read_text(encoding="utf-8"))
    assert isinstance(found, list) and found == jsonl_rows(as_lines)
    assert len(found) == 2 * len(TEXTS) + 1 and found[len(TEXTS)]["label"] is None


def test_r16_p2_one_row_is_an_array_of_one(tfidf_run, tmp_path):
    source = write_file(tmp_path, "in.txt", "a great film\n")
    output = tmp_path / "out.json"
    predict_file(tfidf_run, source, output, batch_options())
    assert [row["label"] for row in json.loads(output.read_text(encoding="utf-8"))] == ["pos"]
