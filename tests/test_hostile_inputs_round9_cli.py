"""Hostile inputs, round 9: the commands earlier rounds covered least (`recalibrate`, `export`,
`predict --output`, `evaluate --output`, `card`, `ensemble`, `--set`). Each test failed before
its fix:

R9-C1  `evaluate RUN --output FOLDER` where FOLDER holds the user's own report.md or
       metrics.json beside other files: replaced without a word. Refused before any work
       unless --overwrite (`outputs.check_report_folder`).
R9-C2  `recalibrate RUN --label-prior balanced --data FILE` where the fit is refused (fewer
       than 50 texts, the training file): the prior was saved first, so the command failed
       with the run changed (new prior, test figures dropped) and "label prior balanced"
       printed. Every step is kept or none (`recalibrate.as_it_was_on_failure`).
R9-C3  `predict RUN --input F --output new/out.csv` refused after the work folder was made (a
       damaged run directory, a passed-through column named like a result): `new/` and
       `new/out.csv.parts/` were left behind. Removed where no chunk was committed
       (`engine._folders_made_for`, `_discarded_unless_committed`).
R9-C4  `--set training.seed=-1`, `data.seed=-5`, `training.seed=99999999999`: NumPy tracebacks
       ("expected non-negative integer", "Seed must be between 0 and 2**32 - 1"), the last
       after `<output>.partial` was made. One line before anything is written
       (`recipes._validate_seeds`).
R9-C5  `ensemble A B --rounds 100000000`: accepted, then greedy selection ran for hours (each
       round scores every member on the whole validation split) without a word. At most 1,000
       rounds (weights in steps of 1/1,000), refused before any member loads.
R9-C6  A run whose README.md (the model card) was deleted or left out of a copy: every command
       refused it ("missing file(s) README.md; the run directory is incomplete", no way out),
       `card` and `card --write`, which build the card, too. The card is read by no command:
       the run loads, `card` builds it, `card --write` writes it; another missing file says
       to restore it or train again (`rundir.read_marker`).
R9-C7  `recalibrate RUN --label-prior balanced --texts T` or `--data D --texts T`: --texts
       ignored without a word (exit 0); `--label-prior estimated` without it: "needs texts to
       estimate it on (and only it)", no option named. Refused in one line naming what reads
       --texts, or that it is needed (`cli.recalibrate._check_texts`).
R9-C8  `evaluate A --output R`, then `evaluate B --output R` where B has several labels per
       text (or the reverse): R kept A's mistakes.jsonl, confusion_matrix.png and
       reliability.png beside B's report.md (or A's per_label_f1.png), another run's files
       as if B's. An earlier report's files are removed just before a report is written
       (`outputs.clear_report_files`).
R9-C9  A recipe file given by path that is empty (or comments only): trained the default
       recipe (a seed transformer named "custom") without a word; one in cp1252 / Latin-1: a
       UnicodeDecodeError traceback. Both one line before anything is written
       (`recipes.recipe_from_text`, `recipes._decoded`); a UTF-8 BOM is still read.
R9-C10 `--set data.label_separator=` (empty): str.split's "empty separator" traceback;
       `--set data.text_column=label` (or label_column=text): trained to read each text's
       label as its text, without a word; `--set data.text_column=`: looked up as a column.
       One line each before anything is written (`recipes._validate_data`).
R9-C11 `export RUN --output FOLDER` where FOLDER holds the user's model.onnx (another tool's
       export) beside other files: replaced, and their model.int8.onnx deleted (an export
       without --int8 removes an earlier one), without a word. Refused before any work; an
       earlier export's folder is written into as before (`outputs.check_export_folder`,
       `check_not_replaced`, which evaluate's check shares).
R9-C12 `evaluate RUN --data D --overwrite-card` without --card, `card RUN --overwrite`
       without --write: ignored without a word (exit 0, no card replaced). Refused in one line
       naming the option they need (`cli.evaluate._check_paired`, `cli.card`), as
       `evaluate --overwrite` without --output is.
R9-C13 `predict RUN -i F -o OUT --workers 1000` on 2 cores: taken, and set out to spawn 1,000
       processes each loading the model (memory filled; none with a core of its own). At most
       the cores this process may use (2 on a machine of one), refused before any work
       (`engine.check_options`).
R9-C14 `summary RUN --num-labels 9`: ignored without a word, the run's 4 labels shown. A run
       has its own labels: refused in one line naming what the option is for (`api.summary`,
       whose num_labels is None, 4 for a recipe, when not given).
R9-C15 `predict MULTI_LABEL_RUN "text" --top-k 3` (with or without --json): the option ignored
       without a word ("(no label)"), where `--output` writes label, label_2, label_3. The N
       most probable labels follow the decided ones ("; top: ..."; JSON `top_k`)
       (`cli.predict._show_set`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import labelled_csv, run_cli_here

import attentext
from attentext.errors import AttentextError
from attentext.export.onnx import export_onnx


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round9cli")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def test_r9_c1_evaluate_keeps_a_users_report_in_a_folder_of_their_files(
    tfidf_run, ag_news_dir, tmp_path
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "report.md").write_text("my own notes\n", encoding="utf-8")
    (project / "metrics.json").write_text('{"mine": 1}\n', encoding="utf-8")
    (project / "data.csv").write_text("text,label\n", encoding="utf-8")
    refused = run_cli_here("evaluate", tfidf_run, "--data", ag_news_dir, "--output", project)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "metrics.json, report.md" in refused.stderr and "--overwrite" in refused.stderr
    assert (project / "report.md").read_text(encoding="utf-8") == "my own notes\n"
    with pytest.raises(AttentextError, match="overwrite=True"):
        attentext.evaluate(tfidf_run, ag_news_dir, output=project)
    assert (project / "metrics.json").read_text(encoding="utf-8") == '{"mine": 1}\n'
    # asked for: replaced; an earlier report, or a folder of other files only: written as before
    attentext.evaluate(tfidf_run, ag_news_dir, output=project, overwrite=True)
    assert "my own notes" not in (project / "report.md").read_text(encoding="utf-8")
    report = tmp_path / "report"
    for _ in range(2):
        result = run_cli_here("evaluate", tfidf_run, "--data", ag_news_dir, "--output", report)
        assert result.returncode == 0, result.stderr
    others = tmp_path / "others"
    others.mkdir()
    (others / "notes.txt").write_text("x", encoding="utf-8")
    attentext.evaluate(tfidf_run, ag_news_dir, output=others)
    assert (others / "report.md").is_file() and (others / "notes.txt").read_text() == "x"


def test_r9_c2_a_refused_fit_leaves_the_label_prior_set_before_it_unsaved(tfidf_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    few = tmp_path / "few.csv"
    few.write_text(labelled_csv([(f"stocks fell {i}", "Business") for i in range(10)]))
    result = run_cli_here("recalibrate", run, "--label-prior", "balanced", "--data", few)
    assert result.returncode == 2
    assert "needs at least 50" in result.stderr and "label prior" not in result.stdout
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_r9_c3_a_refused_predict_output_leaves_no_folder_behind(tfidf_run, ag_news_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tfidf_run, broken)
    (broken / "tfidf_config.json").write_text("{", encoding="utf-8")
    texts = tmp_path / "texts.csv"
    texts.write_text(labelled_csv([("stocks fell", "Business"), ("a goal", "Sports")]))
    out = tmp_path / "new" / "sub" / "out.csv"
    result = run_cli_here("predict", broken, "--input", texts, "--output", out)
    assert result.returncode == 2 and "cannot read the TF-IDF model" in result.stderr
    assert not (tmp_path / "new").exists()
    named = run_cli_here("predict", tfidf_run, "-i", texts, "-o", out, "--id-column", "label")
    assert named.returncode == 2 and "two columns named 'label'" in named.stderr
    assert not (tmp_path / "new").exists()
    assert run_cli_here("predict", tfidf_run, "-i", texts, "-o", out).returncode == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.csv", "out.csv.errors.jsonl"]


@pytest.mark.parametrize(
    "setting", ["training.seed=-1", "data.seed=-5", "training.seed=99999999999"]
)
def test_r9_c4_a_seed_the_generators_cannot_take_is_one_line_before_anything_is_written(
    setting, ag_news_dir, tmp_path
):
    out = tmp_path / "run"
    result = run_cli_here(
        "train", "seed-transformer", "--data", ag_news_dir, "--output", out,
        "--set", setting, "--max-steps", "2",
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "must be a whole number from 0 to 4,294,967,295" in result.stderr
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_r9_c5_ensemble_refuses_more_rounds_than_it_can_tell_apart(
    tfidf_run, ag_news_dir, tmp_path
):
    other = tmp_path / "other"
    shutil.copytree(tfidf_run, other)
    result = run_cli_here(
        "ensemble", tfidf_run, other, "--data", ag_news_dir, "--output", tmp_path / "mix",
        "--rounds", "100000000",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--rounds must be at most 1,000" in result.stderr
    assert not (tmp_path / "mix").exists() and not (tmp_path / "mix.partial").exists()


def test_r9_c6_a_run_without_its_model_card_loads_and_card_writes_it_again(tfidf_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    (run / "README.md").unlink()
    assert attentext.load(run).predict(["Stocks fell as oil rose"])
    printed = run_cli_here("card", run)
    assert printed.returncode == 0 and "library_name: attentext" in printed.stdout
    assert run_cli_here("card", run, "--write").returncode == 0
    assert (run / "README.md").read_text(encoding="utf-8") == printed.stdout
    (run / "vocabulary.json").unlink()
    refused = run_cli_here("predict", run, "hello")
    assert refused.returncode == 2
    assert "missing file(s) vocabulary.json" in refused.stderr
    assert "restore them from a copy of the run, or train it again" in refused.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--label-prior", "balanced", "--texts", "T"], "--texts is read by --label-prior est"),
        (["--data", "T", "--texts", "T"], "--texts is read by --label-prior estimated and --ref"),
        (["--label-prior", "estimated"], "give them with --texts FILE"),
    ],
)
def test_r9_c7_texts_are_refused_where_nothing_reads_them_and_named_where_needed(
    args, expected, tfidf_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"stocks fell {i}\n" for i in range(60)), encoding="utf-8")
    given = [str(texts) if arg == "T" else arg for arg in args]
    result = run_cli_here("recalibrate", run, *given)
    assert result.returncode == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def _multi_label_run(folder: Path) -> tuple[Path, Path]:
    """A data file of 80 texts with two of three labels each, and a tfidf-logreg run of it."""
    words = {"a": "stock market shares", "b": "football goal match", "c": "rain storm sky"}
    rows = [
        (f"{words[k]} {words[j]} {i}", f"{k}|{j}")
        for i, (k, j) in enumerate([("a", "b"), ("b", "c"), ("c", "a"), ("a", "a")] * 20)
    ]
    data = folder / "tags.csv"
    data.write_text(labelled_csv(rows), encoding="utf-8")
    tags = attentext.train(
        "tfidf-logreg", data, folder / "tags", overrides=["data.multi_label=true"]
    ).run_dir
    return data, tags


def test_r9_c8_a_report_folder_holds_the_last_reports_files_only(tfidf_run, ag_news_dir, tmp_path):
    data, tags = _multi_label_run(tmp_path)
    report = tmp_path / "report"
    attentext.evaluate(tfidf_run, ag_news_dir, output=report)
    attentext.evaluate(tags, data, output=report)
    assert sorted(p.name for p in report.iterdir()) == [
        "metrics.json", "per_label_f1.png", "report.md"
    ]  # fmt: skip
    attentext.evaluate(tfidf_run, ag_news_dir, output=report)
    assert "per_label_f1.png" not in {p.name for p in report.iterdir()}
    assert (report / "mistakes.jsonl").is_file()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the recipe holds no settings"),
        (b"# to fill in\n", "the recipe holds no settings"),
        (b"description: caf\xe9\nmodel:\n  type: tfidf-logreg\n", "line 1 is not valid UTF-8"),
    ],
)
def test_r9_c9_an_empty_or_undecodable_recipe_file_is_one_line(
    content, expected, ag_news_dir, tmp_path
):
    recipe = tmp_path / "mine.yaml"
    recipe.write_bytes(content)
    out = tmp_path / "run"
    result = run_cli_here("train", recipe, "--data", ag_news_dir, "--output", out)
    assert result.returncode == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_r9_c9_a_recipe_file_with_a_bom_is_read(ag_news_dir, tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_bytes(b"\xef\xbb\xbfname: mine\r\nmodel:\r\n  type: tfidf-logreg\r\n")
    assert attentext.resolve_recipe(recipe).model.type == "tfidf-logreg"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("data.label_separator=", "data.label_separator is empty"),
        ("data.text_column=label", "data.text_column and data.label_column both name 'label'"),
        ("data.label_column=text", "data.text_column and data.label_column both name 'text'"),
        ("data.text_column=", "data.text_column is empty"),
    ],
)
def test_r9_c10_data_columns_and_separator_that_cannot_be_read_are_one_line(
    setting, expected, ag_news_dir, tmp_path
):
    out = tmp_path / "run"
    result = run_cli_here(
        "train", "tfidf-logreg", "--data", ag_news_dir, "--output", out, "--set", setting
    )
    assert result.returncode == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_r9_c11_export_keeps_the_users_onnx_files_in_a_folder_of_theirs(
    run_dir, tfidf_run, tmp_path
):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("model.onnx", "model.int8.onnx", "notes.txt"):
        (models / name).write_text(f"the user's {name}", encoding="utf-8")
    refused = run_cli_here("export", run_dir, "--output", models)  # a seed transformer
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "holds model.onnx, model.int8.onnx, which export would replace" in refused.stderr
    with pytest.raises(AttentextError, match="which export would replace"):
        export_onnx(tfidf_run, output=models)
    assert sorted(p.read_text() for p in models.iterdir()) == [
        "the user's model.int8.onnx", "the user's model.onnx", "the user's notes.txt"
    ]  # fmt: skip
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "model.onnx").write_bytes(b"an earlier export")
    (earlier / "export.json").write_text("{}", encoding="utf-8")
    (earlier / ".model.onnx.abcd1234.tmp").write_bytes(b"")  # a killed export's
    with pytest.raises(AttentextError, match="a TF-IDF run has no neural network"):
        export_onnx(tfidf_run, output=earlier)  # past the folder's check


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["evaluate", "RUN", "--data", "DATA", "--overwrite-card"], "--overwrite-card applies"),
        (["evaluate", "RUN", "--data", "DATA", "--overwrite"], "--overwrite applies to --output"),
        (["card", "RUN", "--overwrite"], "--overwrite applies to --write; add --write"),
    ],
)
def test_r9_c12_an_option_without_the_one_it_modifies_is_refused(
    args, expected, tfidf_run, ag_news_dir
):
    given = {"RUN": str(tfidf_run), "DATA": str(ag_news_dir)}
    result = run_cli_here(*[given.get(arg, arg) for arg in args])
    assert result.returncode == 2 and expected in result.stderr and result.stdout == ""


def test_r9_c13_more_workers_than_cores_is_refused_before_any_is_spawned(
    tfidf_run, tmp_path, monkeypatch
):
    import attentext.scoring.engine as engine

    def spawned(*args, **kwargs):
        raise AssertionError("workers were started")

    monkeypatch.setattr(engine, "start_scorer", spawned)
    monkeypatch.setattr(engine, "cpu_count", lambda: 2, raising=False)
    texts = tmp_path / "texts.txt"
    texts.write_text("stocks fell\na goal\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    for workers in ("3", "1000"):
        result = run_cli_here("predict", tfidf_run, "-i", texts, "-o", out, "--workers", workers)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"--workers {workers}: at most 2, the cores this process may use" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.txt"]


def test_r9_c14_summary_of_a_run_refuses_a_number_of_labels(run_dir):
    result = run_cli_here("summary", run_dir, "--num-labels", "9")
    assert result.returncode == 2 and "a run directory has its own labels" in result.stderr
    with pytest.raises(AttentextError, match="--num-labels sizes a recipe's fresh model"):
        attentext.summary(run_dir, num_labels=9)
    assert attentext.summary(run_dir).rows[-1].output_shape == "(None, 4)"
    assert attentext.summary("seed-transformer").rows[-1].output_shape == "(None, 4)"


def test_r9_c15_predict_of_a_multi_label_run_shows_the_top_k_it_is_asked_for(tmp_path):
    _, tags = _multi_label_run(tmp_path)
    printed = run_cli_here("predict", tags, "stock market news", "--top-k", "2")
    assert printed.returncode == 0 and "; top: " in printed.stdout
    assert re.search(r"; top: \w [01]\.\d{3}, \w [01]\.\d{3}\s+stock", printed.stdout)
    line = json.loads(run_cli_here("predict", tags, "x", "--top-k", "3", "--json").stdout)
    assert [r["label"] for r in line["top_k"]] == list(line["scores"])[:3]
    plain = run_cli_here("predict", tags, "stock market news")
    assert "top:" not in plain.stdout
