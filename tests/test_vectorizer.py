"""WordVectorizer follows Keras' TextVectorization: standardize, split, vocabulary, pad/truncate."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from attentext import WordVectorizer
from attentext.text.vectorizer import fit_word_vectorizer

# word frequencies: the 5, quick 4, fox 3, jumps 2, lazy 1 (no ties, so the order is unambiguous)
CORPUS = [
    "The quick fox jumps",
    "the QUICK fox, the lazy one?",
    "The quick fox jumps! The quick...",
]


def fitted(max_tokens: int = 100, length: int = 8) -> WordVectorizer:
    return WordVectorizer(max_tokens=max_tokens, output_sequence_length=length).adapt(CORPUS)


def test_vocabulary_is_pad_unk_then_words_by_frequency():
    vocab = fitted().get_vocabulary()
    assert vocab[0] == "[PAD]"
    assert vocab[1] == "[UNK]"
    assert vocab[2:6] == ["the", "quick", "fox", "jumps"]
    assert set(vocab[6:]) == {"lazy", "one"}  # both seen once


def test_lowercase_and_punctuation_is_stripped_not_split():
    vec = WordVectorizer(max_tokens=100, output_sequence_length=4).adapt(
        ["U.S. don't stop-over Hello,World"]
    )
    vocab = vec.get_vocabulary()

    assert set(vocab[2:]) == {"us", "dont", "stopover", "helloworld"}
    ids = vec(["u.s. DON'T"], pad_to_max=False)[0]
    assert [vocab[i] for i in ids] == ["us", "dont"]


def test_split_on_any_whitespace():
    vec = WordVectorizer(max_tokens=100, output_sequence_length=4).adapt(
        ["alpha\tbeta\ngamma   delta"]
    )
    assert set(vec.get_vocabulary()[2:]) == {"alpha", "beta", "gamma", "delta"}


def test_max_tokens_counts_pad_and_unk():
    vec = fitted(max_tokens=4)
    assert vec.get_vocabulary() == ["[PAD]", "[UNK]", "the", "quick"]
    assert len(vec.tokenizer) == 4
    # 'fox' fell out of the vocabulary: it is out-of-vocabulary now
    assert vec(["the fox quick"], pad_to_max=False) == [[2, 1, 3]]


def test_unknown_words_map_to_one():
    vec = fitted()
    assert vec(["the zebra quick aardvark"], pad_to_max=False) == [[2, 1, 3, 1]]


def test_output_is_padded_with_zeros_to_output_sequence_length():
    vec = fitted(length=6)
    assert vec(["the quick fox", "lazy"]) == [[2, 3, 4, 0, 0, 0], [6, 0, 0, 0, 0, 0]]


def test_output_is_truncated_beyond_output_sequence_length():
    vec = fitted(length=3)
    assert vec(["the quick fox jumps the quick"]) == [[2, 3, 4]]


def test_empty_text_is_all_padding():
    assert fitted(length=4)([""]) == [[0, 0, 0, 0]]


def test_unfitted_vectorizer_raises():
    with pytest.raises(RuntimeError, match="adapt"):
        WordVectorizer()(["text"])


def test_max_tokens_below_three_is_rejected():
    with pytest.raises(ValueError, match="max_tokens"):
        fit_word_vectorizer(CORPUS, max_tokens=2)


def test_fit_word_vectorizer_pads_with_zero_and_truncates_to_max_length():
    tokenizer = fit_word_vectorizer(CORPUS, max_tokens=100, max_length=5)
    assert tokenizer.pad_token_id == 0
    assert tokenizer.unk_token_id == 1
    assert tokenizer.model_max_length == 5
    encoded = tokenizer(["the quick fox jumps the quick", "lazy"], truncation=True, padding=True)
    assert encoded["input_ids"] == [[2, 3, 4, 5, 2], [6, 0, 0, 0, 0]]
    assert encoded["attention_mask"] == [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_save_and_load_give_identical_ids(tmp_path):
    vec = fitted(length=7)
    texts = ["The quick, quick fox!", "a lazy zebra", "", "the the the the the the the the the"]
    vec.save(str(tmp_path / "vec"))

    loaded = WordVectorizer.load(str(tmp_path / "vec"))

    assert (tmp_path / "vec" / "tokenizer.json").exists()
    assert loaded.get_vocabulary() == vec.get_vocabulary()
    assert loaded.output_sequence_length == 7
    assert loaded(texts) == vec(texts)


def test_saved_vectorizer_loads_with_auto_tokenizer(tmp_path):
    vec = fitted(length=7)
    texts = ["The quick, quick fox!", "a lazy zebra", "the fox jumps over the lazy one"]
    vec.save(str(tmp_path / "vec"))

    auto = AutoTokenizer.from_pretrained(str(tmp_path / "vec"))
    ids = auto(texts, truncation=True, padding="max_length", max_length=7)["input_ids"]

    assert ids == vec(texts)
    assert auto.pad_token == "[PAD]" and auto.unk_token == "[UNK]"
