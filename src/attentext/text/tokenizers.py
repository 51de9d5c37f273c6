"""The tokenizer of a recipe: a word vectorizer fitted on the training texts, or the pretrained
encoder's own; and loading the one a run directory carries."""

from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from attentext.encoders import resolve_encoder
from attentext.recipes import Recipe
from attentext.text.vectorizer import fit_word_vectorizer


def build_tokenizer(recipe: Recipe, train_texts: list[str]) -> PreTrainedTokenizerBase:
    """A fresh tokenizer for a recipe: a word vectorizer fitted on train, or the encoder's own."""
    spec = recipe.tokenizer
    if spec.type == "word":
        return fit_word_vectorizer(train_texts, spec.max_tokens, spec.max_length)
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(recipe.model.encoder))
    tokenizer.model_max_length = spec.max_length
    return tokenizer


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a folder (a run directory, or a training work folder)."""
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)
