"""load_text_dataset / load_texts: every source ends as text + label columns and label names."""

from __future__ import annotations

import csv
import json
import warnings

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import AG_NEWS_LABELS, SENTIMENT_ROWS, labelled_csv

from attentext.data.dataset import iter_column, load_text_dataset
from attentext.data.texts import load_texts, sample_texts, without_evaluation_texts
from attentext.errors import AttentextWarning, DataError

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


def test_a_recipe_carves_validation_with_its_data_seed(ag_news_dir):
    from attentext.recipes import load_recipe
    from attentext.training.run import recipe_dataset

    def validation(*overrides: str) -> list[str]:
        recipe = load_recipe("tfidf-logreg", list(overrides))
        return list(recipe_dataset(recipe, ag_news_dir)["validation"]["text"])

    assert validation("training.seed=1", "data.seed=9") == validation(
        "training.seed=2", "data.seed=9"
    )
    assert validation("training.seed=9") == validation("training.seed=1", "data.seed=9")
    assert sorted(validation("training.seed=1")) != sorted(validation("training.seed=2"))


def test_validation_and_train_partition_the_train_file(ag_news_dir):
    ds = load_text_dataset(ag_news_dir)
    all_train = load_text_dataset(ag_news_dir, val_fraction=0)

    carved = list(ds["train"]["text"]) + list(ds["validation"]["text"])
    assert sorted(carved) == sorted(all_train["train"]["text"])


def test_validation_is_stratified_and_the_rows_datasets_own_split_chooses(ag_news_dir):
    # the same rows as Dataset.train_test_split(stratify_by_column="label") with the same seed:
    # runs made before the faster carving keep their splits
    carved = load_text_dataset(ag_news_dir, seed=7)
    whole = load_text_dataset(ag_news_dir, val_fraction=0)["train"]
    reference = whole.train_test_split(test_size=10, seed=7, stratify_by_column="label")

    assert list(carved["validation"]["text"]) == list(reference["test"]["text"])
    assert list(carved["train"]["text"]) == list(reference["train"]["text"])
    assert sorted(set(carved["validation"]["label"])) == [0, 1, 2, 3]  # 10 rows, 4 classes


def test_val_fraction_zero_gives_no_validation_split(ag_news_dir):
    ds = load_text_dataset(ag_news_dir, val_fraction=0)

    assert set(ds.splits) == {"train", "test"}
    assert len(ds["train"]) == 200


def test_missing_split_is_a_data_error(ag_news_dir):
    ds = load_text_dataset(ag_news_dir, val_fraction=0)
    with pytest.raises(DataError, match="no 'validation' split"):
        ds["validation"]


@pytest.mark.parametrize("seed", range(6))
def test_a_carved_validation_split_never_takes_a_class_every_row(tmp_path, seed):
    # 'b' has one row: too few to stratify, and the plain random draw that follows took it
    # for validation on some seeds, leaving a model that can never predict 'b' (scikit-learn:
    # "needs samples of at least 2 classes", a traceback)
    path = tmp_path / "few.csv"
    rows = [("the cat sat", "a"), ("a dog ran", "a"), ("a cow ate grass", "b")]
    rows += [(f"the bird {i} sang", "a") for i in range(3)]
    path.write_text(labelled_csv(rows))

    ds = load_text_dataset(path, val_fraction=0.3, seed=seed)

    assert "b" in {ds.label_names[i] for i in ds["train"]["label"]}
    assert len(ds["validation"]) == 2 and len(ds["train"]) == 4


def test_a_random_split_that_kept_every_class_is_unchanged(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text(
        labelled_csv([(f"text number {i}", "ab"[i % 2]) for i in range(9)] + [("one", "c")])
    )
    ds = load_text_dataset(path, val_fraction=0.2, seed=0)  # draws rows 4 and 6, both kept
    permutation = np.random.default_rng(0).permutation(10)

    assert list(ds["validation"]["text"]) == [f"text number {i}" for i in permutation[:2]]


def test_every_class_on_one_row_cannot_spare_a_validation_row(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text(labelled_csv([("the cat sat", "a"), ("a dog ran", "b")]))
    with pytest.raises(DataError, match="single row.*--val-fraction 0"):
        load_text_dataset(path, val_fraction=0.5)


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


@pytest.mark.parametrize(
    ("name", "header", "twice"),
    [
        ("reviews.csv", "text,label,text", "'text'"),
        ("reviews.csv", "label,text, label", "'label'"),  # names are read stripped
        ("reviews.tsv", "text\tlabel\tlabel", "'label'"),
    ],
)
def test_a_header_that_names_a_column_it_reads_twice_is_refused(name, header, twice, write):
    """An audit: `text,label,text` was read silently by its first `text`. A header naming a
    column that is read twice is refused in one line naming the file and the column."""
    cells = "\t" if name.endswith(".tsv") else ","
    rows = "\n".join(cells.join([value] * 3) for value in ("good", "bad", "fine"))
    path = write(name, f"{header}\n{rows}\n")

    with pytest.raises(DataError) as caught:
        load_text_dataset(path, val_fraction=0)

    message = str(caught.value)
    assert "\n" not in message and str(path) in message and twice in message, message
    assert "more than once" in message, message


def test_texts_to_classify_refuse_a_text_column_named_twice(write):
    """The same for texts alone (`predict --input` of a small file): `text,id,text`."""
    path = write("to_score.csv", "text,id,text\nfirst,1,second\n")
    with pytest.raises(DataError, match=r"to_score.csv: the header names 'text' more than once"):
        load_texts(path)


def test_a_column_named_twice_that_is_not_read_is_still_fine(write):
    """Guard: a header whose repeated name is one the reader never uses (`notes`) still loads."""
    path = write("reviews.csv", "text,label,notes,notes\n" + "a,pos,x,y\nb,neg,x,y\n")
    assert list(load_text_dataset(path, val_fraction=0)["train"]["text"]) == ["a", "b"]


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


# An audit: a TSV written without quoting (printf '%s\t%s\n', by hand) whose text starts with '"'
# was read with csv's quoting: the quote ran across tabs and lines to the next '"' and merged the
# rows between into one, silently (40 rows trained as 36), or the file was refused as malformed.
NEWS_ROWS = [
    (f"the team won the cup final number {i}", "Sports")
    if i % 2
    else (f"stocks fell as markets opened number {i}", "Business")
    for i in range(40)
]
MERGED_BY_QUOTES = {  # row -> text; rows 7 to 11 were one row, labelled as row 11
    7: '"Sell everything, the broker told us',
    11: 'the new monitor measures 27"',
}
MALFORMED_AS_QUOTED = {4: '"We will win," he said after the match'}


@pytest.mark.parametrize(
    ("texts", "line"),
    [(MERGED_BY_QUOTES, 9), (MALFORMED_AS_QUOTED, 6)],
    ids=["merged", "malformed"],
)
def test_an_unquoted_tsv_with_a_text_starting_with_a_quote_keeps_every_row(texts, line, write):
    rows = [(texts.get(i, text), label) for i, (text, label) in enumerate(NEWS_ROWS)]
    path = write("news.tsv", "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_text_dataset(path, val_fraction=0)
        texts_read = load_texts(path)  # predict --input without --output reads it so too

    split = ds["train"]
    read = [(t, ds.id2label[lab]) for t, lab in zip(split["text"], split["label"], strict=True)]
    assert read == rows
    assert texts_read == [t for t, _ in rows]
    said = {str(w.message) for w in caught if issubclass(w.category, AttentextWarning)}
    assert len(said) == 1, said
    (message,) = said
    assert message.startswith(f"{path}: line {line}: ") and "read as unquoted TSV" in message
    assert "\n" not in message


def test_a_quoted_tsv_as_pandas_writes_it_keeps_tabs_and_line_breaks_in_texts(tmp_path):
    kinds = ["a tab\there and a\nline break", 'he said "hi"', "two\nlines", '"quoted" start']
    texts = [f"{kind} {i}" for i in range(3) for kind in kinds]
    frame = pd.DataFrame({"text": texts, "label": ["pos", "neg"] * 6})
    frame.to_csv(tmp_path / "quoted.tsv", sep="\t", index=False)
    # one column and no tab in a text: every line fits, so no tab count tells the file apart
    untabbed = frame[~frame["text"].str.contains("\t")][["text"]]
    untabbed.to_csv(tmp_path / "texts.tsv", sep="\t", index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        ds = load_text_dataset(tmp_path / "quoted.tsv", val_fraction=0)
        one_column = load_texts(tmp_path / "texts.tsv")

    assert list(ds["train"]["text"]) == texts
    assert [ds.id2label[lab] for lab in ds["train"]["label"]] == list(frame["label"])
    assert one_column == list(untabbed["text"])


def test_a_tsv_neither_quoted_nor_plain_is_refused_in_one_line(write):
    path = write(
        "mixed.tsv",
        'text\tlabel\n"We will win," he said\tSports\nmarkets\tfell\tBusiness\nok\tSports\n',
    )

    with pytest.raises(DataError) as caught:
        load_text_dataset(path, val_fraction=0)

    message = str(caught.value)
    assert message.startswith(f"{path}: line 2: ") and "\n" not in message
    assert "line 3 has 3 tab-separated fields, not 2" in message
    assert "neither quoted nor plain TSV" in message


def test_jsonl(write):
    body = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in SENTIMENT_ROWS)

    ds = load_text_dataset(write("reviews.jsonl", body), val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert list(ds["train"]["label"]) == [1, 1, 1, 0, 0, 0]


def test_a_json_file_of_one_array_is_read_row_by_row(write):
    """`json.dump(rows)` writes one array, not JSON Lines: its objects are the rows (found in
    session 60: refused with "row 1: invalid JSON"); an item that is no object is named."""
    rows = [{"text": t, "label": lab} for t, lab in SENTIMENT_ROWS]

    ds = load_text_dataset(write("reviews.json", json.dumps(rows, indent=2)), val_fraction=0)

    assert ds.label_names == ["neg", "pos"]
    assert list(ds["train"]["label"]) == [1, 1, 1, 0, 0, 0]
    with pytest.raises(DataError, match="row 2: expected a JSON object"):
        load_text_dataset(write("bad.json", json.dumps([rows[0], 5])), val_fraction=0)
    with pytest.raises(DataError, match="the file: invalid JSON"):
        load_text_dataset(write("cut.json", json.dumps(rows)[:-3]), val_fraction=0)


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
    assert load_texts(write("in.txt", "first text\nsecond text\n")) == [
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
    with pytest.raises(DataError, match="header.csv: no texts"):
        load_texts(write("header.csv", "text\n"))


# ---------------------------------------------------------------------------------------------
# load_texts: one text per input line or row (#23 findings 9 and 11)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["a\n\nc\n", "a\r\n\r\nc\r\n", "a\r\rc\r", "a\n\r\nc", "a\r\n\rc\n"],
    ids=["lf", "crlf", "cr", "mixed-no-final", "mixed"],
)
def test_load_texts_keeps_blank_lines_with_any_line_end(content, write):
    assert load_texts(write("in.txt", content)) == ["a", "", "c"]


def test_load_texts_keeps_form_feeds_and_unicode_separators_in_a_line(write):
    texts = load_texts(write("in.txt", "page\x0cbreak\nline\u2028sep\x85nel\n"))

    assert texts == ["page\x0cbreak", "line\u2028sep\x85nel"]


def test_load_texts_keeps_blank_lines_as_read_and_empty_rows(write):
    assert load_texts(write("in.txt", "a\n   \nb")) == ["a", "   ", "b"]
    assert load_texts(write("in.csv", "id,text\n1,hello\n2,\n3,bye\n")) == ["hello", "", "bye"]
    assert load_texts(write("in.jsonl", '{"text": "a"}\n{"text": ""}\n')) == ["a", ""]


def test_load_texts_needs_no_label_column(write, tmp_path):
    assert load_texts(write("in.csv", "id,text\n1,hello\n2,bye\n")) == ["hello", "bye"]
    assert load_texts(write("in.tsv", "id\ttext\n7\thello there\n")) == ["hello there"]
    assert load_texts(write("in.jsonl", '{"text": "a", "label": [1, 2]}\n')) == ["a"]
    pq.write_table(pa.table({"text": ["x", "y"]}), tmp_path / "in.parquet")
    assert load_texts(tmp_path / "in.parquet") == ["x", "y"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("null", "row 2: text is missing"),
        ("NaN", "row 2: text is missing"),
        ("42", r"row 2: text is a number \(42\), not a string"),
        ("true", r"row 2: text is a boolean \(true\), not a string"),
        ('["a", "list"]', "row 2: text is a list, not a string"),
        ('{"a": "b"}', "row 2: text is an object, not a string"),
    ],
)
def test_load_texts_refuses_a_text_that_is_not_a_string(value, expected, write):
    path = write("in.jsonl", f'{{"text": "fine"}}\n{{"text": {value}}}\n')

    with pytest.raises(DataError, match=expected) as info:
        load_texts(path)

    assert "label" not in str(info.value).replace(str(path), "")


def test_load_texts_refuses_a_parquet_null_or_number_naming_the_row(tmp_path):
    pq.write_table(pa.table({"text": ["a", None]}), tmp_path / "n.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "i.parquet")

    with pytest.raises(DataError, match="n.parquet: row 2: text is missing"):
        load_texts(tmp_path / "n.parquet")
    with pytest.raises(DataError, match="i.parquet: row 1: text is a number"):
        load_texts(tmp_path / "i.parquet")


def test_load_texts_missing_text_column_says_how_to_name_it(write):
    with pytest.raises(DataError, match="no column 'text' \\(columns: review\\); name the column"):
        load_texts(write("in.csv", "review\ngood\n"))


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000 + "]" * 100_000, '{"text": ' + "9" * 5000 + "}"],
    ids=["deeply-nested", "huge-number"],
)
def test_jsonl_python_cannot_parse_is_a_data_error(line, write):
    path = write("in.jsonl", line + "\n")

    with pytest.raises(DataError, match="row 1: invalid JSON"):
        load_texts(path)


def test_sample_texts_leaves_out_empty_texts(write):
    assert sample_texts(write("in.txt", "a\n\n  \nb\n"), 10) == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# Labels that are silently separate classes, and messages that list labels (#23 finding 10)
# ---------------------------------------------------------------------------------------------


def _warnings_of(path, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_text_dataset(path, val_fraction=0, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]


def test_case_variants_of_a_label_are_refused(write):
    # a warning until round 13 (R13-L2): now refused, unless data.distinct_lookalike_labels
    rows = [("a goal", "Sports"), ("the match", "sports"), ("a vote", "World")] * 3

    with pytest.raises(DataError) as caught:
        _warnings_of(write("d.csv", labelled_csv(rows)))

    message = str(caught.value)
    assert "'Sports' and 'sports'" in message and "differ only in case" in message
    assert "write the rows of 'sports' as 'Sports'" in message and "World" not in message
    assert _warnings_of(write("e.csv", labelled_csv(rows)), distinct_lookalike_labels=True) == []


def test_numbers_written_differently_are_refused(write):
    rows = [("a", "1"), ("b", "01"), ("c", "2")] * 3

    with pytest.raises(DataError, match="'01' and '1'"):
        _warnings_of(write("d.csv", labelled_csv(rows)))


def test_numbers_mixed_with_names_are_warned_about(write):
    rows = [("stocks", "1"), ("profits", "Business"), ("a vote", "World")] * 3

    (message,) = _warnings_of(write("d.csv", labelled_csv(rows)))

    assert "mix numbers (1) and names (Business, World)" in message
    assert "classes.txt" in message


def test_clean_or_declared_labels_give_no_warning(write, tmp_path):
    assert _warnings_of(write("d.csv", labelled_csv(SENTIMENT_ROWS))) == []
    rows = [("a", "pos"), ("b", "Pos"), ("c", "2")]  # 2: the index of neg
    folder = tmp_path / "declared"
    write("declared/train.csv", labelled_csv(rows * 3))
    write("declared/classes.txt", "pos\nPos\nneg\n")
    # classes.txt's lookalikes are refused since round 13 (R13-L2) unless kept apart on purpose
    assert _warnings_of(folder, distinct_lookalike_labels=True) == []


def test_a_label_column_that_looks_like_text_is_refused(write):
    rows = [(f"text number {i}", f"text number {i}") for i in range(30)]
    path = write("d.csv", labelled_csv(rows))

    message = _data_error(path)

    assert "column 'label' has 30 different values in 30 rows" in message
    assert "looks like text" in message and "--set data.label_column" in message
    assert len(message.replace(str(path), "")) < 200


def test_a_small_data_set_with_a_label_per_row_is_not_refused(write):
    rows = [(f"text {i}", f"class {i}") for i in range(6)]

    ds = load_text_dataset(write("d.csv", labelled_csv(rows)), val_fraction=0)

    assert len(ds.label_names) == 6


def test_an_unknown_label_message_stays_short_with_many_labels(write):
    path = write("d.csv", labelled_csv([("some words", "Weather")]))
    names = [f"label-{i:03d}" for i in range(300)]

    message = _data_error(path, label_names=names)

    assert "unknown label 'Weather'" in message and "(300 in all)" in message
    assert len(message.replace(str(path), "")) < 250


def test_a_long_or_multiline_label_is_cut_in_the_message(write):
    long = "x" * 10_000
    path = write("d.csv", f'text,label\na,"{long}"\nb,"two\nlines"\n')

    message = _data_error(path, label_names=["pos", "neg"])
    assert "unknown label 'xxx" in message and len(message) < len(str(path)) + 150

    path = write("e.csv", 'text,label\nb,"two\nlines"\n')
    assert "unknown label 'two\\nlines'" in _data_error(path, label_names=["pos", "neg"])


def test_a_close_unknown_label_gets_did_you_mean(write):
    path = write("d.csv", labelled_csv([("a goal", "sports")]))

    message = _data_error(path, label_names=["World", "Sports"])

    assert "unknown label 'sports'; did you mean 'Sports'?" in message


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

    message = _data_error(folder)
    assert "classes.txt" in message and "duplicate class names (World)" in message


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


def test_columns_read_at_once_or_in_batches_are_the_rows_in_order(ag_news_dir):
    ds = load_text_dataset(ag_news_dir)  # train is a selection of the file's rows (carved)
    split = ds["train"]
    expected = [split[i]["text"] for i in range(len(split))]

    assert ds.texts("train") == expected
    assert list(iter_column(split, "text", batch_size=7)) == expected
    assert ds.labels("train") == [split[i]["label"] for i in range(len(split))]


def test_evaluation_texts_are_left_out_of_unlabeled_ones_whatever_their_case_and_spacing(
    ag_news_dir,
):
    dataset = load_text_dataset(ag_news_dir)
    test, validation = dataset.texts("test"), dataset.texts("validation")
    texts = ["an unseen text", test[0].upper(), " " + validation[0].replace(" ", "\t "), "x"]

    kept, left_out = without_evaluation_texts(texts, dataset)

    assert kept == ["an unseen text", "x"] and left_out == 2
