"""Hostile inputs, round 11, the items two audits left (R11-L): each fixed at its mechanism, and
each test failed before its fix.

Findings -> tests
R11-L1. a JSON Lines (or .json array) data row naming a key twice ({"text": "a", "label": "x",
      "label": "y"}): json kept the last value without a word, where the server refuses such a
      body (R9-H4): test_r11_l1_a_data_row_naming_a_key_twice_is_refused_naming_row_and_key
R11-L3. a JSON or Parquet float label of 2**53 or more (1e300): a class name of 301 digits, most
      made up by the float (a whole float below that is the integer it is, since b18d6e2; any
      other float keeps the digits Python writes):
      test_r11_l3_a_float_label_too_large_to_be_exact_is_refused,
      test_r11_l3_smaller_float_labels_read_as_before
R11-L4. `--set search.model.options.C=...`: split on every dot, "search.model: not a setting",
      so no search entry could be set from the command line (tune --set, train, the API's
      overrides); a search key is now the whole path after `search.`:
      test_r11_l4_a_set_of_a_search_entry_sets_it
R11-L5. a recipe YAML whose `name:` is a built-in's (`name: tfidf-logreg`) with another model
      type, or `train tfidf-logreg --set model.type=attention-rnn`: its runs shown as
      "tfidf-logreg" on the card and leaderboard, without a word; now refused before training:
      test_r11_l5_a_recipe_named_as_a_built_in_of_another_model_is_refused
R11-L6. `compare --limit 0` or `--limit -5`: "needs at least one text per class (4)", once the
      first run and the data were loaded: test_r11_l6_a_compare_limit_below_one_is_one_line
R11-L7. seed-transformer or attention-rnn trained on texts of ASCII punctuation alone: every
      text an empty token list, trained to chance without a word (tfidf-logreg refuses such
      texts since R11-D7):
      test_r11_l7_a_word_model_on_texts_of_punctuation_alone_is_one_line_and_leaves_nothing
R11-L8. `evaluate -o OUT` stopped by SIGTERM leaves OUT/.attentext-staging.<pid>.*: the next
      write removed it where no process of that id ran, but kept it where one did: in a
      container every command is the same pid (1, or 7 under tini), so the folder a `docker
      stop` left was taken for the next command's own and kept for ever:
      test_r11_l8_a_staging_folder_whose_pid_was_reused_is_removed_by_the_next_write
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, labelled_csv, run_cli_here, write_file

import attentext
from attentext import files, precision
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextWarning, DataError, RecipeError
from attentext.recipes import load_recipe, resolve_recipe
from attentext.scoring.sources import parse_record
from attentext.text.vectorizer import check_holds_a_word

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


@pytest.mark.parametrize("label", [1e300, 2.0**53, -1e20, [1e300, 1.0]])
def test_r11_l3_a_float_label_too_large_to_be_exact_is_refused(tmp_path, label):
    rows = [*ROWS[:-1], (ROWS[-1][0], label)]
    multi = isinstance(label, list)
    data = write_file(tmp_path, "d.jsonl", "\n".join(_records(rows)))
    with pytest.raises(DataError, match=r"row 20: label .* 2\*\*53 or more .* as a string"):
        load_text_dataset(data, multi_label=multi)
    table = pa.table(
        {"text": [t for t, _ in ROWS], "label": [float(i % 2) for i in range(19)] + [1e300]}
    )
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d.parquet: row 20: label 1e\+300"):
        load_text_dataset(tmp_path / "d.parquet")


def test_r11_l3_smaller_float_labels_read_as_before(tmp_path):
    rows = [(text, [2.0, 2.5, 9007199254740991.0][i % 3]) for i, (text, _) in enumerate(ROWS)]
    data = write_file(tmp_path, "d.jsonl", "\n".join(_records(rows)))
    assert load_text_dataset(data).label_names == ["2", "2.5", "9007199254740991"]


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round11left")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_r11_l6_a_compare_limit_below_one_is_one_line(tfidf_run, ag_news_dir, tmp_path, limit):
    out = tmp_path / "board"
    result = run_cli_here("compare", tfidf_run, "-d", ag_news_dir, "-o", out, "--limit", limit)
    assert_one_line_error(result, f"--limit must be a whole number of 1 or more, got {limit}")
    assert not out.exists()
    with pytest.raises(DataError, match="--limit must be a whole number of 1 or more"):
        attentext.compare([tfidf_run], ag_news_dir, limit=int(limit))


@pytest.mark.parametrize("model", ["seed-transformer", "attention-rnn"])
def test_r11_l7_a_word_model_on_texts_of_punctuation_alone_is_one_line_and_leaves_nothing(
    tmp_path, model
):
    rows = [(["!!! ???", "... ;-)"][i % 2], "ab"[i % 2]) for i in range(20)]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    out = tmp_path / "run"
    result = run_cli_here("train", model, "--data", data, "-o", out, "--epochs", "1")
    assert_one_line_error(result, f"no training text holds a word {model} reads", "punctuation")
    assert not out.exists() and not Path(f"{out}.partial").exists()
    check_holds_a_word(["!!!", "\U0001f600", "???"], model)  # an emoji is a word these read


@pytest.mark.parametrize("inside", [False, True])
def test_r11_l2_a_cache_variable_naming_a_file_is_one_warning_and_a_working_cache(
    tmp_path, monkeypatch, inside
):
    a_file = write_file(tmp_path, "cache.tar", "not a folder")
    monkeypatch.setenv("ATTENTEXT_CACHE", str(a_file / "sub" if inside else a_file))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roots = {files.cache_root() for _ in range(3)}
        precision._store_cache("probe", {"gflops": 1.0})  # a probe's result, kept
        stored = precision._load_cache()
    said = [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]
    assert len(said) == 1, said
    assert f"ATTENTEXT_CACHE={a_file}" in said[0] and "not a folder" in said[0]
    assert roots == {tmp_path / "tmp" / f"attentext-cache-{os.getuid()}"}
    assert stored == {"probe": {"gflops": 1.0}}  # not probed again next time
    assert a_file.read_text() == "not a folder"


def test_r11_l4_a_set_of_a_search_entry_sets_it():
    sets = ["search.model.options.C={choices: [1, 2]}", "search.model.options.max_iter=[50, 9]"]
    with pytest.raises(RecipeError, match=r"search.model.options.max_iter: expected \{low"):
        load_recipe("tfidf-logreg", sets)
    sets[1] = "search.model.options.max_iter={low: 50, high: 200}"  # a setting not searched yet
    recipe = load_recipe("tfidf-logreg", sets)
    assert recipe.search["model.options.C"].choices == (1, 2)
    assert (
        recipe.search["model.options.max_iter"].low,
        recipe.search["model.options.max_iter"].high,
    ) == (50, 200)
    assert "model.options.ngram_max" in recipe.search  # the others kept
    again = resolve_recipe(recipe, overrides=["search.model.options.C={low: 0.5, high: 5}"])
    assert again.search["model.options.C"].high == 5 and "model.options.max_iter" in again.search


def _left_staging(out: Path, pid: int) -> Path:
    """A staging folder as a process `pid` killed mid-write leaves it, last written 60 s ago."""
    folder = out / f"{files.STAGING_PREFIX}{pid}.abc123"
    write_file(folder, "report.md", "half a report")
    os.utime(folder, (time.time() - 60, time.time() - 60))
    return folder


def test_r11_l8_a_staging_folder_whose_pid_was_reused_is_removed_by_the_next_write(
    tfidf_run, ag_news_dir, tmp_path
):
    out = tmp_path / "report"
    ours = _left_staging(out, os.getpid())  # a container's next command: the same pid
    other = subprocess.Popen(["sleep", "30"])  # a process given the id since
    try:
        theirs = _left_staging(out, other.pid)
        result = run_cli_here("evaluate", tfidf_run, "-d", ag_news_dir, "-o", out)
        assert result.returncode == 0, result.stderr
        assert not ours.exists() and not theirs.exists()
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    finally:
        other.kill()
        other.wait()
    live = out / f"{files.STAGING_PREFIX}{os.getpid()}.live"  # this process's own, and one of
    live.mkdir()  # a process that started before its folder was written: both kept
    files._MADE_HERE.add(os.path.abspath(live))
    (out / f"{files.STAGING_PREFIX}{os.getppid()}.live").mkdir()
    assert files.abandoned_staging(out) == []


def test_r11_l5_a_recipe_named_as_a_built_in_of_another_model_is_refused(tmp_path, ag_news_dir):
    copy = write_file(tmp_path, "mine.yaml", "name: tfidf-logreg\nmodel: {type: attention-rnn}\n")
    out = tmp_path / "run"
    result = run_cli_here("train", copy, "--data", ag_news_dir, "-o", out)
    assert_one_line_error(
        result, "name 'tfidf-logreg' is the built-in recipe's", "a name of its own"
    )
    assert not out.exists() and not Path(f"{out}.partial").exists()
    with pytest.raises(RecipeError, match="trains tfidf-logreg, but this one trains seed-trans"):
        load_recipe("tfidf-logreg", ["model.type=seed-transformer"])
    with pytest.raises(RecipeError, match="give it a name of its own"):
        resolve_recipe(load_recipe("tfidf-logreg"), overrides=["model.type=seed-transformer"])
    assert load_recipe(copy, ["name=mine"]).name == "mine"  # renamed: fine
    same = write_file(tmp_path, "c.yaml", "name: tfidf-logreg\nmodel: {type: tfidf-logreg}\n")
    assert load_recipe(same).model.type == "tfidf-logreg"  # a copy of the same model: fine
