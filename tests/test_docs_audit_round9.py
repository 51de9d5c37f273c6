"""What a documentation audit (session 66) found the code doing otherwise than its docs say.
Each test failed before its fix."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import run_cli_here

from attentext.recipes import FewShotSpec, load_recipe


def test_the_few_shot_defaults_are_the_shipped_recipes_settings():
    # a recipe of one's own with a `fewshot:` section got threshold 0.9, share 1.0, 1 round and
    # 2,000 texts: the self-training encoder-fewshot.yaml says "does not travel"
    shipped, default = load_recipe("encoder-fewshot").fewshot, FewShotSpec()
    differing = {
        f.name: (getattr(default, f.name), getattr(shipped, f.name))
        for f in dataclasses.fields(FewShotSpec)
        if getattr(default, f.name) != getattr(shipped, f.name)
    }
    assert set(differing) == {"pair_iterations"}, differing  # 0: few-shot training off


@pytest.mark.parametrize(
    "args, named",
    [
        (["--data", "texts.txt"], "--data"),
        (["--check-texts", "10"], "--check-texts"),
        (["--force-int8"], "--force-int8"),
    ],
)
def test_export_refuses_the_int8_check_options_without_int8(tmp_path, args, named):
    # `export RUN --data TEXTS` without --int8 exported fp32 and ignored the texts without a word
    result = run_cli_here("export", tmp_path / "no-run", *args)

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{named} checks the int8 model against fp32; add --int8" in result.stderr


def test_the_data_aware_epochs_note_says_max_steps_sets_the_steps():
    # `train seed-transformer --max-steps 20` printed "training.epochs=40 (~1,200 steps ...)"
    # and trained 20 steps
    from attentext.data.defaults import data_aware
    from attentext.recipes import resolve_recipe

    recipe = resolve_recipe("seed-transformer", overrides=["training.max_steps=20"])
    _, choices = data_aware(recipe, n_train=190, n_labels=4, n_validation=10)

    (epochs,) = [c for c in choices if c.setting == "training.epochs"]
    assert "training.max_steps=20 sets the steps instead" in epochs.why
