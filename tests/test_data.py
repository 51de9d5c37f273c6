"""load_text_dataset / load_texts: every source ends as text + label columns and label names."""

from __future__ import annotations

import csv
import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import AG_NEWS_LABELS, SENTIMENT_ROWS, labelled_csv

from attentext.data.dataset import load_text_dataset
from attentext.data.texts import load_texts
from attentext.errors import DataError

# ---------------------------------------------------------------------------------------------
# AG News' original format
# ---------------------------------------------------------------------------------------------


def _ag_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_ag_news_folder_has_three_splits_and_class_names(ag_news_dir):
    ds = load_text_dataset(ag_news_dir)

    assert set(ds.splits) == {"train", "validation", "test"}
    assert ds.label_names == AG_NEWS_LABELS
    assert ds.id2label == {0: "World", 1: "Sports", 2: "Business", 3: "Sci/Tech"}
    assert ds.label2id["Sci/Tech"] == 3
    assert ds["train"].column_names == ["text", "label"]
    assert ds["train"].features["label"].names == AG_NEWS_LABELS


def test_ag_news_validation_is_five_percent_of_train(ag_news_dir):
    ds = load_text_dataset(ag_news_dir, val_fraction=0.05)

    assert len(ds["validation"]) == 10
    assert len(ds["train"]) == 190
    assert len(ds["test"]) == 80
    assert set(ds["train"]["label"]) | set(ds["validation"]["label"]) == {0, 1, 2, 3}


def test_ag_news_text_is_title_space_description_and_labels_are_zero_based(ag_news_dir):
    rows = _ag_rows(ag_news_dir / "test.csv")
    ds = load_text_dataset(ag_news_dir)

    expected_texts = [f"{title} {description}".strip() for _, title, description in rows]
    assert list(ds["test"]["text"]) == expected_texts
    assert list(ds["test"]["label"]) == [int(index) - 1 for index, _, _ in rows]
    # a row with a title really is "title description"
    with_title = next(i for i, (_, title, _) in enumerate(rows) if title)
    assert ds["test"]["text"][with_title] == f"{rows[with_title][1]} {rows[with_title][2]}"


def test_validation_carving_depends_on_the_seed_only(ag_news_dir):
    first = load_text_dataset(ag_news_dir, seed=1)
    again = load_text_dataset(ag_news_dir, seed=1)
    other = load_text_dataset(ag_news_dir, seed=2)

    assert list(first["validation"]["text"]) == list(again["validation"]["text"])
    assert list(first["train"]["text"]) == list(again["train"]["text"])
    assert sorted(first["validation"]["text"]) != sorted(other["validation"]["text"])


def test_validation_and_train_partition_the_train_file(ag_news_dir):
    ds = load_text_dataset(ag_news_dir)
    all_train = load_text_dataset(ag_news_dir, val_fraction=0)

    carved = list(ds["train"]["text"]) + list(ds["validation"]["text"])
    assert sorted(carved) == sorted(all_train["train"]["text"])


def test_val_fraction_zero_gives_no_validation_split(ag_news_dir):
    ds = load_text_dataset(ag_news_dir, val_fraction=0)

    assert set(ds.splits) == {"train", "test"}
    assert len(ds["train"]) == 200


def test_missing_split_is_a_data_error(ag_news_dir):
    ds = load_text_dataset(ag_news_dir, val_fraction=0)
    with pytest.raises(DataError, match="no 'validation' split"):
        ds["validation"]


def test_val_fraction_out_of_range_is_a_data_error(ag_news_dir):
    with pytest.raises(DataError, match="val_fraction"):
        load_text_dataset(ag_news_dir, val_fraction=1.0)


# ---------------------------------------------------------------------------------------------
# Files with a header: CSV, TSV, JSONL, Parquet
# ---------------------------------------------------------------------------------------------


def test_header_csv_with_string_labels_sorts_the_names(write):
    path = write("reviews.csv", labelled_csv(SENTIMENT_ROWS))

    ds = load_text_dataset(path, val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert list(ds["train"]["text"]) == [text for text, _ in SENTIMENT_ROWS]
    assert list(ds["train"]["label"]) == [1, 1, 1, 0, 0, 0]


def test_a_single_file_is_the_train_split(write):
    ds = load_text_dataset(write("reviews.csv", labelled_csv(SENTIMENT_ROWS)), val_fraction=0)
    assert list(ds.splits) == ["train"]


def test_single_file_carves_validation_too(write):
    ds = load_text_dataset(write("reviews.csv", labelled_csv(SENTIMENT_ROWS * 5)), val_fraction=0.2)
    assert len(ds["validation"]) == 6
    assert len(ds["train"]) == 24


def test_quoted_csv_fields_keep_commas_and_newlines(write):
    path = write("q.csv", 'text,label\n"hello, world",pos\n"two\nlines",neg\n')

    ds = load_text_dataset(path, val_fraction=0)

    assert list(ds["train"]["text"]) == ["hello, world", "two\nlines"]


def test_tsv(write):
    body = "text\tlabel\n" + "".join(f"{t}, really\t{lab}\n" for t, lab in SENTIMENT_ROWS)

    ds = load_text_dataset(write("reviews.tsv", body), val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert ds["train"]["text"][0] == "a great film, really"


def test_jsonl(write):
    body = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in SENTIMENT_ROWS)

    ds = load_text_dataset(write("reviews.jsonl", body), val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert list(ds["train"]["label"]) == [1, 1, 1, 0, 0, 0]


def test_parquet(tmp_path):
    path = tmp_path / "reviews.parquet"
    table = pa.table(
        {"text": [t for t, _ in SENTIMENT_ROWS], "label": [lab for _, lab in SENTIMENT_ROWS]}
    )
    pq.write_table(table, path)

    ds = load_text_dataset(path, val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert list(ds["train"]["text"]) == [t for t, _ in SENTIMENT_ROWS]


def test_custom_column_names(write):
    body = "id,review,sentiment\n" + "".join(
        f"{i},{t},{lab}\n" for i, (t, lab) in enumerate(SENTIMENT_ROWS)
    )

    ds = load_text_dataset(
        write("r.csv", body), text_column="review", label_column="sentiment", val_fraction=0
    )

    assert ds["train"].column_names == ["text", "label"]
    assert ds["train"]["text"][0] == "a great film"
    assert ds.label_names == ["neg", "pos"]


def test_integer_labels_are_sorted_numerically(write):
    rows = [("one", "1"), ("two", "2"), ("ten", "10"), ("also ten", "10")]

    ds = load_text_dataset(write("n.csv", labelled_csv(rows)), val_fraction=0)

    assert ds.label_names == ["1", "2", "10"]
    assert list(ds["train"]["label"]) == [0, 1, 2, 2]


def test_integer_labels_from_parquet_ints(tmp_path):
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": [0, 1, 1]}), path)

    ds = load_text_dataset(path, val_fraction=0)

    assert ds.label_names == ["0", "1"]
    assert list(ds["train"]["label"]) == [0, 1, 1]


def test_folder_with_header_files_and_test_split(write, tmp_path):
    write("d/train.csv", labelled_csv(SENTIMENT_ROWS))
    write("d/test.csv", labelled_csv([("superb", "pos"), ("awful", "neg")]))

    ds = load_text_dataset(tmp_path / "d", val_fraction=0)

    assert set(ds.splits) == {"train", "test"}
    assert list(ds["test"]["label"]) == [1, 0]


def test_folder_validation_file_is_used_instead_of_carving(write, tmp_path):
    write("d/train.csv", labelled_csv(SENTIMENT_ROWS))
    write("d/validation.csv", labelled_csv([("nice", "pos"), ("bad", "neg")]))

    ds = load_text_dataset(tmp_path / "d", val_fraction=0.5)

    assert list(ds["validation"]["text"]) == ["nice", "bad"]
    assert len(ds["train"]) == len(SENTIMENT_ROWS)  # nothing carved out of train


def test_label_names_argument_fixes_the_label_set(write):
    path = write("r.csv", labelled_csv([("good", "pos"), ("bad", "neg")]))

    ds = load_text_dataset(path, val_fraction=0, label_names=["pos", "neg"])

    assert ds.label_names == ["pos", "neg"]
    assert list(ds["train"]["label"]) == [0, 1]


def test_load_texts_reads_lines_and_data_files(write, ag_news_dir):
    assert load_texts(write("in.txt", "first text\n\nsecond text\n")) == [
        "first text",
        "second text",
    ]
    assert load_texts(write("in.csv", labelled_csv(SENTIMENT_ROWS[:2]))) == [
        "a great film",
        "truly wonderful acting",
    ]
    assert len(load_texts(ag_news_dir / "test.csv")) == 80


def test_load_texts_with_no_text_is_a_data_error(write):
    with pytest.raises(DataError, match="blank.txt"):
        load_texts(write("blank.txt", "\n   \n"))
    with pytest.raises(DataError, match="missing.txt.*not found"):
        load_texts(write("x.txt", "x").with_name("missing.txt"))


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets, without the hub
# ---------------------------------------------------------------------------------------------


def _save_hf_folder(folder, label_feature):
    features = datasets.Features({"text": datasets.Value("string"), "label": label_feature})
    splits = {
        "train": {"text": ["good", "bad", "great", "awful", "fine"], "label": [1, 0, 1, 0, 1]},
        "test": {"text": ["lovely", "poor"], "label": [1, 0]},
    }
    (folder / "data").mkdir(parents=True)
    for name, columns in splits.items():
        split = datasets.Dataset.from_dict(columns, features=features)
        split.to_parquet(str(folder / "data" / f"{name}-00000-of-00001.parquet"))
    return folder


def test_hf_dataset_label_names_come_from_class_label(tmp_path):
    folder = _save_hf_folder(tmp_path / "hfds", datasets.ClassLabel(names=["negative", "positive"]))

    ds = load_text_dataset("hf:" + str(folder), val_fraction=0)

    assert ds.label_names == ["negative", "positive"]
    assert set(ds.splits) == {"train", "test"}
    assert list(ds["train"]["label"]) == [1, 0, 1, 0, 1]
    assert list(ds["test"]["text"]) == ["lovely", "poor"]


def test_hf_dataset_without_class_label_infers_names(tmp_path):
    folder = _save_hf_folder(tmp_path / "hfds", datasets.Value("int64"))

    ds = load_text_dataset("hf:" + str(folder), val_fraction=0)

    assert ds.label_names == ["0", "1"]


def test_hf_dataset_missing_column_is_a_data_error(tmp_path):
    folder = _save_hf_folder(tmp_path / "hfds", datasets.ClassLabel(names=["n", "p"]))
    with pytest.raises(DataError, match="no column 'sentence'"):
        load_text_dataset("hf:" + str(folder), text_column="sentence")


def test_unknown_hub_name_is_a_data_error_offline():
    with pytest.raises(DataError) as info:
        load_text_dataset("hf:/nonexistent/dir")
    message = str(info.value)
    assert message.startswith("/nonexistent/dir:")
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------
# Bad inputs: one DataError, one line, naming the file (and the row)
# ---------------------------------------------------------------------------------------------


def _data_error(source, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_text_dataset(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message, f"multi-line message: {message!r}"
    return message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    message = _data_error(path)
    assert str(path) in message and "not found" in message


def test_missing_folder_like_path(tmp_path):
    path = tmp_path / "no-such-folder"
    assert str(path) in _data_error(str(path))


def test_folder_without_train_or_test(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.csv").write_text("text,label\na,b\n", encoding="utf-8")
    assert "no train.* or test.*" in _data_error(tmp_path / "d")


def test_empty_file(write):
    path = write("empty.csv", "")
    message = _data_error(path)
    assert str(path) in message and "empty" in message


def test_header_only_file_is_empty_of_examples(write):
    path = write("header.csv", "text,label\n")
    assert str(path) in _data_error(path)


def test_missing_column_names_the_column(write):
    path = write("r.csv", "review,label\ngood,pos\nbad,neg\n")
    message = _data_error(path)
    assert str(path) in message
    assert "'text'" in message
    assert "review" in message  # the columns that are there


def test_missing_jsonl_field_names_field_and_row(write):
    path = write("r.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    message = _data_error(path)
    assert str(path) in message and "row 2" in message and "'label'" in message


def test_invalid_jsonl_names_the_row(write):
    path = write("r.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", \n')
    message = _data_error(path)
    assert str(path) in message and "row 2" in message and "JSON" in message


def test_ragged_row_names_the_row(write):
    path = write("r.csv", "text,label\ngood,pos\nbad,neg,extra\nok,pos\n")
    message = _data_error(path)
    assert str(path) in message and "row 3" in message


def test_ragged_ag_news_row_names_the_row(write):
    path = write("train.csv", '"1","t","d"\n"2","t","d"\n"3","t"\n')
    message = _data_error(path)
    assert str(path) in message and "row 3" in message


def test_unknown_label_in_test_names_label_and_row(write, tmp_path):
    write("d/train.csv", labelled_csv(SENTIMENT_ROWS))
    test = write("d/test.csv", labelled_csv([("fine", "pos"), ("so so", "neutral")]))

    message = _data_error(tmp_path / "d")

    assert str(test) in message and "row 3" in message and "'neutral'" in message


def test_unknown_class_index_in_ag_news_test(ag_news_dir, tmp_path):
    folder = tmp_path / "ag"
    folder.mkdir()
    for name in ("train.csv", "classes.txt"):
        (folder / name).write_bytes((ag_news_dir / name).read_bytes())
    (folder / "test.csv").write_text('"1","a","b"\n"5","c","d"\n', encoding="utf-8")

    message = _data_error(folder)

    assert "test.csv" in message and "row 2" in message and "'5'" in message


def test_unknown_integer_label_in_test_is_rejected(write, tmp_path):
    write("d/train.csv", labelled_csv([("a", "1"), ("b", "2"), ("c", "3")]))
    write("d/test.csv", labelled_csv([("x", "0")]))

    message = _data_error(tmp_path / "d", val_fraction=0)

    assert "'0'" in message


def test_non_utf8_bytes_name_the_row(write):
    path = write("r.csv", b"text,label\ngood,pos\nbad \xff\xfe bytes,neg\n")
    message = _data_error(path)
    assert str(path) in message and "UTF-8" in message and "row 3" in message


def test_utf8_bom_is_accepted(write):
    path = write("bom.csv", "\ufefftext,label\nhello,pos\nbye,neg\n".encode())
    ds = load_text_dataset(path, val_fraction=0)
    assert ds["train"]["text"][0] == "hello"


def test_class_without_training_examples(ag_news_dir, tmp_path):
    folder = tmp_path / "ag"
    folder.mkdir()
    (folder / "train.csv").write_bytes((ag_news_dir / "train.csv").read_bytes())
    (folder / "classes.txt").write_text(
        "World\nSports\nBusiness\nSci/Tech\nHealth\n", encoding="utf-8"
    )

    message = _data_error(folder)

    assert "train.csv" in message and "Health" in message


def test_duplicate_class_names(ag_news_dir, tmp_path):
    folder = tmp_path / "ag"
    folder.mkdir()
    (folder / "train.csv").write_bytes((ag_news_dir / "train.csv").read_bytes())
    (folder / "classes.txt").write_text("World\nSports\nWorld\nSci/Tech\n", encoding="utf-8")

    assert "classes.txt" in _data_error(folder)


def test_only_one_class(write):
    path = write("one.csv", labelled_csv([("a", "pos"), ("b", "pos")]))
    message = _data_error(path)
    assert str(path) in message and "one class" in message


def test_empty_label_names_the_row(write):
    path = write("r.csv", "text,label\ngood,pos\nbad,\n")
    message = _data_error(path)
    assert str(path) in message and "row 3" in message and "label" in message


def test_missing_text_in_parquet_names_the_row(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"text": ["a", None], "label": ["x", "y"]}), path)
    message = _data_error(path)
    assert str(path) in message and "row 2" in message


def test_unsupported_suffix(write):
    path = write("r.xlsx", "whatever")
    assert ".xlsx" in _data_error(path)
