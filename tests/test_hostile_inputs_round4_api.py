"""Hostile inputs, round 4: the Python API and the inference backends (docs/reliability.md,
"Hostile inputs, round 4"). Each test failed before its fix.

Findings -> tests
API-1. a run's recipe.yaml emptied, or cut at a line end before its `tokenizer:` section, still
       parsed: the run loaded with the default settings, so a run that reads long texts in
       windows truncated them (another label for a long text), without a word:
       test_a_recipe_yaml_cut_at_a_line_end_is_refused[empty|cut-before-tokenizer],
       test_a_whole_recipe_yaml_loads_as_before (guard)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import attentext
from attentext.errors import RunDirError

LONG = "oil prices " * 3 + "football match goal " * 60


@pytest.fixture(scope="module")
def chunked_run(ag_news_dir, tmp_path_factory) -> Path:
    """A seed-transformer that reads texts in 16-token windows (2 steps: the settings matter)."""
    out = tmp_path_factory.mktemp("round4-api") / "chunks"
    sets = ["tokenizer.long_text=chunks", "tokenizer.max_length=16", "tokenizer.max_chunks=0"]
    result = attentext.train(
        "seed-transformer",
        ag_news_dir,
        out,
        overrides=sets,
        max_steps=2,
        batch_size=8,
        precision="fp32",
    )
    return Path(result.run_dir)


def _cut_recipe(run: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / f"cut-{how}"
    shutil.copytree(run, copy)
    recipe = copy / "recipe.yaml"
    lines = recipe.read_text(encoding="utf-8").splitlines(keepends=True)
    if how == "empty":
        recipe.write_text("", encoding="utf-8")
    else:  # cut at the line end before `tokenizer:`: still valid YAML
        recipe.write_text("".join(lines[: lines.index("tokenizer:\n")]), encoding="utf-8")
    return copy


@pytest.mark.parametrize("how", ["empty", "cut-before-tokenizer"])
def test_a_recipe_yaml_cut_at_a_line_end_is_refused(chunked_run, tmp_path, how):
    damaged = _cut_recipe(chunked_run, tmp_path, how)
    with pytest.raises(RunDirError, match=r"recipe\.yaml (is empty|lacks the section).*damaged"):
        attentext.load(damaged, precision="fp32")


def test_a_whole_recipe_yaml_loads_as_before(chunked_run):
    classifier = attentext.load(chunked_run, precision="fp32")
    assert classifier.chunking is not None
    assert classifier.predict([LONG, ""])[0] in classifier.labels
