"""Hostile inputs, round 15, "resume": round 13's left list, self-training's own work resumed.
An interrupt is simulated where round 13 simulated it: a function of the run replaced by one
raising KeyboardInterrupt at a fixed stage, never after a guessed sleep. Each test failed before
its fix:

R15-I1 `train encoder-fewshot --set fewshot.unlabeled=FILE` interrupted during self-training's
       rounds or its fine-tuning pass, then `--resume`: only the pair steps were kept
       (R13-I1), so the unlabeled texts were encoded again (~100 s for 12,429 texts on a CPU)
       and the rounds run again. The embeddings (a feature-cache entry, written whole, keyed by
       the tuned weights, pooling, precision and the token ids) and what the rounds chose are
       kept beside the encoder tuned on pairs and read back, each said in one line; the run is
       the one an uninterrupted run gives (`fewshot._unlabeled_features`, `_rounds_chosen`).
R15-I2 The same run cut during the fine-tuning pass (`fewshot.self_training_finetune_epochs`,
       a loop of its own, not the Trainer): the pass started again from its first step (5
       minutes on a real pool). It saves its state (weights, AdamW's moments, the schedule,
       torch's generators) in one file written whole every minute and at each epoch's end, and
       `--resume` goes on from the last one, said in one line; the run is the uninterrupted
       one (`fewshot_finetune.save_pass`, `_went_on_from`).
R15-I3 A pass of a minute or more cut after its last step (while the splits were scored or
       the run published) was trained again from its last save: its last step is saved too
       (by time alone), and `--resume` reads the finished pass back, said in one line.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import self_trained_fewshot
from safetensors.torch import load_file, save_file

from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextNote
from attentext.recipes import load_recipe
from attentext.training import fewshot, fewshot_finetune
from attentext.training.fewshot_finetune import finetune_on_labels


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt  # a Ctrl-C at the stage this replaces


def _never(stage: str):
    def ran(*args, **kwargs):
        raise AssertionError(f"{stage} ran again")

    return ran


def _encodings(monkeypatch) -> list[int]:
    """The number of unlabeled texts each encoding of them read (self-training's own pass)."""
    counted, real = [], fewshot.compute_features

    def compute_features(model, ids, *args, description="", **kwargs):
        if description == "Encoding unlabeled":
            counted.append(len(ids))
        return real(model, ids, *args, description=description, **kwargs)

    monkeypatch.setattr(fewshot, "compute_features", compute_features)
    return counted


@pytest.fixture(scope="module")
def pool(ag_news_dir, tmp_path_factory) -> Path:
    """16 unlabeled texts in a file."""
    unlabeled = tmp_path_factory.mktemp("pool") / "unlabeled.txt"
    texts = load_text_dataset(ag_news_dir).texts("train")[-16:]
    unlabeled.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return unlabeled


@pytest.fixture(scope="module")
def straight(ag_news_dir, pool, tmp_path_factory):
    """The run uninterrupted."""
    return self_trained_fewshot(
        ag_news_dir, tmp_path_factory.mktemp("straight") / "run", pool, finetune_batch_size=8
    )


def _the_same(resumed, straight) -> None:
    """The resumed run is the uninterrupted one: its scores, pseudo-labels, losses and every
    weight, bit for bit."""
    assert resumed.metrics["test"] == straight.metrics["test"]
    ours, theirs = (r.metrics["fewshot"]["self_training"] for r in (resumed, straight))
    for fact in ("pseudo_labels", "min_confidence", "finetune_loss_first", "finetune_loss_last"):
        assert ours[fact] == theirs[fact], fact
    ours, theirs = (load_file(r.run_dir / "model.safetensors") for r in (resumed, straight))
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)
    assert not resumed.run_dir.with_name(resumed.run_dir.name + ".partial").exists()


def test_r15_i1_self_training_cut_in_its_rounds_resumes_without_encoding_again(
    ag_news_dir, pool, straight, tmp_path, monkeypatch
):
    out = tmp_path / "cut"
    with monkeypatch.context() as patch:  # cut in the rounds, the texts encoded
        counted = _encodings(patch)
        patch.setattr(fewshot, "self_training_rounds", _ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            self_trained_fewshot(ag_news_dir, out, pool, finetune_batch_size=8)
    assert counted == [16]

    monkeypatch.setattr(fewshot, "tune_encoder", _never("the pair steps"))
    counted = _encodings(monkeypatch)
    with pytest.warns(AttentextNote, match="the embeddings of the 16 unlabeled texts kept there"):
        resumed = self_trained_fewshot(ag_news_dir, out, pool, finetune_batch_size=8, resume=True)
    assert counted == []  # read back, not encoded again
    _the_same(resumed, straight)


def _steps(monkeypatch) -> list[float]:
    """The losses of the fine-tuning pass's optimizer steps, one a step."""
    steps, real = [], fewshot_finetune.optimizer_step

    def optimizer_step(*args, **kwargs):
        steps.append(real(*args, **kwargs))
        return steps[-1]

    monkeypatch.setattr(fewshot_finetune, "optimizer_step", optimizer_step)
    return steps


def test_r15_i2_a_finetuning_pass_cut_goes_on_from_its_last_saved_step(
    ag_news_dir, pool, straight, tmp_path, monkeypatch
):
    out, save = tmp_path / "cut", fewshot_finetune.save_pass

    def saved_then_ctrl_c(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt  # a Ctrl-C as soon as the pass has saved its first step

    with monkeypatch.context() as patch:
        patch.setattr(fewshot_finetune, "SAVE_EVERY_S", 0.0)  # a save after every step
        patch.setattr(fewshot_finetune, "save_pass", saved_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            self_trained_fewshot(ag_news_dir, out, pool, finetune_batch_size=8)

    monkeypatch.setattr(fewshot, "tune_encoder", _never("the pair steps"))
    monkeypatch.setattr(fewshot, "self_training_rounds", _never("the rounds"))
    counted, steps = _encodings(monkeypatch), _steps(monkeypatch)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        resumed = self_trained_fewshot(ag_news_dir, out, pool, finetune_batch_size=8, resume=True)
    said = " ".join(str(note.message) for note in notes if note.category is AttentextNote)
    assert "the fine-tuning pass saved there goes on from its step 1 of 3" in said, said
    assert "the 10 pseudo-labels self-training chose, kept there, are read back" in said, said
    assert counted == [] and len(steps) == 2  # neither the encoding nor the first step again
    _the_same(resumed, straight)


class _Encoder:
    """What `_unlabeled_features` reads of a model besides the encoding: its pooling."""

    config = SimpleNamespace(pooling="mean", pooling_layers=1, normalize=True)


def test_r15_i1_kept_embeddings_are_read_back_only_for_the_same_texts_and_tuned_weights(
    tmp_path, monkeypatch
):
    work = tmp_path / "run.partial"
    (work / "pair-tuned").mkdir(parents=True)
    weights = work / "pair-tuned" / fewshot.PAIR_TUNED_WEIGHTS
    save_file({"w": torch.zeros(3)}, str(weights))
    counted = []

    def compute_features(model, ids, *args, **kwargs):
        counted.append(len(ids))
        return torch.tensor([[float(sum(row)), 1.0] for row in ids])  # (N, 2)

    monkeypatch.setattr(fewshot, "compute_features", compute_features)

    def embed(ids):
        features, _ = fewshot._unlabeled_features(_Encoder(), ids, 0, "fp32", work)
        return features.tolist()

    first = embed([[5, 6], [7]])
    with pytest.warns(AttentextNote, match="the 2 unlabeled texts kept there are read back"):
        assert embed([[5, 6], [7]]) == first and counted == [2]
    assert embed([[5, 6], [8]]) == [[11.0, 1.0], [8.0, 1.0]] and counted == [2, 2]  # other texts
    assert embed([[5, 6], [7], [9]]) and counted == [2, 2, 3]
    save_file({"w": torch.ones(3)}, str(weights))  # the encoder tuned otherwise
    assert embed([[5, 6], [7]]) == first and counted == [2, 2, 3, 2]
    assert embed([[5, 6], [7]]) and counted == [2, 2, 3, 2]  # that one kept too
    assert len(list((work / "pair-tuned").glob("unlabeled-*.safetensors"))) == 4
    monkeypatch.setattr(_Encoder, "config", SimpleNamespace(pooling="cls", pooling_layers=1))
    assert embed([[5, 6], [7]]) and counted == [2, 2, 3, 2, 2]  # pooled otherwise


class _Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 3)

    def forward(self, features):
        return SimpleNamespace(logits=self.linear(features))


class _Tiny(torch.nn.Module):
    """What the fine-tuning pass reads of a model, in 500 weights: an encoder with dropout
    (torch's generator matters), a head, `pooled`, `apply_freezing` and `device`."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Dropout(0.5))
        self.head = _Head()

    def pooled(self, input_ids, attention_mask):
        return self.encoder(input_ids).mean(dim=1), None  # (B, 8)

    def apply_freezing(self) -> None:
        pass


def test_r15_i3_a_pass_saved_after_its_last_step_is_not_trained_again(tmp_path, monkeypatch):
    sets = [
        "fewshot.self_training_finetune_epochs=1",
        "fewshot.self_training_finetune_batch_size=4",
    ]
    spec = load_recipe("encoder-fewshot", sets)
    ids, labels = [[1 + i, 2 + 2 * i] for i in range(12)], np.arange(12) % 3  # 3 steps

    def trained(saved=None):
        model = _Tiny()
        torch.manual_seed(1)
        return model, finetune_on_labels(model, ids, labels, spec.fewshot, 0, "fp32", 0, saved)

    straight, facts = trained()
    saved = tmp_path / "run.partial" / "pair-tuned" / "finetuning-x.pt"
    saved.parent.mkdir(parents=True)
    with monkeypatch.context() as patch:  # a pass of a minute: saved after its last step
        patch.setattr(fewshot_finetune, "SAVE_EVERY_S", 0.0)
        patch.setattr(fewshot_finetune, "SAVE_SHARE", math.inf)
        trained(saved)  # then cut while the splits were scored

    steps = _steps(monkeypatch)
    with pytest.warns(AttentextNote, match="pass saved there was done .its 3 steps are not run"):
        resumed, again = trained(saved)
    assert steps == [] and again == facts
    ours, theirs = resumed.state_dict(), straight.state_dict()
    assert all((ours[k] == theirs[k]).all() for k in theirs)
