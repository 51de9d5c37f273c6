"""Hostile inputs, round 6: few shots (`--shots N`, `encoder-fewshot`), self-training on an
unlabeled pool (`fewshot.unlabeled`), and `attentext export` of every kind of run. Each test
failed before its fix:

R6-F1  `train encoder-fewshot --shots 1` (every class one text): no pair of one class, so the
       encoder was never tuned (0 pairs, 0 steps) and the run was published with
       `"pair_loss_first": NaN` in metrics.json (not JSON) and "Mean of empty slice" warnings.
       Refused in one line before anything is written (`fewshot.check_fewshot`).
R6-F2  An empty, binary or missing `fewshot.unlabeled` file was refused only after the pair
       steps, and left `<output>.partial` behind; so did `encoder-fewshot` with
       `tokenizer.long_text=chunks` or on multi-label data. All are checked before the work
       folder is made, the pool read once there (`fewshot.check_fewshot`, called by
       `run._check_before_writing`).
R6-F3  A pool whose every text is a test text (left out, as they must be): an IndexError
       traceback from the tokenizer on an empty list, after the pair steps. Now one line
       naming the file, before anything is written.
R6-F4  `fewshot.self_training_threshold=1` (or any setting that takes no pseudo-label) with
       `self_training_finetune_epochs=1`: an IndexError traceback (the masked copies of no
       texts were tokenized), the run lost. The fine-tuning pass now reads the labelled texts
       alone, and the run records 0 pseudo-labels.
R6-F5  `export --int8 --data TEXTS` of a run that reads long texts in windows
       (`tokenizer.long_text=chunks`) judged int8 on each text's first window alone: it
       recorded 100 % label agreement where `predict --backend onnx-int8` agreed with fp32 on
       98.75 % of the same texts (a seed-transformer, windows of 16 tokens), and an attention
       over windows was never checked. The check now reads every window and combines them as
       `predict` does (`export.onnx._check_inputs`), so export.json records predict's figures.
R6-F6  `train encoder-fewshot --set fewshot.pair_iterations=0 --set fewshot.unlabeled=POOL`
       (or `fewshot.unlabeled` on seed-transformer, `fewshot.pair_iterations` on tfidf-logreg):
       trained without pairs and without self-training, the pool never read, and recorded in
       recipe.yaml without a word. A note names them (`recipes.settings_without_effect`).
R6-F7  `--set fewshot.pair_iterations=1000000000`: the pairs were drawn in a Python loop before
       the first step (~150 bytes each: 32 billion for 16 texts), filling memory without a
       word. Over 20 million pairs (`fewshot.MAX_PAIRS`) is refused in one line first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli_here

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.errors import DataError, RecipeError
from attentext.export.onnx import export_onnx
from attentext.inference.classifier import load
from attentext.recipes import load_recipe, settings_without_effect

FEW = ["fewshot.pair_iterations=1", "fewshot.pair_batch_size=8"]


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not out.with_name(out.name + ".partial").exists()


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("error: ")
    return lines[-1]


def test_r6_f1_one_shot_has_no_pair_and_is_refused_before_anything_is_written(
    ag_news_dir, tmp_path
):
    out = tmp_path / "one"

    result = run_cli_here(
        "train",
        "encoder-fewshot",
        "--data",
        ag_news_dir,
        "--output",
        out,
        "--shots",
        "1",
        "--set",
        FEW[0],
    )

    line = _one_line_error(result)
    assert "no pair" in line and "--shots 2" in line
    _assert_nothing_written(out)


@pytest.fixture(scope="module")
def pools(ag_news_dir, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pools")
    dataset = load_text_dataset(ag_news_dir)
    paths = {
        "empty": folder / "empty.txt",
        "binary": folder / "binary.txt",
        "test": folder / "test.txt",
        "train": folder / "train.txt",
    }
    paths["empty"].write_bytes(b"")
    paths["binary"].write_bytes(bytes(range(256)) * 4)
    paths["test"].write_text("\n".join(dataset.texts("test")) + "\n", encoding="utf-8")
    paths["train"].write_text("\n".join(dataset.texts("train")[-12:]) + "\n", encoding="utf-8")
    return paths


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        ("empty", DataError, "file is empty"),
        ("binary", DataError, "NUL bytes"),
        ("missing", DataError, "not found"),
        ("chunks", RecipeError, "long_text=truncate"),
        ("multi-label", RecipeError, "one label per text"),
    ],
)
def test_r6_f2_what_the_fewshot_recipe_is_refused_for_leaves_no_partial_folder(
    case, error, match, pools, ag_news_dir, tmp_path
):
    out = tmp_path / "run"
    pool = pools.get(case, tmp_path / "absent.txt")
    overrides = (
        [*FEW, f"fewshot.unlabeled={pool}"] if case in ("empty", "binary", "missing") else FEW
    )
    options: dict = {"shots": 4}
    if case == "chunks":
        overrides = [*FEW, "tokenizer.long_text=chunks"]
    if case == "multi-label":
        options = {"multi_label": True}

    with pytest.raises(error, match=match):
        attentext.train("encoder-fewshot", ag_news_dir, out, overrides=overrides, **options)

    _assert_nothing_written(out)


def test_r6_f3_a_pool_of_test_texts_only_is_one_line_before_anything_is_written(
    pools, ag_news_dir, tmp_path
):
    out = tmp_path / "run"

    result = run_cli_here(
        "train",
        "encoder-fewshot",
        "--data",
        ag_news_dir,
        "--output",
        out,
        "--shots",
        "4",
        "--set",
        FEW[0],
        "--set",
        f"fewshot.unlabeled={pools['test']}",
    )

    line = _one_line_error(result)
    assert "test.txt" in line and "all validation or test texts" in line
    _assert_nothing_written(out)


def test_r6_f4_self_training_that_takes_no_text_fine_tunes_on_the_labelled_ones(
    pools, ag_news_dir, tmp_path
):
    out = tmp_path / "run"

    result = attentext.train(
        "encoder-fewshot",
        ag_news_dir,
        out,
        shots=2,
        precision="fp32",
        overrides=[
            *FEW,
            f"fewshot.unlabeled={pools['train']}",
            "fewshot.self_training_threshold=1",
            "fewshot.self_training_rounds=1",
            "fewshot.self_training_finetune_epochs=1",
            "fewshot.self_training_finetune_batch_size=8",
        ],
    )

    taken = result.metrics["fewshot"]["self_training"]
    assert sum(taken["pseudo_labels"].values()) == 0 and taken["min_confidence"] is None
    json.loads((out / "metrics.json").read_text(), parse_constant=pytest.fail)


@pytest.fixture(scope="module")
def windowed_run(ag_news_dir, tmp_path_factory) -> Path:
    """A seed-transformer reading every text in windows of 16 tokens (most have 3 or more)."""
    out = tmp_path_factory.mktemp("windows") / "run"
    overrides = ["tokenizer.long_text=chunks", "tokenizer.max_length=16"]
    attentext.train(
        "seed-transformer", ag_news_dir, out, epochs=1, precision="fp32", overrides=overrides
    )
    return out


def test_r6_f5_the_int8_check_of_a_windowed_run_is_what_predict_gives(windowed_run, ag_news_dir):
    texts = load_text_dataset(ag_news_dir, val_fraction=0.0).texts("test")

    export_onnx(windowed_run, int8=True, check_texts=texts, force_int8=True)

    record = json.loads((windowed_run / "onnx" / "export.json").read_text())["int8"]
    fp32 = load(windowed_run, backend="onnx", threads=1).predict_proba(texts)
    int8 = load(windowed_run, backend="onnx-int8", threads=1).predict_proba(texts)
    agreement = float(np.mean(fp32.argmax(axis=1) == int8.argmax(axis=1)))
    assert record["label_agreement"] == pytest.approx(agreement)
    assert record["max_probability_diff"] == pytest.approx(
        float(np.abs(int8 - fp32).max()), rel=1e-2, abs=1e-5
    )


@pytest.mark.parametrize(
    ("recipe", "overrides", "named"),
    [
        ("encoder-fewshot", ["fewshot.pair_iterations=0", "fewshot.unlabeled=u.txt"], "unlabeled"),
        ("seed-transformer", ["fewshot.unlabeled=u.txt"], "fewshot.unlabeled"),
        ("tfidf-logreg", ["fewshot.pair_iterations=3"], "fewshot.pair_iterations"),
    ],
)
def test_r6_f6_few_shot_settings_no_training_reads_are_said(recipe, overrides, named):
    notes = settings_without_effect(load_recipe(recipe, overrides))

    assert any("few-shot settings without effect" in note and named in note for note in notes)
    assert settings_without_effect(load_recipe(recipe)) == []
    assert settings_without_effect(load_recipe("encoder-fewshot", ["fewshot.unlabeled=u"])) == []


def test_r6_f7_a_huge_pair_iterations_is_refused_before_drawing_pairs(ag_news_dir, tmp_path):
    out = tmp_path / "run"

    with pytest.raises(RecipeError, match="lower fewshot.pair_iterations"):
        attentext.train(
            "encoder-fewshot",
            ag_news_dir,
            out,
            shots=4,
            overrides=["fewshot.pair_iterations=1000000000"],
        )

    _assert_nothing_written(out)
