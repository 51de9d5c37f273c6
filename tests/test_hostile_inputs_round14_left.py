"""Hostile inputs, round 14: the small items round 13 left (docs/reliability.md, "Left (round 13)").

R14-X1  `train(..., epoch=2)`: "resolve_recipe() got an unexpected keyword argument 'epoch'",
        naming a function the user never called, without a did-you-mean (distill likewise)
R14-X2  `load(None)`, `evaluate(..., output=123)`, `summary(None)`, `train(..., output=None)`,
        `distill(teacher=None, ...)` and every other public path parameter: pathlib's "expected
        str, bytes or os.PathLike object, not NoneType", naming no parameter
R14-X3  `--set distill.unlabeled=~/x` (any path setting of a recipe: distill.teacher,
        distill.ensemble, fewshot.unlabeled, model.encoder; from --set, a YAML file or Python):
        "~/x: file not found", and recipe.yaml recorded `~/...` as given
"""

from __future__ import annotations

from pathlib import Path

import pytest

import attentext

D = "data-folder"  # a data argument the path checks never reach: they come first


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """One TF-IDF run on ag_news_tiny (a second)."""
    out = tmp_path_factory.mktemp("r14-left") / "tf"
    return attentext.train("tfidf-logreg", ag_news_dir, out).run_dir


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """HOME set to a fresh folder; the working folder another one."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


# R14-X1 ------------------------------------------------------------------------------------------


def test_r14_x1_a_misspelt_keyword_names_the_function_called_and_the_closest_one(tmp_path):
    """The TypeError names the public function called and the keyword meant; nothing written."""
    out = tmp_path / "out"
    cases = [
        (lambda: attentext.train("tfidf-logreg", D, out, epoch=2), "train", "epoch", "epochs"),
        (
            lambda: attentext.train("tfidf-logreg", D, out, overwite=True),
            "train",
            "overwite",
            "overwrite",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, epoch=2),
            "distill",
            "epoch",
            "epochs",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, temprature=3),
            "distill",
            "temprature",
            "temperature",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, log_line=False),
            "distill",
            "log_line",
            "log_lines",
        ),
    ]
    for call, called, given, meant in cases:
        with pytest.raises(TypeError) as caught:
            call()
        message = str(caught.value)
        assert message == (
            f"{called}() got an unexpected keyword argument '{given}'; did you mean '{meant}'?"
        )
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_r14_x1_a_keyword_far_from_any_lists_those_taken(tmp_path):
    with pytest.raises(TypeError) as caught:
        attentext.train("tfidf-logreg", D, tmp_path / "out", zzz=1)
    message = str(caught.value)
    assert message.startswith("train() got an unexpected keyword argument 'zzz' (known: ")
    assert "epochs" in message and "overwrite" in message and "\n" not in message
