"""Hostile inputs, round 13: the Python API as a notebook or a script uses it (what round 12 left).

R13-A1  `predict([..., pd.NA])` named the missing text "of type NAType"; a bytearray was numbers
R13-A2  `~/...` given from Python to evaluate, compare, explain, export, ensemble, tune, auto,
        recalibrate, set_label_prior, distill, summary and a recipe file: a folder named '~'
        in the working folder, or "not found" beside the real file
R13-A3  `predict_proba` gave float64 for TF-IDF and ensembles, float32 for the networks
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import AG_NEWS_LABELS

import attentext
from attentext.errors import AttentextWarning
from attentext.export.onnx import export_onnx

TEXTS = [
    "Oil prices jump as OPEC cuts output",
    "The Yankees beat the Red Sox in extra innings",
    "New chip doubles battery life of phones",
    "Talks on the ceasefire resume in Cairo",
]


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """One TF-IDF run on ag_news_tiny (a second)."""
    out = tmp_path_factory.mktemp("r13-api") / "tf"
    return attentext.train("tfidf-logreg", ag_news_dir, out).run_dir


@pytest.fixture
def home(tmp_path, monkeypatch, ag_news_dir) -> dict[str, Path]:
    """HOME set to a fresh folder holding the data (`~/data`, `~/test.csv`, `~/pool.txt`), the
    working folder another fresh folder, which must stay empty: no folder named '~' there."""
    home, work = tmp_path / "home", tmp_path / "work"
    shutil.copytree(ag_news_dir, home / "data")
    shutil.copy(ag_news_dir / "test.csv", home / "test.csv")
    (home / "pool.txt").write_text("A new phone was released today\nThe cup final was won\n")
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return {"home": home, "work": work}


def _runs_under(home: Path, **runs: Path) -> None:
    """Copies of `runs` in ~/runs/<name>."""
    for name, run in runs.items():
        shutil.copytree(run, home / "runs" / name)


# R13-A1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts",
    [
        ["Stocks rally", pd.NA],
        ["Stocks rally", pd.NaT],
        pd.Series(["Stocks rally", None], dtype="string"),  # a string column's missing text: NA
        np.array(["Stocks rally", np.nan], dtype=object),
        ["Stocks rally", np.float32("nan")],
        ["Stocks rally", np.datetime64("NaT")],
    ],
    ids=["pd.NA", "pd.NaT", "string-series", "object-array-nan", "float32-nan", "datetime64-nat"],
)
def test_r13_a1_a_missing_text_of_any_kind_is_said_missing_with_its_position(tfidf_run, texts):
    """`pd.NA` (what a pandas string column holds where a text is missing) was "texts[1]: text
    is of type NAType, not a string", where NaN and None said "missing"."""
    classifier = attentext.load(tfidf_run)
    with pytest.raises(
        TypeError, match=r"^texts must be a list of strings; texts\[1\]: text is missing$"
    ):
        classifier.predict(texts)
    with pytest.raises(TypeError, match=r"texts\[1\]: text is missing"):
        classifier.predict_proba(texts)


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview], ids=lambda f: f.__name__)
def test_r13_a1_bytes_of_any_kind_are_refused_in_one_line_saying_to_decode(tfidf_run, make):
    """A bytearray (or memoryview) was iterated as numbers: "texts[0]: text is a number (83)";
    bytes were "not a single string", which they are not."""
    classifier = attentext.load(tfidf_run)
    with pytest.raises(TypeError) as caught:
        classifier.predict(make(b"Stocks rally\nOil falls"))
    message = str(caught.value)
    assert "\n" not in message and make.__name__ in message and "decode" in message
    assert "number" not in message


def test_r13_a1_numpy_numbers_and_booleans_are_named_as_numbers(tfidf_run):
    """`np.int64(3)` was "of type int64"; Python's 3 "a number (3)"."""
    classifier = attentext.load(tfidf_run)
    with pytest.raises(TypeError, match=r"texts\[1\]: text is a number \(3\), not a string"):
        classifier.predict(["Stocks rally", np.int64(3)])
    with pytest.raises(TypeError, match=r"texts\[0\]: text is a boolean \(true\)"):
        classifier.predict([np.True_])


# R13-A2 ------------------------------------------------------------------------------------------


def _nothing_in(work: Path) -> None:
    assert list(work.iterdir()) == [], "a folder named '~' was made in the working folder"


def test_r13_a2_outputs_given_from_python_with_a_tilde_are_under_the_home_folder(
    home, tfidf_run, ag_news_dir
):
    """evaluate, compare, explain and ensemble wrote into a folder named '~' in the working
    folder (compare's run directories were a FileNotFoundError traceback; ensemble wrote its
    staging folder under '~' and then looked for it in the home folder)."""
    h = home["home"]
    second = attentext.train(
        "tfidf-logreg", ag_news_dir, h / "tf2", overrides=["model.options.C=1"]
    )
    _runs_under(h, tf=tfidf_run, tf2=second.run_dir)
    attentext.evaluate("~/runs/tf", "~/data", output="~/out/eval")
    assert (h / "out" / "eval" / "report.md").is_file()
    rows = attentext.compare(["~/runs/tf", "~/runs/tf2"], "~/data", output="~/out/cmp")
    assert {row["model"] for row in rows} == {"tf", "tf2"}
    assert (h / "out" / "cmp" / "leaderboard.md").is_file()
    attentext.explain("~/runs/tf", TEXTS[:1], output_dir="~/out/expl", fmt="html")
    assert (h / "out" / "expl" / "explanation.html").is_file()
    result = attentext.ensemble(["~/runs/tf", "~/runs/tf2"], "~/data", "~/out/ens")
    assert result.run_dir == h / "out" / "ens"
    assert attentext.load("~/out/ens").predict(TEXTS[:1])[0] in AG_NEWS_LABELS
    _nothing_in(home["work"])


def test_r13_a2_tune_and_auto_write_under_the_home_folder(home):
    """tune and auto wrote their trials and runs into a folder named '~' (auto then failed with a
    FileNotFoundError traceback reading its own run back from the home folder)."""
    h = home["home"]
    tuned = attentext.tune("tfidf-logreg", "~/data", "~/out/tune", trials=1)
    assert (h / "out" / "tune" / "best.yaml").is_file() and tuned is not None
    found = attentext.auto("~/data", "~/out/auto", budget=60, recipes=["tfidf-logreg"])
    assert found.run_dir == h / "out" / "auto" / "best"
    _nothing_in(home["work"])


def test_r13_a2_export_and_summary_read_and_write_under_the_home_folder(home, run_dir):
    """`export_onnx(run, output="~/...")` exported into a folder named '~' (and returned that
    path); `summary("~/runs/seed")` was "unknown recipe '~/runs/seed'"."""
    h = home["home"]
    _runs_under(h, seed=run_dir)
    folder = export_onnx("~/runs/seed", output="~/out/onnx")
    assert folder == h / "out" / "onnx" and (folder / "model.onnx").is_file()
    assert attentext.summary("~/runs/seed").rows
    _nothing_in(home["work"])


def test_r13_a2_input_files_given_with_a_tilde_are_read_from_the_home_folder(
    home, tfidf_run, ag_news_dir
):
    """recalibrate on "~/test.csv" recorded it as "~/test.csv validation" (the file was not
    found to be a file); the texts of set_label_prior and of recalibrate's reference, a recipe
    file and a distilled student's unlabeled texts were "not found"."""
    h = home["home"]
    second = attentext.train(
        "tfidf-logreg", ag_news_dir, h / "tf2", overrides=["model.options.C=1"]
    )
    _runs_under(h, tf=tfidf_run, tf2=second.run_dir)
    calibration, _ = attentext.recalibrate("~/runs/tf", "~/test.csv")
    assert calibration.fitted_on == "test.csv"
    referred, _ = attentext.recalibrate("~/runs/tf", "~/test.csv", reference="~/runs/tf2")
    assert str(h / "runs" / "tf2") in referred.fitted_on
    record = attentext.set_label_prior("~/runs/tf", "estimated", texts="~/test.csv")
    assert record["label_prior"]["target"] == "estimated"
    shutil.copy(h / "runs" / "tf" / "recipe.yaml", h / "mine.yaml")
    assert attentext.load_recipe("~/mine.yaml").name == "tfidf-logreg"
    student = attentext.distill(
        "~/runs/tf",
        "seed-transformer",
        "~/data",
        "~/runs/student",
        unlabeled="~/pool.txt",
        epochs=1,
        overrides=["model.embedding_init=random", "model.options.embed_dim=16"],
    )
    assert student.run_dir == h / "runs" / "student"
    distill = attentext.load_recipe(h / "runs" / "student" / "recipe.yaml").distill
    assert distill.unlabeled == str(h / "pool.txt") and distill.teacher == str(h / "runs" / "tf")
    _nothing_in(home["work"])


# R13-A3 ------------------------------------------------------------------------------------------


def test_r13_a3_every_backend_gives_probabilities_of_one_dtype(tfidf_run, run_dir):
    """The networks gave float32, TF-IDF and ensembles float64: two runs' arrays compared or
    stacked took whichever. float64 everywhere, the networks' float32 widened exactly, so every
    digit printed (server, CLI, batch) stays what it was."""
    members = [attentext.load(tfidf_run), attentext.load(run_dir)]
    for classifier in members:
        assert classifier.predict_proba(TEXTS).dtype == np.float64
        assert classifier.predict_proba([]).dtype == np.float64
    network = members[1].predict_proba(TEXTS)
    assert np.array_equal(network.astype(np.float32).astype(np.float64), network)  # exact


def test_r13_a3_an_onnx_export_gives_float64_too(run_dir, tmp_path):
    """The ONNX backend shares the networks' path: float32 before, float64 now."""
    run = tmp_path / "seed"
    shutil.copytree(run_dir, run)
    export_onnx(run)
    onnx = attentext.load(run, backend="onnx").predict_proba(TEXTS)
    torch = attentext.load(run).predict_proba(TEXTS)
    assert onnx.dtype == torch.dtype == np.float64
    assert np.allclose(onnx, torch, atol=1e-4)


# R13-A4 ------------------------------------------------------------------------------------------


def test_r13_a4_an_empty_output_path_is_refused_not_the_working_folder(tfidf_run, run_dir, home):
    """`output=""` (a config's or a form's unset value) is `Path("")`, the working folder:
    evaluate wrote report.md, metrics.json, mistakes.jsonl and two PNGs there, compare its
    leaderboard, explain its pages, export its model, tune its trials."""
    data = home["home"] / "data"
    calls = [
        lambda: attentext.evaluate(tfidf_run, data, output=""),
        lambda: attentext.compare([tfidf_run], data, output=""),
        lambda: attentext.explain(tfidf_run, TEXTS[:1], output_dir=""),
        lambda: export_onnx(run_dir, output=""),
        lambda: attentext.tune("tfidf-logreg", data, "", trials=1),
    ]
    for call in calls:
        with pytest.raises(attentext.AttentextError, match=r"^--output is empty; name a folder"):
            call()
    _nothing_in(home["work"])


# R13-A5 ------------------------------------------------------------------------------------------


def test_r13_a5_overwrite_or_resume_that_is_not_a_bool_is_refused_before_any_file(
    tfidf_run, ag_news_dir, tmp_path
):
    """R12-A8 held train's flags to bools; evaluate's, compare's, explain's, tune's and auto's
    were read by their truth: `overwrite="False"` replaced the user's own report.md beside
    their files, `resume="no"` resumed."""
    data = ag_news_dir
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my own report\n")
    (mine / "notes.txt").write_text("mine\n")
    with pytest.raises(TypeError, match=r"^overwrite must be True or False, not 'False'$"):
        attentext.evaluate(tfidf_run, data, output=mine, overwrite="False")
    assert (mine / "report.md").read_text() == "my own report\n"
    with pytest.raises(TypeError, match="overwrite must be True or False, not 'no'"):
        attentext.compare([tfidf_run], data, output=tmp_path / "cmp", overwrite="no")
    with pytest.raises(TypeError, match="overwrite must be True or False, not 1"):
        attentext.explain(tfidf_run, TEXTS[:1], output_dir=tmp_path / "expl", overwrite=1)
    with pytest.raises(TypeError, match="overwrite must be True or False, not 'False'"):
        attentext.tune("tfidf-logreg", data, tmp_path / "tune", trials=1, overwrite="False")
    with pytest.raises(TypeError, match="resume must be True or False, not 'no'"):
        attentext.tune("tfidf-logreg", data, tmp_path / "tune", trials=1, resume="no")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine"]


# R13-A6 ------------------------------------------------------------------------------------------


def test_r13_a6_an_iterator_read_a_second_time_is_said_not_silently_empty(tfidf_run):
    """`texts = (t for t in df.text); clf.predict(texts); clf.predict_proba(texts)`: the second
    call read a spent generator and gave an empty result without a word, which the next line
    zipped with the first into nothing."""
    classifier = attentext.load(tfidf_run)
    texts = (text for text in TEXTS)
    assert len(classifier.predict(texts)) == len(TEXTS)
    with pytest.warns(AttentextWarning, match="is read once"):
        assert classifier.predict_proba(texts).shape == (0, len(AG_NEWS_LABELS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert classifier.predict([]) == []  # an empty list is no mistake


# R13-A7 ------------------------------------------------------------------------------------------


def test_r13_a7_summary_says_a_missing_run_and_a_number_given_as_text(tmp_path):
    """`summary("runs/gone")` was "unknown recipe 'runs/gone'" and the list of built-in recipes;
    `num_labels="4"` "'<=' not supported between instances of 'int' and 'str'"."""
    gone = tmp_path / "runs" / "gone"
    with pytest.raises(attentext.AttentextError, match=r"gone: run directory not found"):
        attentext.summary(gone)
    with pytest.raises(TypeError, match=r"^num_labels must be a whole number, not '4'$"):
        attentext.summary("seed-transformer", num_labels="4")
    assert attentext.summary("seed-transformer", num_labels=3).rows[-1].output_shape == "(None, 3)"


# R13-A8 ------------------------------------------------------------------------------------------


def test_r13_a8_a_dataset_object_is_named_by_its_source_in_a_report(
    tfidf_run, ag_news_dir, tmp_path
):
    """`evaluate(run, attentext.load_text_dataset(...), output=...)`: report.md's title was the
    dataset's repr, the whole DatasetDict over a dozen lines, escaped into one."""
    dataset = attentext.load_text_dataset(ag_news_dir)
    attentext.evaluate(tfidf_run, dataset, output=tmp_path / "report")
    title = (tmp_path / "report" / "report.md").read_text().splitlines()[0]
    assert title == f"# tf on {ag_news_dir}"


def test_r13_a8_recalibrate_of_a_dataset_object_says_to_give_its_source(tfidf_run, ag_news_dir):
    """recalibrate records where its texts came from and whether the run trained on them, by
    path: a `TextDataset` was "stat: path should be string, bytes, os.PathLike or integer, not
    TextDataset", from deep in `os.path.exists`."""
    dataset = attentext.load_text_dataset(ag_news_dir)
    with pytest.raises(TypeError) as caught:
        attentext.recalibrate(tfidf_run, dataset, split="test")
    message = str(caught.value)
    assert "\n" not in message and "not a TextDataset" in message and str(ag_news_dir) in message


# R13-A9 ------------------------------------------------------------------------------------------


def test_r13_a9_export_takes_its_check_texts_as_a_list_and_its_flags_as_bools(run_dir, tmp_path):
    """`export_onnx(run, int8=True, check_texts="one text")` judged int8 on the string's
    characters, recorded as "15 texts given at export"; `int8="no"` exported int8 by its truth."""
    run = tmp_path / "seed"
    shutil.copytree(run_dir, run)
    with pytest.raises(TypeError, match="not a single string"):
        export_onnx(run, int8=True, check_texts="Oil prices jump")
    with pytest.raises(TypeError, match=r"texts\[1\]: text is missing"):
        export_onnx(run, int8=True, check_texts=["Oil prices jump", None])
    with pytest.raises(TypeError, match="^int8 must be True or False, not 'no'$"):
        export_onnx(run, int8="no")
    with pytest.raises(TypeError, match="^force_int8 must be True or False, not 1$"):
        export_onnx(run, int8=True, force_int8=1)
    assert not (run / "onnx").exists()


# R13-A10 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["multi_label", "keep_all", "ensemble"])
def test_r13_a10_autos_flags_that_are_not_bools_are_refused_before_any_run(
    ag_news_dir, tmp_path, flag
):
    """`auto(..., multi_label="False")` (a config's string) trained multi-label models by its
    truth; `keep_all="no"` kept every run."""
    with pytest.raises(TypeError, match=f"^{flag} must be True or False, not 'False'$"):
        attentext.auto(
            ag_news_dir, tmp_path / "auto", 60, recipes=["tfidf-logreg"], **{flag: "False"}
        )
    assert not (tmp_path / "auto").exists()
