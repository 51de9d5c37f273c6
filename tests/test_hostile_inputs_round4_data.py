"""Hostile inputs, round 4: the shapes of data users bring (docs/reliability.md, "Hostile inputs,
round 4", whose R4-1 and R4-2 are model options, tested in test_recipes.py). Each test failed
before its fix.

Findings -> tests
R4-3. labels written as floats (`1.0`, `2.0`, `3.0`: a CSV pandas wrote from a column that once
      held NaN) were names, not numbers: `evaluate` on a file labelled `1`, `2` read each number as
      an index, the classes `2.0` and `3.0`, without a word; `1` beside `1.0` was warned about as
      "numbers mixed with names"; ten or more float classes were ordered as strings:
      test_float_class_names_match_labels_by_value_not_by_index,
      test_a_label_written_1_and_1_0_is_warned_about_as_one_number,
      test_float_class_names_are_ordered_by_value
R4-4. multi-label data carved into train and validation (no validation file): a label on one row
      of 20 went to validation on 3 seeds of 6; the run trained without it (every prediction
      of it 0) without a word. Single labels were mended so already:
      test_a_carved_validation_split_never_takes_a_labels_every_row[0-5],
      test_a_multi_label_split_that_kept_every_label_is_unchanged (guard)
R4-5. the word tokenizer (seed-transformer, attention-rnn) did not normalize Unicode: `café`
      typed decomposed (NFD: `e` + U+0301, as macOS writes it) was [UNK] for a model trained on
      composed (NFC) text, and a zero-width space, soft hyphen, BOM or RLM made `hello` another
      word; emoji sequences (ZWJ) and no-break spaces stay as they were:
      test_a_decomposed_accent_reads_as_the_composed_word,
      test_invisible_characters_do_not_make_another_word[zwsp|soft-hyphen|bom|rlm|bidi-embedding],
      test_emoji_sequences_and_no_break_spaces_are_kept (guard),
      test_a_saved_word_tokenizer_keeps_its_normalization
R4-6. missing labels spelled otherwise than `nan` or `None`: `NaN` in a CSV became a class of its
      own (`nan` was refused); in multi-label data a JSON NaN became a label `nan` (a JSON null
      was no label):
      test_a_missing_label_in_any_common_spelling_is_refused[NaN|NAN|-nan|<NA>|null|NULL],
      test_train_cli_refuses_a_nan_label_in_one_line,
      test_a_nan_label_set_is_no_label_like_a_null,
      test_na_and_none_stay_labels (guard)
R4-7. two CSV/TSV files joined with their headers (`cat a.csv b.csv`, a BOM before each or not):
      the second header was a row, its `label` a class of its own (a 3-class model from 2
      classes, without a word):
      test_a_repeated_header_line_is_refused[csv|csv-bom|tsv],
      test_train_cli_refuses_a_repeated_header_in_one_line,
      test_texts_to_classify_keep_a_row_that_repeats_the_header (guard)
R4-8. multi-label data whose labels differ only in case (`Sports|money` beside `sports`): two
      labels, without the warning single-label data gets:
      test_multi_label_case_variants_are_warned_about
R4-9. a `.json` file as pandas' `to_json` writes a table by default (one object of columns):
      "row 1: label is an object, not a string or a number" (or "no field 'text'" for
      orient="split"), nothing about the shape or how to write records:
      test_a_json_object_of_columns_says_how_to_write_records[columns|split|lists],
      test_predict_input_json_object_of_columns_is_one_line,
      test_a_one_object_json_file_is_still_one_row (guard)
R4-10. single labels carved with a large --val-fraction (0.8 of 15 rows, a class of 2): the
      stratified draw held out the class's every row; the run trained without it, without a word:
      test_a_stratified_carve_never_takes_a_class_every_row[0-4]
R4-11. --multi-label on data whose labels are numbers indexing its classes.txt (`0|2`, or AG
      News' 1-based format), as single labels may be written: "unknown label '0' (known: World,
      Sports, Business)":
      test_multi_label_numbers_are_classes_txt_indices,
      test_multi_label_numbers_without_classes_txt_stay_names (guard)
R4-12. a label written composed (`négatif`, é) on some rows and decomposed (e + U+0301) on
      others: two classes that print the same, trained apart, without a warning:
      test_a_decomposed_label_is_the_composed_class[single|multi|classes-txt],
      test_a_run_with_decomposed_class_names_reads_composed_labels
R4-13. a training text of only characters that draw nothing (a zero-width space, a BOM, a soft
      hyphen, an RLM, with spaces or not): trained as a labelled text, while "" and "   " are
      refused naming the row:
      test_a_text_of_invisible_characters_is_empty[zwsp|bom-and-spaces|soft-hyphen|rlm],
      test_a_text_with_a_visible_character_is_not_empty (guard)
R4-14. class indices written as floats beside a classes.txt (`0.0`, `2.0`: pandas' export of a
      column that once held NaN): "unknown label '0.0'", single or multi-label:
      test_float_class_indices_beside_classes_txt_are_read[single|multi]
R4-15. tfidf-logreg read `café` typed decomposed as the word `cafe` and `très` as `tre` (scikit-
      learn's word pattern stops at a combining accent), and `hel<U+200B>lo` as `hel` and `lo`,
      for a model that learned the composed words (R4-5's word tokenizer mend, for the baseline):
      test_tfidf_reads_a_decomposed_text_as_the_composed_one,
      test_a_tfidf_run_saved_before_reads_texts_as_written (guard: older runs unchanged)
R4-16. an unlabeled text that is a test or validation text with a zero-width space in it, or
      its accents decomposed, was not recognised as a copy (case and spacing only): distill
      trained the student on it, and validation or test no longer held out:
      test_a_copy_of_a_test_text_with_invisible_or_decomposed_characters_is_left_out
"""

from __future__ import annotations

import json
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli_here

import attentext
from attentext.data.texts import load_texts, normalized, without_evaluation_texts
from attentext.errors import AttentextWarning, DataError
from attentext.models.tfidf_logreg import TfidfLogRegClassifier


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
    # refused since round 13 (R13-L2), unless data.distinct_lookalike_labels keeps them apart
    rows = [(f"text {i}", "1" if i % 2 else "1.0") for i in range(6)]
    path = _csv(tmp_path / "train.csv", rows)
    with pytest.raises(DataError, match="'1' and '1.0'.*how the number is written"):
        attentext.load_text_dataset(path, val_fraction=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = attentext.load_text_dataset(path, val_fraction=0, distinct_lookalike_labels=True)
    said = [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]
    assert dataset.label_names == ["1", "1.0"]  # kept apart, as asked
    assert not any("mix numbers" in m for m in said), said


def test_float_class_names_are_ordered_by_value(tmp_path):
    rows = [(f"text {i}", f"{i % 11}.0") for i in range(22)]
    dataset = attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)
    assert dataset.label_names == [f"{i}.0" for i in range(11)]  # 10.0 after 9.0, not 1.0


def _one_rare_label(path: Path) -> Path:
    """20 rows of `a` or `b`; row 7 holds `c` too, the one row with it."""
    return _csv(
        path, [(f"text number {i}", "ab"[i % 2] + ("|c" if i == 7 else "")) for i in range(20)]
    )


@pytest.mark.parametrize("seed", range(6))
def test_a_carved_validation_split_never_takes_a_labels_every_row(tmp_path, seed):
    dataset = attentext.load_text_dataset(
        _one_rare_label(tmp_path / "train.csv"), multi_label=True, val_fraction=0.3, seed=seed
    )
    trained = {dataset.label_names[i] for row in dataset.labels("train") for i in row}
    assert trained == {"a", "b", "c"}  # 'c' went to validation on seeds 1, 2, 5
    assert len(dataset["validation"]) == 6 and len(dataset["train"]) == 14


def test_a_multi_label_split_that_kept_every_label_is_unchanged(tmp_path):
    path = _csv(
        tmp_path / "train.csv", [(f"text number {i}", "a|b" if i % 3 else "a") for i in range(10)]
    )
    dataset = attentext.load_text_dataset(path, multi_label=True, val_fraction=0.2, seed=0)
    drawn = np.random.default_rng(0).permutation(10)  # the plain seeded draw, as before
    assert dataset.texts("validation") == [f"text number {i}" for i in drawn[:2]]


FRENCH = [
    "le café est très bon",
    "un élève à l'école",
    "où est le garçon ?",
    "hello world",
    "Noël à la mer",
]


def _word_ids(vectorizer: attentext.WordVectorizer, text: str) -> list[int]:
    return vectorizer([text], pad_to_max=False)[0]


def test_a_decomposed_accent_reads_as_the_composed_word():
    vectorizer = attentext.WordVectorizer(max_tokens=100, output_sequence_length=16)
    vectorizer.adapt(FRENCH)
    for text in FRENCH:
        decomposed = unicodedata.normalize("NFD", text)
        assert _word_ids(vectorizer, decomposed) == _word_ids(vectorizer, text), text
    assert 1 not in _word_ids(vectorizer, unicodedata.normalize("NFD", "Noël"))  # 1: [UNK]


@pytest.mark.parametrize(
    "mark",
    ["\u200b", "\u00ad", "\ufeff", "\u200f", "\u202b"],
    ids=["zwsp", "soft-hyphen", "bom", "rlm", "bidi-embedding"],
)
def test_invisible_characters_do_not_make_another_word(mark):
    vectorizer = attentext.WordVectorizer(max_tokens=100, output_sequence_length=16)
    vectorizer.adapt(FRENCH)
    expected = _word_ids(vectorizer, "hello world")
    assert _word_ids(vectorizer, f"hel{mark}lo world") == expected
    assert _word_ids(vectorizer, f"{mark}hello world") == expected


def test_emoji_sequences_and_no_break_spaces_are_kept():
    vectorizer = attentext.WordVectorizer(max_tokens=100, output_sequence_length=16)
    vectorizer.adapt(["la famille \U0001f468\u200d\U0001f469\u200d\U0001f467 super", "oui"])
    assert "\U0001f468\u200d\U0001f469\u200d\U0001f467" in vectorizer.get_vocabulary()
    assert _word_ids(vectorizer, "oui\u00a0super") == _word_ids(vectorizer, "oui super")


def test_a_saved_word_tokenizer_keeps_its_normalization(tmp_path):
    vectorizer = attentext.WordVectorizer(max_tokens=100, output_sequence_length=16)
    vectorizer.adapt(FRENCH)
    vectorizer.save(str(tmp_path))
    loaded = attentext.WordVectorizer.load(str(tmp_path))
    decomposed = unicodedata.normalize("NFD", "le café\u200b est très bon")
    assert _word_ids(loaded, decomposed) == _word_ids(vectorizer, FRENCH[0])


def _with_label(path: Path, missing: str) -> Path:
    """Ten rows of `S` and `M`; row 5 of the file (the 4th text) labelled `missing`."""
    rows = [(f"text {i} about {'sport' if i % 2 else 'money'}", "SM"[i % 2]) for i in range(10)]
    rows[3] = (rows[3][0], missing)
    return _csv(path, rows)


@pytest.mark.parametrize("missing", ["NaN", "NAN", "-nan", "<NA>", "null", "NULL"])
def test_a_missing_label_in_any_common_spelling_is_refused(tmp_path, missing):
    with pytest.raises(DataError, match=r"train.csv: row 5: label is missing$"):
        attentext.load_text_dataset(_with_label(tmp_path / "train.csv", missing), val_fraction=0)


def test_train_cli_refuses_a_nan_label_in_one_line(tmp_path):
    data = _with_label(tmp_path / "train.csv", "NaN")
    result = run_cli_here("train", "tfidf-logreg", "--data", data, "-o", tmp_path / "run")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: ") and "row 5: label is missing" in lines[0]
    )
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_a_nan_label_set_is_no_label_like_a_null(tmp_path):
    path = tmp_path / "train.jsonl"
    labels: list = [["a"], ["b"], None, float("nan"), ["a", "b"]]
    path.write_text(
        "".join(
            json.dumps({"text": f"text {i}", "label": label}) + "\n"
            for i, label in enumerate(labels)
        )
    )
    dataset = attentext.load_text_dataset(path, multi_label=True, val_fraction=0)
    assert dataset.label_names == ["a", "b"]  # was ['a', 'b', 'nan']
    assert dataset.labels("train") == [[0], [1], [], [], [0, 1]]


def test_na_and_none_stay_labels(tmp_path):
    rows = [(f"text {i}", ["NA", "none", "EU"][i % 3]) for i in range(9)]
    dataset = attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)
    assert dataset.label_names == ["EU", "NA", "none"]


def _joined(path: Path, delimiter: str, bom: str) -> Path:
    """Two files of `text<delimiter>label` joined with their headers, as `cat` joins them."""
    rows = [(f"text {i} about {'sport' if i % 2 else 'money'}", "SM"[i % 2]) for i in range(10)]
    parts = [
        bom + f"text{delimiter}label\n" + "".join(f"{t}{delimiter}{lab}\n" for t, lab in half)
        for half in (rows[:5], rows[5:])
    ]
    path.write_text("".join(parts), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "delimiter", "bom"),
    [("a.csv", ",", ""), ("a.csv", ",", "\ufeff"), ("a.tsv", "\t", "")],
    ids=["csv", "csv-bom", "tsv"],
)
def test_a_repeated_header_line_is_refused(tmp_path, name, delimiter, bom):
    path = _joined(tmp_path / name, delimiter, bom)
    with pytest.raises(DataError, match=r"row 7 repeats the header .*remove that line"):
        attentext.load_text_dataset(path, val_fraction=0)  # was: classes M, S and 'label'


def test_train_cli_refuses_a_repeated_header_in_one_line(tmp_path):
    data = _joined(tmp_path / "train.csv", ",", "")
    result = run_cli_here("train", "tfidf-logreg", "--data", data, "-o", tmp_path / "run")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "repeats the header" in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_texts_to_classify_keep_a_row_that_repeats_the_header(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("id,text\n1,first\nid,text\n2,last\n", encoding="utf-8")
    assert load_texts(path) == ["first", "text", "last"]  # an output row per input row


def test_multi_label_case_variants_are_refused(tmp_path):
    # a warning until round 13 (R13-L2): now refused, unless data.distinct_lookalike_labels
    rows = [(f"text {i}", "Sports|money" if i % 2 else "sports") for i in range(6)]
    path = _csv(tmp_path / "train.csv", rows)
    with pytest.raises(DataError, match="'Sports' and 'sports'.*differ only in case"):
        attentext.load_text_dataset(path, multi_label=True, val_fraction=0)
    dataset = attentext.load_text_dataset(
        path, multi_label=True, val_fraction=0, distinct_lookalike_labels=True
    )
    assert dataset.label_names == ["Sports", "money", "sports"]  # kept apart, as asked


COLUMNS_JSON = {
    "columns": {"text": {"0": "a goal", "1": "a bank"}, "label": {"0": "S", "1": "M"}},
    "split": {"columns": ["text", "label"], "index": [0, 1], "data": [["a goal", "S"]]},
    "lists": {"text": ["a goal", "a bank"], "label": ["S", "M"]},
}


@pytest.mark.parametrize("shape", list(COLUMNS_JSON))
def test_a_json_object_of_columns_says_how_to_write_records(tmp_path, shape):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(COLUMNS_JSON[shape]), encoding="utf-8")
    with pytest.raises(DataError, match=r"train.json: holds one JSON object of columns.*orient="):
        attentext.load_text_dataset(path, val_fraction=0)


def test_predict_input_json_object_of_columns_is_one_line(tmp_path, run_dir):
    path = tmp_path / "texts.json"
    path.write_text(json.dumps(COLUMNS_JSON["columns"]), encoding="utf-8")
    result = run_cli_here("predict", run_dir, "--input", path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds one JSON object of columns" in lines[0], lines


def test_a_one_object_json_file_is_still_one_row(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"text": "a goal", "label": ["S", "M"]}), encoding="utf-8")
    dataset = attentext.load_text_dataset(path, multi_label=True, val_fraction=0)
    assert dataset.texts("train") == ["a goal"] and dataset.labels("train") == [[0, 1]]


@pytest.mark.parametrize("seed", range(5))
def test_a_stratified_carve_never_takes_a_class_every_row(tmp_path, seed):
    rows = [(f"text a {i}", "a") for i in range(10)] + [(f"text b {i}", "b") for i in range(2)]
    rows += [(f"text c {i}", "c") for i in range(3)]
    dataset = attentext.load_text_dataset(
        _csv(tmp_path / "train.csv", rows), val_fraction=0.8, seed=seed
    )
    assert set(dataset.labels("train")) == {0, 1, 2}  # was {0, 2} on every seed
    assert len(dataset["validation"]) == 12 and len(dataset["train"]) == 3


def test_multi_label_numbers_are_classes_txt_indices(tmp_path):
    (tmp_path / "classes.txt").write_text("World\nSports\nBusiness\n", encoding="utf-8")
    rows = [("war news", "0"), ("a football war", "1|0"), ("stocks", "2"), ("cup", "Sports|1")]
    _csv(tmp_path / "train.csv", rows)
    _csv(tmp_path / "test.csv", [("markets", "2"), ("a match", "1")])
    dataset = attentext.load_text_dataset(tmp_path, multi_label=True, val_fraction=0)
    assert dataset.label_names == ["World", "Sports", "Business"]
    assert dataset.labels("train") == [[0], [0, 1], [2], [1]]
    assert dataset.labels("test") == [[2], [1]]
    # a run whose classes are in another order reads the numbers by the data's classes.txt
    measured = attentext.load_text_dataset(
        tmp_path / "test.csv",
        label_names=["Business", "Sports", "World"],
        multi_label=True,
        val_fraction=0,
    )
    assert measured.labels("train") == [[0], [1]]


def test_multi_label_numbers_without_classes_txt_stay_names(tmp_path):
    rows = [("one", "0"), ("two", "1|0"), ("three", "2")]
    dataset = attentext.load_text_dataset(
        _csv(tmp_path / "train.csv", rows), multi_label=True, val_fraction=0
    )
    assert dataset.label_names == ["0", "1", "2"]
    assert dataset.labels("train") == [[0], [0, 1], [2]]


NEGATIF, NEGATIF_NFD = "négatif", unicodedata.normalize("NFD", "négatif")


@pytest.mark.parametrize("shape", ["single", "multi", "classes-txt"])
def test_a_decomposed_label_is_the_composed_class(tmp_path, shape):
    rows = [(f"texte {i}", [NEGATIF, NEGATIF_NFD, "positif"][i % 3]) for i in range(9)]
    if shape == "classes-txt":
        (tmp_path / "classes.txt").write_text(f"{NEGATIF_NFD}\npositif\n", encoding="utf-8")
    _csv(tmp_path / "train.csv", rows)
    dataset = attentext.load_text_dataset(tmp_path, multi_label=shape == "multi", val_fraction=0)
    assert dataset.label_names == [NEGATIF, "positif"]  # was two classes 'négatif'
    expected = [0, 0, 1] * 3
    labels = dataset.labels("train")
    assert labels == ([[i] for i in expected] if shape == "multi" else expected)


def test_a_run_with_decomposed_class_names_reads_composed_labels(tmp_path):
    test = _csv(tmp_path / "test.csv", [("a", NEGATIF), ("b", "positif"), ("c", NEGATIF_NFD)])
    dataset = attentext.load_text_dataset(
        test, label_names=[NEGATIF_NFD, "positif"], val_fraction=0
    )  # as `evaluate` reads data for a run trained on decomposed names
    assert dataset.labels("train") == [0, 1, 0]
    assert dataset.label_names == [NEGATIF_NFD, "positif"]  # the run's names, as they are


@pytest.mark.parametrize(
    "blank",
    ["\u200b", " \ufeff  ", "\u00ad", "\u200f\u200f"],
    ids=["zwsp", "bom-and-spaces", "soft-hyphen", "rlm"],
)
def test_a_text_of_invisible_characters_is_empty(tmp_path, blank):
    rows = [(f"text {i}", "SM"[i % 2]) for i in range(6)]
    rows[2] = (blank, "S")
    with pytest.raises(DataError, match=r"train.csv: row 4: text is empty; fill it in"):
        attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)


def test_a_text_with_a_visible_character_is_not_empty(tmp_path):
    rows = [(f"text {i}", "SM"[i % 2]) for i in range(6)]
    rows[2] = ("\u200b\u00a0é\u200b", "S")
    dataset = attentext.load_text_dataset(_csv(tmp_path / "train.csv", rows), val_fraction=0)
    assert dataset.texts("train")[2] == "\u200b\u00a0é\u200b"  # kept as written


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_float_class_indices_beside_classes_txt_are_read(tmp_path, multi):
    (tmp_path / "classes.txt").write_text("World\nSports\nBusiness\n", encoding="utf-8")
    _csv(
        tmp_path / "train.csv", [("war", "0.0"), ("ball", "1.0"), ("stock", "2.0"), ("peace", "0")]
    )
    dataset = attentext.load_text_dataset(tmp_path, multi_label=multi, val_fraction=0)
    expected = [0, 1, 2, 0]
    assert dataset.labels("train") == ([[i] for i in expected] if multi else expected)


def test_tfidf_reads_a_decomposed_text_as_the_composed_one(tmp_path):
    classifier = TfidfLogRegClassifier(["positif", "négatif"])
    classifier.fit(["le café est très bon", "un café très froid et amer"], [0, 1])
    classifier.save(tmp_path)
    loaded = TfidfLogRegClassifier.load(tmp_path)
    for text in ("le café est très bon", "hello world"):
        odd = unicodedata.normalize("NFD", text).replace("l", "l\u200b")
        np.testing.assert_allclose(loaded.predict_proba([odd]), loaded.predict_proba([text]))
    assert loaded.vectorizer.build_analyzer()(unicodedata.normalize("NFD", "très"))[0] == "très"


def test_a_tfidf_run_saved_before_reads_texts_as_written(tmp_path):
    classifier = TfidfLogRegClassifier(["positif", "négatif"])
    classifier.fit(["le cafe est tres bon", "un cafe tres froid"], [0, 1])
    classifier.save(tmp_path)
    config = json.loads((tmp_path / "tfidf_config.json").read_text(encoding="utf-8"))
    del config["text_form"]  # as runs saved before text_form existed
    (tmp_path / "tfidf_config.json").write_text(json.dumps(config), encoding="utf-8")
    loaded = TfidfLogRegClassifier.load(tmp_path)
    assert loaded.vectorizer.build_analyzer()(unicodedata.normalize("NFD", "très"))[0] == "tre"


def test_a_copy_of_a_test_text_with_invisible_or_decomposed_characters_is_left_out(ag_news_dir):
    dataset = attentext.load_text_dataset(ag_news_dir)
    test_text = dataset.texts("test")[0]
    copies = [
        test_text.replace(" ", " \u200b", 3),
        unicodedata.normalize("NFD", "Café " + dataset.texts("validation")[0]),
    ]
    dataset_with_accent = "Café " + dataset.texts("validation")[0]
    assert normalized(copies[1]) == normalized(dataset_with_accent)
    kept, left_out = without_evaluation_texts([*copies[:1], "an unrelated text"], dataset)
    assert (kept, left_out) == (["an unrelated text"], 1)
