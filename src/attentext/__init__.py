"""attentext: attention-based text classification you can train, compare, explain and serve.

`import attentext` is light: it loads neither torch, transformers nor scikit-learn. Each public
name is imported the first time it is used (PEP 562), so `attentext --help` answers at once and
a script pays only for what it calls.

attentext's model types are registered with transformers' Auto classes as soon as transformers
is imported (before or after attentext), so that
`transformers.pipeline("text-classification", model=run_dir)` loads any attentext run of a neural
recipe, with the model's raw probabilities (the run's calibration is applied by `attentext.load`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from attentext.auto_classes import register_when_transformers_loads

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "AttentextError": "attentext.errors",
    "Classifier": "attentext.inference.classifier",
    "Recipe": "attentext.recipes",
    "TextDataset": "attentext.data.dataset",
    "WordVectorizer": "attentext.text.vectorizer",
    "auto": "attentext.automl.auto",
    "compare": "attentext.evaluation.evaluate",
    "distill": "attentext.api",
    "ensemble": "attentext.automl.ensemble",
    "evaluate": "attentext.evaluation.evaluate",
    "explain": "attentext.interpret.explain",
    "load": "attentext.inference.classifier",
    "load_recipe": "attentext.recipes",
    "load_text_dataset": "attentext.data.dataset",
    "recalibrate": "attentext.evaluation.recalibrate",
    "recalibrate_labels": "attentext.evaluation.recalibrate_labels",
    "resolve_recipe": "attentext.recipes",
    "set_label_prior": "attentext.evaluation.recalibrate",
    "summary": "attentext.api",
    "train": "attentext.training.run",
    "tune": "attentext.automl.tune",
}
__all__ = [
    "AttentextError",
    "Classifier",
    "Recipe",
    "TextDataset",
    "WordVectorizer",
    "auto",
    "compare",
    "distill",
    "ensemble",
    "evaluate",
    "explain",
    "load",
    "load_recipe",
    "load_text_dataset",
    "recalibrate",
    "recalibrate_labels",
    "resolve_recipe",
    "set_label_prior",
    "summary",
    "train",
    "tune",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on demand
    from attentext.api import distill, summary
    from attentext.automl.auto import auto
    from attentext.automl.ensemble import ensemble
    from attentext.automl.tune import tune
    from attentext.data.dataset import TextDataset, load_text_dataset
    from attentext.errors import AttentextError
    from attentext.evaluation.evaluate import compare, evaluate
    from attentext.evaluation.recalibrate import recalibrate, set_label_prior
    from attentext.evaluation.recalibrate_labels import recalibrate_labels
    from attentext.inference.classifier import Classifier, load
    from attentext.interpret.explain import explain
    from attentext.recipes import Recipe, load_recipe, resolve_recipe
    from attentext.text.vectorizer import WordVectorizer
    from attentext.training.run import train


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'attentext' has no attribute '{name}'")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next access is a plain attribute
    register_when_transformers_loads()  # if that import brought transformers in
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


register_when_transformers_loads()
