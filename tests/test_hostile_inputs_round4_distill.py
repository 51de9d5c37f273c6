"""Hostile inputs, round 4: `distill`, `predict --output`, `summary`, `card` and `compare` on runs
of other kinds (docs/reliability.md, "Hostile inputs, round 4"). Each test failed before its fix.

Findings -> tests
D1. a student recipe that cannot learn from a teacher: `distill --student tfidf-logreg` fitted
    a plain baseline, published it as the "student" and then died on a KeyError traceback;
    `--student encoder-fewshot` tuned pairs for an hour with the teacher ignored;
    `--student encoder-frozen` was refused only after `<output>.partial` was made:
    test_a_student_that_cannot_learn_from_a_teacher_is_refused_before_anything_is_written,
    test_distill_cli_refuses_a_baseline_student_in_one_line,
    test_a_few_shot_student_is_refused
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli_here

import attentext
from attentext.errors import RecipeError
from attentext.recipes import resolve_recipe
from attentext.training.distill import check_student

FAST = ["model.embedding_init=random"]  # no word vectors from the encoder: seconds, not tens


@pytest.fixture(scope="module")
def teacher(ag_news_dir, tmp_path_factory) -> Path:
    """A tfidf-logreg teacher on ag_news_tiny (seconds to fit; its labels: World, Sports, ...)."""
    out = tmp_path_factory.mktemp("round4-distill") / "teacher"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def _nothing_at(output: Path) -> bool:
    return not output.exists() and not output.with_name(output.name + ".partial").exists()


@pytest.mark.parametrize("student", ["tfidf-logreg", "encoder-frozen"])
def test_a_student_that_cannot_learn_from_a_teacher_is_refused_before_anything_is_written(
    student, teacher, ag_news_dir, tmp_path
):
    output = tmp_path / "student"
    with pytest.raises(RecipeError, match="trains the whole student"):
        attentext.distill(teacher, student, ag_news_dir, output, max_steps=1)
    assert _nothing_at(output)


def test_distill_cli_refuses_a_baseline_student_in_one_line(teacher, ag_news_dir, tmp_path):
    output = tmp_path / "student"
    result = run_cli_here(
        "distill", teacher, "--student", "tfidf-logreg", "--data", ag_news_dir, "-o", output
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: tfidf-logreg: is fitted in one go")
    assert "Traceback" not in result.stderr
    assert _nothing_at(output)


def test_a_few_shot_student_is_refused(teacher):
    recipe = resolve_recipe("encoder-fewshot", overrides=[f"distill.teacher={teacher}"])
    with pytest.raises(RecipeError, match="cannot learn from a teacher"):
        check_student(recipe, neural=True)
