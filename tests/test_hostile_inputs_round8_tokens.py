"""Hostile inputs, round 8: special tokens written in a user's text. Each test failed before its fix.

R8-T1  A literal `[SEP]`, `[PAD]`, `[CLS]`, `[MASK]` or `[UNK]` in a text (`<s>`, `</s>`, `<pad>`
       for encoders that have those) was read by the tokenizer as that special token, in training
       and in inference: "great [SEP] awful" got a real separator, "[PAD]" the pad id with
       attention 1; the word models read "[PAD]" as id 0 and "[UNK]" as out-of-vocabulary. Every
       tokenizer attentext makes or loads now reads a user's text as text
       (`text.encoding.SPECIAL_TOKENS_AS_TEXT`: transformers' `split_special_tokens`, given in
       `text.tokenizers.pretrained_tokenizer`, `text.vectorizer.wrap_word_tokenizer` and
       `inference.tokens.load_tokenizer`); a run saves it in tokenizer_config.json, and a run
       saved before gets it when loaded. The [CLS] ... [SEP] a tokenizer adds itself, and the ids
       of a text without special tokens, are unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import AG_NEWS_TINY
from fastapi.testclient import TestClient
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import attentext
from attentext.encoders import resolve_encoder
from attentext.inference import tokens
from attentext.recipes import load_recipe
from attentext.serving import create_app
from attentext.text.encoding import encode, encode_with_offsets
from attentext.text.tokenizers import build_tokenizer
from attentext.text.vectorizer import WordVectorizer
from attentext.text.windows import Chunking, encode_windows

HOSTILE = "great [SEP] awful [PAD] film [CLS] a [MASK] [UNK] plot"
AS_WORDS = "great sep awful pad film cls a mask unk plot"  # how the word models read it
ENCODER_RECIPES = ["encoder-frozen", "encoder-finetune", "hf-frozen-base", "encoder-fewshot"]
WORD_RECIPES = ["seed-transformer", "attention-rnn"]
WORD_SIZES = ["tokenizer.max_tokens=2000", "tokenizer.max_length=64"]  # not `auto`: no data
CONFIG = "tokenizer_config.json"


def _texts(n: int = 60) -> list[str]:
    return pd.read_csv(AG_NEWS_TINY / "train.csv", header=None)[2].astype(str).tolist()[:n]


def _only_added_specials(tokenizer, ids: list[int]) -> None:
    """The special tokens of `ids` are the [CLS] first and [SEP] last the tokenizer adds."""
    special = set(tokenizer.all_special_ids)
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id, ids
    assert not special & set(ids[1:-1]), tokenizer.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("recipe", ENCODER_RECIPES)
def test_r8_t1_a_special_token_written_in_a_text_is_text_to_every_encoder_recipe(recipe):
    tokenizer = build_tokenizer(load_recipe(recipe), [])
    encoded = tokenizer(HOSTILE)
    assert set(encoded["attention_mask"]) == {1}
    _only_added_specials(tokenizer, encoded["input_ids"])
    for truncation in ("head", "tail", "head+tail"):  # training's and inference's one encoder
        (ids,) = encode(tokenizer, [HOSTILE * 30], 128, truncation)
        _only_added_specials(tokenizer, ids)
    explained = encode_with_offsets(tokenizer, HOSTILE, 128, "head")
    words = [HOSTILE[a:b] for a, b in explained.offsets if b > a]
    assert "[SEP]" not in words and "[" in words and "SEP" in "".join(words)


def test_r8_t1_windows_of_a_long_text_hold_no_special_token_of_its_text():
    recipe = load_recipe("encoder-finetune", ["tokenizer.long_text=chunks", "tokenizer.stride=4"])
    tokenizer = build_tokenizer(recipe, [])
    (windows,) = encode_windows(tokenizer, [HOSTILE * 40], 32, Chunking.of(recipe.tokenizer))
    assert len(windows) > 3
    for window in windows:
        _only_added_specials(tokenizer, window)


def test_r8_t1_only_the_special_tokens_written_in_texts_change_their_ids():
    """Byte-identical ids for texts without special tokens; the [CLS] ... [SEP] added unchanged."""
    texts = _texts() + ["", "x", "[ SEP ] [sep] <s> </s> [pad"]
    tokenizer = build_tokenizer(load_recipe("encoder-finetune"), [])
    before = AutoTokenizer.from_pretrained(resolve_encoder("default"), split_special_tokens=False)
    assert encode(tokenizer, texts, 128, "head+tail") == encode(before, texts, 128, "head+tail")
    assert tokenizer(texts)["input_ids"] == before(texts)["input_ids"]
    assert tokenizer(HOSTILE)["input_ids"] != before(HOSTILE)["input_ids"]
    word = build_tokenizer(load_recipe("seed-transformer", WORD_SIZES), texts)
    assert word(texts)["input_ids"] == word(texts, split_special_tokens=False)["input_ids"]
    assert word(HOSTILE)["input_ids"] != word(HOSTILE, split_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("recipe", WORD_RECIPES)
def test_r8_t1_a_literal_pad_or_unk_is_a_word_to_the_word_models(recipe, tmp_path):
    texts = [*_texts(), "the pad and the unk of a mask"]
    tokenizer = build_tokenizer(load_recipe(recipe, WORD_SIZES), texts)
    encoded = tokenizer(HOSTILE)
    assert encoded["input_ids"] == tokenizer(AS_WORDS)["input_ids"]
    assert tokenizer.pad_token_id not in encoded["input_ids"]
    assert set(encoded["attention_mask"]) == {1}
    vectorizer = WordVectorizer(max_tokens=500, output_sequence_length=16).adapt(texts)
    vectorizer.save(str(tmp_path / "vectorizer"))
    for reader in (vectorizer, WordVectorizer.load(str(tmp_path / "vectorizer"))):
        assert reader([HOSTILE]) == reader([AS_WORDS])


def _old_run(run_dir: Path, folder: Path) -> Path:
    """A copy of a run as saved before this fix: its tokenizer_config.json without the setting."""
    run = Path(shutil.copytree(run_dir, folder))
    config = json.loads((run / CONFIG).read_text())
    config.pop("split_special_tokens", None)
    (run / CONFIG).write_text(json.dumps(config))
    return run


def test_r8_t1_a_trained_run_keeps_the_setting_for_pipelines_too(run_dir):
    assert json.loads((run_dir / CONFIG).read_text())["split_special_tokens"] is True
    as_pipeline = AutoTokenizer.from_pretrained(str(run_dir))  # what `pipeline(...)` loads
    assert as_pipeline(HOSTILE)["input_ids"] == as_pipeline(AS_WORDS)["input_ids"]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_r8_t1_a_run_saved_before_reads_a_literal_special_token_as_text(run_dir, tmp_path, backend):
    pytest.importorskip("onnxruntime")
    from attentext.export.onnx import export_onnx

    run = _old_run(run_dir, tmp_path / "old")
    if backend == "onnx":
        export_onnx(run)
    classifier = attentext.load(run, backend=backend)
    hostile = ["oil [PAD] prices [UNK] jump", "[PAD]"]
    plain = ["oil pad prices unk jump", "pad"]
    assert classifier.encode(hostile) == classifier.encode(plain)
    np.testing.assert_allclose(
        classifier.predict_proba(hostile), classifier.predict_proba(plain), atol=1e-6
    )


def test_r8_t1_the_server_reads_a_literal_special_token_as_text(run_dir, tmp_path):
    run = _old_run(run_dir, tmp_path / "old")
    with TestClient(create_app([run])) as client:
        body = {"texts": ["oil [PAD] prices [UNK] jump", "oil pad prices unk jump"], "top_k": 4}
        answer = client.post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text
    hostile, plain = answer.json()["predictions"]
    assert hostile["top_k"] == plain["top_k"]


def _roberta_like(folder: Path) -> Path:
    """A small tokenizer folder with `<s>`, `</s>`, `<pad>` special tokens, saved as transformers
    saved one before this fix (no split_special_tokens in its tokenizer_config.json)."""
    specials = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]
    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(
        _texts() + ["< s > </ pad mask jump"], trainers.WordLevelTrainer(special_tokens=specials)
    )
    raw.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
    )
    wrapped.save_pretrained(str(folder))
    config = json.loads((folder / CONFIG).read_text())
    config.pop("split_special_tokens", None)
    (folder / CONFIG).write_text(json.dumps(config))
    return folder


def test_r8_t1_another_encoders_special_tokens_are_text_when_a_run_of_it_loads(tmp_path):
    folder = _roberta_like(tmp_path / "tokenizer")
    tokenizer = tokens.load_tokenizer(folder)
    (ids,) = encode(tokenizer, ["oil <s> prices </s> jump <pad> <mask>"], 64, "head")
    _only_added_specials(tokenizer, ids)
    assert ids == encode(tokenizer, ["oil < s > prices </ s > jump < pad > < mask >"], 64)[0]


# R8-T2  With special tokens read as text, the "[MASK]" attentext itself writes for a masked word
#        (distillation's noisy copies, the few-shot recipe's noisy pass) was read as "[", "mask",
#        "]": the pretrained teacher and the few-shot encoder no longer saw their mask token.
#        Under `text.encoding.masks_written_as` that one string is the mask token again, exactly
#        as the tokenizer read it before; every other special token in the text stays text.


def test_r8_t2_a_mask_attentext_wrote_is_the_mask_token_as_before_and_nothing_else_is():
    from attentext.text.encoding import masks_written_as
    from attentext.training.distill import MASK, augmented_texts

    source = resolve_encoder("default")
    reading_specials = AutoTokenizer.from_pretrained(source, split_special_tokens=False)
    as_text = AutoTokenizer.from_pretrained(source, split_special_tokens=True)
    texts = pd.read_csv(AG_NEWS_TINY / "train.csv", header=None)[2].tolist()
    noisy = augmented_texts(texts, 1, seed=0, mask_rate=0.3) + [MASK, f"{MASK}{MASK} x{MASK}"]
    assert any(MASK in text for text in noisy)
    for truncation in ("head", "head+tail"):
        before = encode(reading_specials, noisy, 24, truncation)
        with masks_written_as(MASK):
            assert encode(as_text, noisy, 24, truncation) == before
            windows = encode_windows(as_text, noisy, 24, Chunking(stride=0, max_chunks=0))
        assert windows == encode_windows(reading_specials, noisy, 24, Chunking(0, 0))
    with masks_written_as(MASK):
        ids = encode(as_text, [f"oil {MASK} rose [SEP] again"], 32)[0]
    assert as_text.mask_token_id in ids and ids.count(as_text.sep_token_id) == 1


def test_r8_t2_the_teacher_labels_the_noisy_copies_with_its_mask_token(
    monkeypatch, ag_news_dir, tmp_path
):
    from attentext.text.encoding import content_ids
    from attentext.training import distill

    teacher = tmp_path / "teacher"
    attentext.train("seed-transformer", ag_news_dir, teacher, max_steps=2, precision="fp32")
    bert = AutoTokenizer.from_pretrained(resolve_encoder("default"), split_special_tokens=True)
    seen = []

    def labelled(spec, texts, label_names, block=None, teachers=None):  # noqa: ANN001
        seen.append(bert.mask_token_id in content_ids(bert, [f"a {distill.MASK} b"])[0])
        return np.zeros((len(texts), len(label_names)), np.float32), False

    monkeypatch.setattr(distill, "teacher_logits", labelled)
    sets = [f"distill.teacher={teacher}", "distill.augment=1"]
    attentext.train(
        "seed-transformer", ag_news_dir, tmp_path / "student", max_steps=1, overrides=sets
    )
    assert seen == [True]
