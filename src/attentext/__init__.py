"""attentext: attention-based text classification you can train, compare, explain and serve.

Importing attentext registers its models with transformers' Auto classes, so that
`transformers.pipeline("text-classification", model=run_dir)` loads any attentext run.
"""

from attentext.api import evaluate, resolve_recipe, summary, train
from attentext.classifier import Classifier, load
from attentext.data import TextDataset, load_text_dataset
from attentext.errors import AttentextError
from attentext.models.registry import register_auto_classes
from attentext.recipes import Recipe, load_recipe
from attentext.vectorizer import WordVectorizer

register_auto_classes()

__version__ = "0.1.0"
__all__ = [
    "AttentextError",
    "Classifier",
    "Recipe",
    "TextDataset",
    "WordVectorizer",
    "evaluate",
    "load",
    "load_recipe",
    "load_text_dataset",
    "resolve_recipe",
    "summary",
    "train",
]
