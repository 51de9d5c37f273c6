"""Hostile inputs, round 16, area E: `explain`, `export`, `card` and `summary` (R16-E).

R16-E1  `summary ENSEMBLE` / `export ENSEMBLE` of an ensemble whose members are TF-IDF runs:
        the way on named a member (`attentext summary ENS/members/a`, "export its members")
        that was refused the same way.
R16-E2  `card RUN --write --overwrite` where RUN/README.md is a folder: an IsADirectoryError
        traceback; without --overwrite, "edited by hand ... --overwrite replaces it".
R16-E3  `explain RUN T -o D --overwrite` where D/explanation.html (or explanation-0.png) is a
        folder: an IsADirectoryError traceback ("a folder has the name of a file to write").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli_here

import attentext
from attentext.errors import AttentextError
from attentext.export.onnx import export_onnx


@pytest.fixture(scope="module")
def tfidf_ensemble(ag_news_dir, tmp_path_factory) -> Path:
    """An ensemble of two TF-IDF runs (no neural member) on ag_news_tiny."""
    root = tmp_path_factory.mktemp("r16e-ens")
    a = attentext.train("tfidf-logreg", ag_news_dir, root / "a").run_dir
    b = attentext.train("tfidf-logreg", ag_news_dir, root / "b", overrides=["model.options.C=0.5"])
    result = run_cli_here("ensemble", a, b.run_dir, "--data", ag_news_dir, "-o", root / "ens")
    assert result.returncode == 0, result.stderr
    return root / "ens"


def test_r16_e1_summary_of_an_ensemble_of_tfidf_runs_names_no_member_to_summarize(
    tfidf_ensemble,
):
    result = run_cli_here("summary", tfidf_ensemble)
    assert_one_line_error(result, "nor has any of its members", f"attentext card {tfidf_ensemble}")
    assert "attentext summary" not in result.stderr  # it named a member summary refused too


def test_r16_e1_export_of_an_ensemble_of_tfidf_runs_says_no_member_has_a_network(
    tfidf_ensemble,
):
    with pytest.raises(AttentextError, match="none of its members is one") as error:
        export_onnx(tfidf_ensemble)
    assert "export its members" not in str(error.value)


@pytest.mark.parametrize("overwrite", [False, True])
def test_r16_e2_card_write_over_a_readme_folder_is_one_line(tfidf_ensemble, tmp_path, overwrite):
    run = Path(shutil.copytree(tfidf_ensemble.parent / "a", tmp_path / "run"))
    (run / "README.md").unlink()
    (run / "README.md").mkdir()
    (run / "README.md" / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_cli_here("card", run, "--write", *(["--overwrite"] if overwrite else []))
    assert_one_line_error(result, "README.md: a folder", "move it out of the run")
    assert (run / "README.md" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_r16_e3_explain_over_a_folder_of_its_file_name_is_one_line(tfidf_ensemble, tmp_path):
    out = tmp_path / "out"
    (out / "explanation.html").mkdir(parents=True)
    (out / "explanation.html" / "mine.txt").write_text("mine", encoding="utf-8")
    run = tfidf_ensemble.parent / "a"
    result = run_cli_here("explain", run, "good news", "-o", out, "--overwrite")
    assert_one_line_error(result, "explanation.html: a folder", "move it out of the way")
    assert (out / "explanation.html" / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(path.name for path in out.iterdir()) == ["explanation.html"]  # no staging left
