"""`WordVectorizer`: Keras' TextVectorization rebuilt on the `tokenizers` library.

Keras' defaults are reproduced: lowercase, strip punctuation, split on whitespace, a vocabulary of
the most frequent words of the training texts, id 0 for padding and id 1 for out-of-vocabulary.
Before them, a text is put in Unicode's composed form (NFC) and stripped of characters that draw
nothing (`INVISIBLE_REGEX`), so that a word looks up as it reads (`_standardizer`).
Built on `tokenizers` (Rust) so that it is fast, saves as `tokenizer.json`, and loads back as a
`PreTrainedTokenizerFast` that `Trainer`, `pipeline` and the server use like any HF tokenizer.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from attentext.data.unicode import INVISIBLE
from attentext.errors import DataError
from attentext.text.encoding import SPECIAL_TOKENS_AS_TEXT

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# Keras' DEFAULT_STRIP_REGEX: the ASCII punctuation characters, removed (not replaced by spaces).
PUNCTUATION_REGEX = "[" + "".join("\\" + c for c in string.punctuation) + "]"
# Characters that draw nothing (data/unicode.py): inside or beside a word they made it another word
INVISIBLE_REGEX = f"[{INVISIBLE}]"
# the characters of a text its words are counted from to fit a vocabulary: what tfidf-logreg
# reads of a text at most (its max_chars), far over any text of the suite (newsgroups20's
# longest: 62,978). Whole, one 5 MB text of 50,000 distinct words (a log pasted in, a CSV quote
# never closed) took the places of 2,960 of ag_news_tiny's 2,999 words, and data-aware
# defaults sized the vocabulary by its words (an audit).
VOCABULARY_CHARS = 100_000


def _standardizer() -> normalizers.Normalizer:
    """How a text is made into words: NFC, invisible characters removed, lowercased, ASCII
    punctuation removed (split on whitespace after). Without NFC, `café` typed decomposed (`e`
    + U+0301, as macOS and some web pages write it) was another word than the `café` trained
    on, read as [UNK]; `hel<U+200B>lo` or `<RLM>hello` were not `hello` (an audit). A run keeps
    the normalizer it was trained with in its tokenizer.json."""
    return normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.Replace(Regex(INVISIBLE_REGEX), ""),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(PUNCTUATION_REGEX), ""),
        ]
    )


def vocabulary_texts(texts: Iterable[str]) -> Iterator[str]:
    """`texts` as a vocabulary is counted from: each cut to its first VOCABULARY_CHARS."""
    return (text[:VOCABULARY_CHARS] for text in texts)


def word_frequencies(texts: Iterable[str]) -> Counter:
    """How often each word occurs in `texts`, standardized as the vectorizer reads them, each
    text counted from its first VOCABULARY_CHARS characters, as the vocabulary is."""
    standardize = _standardizer().normalize_str
    return Counter(word for text in vocabulary_texts(texts) for word in standardize(text).split())


def check_holds_a_word(texts: Iterable[str], model: str) -> None:
    """Refuse training texts none of which holds a word the vectorizer reads: texts of ASCII
    punctuation alone (`!!!`, `?.`) are standardized to nothing, so every text was an empty
    token list and the model trained to chance without a word (an audit). The word models'
    twin of tfidf-logreg's check (`TfidfLogRegClassifier._fit_vocabulary`)."""
    standardize = _standardizer().normalize_str
    if not any(standardize(text).split() for text in vocabulary_texts(texts)):
        raise DataError(
            f"no training text holds a word {model} reads: they are ASCII punctuation alone, "
            "which its word vocabulary removes (as Keras' TextVectorization does); add texts "
            "with words"
        )


def word_counts(texts: Iterable[str]) -> list[int]:
    """Words per text, standardized as the vectorizer reads them (its token counts)."""
    standardize = _standardizer().normalize_str
    return [len(standardize(text).split()) for text in texts]


def fit_word_vectorizer(
    texts: Iterable[str], max_tokens: int = 20000, max_length: int = 256
) -> PreTrainedTokenizerFast:
    """Learn a word vocabulary from `texts`, like `TextVectorization(max_tokens).adapt(texts)`.

    `max_tokens` counts padding and [UNK], as in Keras. The returned tokenizer truncates to
    `max_length` tokens and pads with id 0 only when asked (dynamic padding is the collator's job).
    """
    if max_tokens < 3:
        raise ValueError(
            f"max_tokens must be at least 3 (padding, [UNK] and one word), got {max_tokens}"
        )
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = _standardizer()
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_tokens,
        min_frequency=1,
        special_tokens=[PAD_TOKEN, UNK_TOKEN],
        show_progress=False,
    )
    tokenizer.train_from_iterator(vocabulary_texts(texts), trainer=trainer)
    return wrap_word_tokenizer(tokenizer, max_length)


def wrap_word_tokenizer(tokenizer: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    """Wrap a `tokenizers.Tokenizer` as the HF fast tokenizer that models and pipelines expect.
    A "[PAD]" or "[UNK]" written in a text is the word "pad" or "unk" (`SPECIAL_TOKENS_AS_TEXT`),
    as Keras reads it, not id 0 with attention 1 or the out-of-vocabulary id."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        truncation_side="right",
        **SPECIAL_TOKENS_AS_TEXT,
    )


class WordVectorizer:
    """A thin object view of the word tokenizer, for users who think in Keras terms."""

    def __init__(self, max_tokens: int = 20000, output_sequence_length: int = 256) -> None:
        self.max_tokens = max_tokens
        self.output_sequence_length = output_sequence_length
        self.tokenizer: PreTrainedTokenizerFast | None = None

    def adapt(self, texts: Iterable[str]) -> WordVectorizer:
        """Learn the vocabulary from `texts` (most frequent words first)."""
        self.tokenizer = fit_word_vectorizer(texts, self.max_tokens, self.output_sequence_length)
        return self

    def _fitted(self) -> PreTrainedTokenizerFast:
        if self.tokenizer is None:
            raise RuntimeError("WordVectorizer is not fitted; call adapt(texts) first")
        return self.tokenizer

    def get_vocabulary(self) -> list[str]:
        """Tokens in id order: '[PAD]', '[UNK]', then words by decreasing frequency."""
        vocab = self._fitted().get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def __call__(self, texts: list[str], pad_to_max: bool = True) -> list[list[int]]:
        """Token ids per text, truncated, and padded to `output_sequence_length` like Keras."""
        encoded = self._fitted()(
            texts,
            truncation=True,
            max_length=self.output_sequence_length,
            padding="max_length" if pad_to_max else False,
        )
        return encoded["input_ids"]

    def save(self, directory: str) -> None:
        self._fitted().save_pretrained(directory)

    @classmethod
    def load(cls, directory: str) -> WordVectorizer:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(directory, **SPECIAL_TOKENS_AS_TEXT)
        vectorizer = cls(len(tokenizer), tokenizer.model_max_length)
        vectorizer.tokenizer = tokenizer
        return vectorizer
