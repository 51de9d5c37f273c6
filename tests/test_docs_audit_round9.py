"""What a documentation audit (session 66) found the code doing otherwise than its docs say.
Each test failed before its fix."""

from __future__ import annotations

import dataclasses

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
