"""Hostile inputs, round 11 (R11-D): the shapes of data users bring to train, evaluate, predict
and the Python API (docs/reliability.md, "Hostile inputs, round 11"). Each test failed before
its fix.

Findings -> tests
R11-D1. a data folder holding two files for one split (train.csv beside train.jsonl, a
      validation.csv beside dev.csv): the first suffix in attentext's order was read and the
      other file ignored without a word (its rows never trained on); a train.CSV (upper-case
      suffix, which a single file given by path reads) was "no train.* or test.* data file":
      test_r11_d1_two_files_for_one_split_are_refused_naming_both,
      test_r11_d1_a_split_file_with_an_upper_case_suffix_is_found
R11-D2. multi-label data whose label name holds '|' (a JSONL list ["R&D|Tech"], or a
      classes.txt line): trained, then every output joined its labels by '|' ("R&D|Tech|sport":
      two labels or three?), and a CSV of the same data read the name as two labels:
      test_r11_d2_a_multi_label_name_holding_the_join_is_refused_before_training
R11-D3. a missing value inside a label set (a JSON NaN in a list, `a|NaN`, `a|null` in a CSV):
      a label named `nan`, `NaN` or `null`, trained and reported as one (a whole cell so
      spelled is no label since R4-6):
      test_r11_d3_a_missing_value_inside_a_label_set_is_no_label
R11-D4. labels that differ only by characters that draw nothing (a zero-width space, a BOM),
      by width (a full-width `Ａ`) or by spacing (a no-break or a double space): classes of their
      own that print the same, without the warning that case variants get:
      test_r11_d4_labels_that_print_alike_are_warned_about
R11-D5. one text written on several training rows with different labels (a broken join,
      two annotators; emotion holds 37, Reuters 26): trained without a word, the model taught
      both labels (metrics.json now counts them, `data_profile.texts_with_two_labels`):
      test_r11_d5_a_text_labelled_two_ways_in_training_is_warned_about
R11-D6. an object (JSON `{}` or a Parquet struct) as a label inside a list, or as a Parquet
      label: a label named by Python's repr ("{'a': 1}"), where a JSONL object label was refused:
      test_r11_d6_an_object_as_a_label_is_refused_in_every_reader
R11-D7. tfidf-logreg trained on texts of emoji, punctuation or single letters (no word of 2+
      letters or digits), or with a model.options.min_df above every word's count: scikit-learn's
      "empty vocabulary" (or "max_df corresponds to < documents than min_df") ValueError as a
      traceback, `<output>.partial` left behind:
      test_r11_d7_tfidf_on_texts_without_a_word_is_one_line_and_leaves_nothing
R11-D8. `evaluate --output` on data of many classes (2,000 of 2 texts each): the confusion
      matrix was drawn 0.7 inch a class with a number in every cell, 280,000 x 140,000 pixels
      and 8 million texts: 22 GB and minutes before it was killed (80 classes: 11,700 pixels
      wide); now named and numbered up to 50 classes (trec_fine), an image of that size beyond:
      test_r11_d8_a_confusion_matrix_of_many_classes_stays_a_bounded_image
R11-D9. one 5 MB training text of 50,000 distinct words (a log pasted in, a CSV quote never
      closed) beside ag_news_tiny, for the word models (seed-transformer, attention-rnn): its
      words, 16 times each, took the vocabulary's places of 2,960 of the 2,999 real words (39
      kept), and data-aware defaults sized the vocabulary at 20,000 by its words (then 3 minutes
      of encoder word vectors); now each text is counted from its first 100,000 characters:
      test_r11_d9_one_huge_text_does_not_crowd_the_vocabulary
R11-D10. training on a folder whose test (or validation) file holds a label train lacks:
      "test.csv: row 22: unknown label 'c' (known: a, b)", nothing of why (the classes are
      train's) or what to do:
      test_r11_d10_a_test_label_train_lacks_says_where_its_examples_belong
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import labelled_csv, run_cli_here, write_file

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextWarning, DataError
from attentext.text.vectorizer import fit_word_vectorizer, word_frequencies

ROWS = [(f"story number {i} about {'sport' if i % 2 else 'trade'}", "ab"[i % 2]) for i in range(20)]


def _jsonl(folder: Path, name: str, records: list[dict]) -> Path:
    return write_file(folder, name, "".join(json.dumps(r) + "\n" for r in records))


def _warnings_of(source: Path, **options) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_text_dataset(source, **options)
    return [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]


def _warnings_of(source: Path, **options) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_text_dataset(source, **options)
    return [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]


@pytest.mark.parametrize(
    ("first", "second"),
    [("train.csv", "train.jsonl"), ("validation.csv", "dev.csv"), ("test.tsv", "test.parquet")],
)
def test_r11_d1_two_files_for_one_split_are_refused_naming_both(tmp_path, first, second):
    write_file(tmp_path, "train.csv", labelled_csv(ROWS))
    for name in (first, second):
        if name.endswith(".jsonl"):
            _jsonl(tmp_path, name, [{"text": t, "label": y} for t, y in ROWS])
        elif name.endswith(".parquet"):
            table = pa.table({"text": [t for t, _ in ROWS], "label": [y for _, y in ROWS]})
            pq.write_table(table, tmp_path / name)
        elif name != "train.csv":
            delimiter = "\t" if name.endswith(".tsv") else ","
            write_file(tmp_path, name, labelled_csv(ROWS).replace(",", delimiter))
    with pytest.raises(DataError) as error:
        load_text_dataset(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert first in message and second in message and "keep one" in message


def test_r11_d1_a_split_file_with_an_upper_case_suffix_is_found(tmp_path):
    write_file(tmp_path, "train.CSV", labelled_csv(ROWS))
    write_file(tmp_path, "Test.csv", labelled_csv(ROWS[:6]))
    dataset = load_text_dataset(tmp_path)
    assert len(dataset["train"]) + len(dataset["validation"]) == 20
    assert len(dataset["test"]) == 6


def test_r11_d2_a_multi_label_name_holding_the_join_is_refused_before_training(tmp_path):
    records = [
        {"text": f"lab research football {i}", "label": [["R&D|Tech"], ["sport"]][i % 2]}
        for i in range(20)
    ]
    data = _jsonl(tmp_path, "ml.jsonl", records)
    with pytest.raises(DataError, match=r"'R&D\|Tech' holds '\|'") as error:
        load_text_dataset(data, multi_label=True)
    assert "\n" not in str(error.value) and "rename" in str(error.value)
    folder = tmp_path / "folder"  # a classes.txt naming it: the CSV's cells split it in two
    write_file(folder, "classes.txt", "R&D|Tech\nsport\n")
    write_file(folder, "train.csv", labelled_csv([("lab x", "R&D|Tech"), ("ball y", "sport")]))
    with pytest.raises(DataError, match=r"classes.txt.*'R&D\|Tech' holds '\|'"):
        load_text_dataset(folder, multi_label=True)
    out = tmp_path / "run"
    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--multi-label", "-o", out)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "holds '|'" in result.stderr
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_r11_d3_a_missing_value_inside_a_label_set_is_no_label(tmp_path):
    nan = float("nan")
    sets = [["a", nan], ["b"], ["a", "b"], ["b", None]]
    records = [{"text": f"text {i} here", "label": sets[i % 4]} for i in range(20)]
    dataset = load_text_dataset(_jsonl(tmp_path, "ml.jsonl", records), multi_label=True)
    assert dataset.label_names == ["a", "b"]
    cells = ["a|NaN", "b", "a|b", "null|b", "b|<NA>"]
    rows = [(f"text {i} here", cells[i % 5]) for i in range(20)]
    dataset = load_text_dataset(
        write_file(tmp_path, "ml.csv", labelled_csv(rows)), multi_label=True
    )
    assert dataset.label_names == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("World", "World\u200b"),  # a zero-width space copied from a web page
        ("World", "\ufeffWorld"),  # a BOM
        ("A", "\uff21"),  # full-width, as Japanese input methods type it
        ("New York", "New\u00a0York"),  # a no-break space
        ("New York", "New  York"),  # two spaces
    ],
    ids=["zero-width", "bom", "full-width", "no-break-space", "double-space"],
)
def test_r11_d4_labels_that_print_alike_are_warned_about(tmp_path, name, variant):
    # refused since round 13 (R13-L2), unless data.distinct_lookalike_labels keeps them apart
    rows = [(text, name if label == "a" else "b") for text, label in ROWS]
    rows[2] = (rows[2][0], variant)
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    with pytest.raises(DataError) as caught:
        _warnings_of(data)
    assert "\n" not in str(caught.value) and "' and '" in str(caught.value)  # both named
    ml_rows = [(text, f"{label}|c") for text, label in rows]
    ml = write_file(tmp_path, "ml.csv", labelled_csv(ml_rows))
    with pytest.raises(DataError, match="print alike"):
        _warnings_of(ml, multi_label=True)
    plain = write_file(tmp_path, "plain.csv", labelled_csv(ROWS))
    assert not [m for m in _warnings_of(plain) if "alike" in m]  # guard: no noise


def _trained_warnings(data: Path, out: Path) -> tuple[list[str], dict]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = attentext.train("tfidf-logreg", data, out)
    said = [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]
    return said, result.metrics["data_profile"]


def test_r11_d5_a_text_labelled_two_ways_in_training_is_warned_about(tmp_path):
    rows = list(ROWS)
    rows[5] = (rows[4][0].upper(), "b")  # rows 4 and 5: one text (case aside), labels a and b
    rows[7] = (rows[6][0], "b")  # rows 6 and 7: labels a and b
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    said, facts = _trained_warnings(data, tmp_path / "run")
    warned = [m for m in said if "different labels" in m]
    assert len(warned) == 1 and "\n" not in warned[0], said
    assert "2 training texts are" in warned[0]
    example = r"e\.g\. 'story number [46] about trade': (a and b|b and a)\)"
    assert re.search(example, warned[0], re.IGNORECASE), warned[0]
    assert facts["texts_with_two_labels"] == 2
    plain = write_file(tmp_path, "plain.csv", labelled_csv([*ROWS, ROWS[0]]))
    said, facts = _trained_warnings(plain, tmp_path / "plain")  # a repeated row, one label
    assert not [m for m in said if "different labels" in m] and not facts["texts_with_two_labels"]


def test_r11_d6_an_object_as_a_label_is_refused_in_every_reader(tmp_path):
    records = [{"text": f"text {i} here", "label": [[{"a": 1}], ["b"]][i % 2]} for i in range(20)]
    with pytest.raises(DataError, match=r"row 1: label is a list holding an object"):
        load_text_dataset(_jsonl(tmp_path, "ml.jsonl", records), multi_label=True)
    table = pa.table({"text": [t for t, _ in ROWS], "label": [{"a": i % 2} for i in range(20)]})
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d.parquet: row 1: label is an object"):
        load_text_dataset(tmp_path / "d.parquet")


@pytest.mark.parametrize(
    ("texts", "options", "said"),
    [
        (("\U0001f600 \U0001f389", "!!! ???"), [], "no training text holds a word"),
        (("a", "b c"), [], "no training text holds a word"),
        (("good news", "bad news"), ["--set", "model.options.min_df=1000"], "min_df"),
    ],
    ids=["emoji-and-punctuation", "single-letters", "min-df-over-every-word"],
)
def test_r11_d7_tfidf_on_texts_without_a_word_is_one_line_and_leaves_nothing(
    tmp_path, texts, options, said
):
    rows = [(texts[i % 2], "ab"[i % 2]) for i in range(20)]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    out = tmp_path / "run"
    result = run_cli_here("train", "tfidf-logreg", "--data", data, "-o", out, *options)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert said in result.stderr
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_r11_d8_a_confusion_matrix_of_many_classes_stays_a_bounded_image(tmp_path):
    rows = [(f"word{i % 80} topic{i % 80} filler{i}", f"class{i % 80}") for i in range(240)]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    attentext.train("tfidf-logreg", data, tmp_path / "run", val_fraction=0.0)
    attentext.evaluate(tmp_path / "run", data, output=tmp_path / "report")
    width, height = _png_size(tmp_path / "report" / "confusion_matrix.png")
    assert width <= 7_500 and height <= 3_800, (width, height)  # 50 classes' size at most


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_r11_d9_one_huge_text_does_not_crowd_the_vocabulary(ag_news_dir):
    texts = load_text_dataset(ag_news_dir, val_fraction=0).texts("train")
    real = set(fit_word_vectorizer(texts).get_vocab())
    junk = " ".join(f"w{i % 50_000}" for i in range(800_000))  # 5 MB, each word 16 times
    kept = real & set(fit_word_vectorizer([*texts, junk]).get_vocab())
    assert len(kept) == len(real), f"{len(kept)} of {len(real)} words kept"
    seen_twice = [n for n in word_frequencies([*texts, junk]).values() if n >= 2]
    assert len(seen_twice) == len([n for n in word_frequencies(texts).values() if n >= 2])


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_r11_d10_a_test_label_train_lacks_says_where_its_examples_belong(tmp_path, multi_label):
    write_file(tmp_path, "train.csv", labelled_csv(ROWS))
    write_file(tmp_path, "test.csv", labelled_csv([*ROWS[:4], ("weather news today", "c")]))
    with pytest.raises(DataError) as error:
        load_text_dataset(tmp_path, multi_label=multi_label)
    message = str(error.value)
    assert "test.csv: row 6: unknown label 'c'" in message and "\n" not in message
    assert "add examples of it there, or remove its rows from test.csv" in message
    assert "those of train.csv" in message
