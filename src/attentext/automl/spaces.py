"""A recipe's search space (its `search:` section) as Optuna suggestions, and trial recipes.

The space is declared beside the recipe, in its YAML, and checked when the recipe loads
(`recipes.SearchParam`): a recipe file carries its own. A recipe without one (a run's
recipe.yaml, which leaves the section out) takes the built-in recipe's of the same name and
model type. Nothing here imports Optuna: a trial is anything with `suggest_float`,
`suggest_int` and `suggest_categorical`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from attentext.errors import RecipeError
from attentext.models.registry import model_family
from attentext.recipes import (
    Recipe,
    SearchParam,
    builtin_recipe_names,
    load_recipe,
    recipe_from_dict,
)


def search_space(recipe: Recipe) -> dict[str, SearchParam]:
    """The settings to search: the recipe's own `search:`, else its built-in namesake's."""
    space = recipe.search
    if not space and recipe.name in builtin_recipe_names():
        builtin = load_recipe(recipe.name)
        if builtin.model.type == recipe.model.type:
            space = builtin.search
    if not space:
        raise RecipeError(
            f"recipe {recipe.name} declares no search: section; add one, e.g. search: "
            "{training.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}} (the built-in "
            "recipes have theirs: see src/attentext/recipes/)"
        )
    return {path: _family_checked(param, recipe) for path, param in space.items()}


def _family_checked(param: SearchParam, recipe: Recipe) -> SearchParam:
    """A searched model option checked by its family now, not in the first trial: each choice,
    or both ends of a range (a range of a float option is searched as floats, `{low: 0, high: 1}`
    included); other settings were checked when the recipe loaded."""
    if not param.path.startswith("model.options."):
        return param
    name = param.path.split(".", 2)[2]
    family = model_family(recipe.model.type)
    if param.integer and isinstance(family.option_default(name), float):
        param = dataclasses.replace(param, integer=False)
    values = param.choices or (param.low, param.high)
    for value in values:
        if not param.choices and not param.integer:
            value = float(value)
        try:
            family.check_options({**recipe.model.options, name: value})
        except RecipeError as err:
            raise RecipeError(f"{recipe.name}: search.{param.path}: {err}") from None
    return param


def suggest(trial: Any, space: dict[str, SearchParam]) -> dict[str, Any]:
    """One value per searched setting, drawn by the trial's sampler."""
    values = {}
    for path, param in space.items():
        if param.choices:
            values[path] = trial.suggest_categorical(path, list(param.choices))
        elif param.integer:
            step = int(param.step or 1)
            values[path] = trial.suggest_int(
                path, int(param.low), int(param.high), step=step, log=param.log
            )
        else:
            values[path] = trial.suggest_float(
                path, float(param.low), float(param.high), step=param.step, log=param.log
            )
    return values


def with_values(recipe: Recipe, values: dict[str, Any]) -> Recipe:
    """The recipe with each searched setting set (checked as any recipe is); the search section
    stays, so the best trial's recipe can be tuned again."""
    raw = recipe.to_dict(search=True)
    for path, value in values.items():
        node = raw
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return recipe_from_dict(raw, recipe.name)


def shown_values(values: dict[str, Any]) -> str:
    """`learning_rate=0.0031 dropout=0.27 ...`: a trial's settings on one line, by last name."""
    return " ".join(f"{path.rsplit('.', 1)[-1]}={_short(value)}" for path, value in values.items())


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
