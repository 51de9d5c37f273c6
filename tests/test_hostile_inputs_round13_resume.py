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
R13-I2 `auto` cut while a recipe trained: `auto --resume` trained that recipe again from its
       first step. It goes on from the cut run's last checkpoint (`train --resume`), with the
       cap of steps it was planned with, said in one line; a cut run it cannot go on with is
       said to be trained again (`auto._Auto.cut_before`).
R13-I3 `tune --resume`: the restored trials were told to Optuna without their per-epoch
       metrics, so the median pruner judged the new trials against nothing. trials.json
       records each trial's evaluations (`intermediate`) and the restore passes them as
       `intermediate_values`; a trials.json without them still resumes.
"""

from __future__ import annotations

import json

import pytest
from conftest import self_trained_fewshot
from safetensors.torch import load_file
from transformers import TrainerCallback

import attentext
import attentext.training.run
from attentext.automl import auto as auto_module
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextNote, RunDirError
from attentext.training import fewshot


def test_r13_i1_a_self_trained_fewshot_run_cut_after_its_pairs_resumes_from_them(
    ag_news_dir, tmp_path, monkeypatch
):
    unlabeled = tmp_path / "unlabeled.txt"
    texts = load_text_dataset(ag_news_dir).texts("train")[-16:]
    unlabeled.write_text("\n".join(texts) + "\n", encoding="utf-8")
    straight = self_trained_fewshot(ag_news_dir, tmp_path / "straight", unlabeled)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt  # a Ctrl-C while the unlabeled texts are read, after the pairs

    out = tmp_path / "cut"
    with monkeypatch.context() as patch:
        patch.setattr(fewshot, "self_train", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            self_trained_fewshot(ag_news_dir, out, unlabeled)
    assert not out.exists() and (tmp_path / "cut.partial" / "pair-tuned").is_dir()
    with pytest.raises(RunDirError, match="unfinished run is there; pass --resume"):
        self_trained_fewshot(
            ag_news_dir, out, unlabeled
        )  # not deleted and tuned again without a word

    def no_pairs(*args, **kwargs):
        raise AssertionError("the pair steps ran again")

    monkeypatch.setattr(fewshot, "tune_encoder", no_pairs)
    with pytest.warns(AttentextNote, match="resuming from the encoder tuned on pairs"):
        resumed = self_trained_fewshot(ag_news_dir, out, unlabeled, resume=True)
    assert resumed.metrics["test"] == straight.metrics["test"]
    assert (
        resumed.metrics["fewshot"]["self_training"]["pseudo_labels"]
        == (straight.metrics["fewshot"]["self_training"]["pseudo_labels"])
    )
    ours, theirs = (load_file(run / "model.safetensors") for run in (out, straight.run_dir))
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)  # the same weights, bit for bit


class _CtrlCOnceSaved(TrainerCallback):
    """Ctrl-C as soon as the Trainer has written its first checkpoint whole."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


class _Steps(TrainerCallback):
    """Notes each optimizer step trained."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def _with_callback(monkeypatch, callback: TrainerCallback) -> None:
    """auto's seed-transformer run trained with `callback` besides auto's own (and no other)."""
    real = attentext.training.run.train

    def train(recipe, data, output, **options):
        if recipe.name == "seed-transformer":
            options["callbacks"] = [*(options.get("callbacks") or []), callback]
        return real(recipe, data, output, **options)

    monkeypatch.setattr(auto_module, "train", train)


def test_r13_i2_an_auto_cut_mid_training_goes_on_from_the_checkpoint(
    ag_news_dir, tmp_path, monkeypatch
):
    out, asked = tmp_path / "auto", {"recipes": ["seed-transformer"], "ensemble": False}
    _with_callback(monkeypatch, _CtrlCOnceSaved())
    with pytest.raises(KeyboardInterrupt, match="goes on with the run it cut"):
        attentext.auto(ag_news_dir, out, "3m", **asked)
    saved = list((out / "runs" / "seed-transformer.partial" / "checkpoints").iterdir())
    step = int(saved[0].name.removeprefix("checkpoint-"))
    steps, lines = _Steps(), []
    _with_callback(monkeypatch, steps)
    result = attentext.auto(ag_news_dir, out, "3m", progress=lines.append, resume=True, **asked)
    assert steps.steps[0] == step + 1, lines  # from the checkpoint on, not from step 1 again
    assert any("where the interrupted call cut it" in line for line in lines), lines
    cut = next(c for c in result.candidates if c.recipe == "seed-transformer")
    assert cut.status == "trained" and cut.reason.startswith("went on from"), cut
    assert "went on from" in (out / "auto.md").read_text(encoding="utf-8")


def test_r13_i3_a_resumed_tune_tells_the_pruner_each_epoch_of_its_restored_trials(
    ag_news_dir, tmp_path
):
    import optuna

    class Watching(optuna.pruners.BasePruner):
        """Prunes nothing; notes the epochs of the complete trials each judgement reads."""

        def __init__(self) -> None:
            self.seen: list[list[dict[int, float]]] = []

        def prune(self, study, trial) -> bool:
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            self.seen.append([dict(t.intermediate_values) for t in done])
            return False

    out = tmp_path / "search"
    fixed = ["training.epochs=2", "training.batch_size=64", "model.embedding_init=random"]
    settings = {"overrides": fixed, "precision": "fp32"}
    first = attentext.tune("seed-transformer", ag_news_dir, out, trials=2, **settings)
    epochs = [r.intermediate for r in first.trials]
    assert [len(values) for values in epochs] == [2, 2]  # one figure an evaluation
    watching = Watching()
    attentext.tune(
        "seed-transformer", ag_news_dir, out, trials=3, resume=True, pruner=watching, **settings
    )
    told = [{1: first_epoch, 2: second_epoch} for first_epoch, second_epoch in epochs]
    assert watching.seen[0] == told  # the third trial is judged against the first two's epochs


def test_r13_i3_a_trials_json_without_epochs_still_resumes(ag_news_dir, tmp_path):
    """Checked and holding by design: a trials.json written before the epochs were recorded."""
    out = tmp_path / "search"
    attentext.tune("tfidf-logreg", ag_news_dir, out, trials=1)
    record = json.loads((out / "trials.json").read_text(encoding="utf-8"))
    for trial in record["trials"]:
        trial.pop("intermediate", None)
    (out / "trials.json").write_text(json.dumps(record), encoding="utf-8")
    result = attentext.tune("tfidf-logreg", ag_news_dir, out, trials=2, resume=True)
    assert [r.number for r in result.trials] == [1, 2]
