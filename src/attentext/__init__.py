"""attentext: attention-based text classification you can train, compare, explain and serve.

`import attentext` is light: it loads neither torch, transformers nor scikit-learn. Each public
name is imported the first time it is used (PEP 562), so `attentext --help` answers at once and
a script pays only for what it calls.

attentext's model types are registered with transformers' Auto classes as soon as transformers
is imported (before or after attentext), so that
`transformers.pipeline("text-classification", model=run_dir)` loads any attentext run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from attentext.auto_classes import register_when_transformers_loads

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "AttentextError": "attentext.errors",
    "Classifier": "attentext.classifier",
    "Recipe": "attentext.recipes",
    "TextDataset": "attentext.data",
    "WordVectorizer": "attentext.vectorizer",
    "compare": "attentext.api",
    "evaluate": "attentext.api",
    "load": "attentext.classifier",
    "load_recipe": "attentext.recipes",
    "load_text_dataset": "attentext.data",
    "resolve_recipe": "attentext.api",
    "summary": "attentext.api",
    "train": "attentext.api",
}
__all__ = [
    "AttentextError",
    "Classifier",
    "Recipe",
    "TextDataset",
    "WordVectorizer",
    "compare",
    "evaluate",
    "load",
    "load_recipe",
    "load_text_dataset",
    "resolve_recipe",
    "summary",
    "train",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on demand
    from attentext.api import compare, evaluate, resolve_recipe, summary, train
    from attentext.classifier import Classifier, load
    from attentext.data import TextDataset, load_text_dataset
    from attentext.errors import AttentextError
    from attentext.recipes import Recipe, load_recipe
    from attentext.vectorizer import WordVectorizer


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'attentext' has no attribute '{name}'")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


register_when_transformers_loads()
