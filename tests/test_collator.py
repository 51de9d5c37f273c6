"""Batching: PadCollator gives exactly the batches transformers' DataCollatorWithPadding gives,
PackedRows holds the same rows as the tokenized split, and the Trainer's length-grouped sampler
gets the rows' true lengths from it."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, DataCollatorWithPadding

from attentext.data.dataset import load_text_dataset
from attentext.encoders import resolve_encoder
from attentext.text.vectorizer import fit_word_vectorizer
from attentext.training.collator import PadCollator
from attentext.training.tokenized import PackedRows, tokenize_split


@pytest.fixture(scope="module")
def train_split(ag_news_dir):
    return load_text_dataset(ag_news_dir, val_fraction=0.0)["train"]


@pytest.fixture(scope="module", params=["word", "minilm"])
def tokenizer(request, train_split):
    if request.param == "word":
        return fit_word_vectorizer(train_split["text"], 2000, 64)
    return AutoTokenizer.from_pretrained(resolve_encoder("default"))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("max_length", [None, 64])
def test_batches_equal_transformers_collator(tokenizer, train_split, side, max_length):
    tokenizer.padding_side = side
    try:
        rows = list(tokenize_split(train_split.select(range(24)), tokenizer, 48))
        assert len({len(row["input_ids"]) for row in rows}) > 1  # the padding matters
        reference = DataCollatorWithPadding(
            tokenizer,
            padding="max_length" if max_length else "longest",
            max_length=max_length,
        )([{k: v for k, v in row.items() if k != "length"} for row in rows])

        batch = PadCollator.for_tokenizer(tokenizer, max_length)(rows)
    finally:
        tokenizer.padding_side = "right"

    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    for key, value in batch.items():
        assert value.dtype == torch.long, key
        assert torch.equal(value, reference[key]), key
    assert batch["input_ids"].shape[1] == (max_length or max(len(r["input_ids"]) for r in rows))


def test_rows_without_labels_give_no_labels():
    batch = PadCollator(pad_token_id=9)(
        [
            {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1]},
            {"input_ids": [4], "attention_mask": [1]},
        ]
    )

    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_packed_rows_hold_the_split_rows_in_its_order(tokenizer, train_split):
    tokenized = tokenize_split(train_split, tokenizer, 48).shuffle(seed=3).select(range(40))

    rows = PackedRows.from_dataset(tokenized)

    assert len(rows) == 40
    assert rows.lengths == [len(ids) for ids in tokenized["input_ids"]]
    for i, expected in enumerate(tokenized):
        assert rows[i]["input_ids"].tolist() == expected["input_ids"]
        assert rows[i]["label"] == expected["label"]
    assert rows[-1]["input_ids"].tolist() == tokenized[39]["input_ids"]
    with pytest.raises(IndexError):
        rows[40]
    assert [len(row["input_ids"]) for row in rows] == rows.lengths  # iteration stops at the end


def test_packed_rows_collate_like_the_dataset_rows(tokenizer, train_split):
    tokenized = tokenize_split(train_split.select(range(30)), tokenizer, 48)
    rows = PackedRows.from_dataset(tokenized)
    collator = PadCollator.for_tokenizer(tokenizer)
    indices = [5, 0, 29, 17]

    packed = collator(rows.__getitems__(indices))
    reference = collator([tokenized[i] for i in indices])

    assert set(packed) == set(reference) == {"input_ids", "attention_mask", "labels"}
    for key in packed:
        assert torch.equal(packed[key], reference[key]), key


def test_packed_rows_without_labels_and_bad_offsets(tokenizer, train_split):
    tokenized = tokenize_split(train_split.select(range(5)), tokenizer, 48).remove_columns("label")

    rows = PackedRows.from_dataset(tokenized)

    assert set(rows[0]) == {"input_ids"}
    with pytest.raises(ValueError, match="offsets"):
        PackedRows(rows.ids, rows.offsets[:-1], None)
    with pytest.raises(ValueError, match="labels"):
        PackedRows(rows.ids, rows.offsets, rows.offsets)


def test_length_grouped_sampler_gets_true_lengths_from_packed_rows(train_split, tmp_path):
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from attentext.data.defaults import planned
    from attentext.models.registry import build_model
    from attentext.recipes import load_recipe
    from attentext.text.tokenizers import build_tokenizer
    from attentext.training.trainer import build_trainer

    recipe = planned(load_recipe("seed-transformer"))  # `auto` settings at their caps
    tokenizer = build_tokenizer(recipe, train_split["text"])
    tokenized = tokenize_split(train_split, tokenizer, recipe.tokenizer.max_length)
    rows = PackedRows.from_dataset(tokenized)
    model = build_model(recipe.model, tokenizer, ["a", "b", "c", "d"], recipe.tokenizer.max_length)
    trainer = build_trainer(recipe, model, tokenizer, rows, rows, tmp_path, "fp32")

    for sampler in (trainer._get_train_sampler(), trainer._get_eval_sampler(rows)):
        assert isinstance(sampler, LengthGroupedSampler)
        assert sampler.lengths == [len(ids) for ids in tokenized["input_ids"]]
    batch = next(iter(trainer.get_train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}


def test_label_smoothing_is_the_trainers_loss(train_split, tmp_path):
    """(1 - e) * cross-entropy + e * the mean over labels of -log p, computed by hand."""
    from attentext.data.defaults import planned
    from attentext.models.registry import build_model
    from attentext.recipes import load_recipe
    from attentext.text.tokenizers import build_tokenizer
    from attentext.training.trainer import build_trainer

    recipe = planned(load_recipe("seed-transformer", ["training.label_smoothing=0.2"]))
    tokenizer = build_tokenizer(recipe, train_split["text"])
    rows = PackedRows.from_dataset(tokenize_split(train_split, tokenizer, 32))
    model = build_model(recipe.model, tokenizer, ["a", "b", "c", "d"], 32).eval()
    trainer = build_trainer(recipe, model, tokenizer, rows, rows, tmp_path, "fp32")
    batch = next(iter(trainer.get_train_dataloader()))

    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        log_p = torch.log_softmax(model(batch["input_ids"], batch["attention_mask"]).logits, -1)
    gold = -log_p.gather(1, batch["labels"][:, None]).mean()
    uniform = -log_p.mean()
    torch.testing.assert_close(loss, 0.8 * gold + 0.2 * uniform)
    assert not torch.isclose(gold, uniform)  # else the check could not tell smoothing from none


@pytest.mark.parametrize(
    ("best", "multi_label", "metric", "greater"),
    [
        ("accuracy", False, "accuracy", True),
        ("accuracy", True, "micro_f1", True),
        ("loss", False, "loss", False),
    ],
)
def test_the_checkpoint_kept_is_the_best_by_the_recipes_metric(
    best, multi_label, metric, greater, tmp_path
):
    from attentext.recipes import load_recipe
    from attentext.training.trainer import training_arguments

    recipe = load_recipe(
        "seed-transformer", [f"training.best_metric={best}", f"data.multi_label={multi_label}"]
    )
    args = training_arguments(recipe, tmp_path, "fp32", True, n_train=256, validate=True)

    assert args.load_best_model_at_end
    assert (args.metric_for_best_model, args.greater_is_better) == (metric, greater)


def test_the_last_weights_are_kept_when_the_recipe_says_last(tmp_path):
    from attentext.recipes import load_recipe
    from attentext.training.trainer import training_arguments

    recipe = load_recipe("seed-transformer", ["training.best_metric=last"])
    args = training_arguments(recipe, tmp_path, "fp32", True, n_train=256, validate=True)

    assert not args.load_best_model_at_end
    assert args.eval_strategy == "steps"  # validation still measured after each epoch
