"""Pretrained encoders: offline loading, clear errors, the feature cache, frozen weights, the
learning-rate schedule, save -> load -> predict, truncation strategies and parameter counts.

Everything runs on the packaged all-MiniLM-L6-v2 (22.7M parameters) and ag_news_tiny, offline, in
fp32, with 32-token inputs; each trained run is a module-scoped fixture shared by several tests.
The feature cache goes to a temporary folder (never ~/.cache).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from conftest import AG_NEWS_LABELS
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

import attentext
import attentext.training.features
from attentext.encoders import encoder_fingerprint, resolve_encoder
from attentext.errors import ModelSourceError, RecipeError
from attentext.text.encoding import encode
from attentext.training.features import cache_key

REPO = Path(__file__).resolve().parents[1]
SHORT = ["tokenizer.max_length=32"]  # 32-token inputs keep MiniLM fast on a small CPU
MISSING_HUB_NAME = "some-org/not-a-model-xyz"
HEAD_PARAMETERS = 384 * 4 + 4  # Linear(384 -> 4): the only trainable weights of hf-frozen-base
# encoder-frozen's head reads the mean-pooled states of the last 4 layers: Linear(4 * 384 -> 4)
FROZEN_HEAD_PARAMETERS = 4 * 384 * 4 + 4

TEXTS = [  # all well under 32 tokens, so truncation plays no part in the round trip
    "Oil prices jump as OPEC cuts output",
    "The Yankees beat the Red Sox 5-3",
    "NASA telescope spots water on a distant planet",
    "Rebels attack an army base near the capital",
]


def _train(recipe: str, data: Path, out: Path, overrides: list[str] = (), **options):
    options.setdefault("precision", "fp32")
    options.setdefault("val_fraction", 0.0)  # splits: train and test only
    return attentext.train(recipe, data, out, overrides=[*SHORT, *overrides], **options)


def _packaged_weights() -> dict[str, torch.Tensor]:
    return load_file(str(Path(resolve_encoder("default")) / "model.safetensors"))


def _log_entries(run: Path) -> list[dict]:
    lines = (run / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _softmax_logits(run: Path, texts: list[str]) -> np.ndarray:
    """Class probabilities the plain transformers way: Auto classes on the run directory."""
    model = AutoModelForSequenceClassification.from_pretrained(str(run)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(run))
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**batch).logits, dim=-1).numpy()


# ---------------------------------------------------------------------------------------------
# Fixtures: an isolated feature cache and the trained runs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def feature_cache(tmp_path_factory):
    """attentext's feature cache in a fresh folder for this module (cached_features reads
    `attentext.training.features.CACHE_DIR` at call time when no cache_dir is given; setting
    ATTENTEXT_CACHE instead moves the other caches too)."""
    folder = tmp_path_factory.mktemp("feature-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attentext.training.features, "CACHE_DIR", folder)
        yield folder


@pytest.fixture(scope="module")
def frozen_first(feature_cache, ag_news_dir, tmp_path_factory):
    """The first encoder-frozen run of the module on ag_news_tiny: every split's features are
    computed. 30 head epochs (the recipe's default) cost little on cached features."""
    out = tmp_path_factory.mktemp("frozen") / "first"
    return _train("encoder-frozen", ag_news_dir, out, epochs=30)


@pytest.fixture(scope="module")
def frozen_second(frozen_first, ag_news_dir, tmp_path_factory):
    """The same run again: every split's features come from the cache."""
    out = tmp_path_factory.mktemp("frozen") / "second"
    return _train("encoder-frozen", ag_news_dir, out, epochs=30)


@pytest.fixture(scope="module")
def frozen_run(frozen_first) -> Path:
    return Path(frozen_first.run_dir)


def _subset(source: Path, destination: Path, n_train: int = 48, n_test: int = 16) -> Path:
    """The first rows of ag_news_tiny in the same format (cheap runs for cache-key checks)."""
    destination.mkdir(parents=True)
    shutil.copy(source / "classes.txt", destination / "classes.txt")
    for name, n in (("train.csv", n_train), ("test.csv", n_test)):
        lines = (source / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (destination / name).write_text("".join(lines[:n]), encoding="utf-8")
    return destination


@pytest.fixture(scope="module")
def small_data(ag_news_dir, tmp_path_factory) -> Path:
    return _subset(ag_news_dir, tmp_path_factory.mktemp("data") / "ag_news_small")


@pytest.fixture(scope="module")
def small_base(feature_cache, small_data, tmp_path_factory):
    """encoder-frozen on the small subset: the reference each cache-miss check changes one thing of."""
    out = tmp_path_factory.mktemp("frozen") / "small-base"
    return _train("encoder-frozen", small_data, out, epochs=1)


@pytest.fixture(scope="module")
def encoder_copy(tmp_path_factory) -> Path:
    """A local copy of the packaged MiniLM whose config.json has one extra, harmless key."""
    folder = tmp_path_factory.mktemp("encoders") / "minilm-copy"
    shutil.copytree(resolve_encoder("default"), folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["attentext_test"] = 1
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local_encoder_run(small_base, encoder_copy, small_data, tmp_path_factory):
    """encoder-frozen with `model.encoder=<local folder>` (same weights as the default)."""
    out = tmp_path_factory.mktemp("frozen") / "local-encoder"
    return _train("encoder-frozen", small_data, out, [f"model.encoder={encoder_copy}"], epochs=1)


@pytest.fixture(scope="module")
def hf_frozen_run(feature_cache, ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hf") / "hf-frozen-base"
    return Path(_train("hf-frozen-base", ag_news_dir, out, max_steps=3, batch_size=8).run_dir)


@pytest.fixture(scope="module")
def finetune_run(feature_cache, ag_news_dir, tmp_path_factory):
    """encoder-finetune for 10 steps of 8, logging the learning rate at every step."""
    out = tmp_path_factory.mktemp("finetune") / "ten-steps"
    return _train(
        "encoder-finetune",
        ag_news_dir,
        out,
        ["training.logging_steps=1"],
        max_steps=10,
        batch_size=8,
    )


# ---------------------------------------------------------------------------------------------
# 1. The default encoder loads offline; a local folder works as model.encoder
# ---------------------------------------------------------------------------------------------


def test_default_encoder_is_a_complete_local_checkpoint():
    import huggingface_hub.constants

    assert os.environ.get("HF_HUB_OFFLINE") == "1" and huggingface_hub.constants.HF_HUB_OFFLINE
    folder = Path(resolve_encoder("default"))
    assert folder.is_dir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (folder / name).is_file(), name
    assert resolve_encoder("") == resolve_encoder(None) == str(folder)


def test_default_encoder_loads_with_auto_classes_offline():
    folder = resolve_encoder("default")
    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)

    assert model.config.model_type == "bert"
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (384, 6)
    assert 22_000_000 < sum(p.numel() for p in model.parameters()) < 23_000_000
    ids = tokenizer("Hello World")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "hello", "world", "[SEP]"]
    with torch.no_grad():
        hidden = model(**tokenizer(["Hello World"], return_tensors="pt")).last_hidden_state
    assert hidden.shape == (1, 4, 384) and torch.isfinite(hidden).all()


def test_local_folder_resolves_to_itself(encoder_copy):
    assert resolve_encoder(str(encoder_copy)) == str(encoder_copy)
    assert AutoConfig.from_pretrained(str(encoder_copy)).attentext_test == 1


def test_local_encoder_folder_trains_like_the_default(local_encoder_run, small_base, encoder_copy):
    run = Path(local_encoder_run.run_dir)
    assert (run / "attentext.json").is_file()
    assert f"encoder: {encoder_copy}" in (run / "recipe.yaml").read_text(encoding="utf-8")
    # The folder's config went into the model's config...
    assert json.loads((run / "config.json").read_text())["encoder"]["attentext_test"] == 1
    # ... and its weights are MiniLM's: same features, same seed -> the same trained head.
    local = load_file(str(run / "model.safetensors"))
    default = load_file(str(Path(small_base.run_dir) / "model.safetensors"))
    assert local.keys() == default.keys()
    for key in local:
        torch.testing.assert_close(local[key], default[key], rtol=0, atol=1e-6, msg=key)
    assert local_encoder_run.metrics["test"] == small_base.metrics["test"]


# ---------------------------------------------------------------------------------------------
# 2. Clear errors for checkpoints that cannot be loaded
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/nonexistent/ckpt", "checkpoint folder not found"),
        (MISSING_HUB_NAME, "cannot load this checkpoint"),
    ],
)
def test_unloadable_encoder_names_raise_one_line_errors(name, expected):
    with pytest.raises(ModelSourceError) as caught:
        resolve_encoder(name)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(name) and expected in message
    assert isinstance(caught.value, attentext.AttentextError)


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelSourceError, match="no config.json") as caught:
        resolve_encoder(str(tmp_path))
    assert "\n" not in str(caught.value)


def test_cli_reports_an_unknown_encoder_in_one_line(ag_news_dir, tmp_path):
    from conftest import run_cli_here

    result = run_cli_here(
        "train", "encoder-frozen", "--data", ag_news_dir, "--output", tmp_path / "run",
        "--set", f"model.encoder={MISSING_HUB_NAME}",
    )  # fmt: skip

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    assert MISSING_HUB_NAME in error_lines[0] and "cannot load this checkpoint" in error_lines[0]
    assert not (tmp_path / "run").exists()


def test_a_corrected_run_after_an_unknown_encoder_succeeds(small_base, small_data, tmp_path):
    """The failed run leaves no unfinished run that blocks the corrected command."""
    out = tmp_path / "run"
    with pytest.raises(ModelSourceError):
        _train("encoder-frozen", small_data, out, [f"model.encoder={MISSING_HUB_NAME}"])

    result = _train("encoder-frozen", small_data, out, epochs=1)  # features come from the cache

    assert (Path(result.run_dir) / "attentext.json").is_file()


# ---------------------------------------------------------------------------------------------
# 3. The feature cache
# ---------------------------------------------------------------------------------------------


def test_first_run_computes_every_split(frozen_first, feature_cache):
    metrics = frozen_first.metrics
    assert metrics["cache_hits"] == []
    assert metrics["extraction_seconds"] > 0
    assert metrics["extraction_precision"] == "fp32"
    assert len(list(feature_cache.glob("*.safetensors"))) >= 2  # train and test, in the tmp cache


def test_identical_run_serves_every_split_from_cache(frozen_first, frozen_second, feature_cache):
    second = frozen_second.metrics
    assert sorted(second["cache_hits"]) == ["test", "train"]
    assert second["extraction_seconds"] < frozen_first.metrics["extraction_seconds"]
    # Same features, same seed: the same model.
    first_run, second_run = Path(frozen_first.run_dir), Path(frozen_second.run_dir)
    first, again = (load_file(str(r / "model.safetensors")) for r in (first_run, second_run))
    for key in ("head.classifier.weight", "head.classifier.bias"):
        torch.testing.assert_close(first[key], again[key], rtol=0, atol=1e-6)
    assert second["test"]["accuracy"] == frozen_first.metrics["test"]["accuracy"]


def _modified_copy(source: Path, destination: Path) -> Path:
    """ag_news_tiny with one train text changed; test.csv and classes.txt unchanged."""
    shutil.copytree(source, destination)
    with open(source / "train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[0][2] = rows[0][2] + " An extra sentence changes this row."
    rows[0][1] = "Changed"
    with open(destination / "train.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    return destination


@pytest.mark.parametrize(
    ("change", "overrides", "expected_hits"),
    [
        ("max_length", ["tokenizer.max_length=48"], []),
        ("pooling", ["model.options.pooling=cls"], []),
        ("pooling_layers", ["model.options.pooling_layers=2"], []),
        ("truncation", ["tokenizer.truncation=head"], []),
        ("data", [], ["test"]),
    ],
)
def test_cache_misses_when_an_input_changes(
    small_base, small_data, tmp_path, feature_cache, change, overrides, expected_hits
):
    # (truncation matters at 32 tokens: most ag_news_tiny texts are longer than that)
    assert small_base.metrics["cache_hits"] == []  # the reference's features are in the cache
    data = small_data
    if change == "data":
        data = _modified_copy(small_data, tmp_path / "ag_news_modified")
    before = set(feature_cache.glob("*.safetensors"))

    result = _train("encoder-frozen", data, tmp_path / "run", overrides, epochs=1)

    assert sorted(result.metrics["cache_hits"]) == expected_hits
    assert result.metrics["extraction_seconds"] > 0
    written = set(feature_cache.glob("*.safetensors")) - before
    assert len(written) == 2 - len(expected_hits)


def test_cache_misses_for_another_encoder(local_encoder_run):
    """A local folder whose config.json differs computes its own features."""
    assert local_encoder_run.metrics["cache_hits"] == []
    assert local_encoder_run.metrics["extraction_seconds"] > 0


def test_encoder_fingerprint_follows_the_checkpoint_files(encoder_copy, tmp_path):
    default = resolve_encoder("default")
    # A folder of the very same files has the same fingerprint (its features can be shared)...
    same = tmp_path / "same"
    same.mkdir()
    for item in Path(default).iterdir():
        (same / item.name).symlink_to(item)
    assert encoder_fingerprint(str(same)) == encoder_fingerprint(default)
    # ... one config key more gives another fingerprint, and so another cache key.
    assert encoder_fingerprint(str(encoder_copy)) != encoder_fingerprint(default)
    parts = {
        "tokenizer": "t",
        "max_length": 32,
        "truncation": "head",
        "pooling": "mean",
        "data": "d",
    }
    assert cache_key(encoder=encoder_fingerprint(str(encoder_copy)), **parts) != cache_key(
        encoder=encoder_fingerprint(default), **parts
    )
    assert cache_key(encoder="x", **parts) == cache_key(**parts, encoder="x")
    # Hub names are fingerprinted by name.
    assert encoder_fingerprint("org/a") != encoder_fingerprint("org/b")


def test_encoder_fingerprint_changes_when_deep_weights_change(tmp_path):
    folder = tmp_path / "minilm-edited"
    shutil.copytree(resolve_encoder("default"), folder)
    weights = folder / "model.safetensors"
    before = encoder_fingerprint(str(folder))
    # Edit the last encoder layer in place: same header, same size, different values.
    with open(weights, "r+b") as handle:
        header_size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(header_size))
        start, end = header["encoder.layer.5.output.dense.weight"]["data_offsets"]
        offset = 8 + header_size + start
        handle.seek(offset)
        values = np.frombuffer(handle.read(end - start), dtype=np.float32).copy()
        handle.seek(offset)
        handle.write((values + 0.05).astype(np.float32).tobytes())
    edited = load_file(str(weights))["encoder.layer.5.output.dense.weight"]
    original = _packaged_weights()["encoder.layer.5.output.dense.weight"]
    assert not torch.equal(edited, original)

    assert encoder_fingerprint(str(folder)) != before


# ---------------------------------------------------------------------------------------------
# 4. Frozen weights stay bit-identical; the head trains
# ---------------------------------------------------------------------------------------------


def _assert_encoder_unchanged(saved: dict, prefix: str, expected_keys: set[str]) -> None:
    packaged = _packaged_weights()
    stored = {k.removeprefix(prefix) for k in saved if k.startswith(prefix)}
    assert stored == expected_keys
    for key in expected_keys:
        assert torch.equal(saved[prefix + key], packaged[key]), key


def _fresh_model(recipe_name: str, overrides: list[str] = ()):
    """The model `train` builds for this recipe, before any step (same seed)."""
    from transformers import set_seed

    from attentext.models.registry import build_model
    from attentext.text.tokenizers import build_tokenizer

    recipe = attentext.resolve_recipe(recipe_name, overrides=[*SHORT, *overrides])
    set_seed(recipe.training.seed)
    tokenizer = build_tokenizer(recipe, [])
    return build_model(recipe.model, tokenizer, AG_NEWS_LABELS, recipe.tokenizer.max_length)


def test_encoder_frozen_keeps_encoder_weights_and_trains_the_head(frozen_run, frozen_first):
    saved = load_file(str(frozen_run / "model.safetensors"))
    packaged = _packaged_weights()
    # mean pooling: no pooler; position_ids is a buffer, not a weight
    expected = {
        k for k in packaged if not k.startswith("pooler.") and k != "embeddings.position_ids"
    }
    _assert_encoder_unchanged(saved, "encoder.", expected)
    assert set(saved) - {f"encoder.{k}" for k in expected} == {
        "head.classifier.weight", "head.classifier.bias"
    }  # fmt: skip

    fresh = _fresh_model("encoder-frozen").state_dict()
    again = _fresh_model("encoder-frozen").state_dict()
    for key in ("head.classifier.weight", "head.classifier.bias"):
        assert torch.equal(fresh[key], again[key])  # the comparison below means something
        assert not torch.equal(saved[key], fresh[key]), key
    assert saved["head.classifier.bias"].abs().sum() > 0  # initialized at zero, then trained
    assert frozen_first.metrics["trainable_parameters"] == FROZEN_HEAD_PARAMETERS


def test_hf_frozen_base_keeps_base_weights_and_trains_the_classifier(hf_frozen_run):
    metrics = json.loads((hf_frozen_run / "metrics.json").read_text())
    assert metrics["global_steps"] == 3
    assert metrics["trainable_parameters"] == HEAD_PARAMETERS
    saved = load_file(str(hf_frozen_run / "model.safetensors"))
    packaged = _packaged_weights()
    expected = {k for k in packaged if k != "embeddings.position_ids"}  # the pooler is used here
    _assert_encoder_unchanged(saved, "bert.", expected)
    assert set(saved) - {f"bert.{k}" for k in expected} == {"classifier.weight", "classifier.bias"}

    fresh = _fresh_model("hf-frozen-base").state_dict()
    again = _fresh_model("hf-frozen-base").state_dict()
    for key in ("classifier.weight", "classifier.bias"):
        assert torch.equal(fresh[key], again[key])
        assert not torch.equal(saved[key], fresh[key]), key


# ---------------------------------------------------------------------------------------------
# 5. Learning-rate schedule of encoder-finetune: 10% linear warmup, then linear decay
# ---------------------------------------------------------------------------------------------


def _expected_learning_rates(peak: float, warmup_ratio: float, steps: int) -> list[float]:
    """The learning rate each optimizer step uses under get_linear_schedule_with_warmup."""
    warmup = transformers.TrainingArguments(
        output_dir="unused", warmup_steps=warmup_ratio, report_to="none"
    ).get_warmup_steps(steps)
    assert warmup == math.ceil(warmup_ratio * steps)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, warmup, steps)
    rates = []
    for _ in range(steps):
        rates.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    return rates


def test_finetune_learning_rate_warms_up_then_decays_linearly(finetune_run):
    run = Path(finetune_run.run_dir)
    steps = [e for e in _log_entries(run) if "learning_rate" in e]
    assert [e["step"] for e in steps] == list(range(1, 11))
    rates = [e["learning_rate"] for e in steps]

    assert rates == pytest.approx(_expected_learning_rates(3e-5, 0.1, 10), rel=1e-6, abs=1e-12)
    # In words: up from 0 to the peak during warmup (1 of 10 steps), then down in equal steps.
    assert rates[0] == 0.0 and max(rates) == pytest.approx(3e-5)
    peak = rates.index(max(rates))
    decay = np.diff(rates[peak:])
    assert (decay < 0).all() and np.allclose(decay, decay[0])
    assert rates[-1] + decay[0] == pytest.approx(0.0, abs=1e-12)  # reaches 0 after the last step
    assert finetune_run.metrics["trainable_parameters"] == finetune_run.metrics["total_parameters"]


# ---------------------------------------------------------------------------------------------
# 6. Save -> load -> predict
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["frozen", "finetune"])
def test_loaded_run_predicts_like_plain_transformers(which, frozen_run, finetune_run):
    run = frozen_run if which == "frozen" else Path(finetune_run.run_dir)
    classifier = attentext.load(run, precision="fp32")
    assert classifier.labels == AG_NEWS_LABELS

    probabilities = classifier.predict_proba(TEXTS)

    assert probabilities.shape == (len(TEXTS), 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probabilities, _softmax_logits(run, TEXTS), rtol=1e-4, atol=1e-6)
    model = AutoModelForSequenceClassification.from_pretrained(str(run))
    assert type(model).__name__ == "EncoderClassifierForSequenceClassification"


@pytest.mark.parametrize("which", ["frozen", "finetune"])
def test_transformers_pipeline_returns_label_names(which, frozen_run, finetune_run):
    run = frozen_run if which == "frozen" else Path(finetune_run.run_dir)
    classify = transformers.pipeline("text-classification", model=str(run), device="cpu")
    results = classify(TEXTS)
    classifier = attentext.load(run, precision="fp32")
    probabilities = classifier.predict_proba(TEXTS)

    assert [r["label"] for r in results] == classifier.predict(TEXTS)
    assert all(r["label"] in AG_NEWS_LABELS for r in results)
    assert [r["score"] for r in results] == pytest.approx(probabilities.max(axis=1), abs=1e-4)


def test_loaded_run_truncates_long_texts_as_in_training(frozen_run, ag_news_dir):
    """Prediction cuts long texts the way training did (head+tail here), not always the head."""
    with open(ag_news_dir / "test.csv", newline="", encoding="utf-8") as handle:
        texts = [f"{row[1]} {row[2]}" for row in csv.reader(handle)]
    classifier = attentext.load(frozen_run, precision="fp32")
    tokenizer = classifier.tokenizer
    texts = [t for t in texts if len(tokenizer(t)["input_ids"]) > 48][:8]  # cut at 32 tokens
    assert len(texts) == 8
    truncation = classifier.truncation  # from the run's recipe.yaml
    assert truncation == "head+tail"
    ids = encode(tokenizer, texts, 32, truncation)
    assert all(len(x) == 32 for x in ids)
    with torch.no_grad():
        expected = torch.cat(
            [classifier.model(input_ids=torch.tensor([x])).logits for x in ids]
        ).numpy()

    np.testing.assert_allclose(classifier.logits(texts), expected, rtol=1e-4, atol=1e-5)
    # and the strategy shows: cutting only the head gives other logits for these texts
    with torch.no_grad():
        head_only = torch.cat(
            [
                classifier.model(input_ids=torch.tensor([x])).logits
                for x in encode(tokenizer, texts, 32, "head")
            ]
        ).numpy()
    assert not np.allclose(head_only, expected, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# 7. A tiny run beats chance
# ---------------------------------------------------------------------------------------------


def test_frozen_encoder_beats_chance(frozen_first):
    """MiniLM features + a linear head, 30 epochs on 200 texts: well above chance (0.25) on the
    80 test texts."""
    test = frozen_first.metrics["test"]
    assert test["n_examples"] == 80
    assert test["accuracy"] > 0.6  # measured 0.76-0.80 over three seeds; chance is 0.25


# ---------------------------------------------------------------------------------------------
# 8. Truncation strategies
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_encoder("default"))


@pytest.fixture(scope="module")
def words(bert_tokenizer) -> list[str]:
    """60 distinct lowercase words that are single WordPiece tokens."""
    vocab = sorted(
        w
        for w in bert_tokenizer.get_vocab()
        if w.isascii() and w.isalpha() and w.islower() and len(w) > 4
    )
    chosen = vocab[:: len(vocab) // 60][:60]
    assert len(set(chosen)) == 60
    return chosen


@pytest.mark.parametrize("max_length", [16, 17])
def test_truncation_strategies_keep_the_right_words(bert_tokenizer, words, max_length):
    ids = bert_tokenizer.convert_tokens_to_ids(words)
    cls, sep = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id
    text = " ".join(words)
    budget = max_length - 2
    head_n = budget // 2

    encoded = {
        strategy: encode(bert_tokenizer, [text], max_length, strategy)[0]
        for strategy in ("head", "tail", "head+tail")
    }

    for strategy, got in encoded.items():
        assert len(got) == max_length, strategy
        assert got[0] == cls and got[-1] == sep, strategy
    assert encoded["head"] == [cls, *ids[:budget], sep]
    assert encoded["tail"] == [cls, *ids[-budget:], sep]
    assert encoded["head+tail"] == [cls, *ids[:head_n], *ids[-(budget - head_n) :], sep]
    decoded = bert_tokenizer.decode(encoded["head+tail"], skip_special_tokens=True).split()
    assert decoded[0] == words[0] and decoded[-1] == words[-1]


def test_short_texts_are_not_truncated(bert_tokenizer, words):
    text = " ".join(words[:5])
    full = bert_tokenizer(text)["input_ids"]
    for strategy in ("head", "tail", "head+tail"):
        assert encode(bert_tokenizer, [text], 16, strategy) == [full]
    # exactly at the limit: kept whole as well
    at_limit = " ".join(words[:14])
    for strategy in ("head", "tail", "head+tail"):
        assert encode(bert_tokenizer, [at_limit], 16, strategy) == [
            bert_tokenizer(at_limit)["input_ids"]
        ]


def test_no_texts_encode_to_no_rows(bert_tokenizer):
    """An empty batch was the tokenizer's IndexError (self-training that took no text)."""
    for strategy in ("head", "tail", "head+tail"):
        assert encode(bert_tokenizer, [], 16, strategy) == []


# ---------------------------------------------------------------------------------------------
# 9. Parameter counts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "pooler", "head"),
    [("hf-frozen-base", True, HEAD_PARAMETERS), ("encoder-frozen", False, FROZEN_HEAD_PARAMETERS)],
)
def test_summary_counts_only_the_head_as_trainable(recipe, pooler, head):
    summary = attentext.summary(recipe)

    assert summary.trainable == head
    assert (HEAD_PARAMETERS, FROZEN_HEAD_PARAMETERS) == (1540, 6148)
    assert summary.total > 22_000_000
    encoder = sum(
        t.numel()
        for k, t in _packaged_weights().items()
        if k != "embeddings.position_ids" and (pooler or not k.startswith("pooler."))
    )
    assert summary.total == encoder + head
    assert summary.non_trainable == encoder


# ---------------------------------------------------------------------------------------------
# 10. Pooling several layers
# ---------------------------------------------------------------------------------------------


def test_pooling_layers_concatenates_each_layers_mean_pooled_states():
    from attentext.models.encoder_classifier import pool

    one = _fresh_model("encoder-frozen", ["model.options.pooling_layers=1"]).eval()
    three = _fresh_model("encoder-frozen", ["model.options.pooling_layers=3"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder("default"))
    batch = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")  # two lengths: padding counts

    with torch.no_grad():
        last, _ = one.pooled(batch["input_ids"], batch["attention_mask"])
        features, outputs = three.pooled(batch["input_ids"], batch["attention_mask"])

    assert three.head.classifier.in_features == 3 * 384
    assert features.shape == (2, 3 * 384)
    torch.testing.assert_close(features[:, -384:], last)  # the same encoder: its last layer
    third_from_last = pool(outputs.hidden_states[-3], batch["attention_mask"], "mean")
    torch.testing.assert_close(features[:, :384], third_from_last)
    assert not torch.allclose(features[:, :384], features[:, -384:])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["model.options.pooling_layers=7"], "pooling_layers is 7 but the encoder has 6 layers"),
        (["model.options.pooling_layers=0"], "pooling_layers must be a positive integer"),
        (
            ["model.options.pooling=pooler", "model.options.pooling_layers=2"],
            "'pooler' reads the last layer only",
        ),
    ],
)
def test_bad_pooling_layers_is_a_one_line_recipe_error(options, expected):
    with pytest.raises(RecipeError, match=expected) as error:
        _fresh_model("encoder-frozen", options)
    assert "model.options of encoder-classifier" in str(error.value)
    assert "\n" not in str(error.value)
