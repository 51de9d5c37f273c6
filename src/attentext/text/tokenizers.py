"""The tokenizer of a recipe: a word vectorizer fitted on the training texts, or the pretrained
encoder's own; and loading the one a run directory carries."""

from __future__ import annotations

import functools

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from attentext.encoders import resolve_encoder
from attentext.recipes import AUTO, Recipe
from attentext.text.encoding import SPECIAL_TOKENS_AS_TEXT
from attentext.text.vectorizer import fit_word_vectorizer, word_counts

# transformers' model_max_length when a checkpoint states none (int(1e30))
MODEL_LIMIT_UNSET = 10**9


def build_tokenizer(recipe: Recipe, train_texts: list[str]) -> PreTrainedTokenizerBase:
    """A fresh tokenizer for a recipe: a word vectorizer fitted on train, or the encoder's own."""
    spec = recipe.tokenizer
    if spec.type == "word":
        return fit_word_vectorizer(train_texts, spec.max_tokens, spec.max_length)
    tokenizer = pretrained_tokenizer(resolve_encoder(recipe.model.encoder))
    if spec.max_length != AUTO:  # `auto` is decided from the data when a run starts
        tokenizer.model_max_length = spec.max_length
    return tokenizer


def token_counts(recipe: Recipe, texts: list[str]) -> tuple[list[int], int | None]:
    """Tokens per text as the recipe's tokenizer counts them (words for the word vectorizer,
    pieces with the special tokens for an encoder's), and the most its model reads (None: the
    word models size their positions by the recipe, there is no limit to respect)."""
    if recipe.tokenizer.type == "word":
        return word_counts(texts), None
    tokenizer = pretrained_tokenizer(resolve_encoder(recipe.model.encoder))
    ids = tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
    limit = tokenizer.model_max_length
    return [len(row) for row in ids], limit if limit < MODEL_LIMIT_UNSET else None


@functools.lru_cache(maxsize=4)
def encoder_vocabulary(encoder: str) -> dict[str, int]:
    """The pretrained encoder's own vocabulary (piece -> id), read once per process: the
    data-aware choice and the profile of a run both ask for it. Do not modify it."""
    return pretrained_tokenizer(resolve_encoder(encoder)).get_vocab()


def pretrained_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint or a folder, reading a user's text as text: a "[SEP]" typed
    in it is characters, not the separator (`SPECIAL_TOKENS_AS_TEXT`)."""
    return AutoTokenizer.from_pretrained(source, trust_remote_code=False, **SPECIAL_TOKENS_AS_TEXT)


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a folder (a run directory, or a training work folder); one saved
    before special tokens were read as text is given the setting too."""
    return pretrained_tokenizer(path)
