"""Hostile inputs, round 13, "resume": long jobs interrupted, what round 12 left. An interrupt is
simulated where the project simulates them (a KeyboardInterrupt raised at a fixed point: a
function of the run replaced, or a Trainer callback), never after a guessed sleep. Each test
failed before its fix:

R13-I1 `train encoder-fewshot --set fewshot.unlabeled=FILE` (self-training) interrupted after
       the pair tuning: `--resume` was refused ("trains in one go and keeps no checkpoints"),
       so the pair steps were run again. The encoder tuned on pairs is kept in
       `<output>.partial/pair-tuned/` with the random generators' state, and `--resume` starts
       from it, said in one line; the run is the one an uninterrupted run gives
       (`fewshot.pair_tuned`, `workdir.pair_tuned_state`).
"""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextNote, RunDirError
from attentext.training import fewshot


def _fewshot(data, output, unlabeled, **options):
    """encoder-fewshot on 2 texts a class (one pair step), self-trained on `unlabeled`, then one
    step of every weight (dropout on: the random generators matter), on short texts."""
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


def test_r13_i1_a_self_trained_fewshot_run_cut_after_its_pairs_resumes_from_them(
    ag_news_dir, tmp_path, monkeypatch
):
    unlabeled = tmp_path / "unlabeled.txt"
    texts = load_text_dataset(ag_news_dir).texts("train")[-16:]
    unlabeled.write_text("\n".join(texts) + "\n", encoding="utf-8")
    straight = _fewshot(ag_news_dir, tmp_path / "straight", unlabeled)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt  # a Ctrl-C while the unlabeled texts are read, after the pairs

    out = tmp_path / "cut"
    with monkeypatch.context() as patch:
        patch.setattr(fewshot, "self_train", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            _fewshot(ag_news_dir, out, unlabeled)
    assert not out.exists() and (tmp_path / "cut.partial" / "pair-tuned").is_dir()
    with pytest.raises(RunDirError, match="unfinished run is there; pass --resume"):
        _fewshot(ag_news_dir, out, unlabeled)  # not deleted and tuned again without a word

    def no_pairs(*args, **kwargs):
        raise AssertionError("the pair steps ran again")

    monkeypatch.setattr(fewshot, "tune_encoder", no_pairs)
    with pytest.warns(AttentextNote, match="resuming from the encoder tuned on pairs"):
        resumed = _fewshot(ag_news_dir, out, unlabeled, resume=True)
    assert resumed.metrics["test"] == straight.metrics["test"]
    assert (
        resumed.metrics["fewshot"]["self_training"]["pseudo_labels"]
        == (straight.metrics["fewshot"]["self_training"]["pseudo_labels"])
    )
    ours, theirs = (load_file(run / "model.safetensors") for run in (out, straight.run_dir))
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)  # the same weights, bit for bit
