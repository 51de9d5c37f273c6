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
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextNote
from attentext.training import fewshot


def _fewshot(data, output, unlabeled, **options):
    """encoder-fewshot on 2 texts a class (one pair step), self-trained on `unlabeled` in one
    round, then one step of every weight (dropout on: the random generators matter), on short
    texts: round 13's R13-I1 run."""
    return attentext.train(
        "encoder-fewshot",
        data,
        output,
        shots=2,
        precision="fp32",
        overrides=[
            "tokenizer.max_length=24",
            "fewshot.pair_iterations=1",
            "fewshot.pair_batch_size=16",
            f"fewshot.unlabeled={unlabeled}",
            "fewshot.self_training_rounds=1",
            "fewshot.self_training_finetune_epochs=1",
            "fewshot.self_training_finetune_batch_size=32",
        ],
        **options,
    )


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


def test_r15_i1_self_training_cut_in_its_rounds_or_its_pass_resumes_without_encoding_again(
    ag_news_dir, tmp_path, monkeypatch
):
    unlabeled = tmp_path / "unlabeled.txt"
    texts = load_text_dataset(ag_news_dir).texts("train")[-16:]
    unlabeled.write_text("\n".join(texts) + "\n", encoding="utf-8")
    straight = _fewshot(ag_news_dir, tmp_path / "straight", unlabeled)
    out, work = tmp_path / "cut", tmp_path / "cut.partial"

    with monkeypatch.context() as patch:  # cut in the rounds, the texts encoded
        counted = _encodings(patch)
        patch.setattr(fewshot, "self_training_rounds", _ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            _fewshot(ag_news_dir, out, unlabeled)
    assert counted == [16]

    with monkeypatch.context() as patch:  # cut in the fine-tuning pass, the rounds done
        counted = _encodings(patch)
        patch.setattr(fewshot, "finetune_on_labels", _ctrl_c)
        with warnings.catch_warnings(record=True) as notes, pytest.raises(KeyboardInterrupt):
            warnings.simplefilter("always")
            _fewshot(ag_news_dir, out, unlabeled, resume=True)
    assert counted == []  # read back, not encoded again
    said = [str(note.message) for note in notes if note.category is AttentextNote]
    assert any("16 unlabeled texts kept there are read back" in line for line in said), said

    monkeypatch.setattr(fewshot, "tune_encoder", _never("the pair steps"))
    monkeypatch.setattr(fewshot, "self_training_rounds", _never("the rounds"))
    counted = _encodings(monkeypatch)
    with pytest.warns(AttentextNote, match="pseudo-labels self-training chose, kept there"):
        resumed = _fewshot(ag_news_dir, out, unlabeled, resume=True)
    assert counted == []
    assert resumed.metrics["test"] == straight.metrics["test"]
    ours, theirs = (r.metrics["fewshot"]["self_training"] for r in (resumed, straight))
    assert ours["pseudo_labels"] == theirs["pseudo_labels"]
    assert ours["min_confidence"] == theirs["min_confidence"]
    assert ours["finetune_loss_first"] == theirs["finetune_loss_first"]
    ours, theirs = (load_file(run / "model.safetensors") for run in (out, straight.run_dir))
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)  # the same weights, bit for bit
    assert not work.exists()


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
