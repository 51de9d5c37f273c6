"""`attentext tune` and `attentext auto` on ag_news_tiny: the search writes a recipe that trains
and a table of trials, a pruned trial is recorded as pruned, auto keeps a run at least as good as
the baseline on validation and refuses a budget too small for it; budgets and search sections
are read strictly, every mistake in one line."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pytest
from conftest import run_cli_here

from attentext.automl.budget import (
    BudgetError,
    compact_duration,
    format_duration,
    parse_duration,
)
from attentext.errors import AttentextNote, AttentextWarning, RecipeError
from attentext.recipes import load_recipe, recipe_from_text, resolve_recipe

# --- budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("1.5m", 90), (" 2M ", 120)],
)
def test_durations_are_read_with_their_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "ten minutes", "10x", "m", "0s", "5m10", "-1m", ""])
def test_a_budget_that_cannot_be_read_is_one_line(text):
    with pytest.raises(BudgetError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--budget")


def test_a_timeout_may_be_bare_seconds():
    assert parse_duration("45", "--timeout", bare_seconds=True) == 45
    assert parse_duration("2m", "--timeout", bare_seconds=True) == 120
    assert format_duration(250) == "4 min 10 s" and format_duration(4.24) == "4.2 s"
    assert [compact_duration(s) for s in (1, 90, 600, 5400, 2.5)] == [
        "1s",
        "90s",
        "10m",
        "1h30m",
        "2.5s",
    ]


def test_the_cli_answers_a_bad_budget_in_one_line(tmp_path):
    result = run_cli_here("auto", "--data", tmp_path, "--budget", "10x", "--output", tmp_path / "o")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --budget 10x"), result.stderr


# --- search sections ---------------------------------------------------------------------------

BASE = "name: mine\nmodel:\n  type: seed-transformer\n  options: {dropout: 0.3}\n"


def _search_error(section: str) -> str:
    with pytest.raises(RecipeError) as caught:
        recipe_from_text(BASE + "search:\n" + section, "mine.yaml")
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_every_builtin_recipe_declares_a_search_space_beside_it():
    space = load_recipe("attention-rnn").search
    assert space["training.learning_rate"].log
    assert space["model.options.cell"].choices == ("gru", "lstm")
    assert load_recipe("tfidf-logreg").search["model.options.C"].low == pytest.approx(0.1)
    assert load_recipe("seed-transformer").search["tokenizer.max_tokens"].choices[0] == 10000


def test_a_search_section_is_checked_like_the_rest_of_the_recipe():
    assert "did you mean 'learning_rate'" in _search_error(
        "  training.lerning_rate: {low: 1.0e-4, high: 1.0e-2}\n"
    )
    assert "did you mean 'high'" in _search_error("  training.learning_rate: {low: 1, hihg: 2}\n")
    assert "not searched" in _search_error("  data.val_fraction: {low: 0.1, high: 0.2}\n")
    assert "whole number" in _search_error("  training.batch_size: {low: 8.5, high: 64}\n")
    assert "low < high" in _search_error("  training.learning_rate: {low: 0.1, high: 0.01}\n")
    assert "expected an integer" in _search_error("  training.batch_size: {choices: [8, many]}\n")
    assert "choices: [...]" in _search_error("  training.optimizer: {low: 1, high: 2}\n")


def test_the_search_section_stays_out_of_a_runs_recipe_and_survives_overrides():
    recipe = recipe_from_text(
        BASE + "search:\n  training.learning_rate: {low: 1e-4, high: 1e-2, log: true}\n", "m"
    )
    assert recipe.search["training.learning_rate"].low == pytest.approx(1e-4)  # YAML 1.1 '1e-4'
    assert "search" not in recipe.to_yaml()
    again = recipe_from_text(recipe.to_yaml(search=True), "again")
    assert again.search == recipe.search


def test_a_recipe_without_a_search_section_takes_its_builtin_namesakes():
    from attentext.automl.spaces import search_space

    run_recipe = recipe_from_text(load_recipe("tfidf-logreg").to_yaml(), "run/recipe.yaml")
    assert set(search_space(run_recipe)) == set(load_recipe("tfidf-logreg").search)
    with pytest.raises(RecipeError, match="declares no search: section"):
        search_space(recipe_from_text(BASE, "mine.yaml"))


# --- tune ----------------------------------------------------------------------------------------


def test_tune_writes_a_recipe_that_train_takes_and_a_table_of_trials(ag_news_dir, tmp_path):
    out = tmp_path / "tune"
    result = run_cli_here("tune", "tfidf-logreg", "--data", ag_news_dir, "--trials", "2", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "trial 1/2" in result.stdout and "trial 2/2" in result.stdout
    table = json.loads((out / "trials.json").read_text(encoding="utf-8"))
    assert [t["state"] for t in table["trials"]] == ["complete", "complete"]
    assert sum(t["best"] for t in table["trials"]) == 1
    assert "| trial |" in (out / "trials.md").read_text(encoding="utf-8")
    assert (out / "best" / "attentext.json").exists() and not (out / "trials").exists()

    trained = run_cli_here(
        "train", out / "best.yaml", "--data", ag_news_dir, "-o", tmp_path / "run"
    )
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "attentext.json").exists()


def test_a_pruned_trial_is_recorded_as_pruned(ag_news_dir, tmp_path):
    import optuna

    from attentext.automl.tune import tune

    class PruneTheFirst(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number == 0

    lines: list[str] = []
    result = tune(
        "seed-transformer",
        ag_news_dir,
        tmp_path / "tune",
        trials=2,
        overrides=["training.epochs=1", "training.batch_size=64"],
        precision="fp32",
        pruner=PruneTheFirst(),
        progress=lines.append,
    )
    first, second = result.trials
    assert (first.state, second.state) == ("pruned", "complete")
    assert first.note == "at epoch 1" and first.metric is not None
    assert "pruned" in lines[0] and second.best
    assert "epochs" not in " ".join(second.values)  # --set fixed it: no longer searched
    assert result.run_dir.name == "best" and (result.run_dir / "attentext.json").exists()
    assert "pruned" in (tmp_path / "tune" / "trials.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("finished", [0, 1])
def test_ctrl_c_in_a_trial_ends_tune_in_one_line_with_status_130(
    ag_news_dir, tmp_path, monkeypatch, finished
):
    """As `attentext train` answers Ctrl-C: one line saying what was kept, exit status 130, no
    traceback, and nothing from Optuna (which logs the cut trial as failed, with a traceback).
    The trials that finished are kept: the best one's recipe and run, and the table."""
    import logging

    from attentext.automl import tune as tune_module

    real_train, calls = tune_module.train, []

    def train(*args, **kwargs):
        calls.append(args)
        if len(calls) > finished:
            raise KeyboardInterrupt  # Ctrl-C in the middle of this trial's training
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tune_module, "train", train)
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger("optuna").addHandler(handler)
    out = tmp_path / "tune"
    try:
        result = run_cli_here(
            "tune", "tfidf-logreg", "--data", ag_news_dir, "--trials", "3", "-o", out
        )
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr and not logged, [r.getMessage() for r in logged]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"interrupted after {finished} of 3 trials")
    assert str(out / "trials.md") in line and "interrupted" not in result.stdout
    table = json.loads((out / "trials.json").read_text(encoding="utf-8"))
    assert [t["note"] for t in table["trials"]] == [""] * finished + ["interrupted"]
    assert not (out / "trials").exists()  # no half-trained trial left behind
    assert (out / "best.yaml").exists() == (out / "best").is_dir() == bool(finished)


def test_tune_without_optuna_names_the_extra(ag_news_dir, tmp_path, monkeypatch):
    from attentext.automl.tune import TuneError, tune

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(TuneError, match=r"pip install 'attentext\[tune\]'"):
        tune("tfidf-logreg", ag_news_dir, tmp_path / "t", trials=1)


# --- auto -----------------------------------------------------------------------------------------


def test_auto_keeps_a_run_at_least_as_good_as_the_baseline(ag_news_dir, tmp_path):
    from attentext.automl.auto import auto

    lines: list[str] = []
    result = auto(
        ag_news_dir,
        tmp_path / "auto",
        90,
        recipes=["tfidf-logreg", "seed-transformer"],
        progress=lines.append,
    )
    assert (result.run_dir / "attentext.json").exists() and result.run_dir.name == "best"
    assert (result.leaderboard / "leaderboard.md").exists()
    rows = {row["model"]: row for row in result.rows}
    assert result.value >= rows["tfidf-logreg"]["accuracy"]
    assert any(line.startswith("tfidf-logreg: trained") for line in lines)
    assert any(line.startswith("skipped hf-frozen-base:") for line in lines)
    record = json.loads((tmp_path / "auto" / "auto.json").read_text(encoding="utf-8"))
    assert record["best"] == result.recipe
    assert not (tmp_path / "auto" / "runs").exists()  # only the best is kept
    assert (tmp_path / "auto" / "test" / "report.md").exists()  # the best alone, on test
    assert set(record["candidates"][-1]["validation"]) == {"accuracy", "macro_f1"}
    # the two runs weighed into an ensemble, which is kept only where it beats the best run
    (weighed,) = [c for c in record["candidates"] if c["recipe"] == "ensemble"]
    assert weighed["reason"].startswith("weights: ")
    assert any(line.startswith("ensemble (") for line in lines)
    kind = json.loads((result.run_dir / "attentext.json").read_text(encoding="utf-8"))["kind"]
    assert (kind == "ensemble") == (result.recipe == "ensemble")


def test_auto_keeps_the_ensemble_only_where_it_is_as_good_and_surer_on_validation():
    from attentext.automl.auto import ensemble_wins

    best = {"accuracy": 0.8467, "log_loss": 0.5389}  # newsgroups20's tfidf-logreg
    assert ensemble_wins({"accuracy": 0.8467, "log_loss": 0.5001}, best, "accuracy")
    assert not ensemble_wins({"accuracy": 0.8400, "log_loss": 0.4500}, best, "accuracy")
    assert not ensemble_wins({"accuracy": 0.8600, "log_loss": 0.5389}, best, "accuracy")
    assert ensemble_wins(
        {"macro_f1": 0.8, "log_loss": 0.1}, {"macro_f1": 0.8, "log_loss": 0.2}, "macro_f1"
    )


def test_auto_of_several_labels_per_text_says_why_it_weighs_no_ensemble():
    """`auto --multi-label` went from its runs to the best without the ensemble it weighs for
    one-label data, and without a word (round 5's audit)."""
    from types import SimpleNamespace

    from attentext.automl.auto import _Auto

    said: list[str] = []
    runs = {"tfidf-logreg": Path("a"), "seed-transformer": Path("b")}
    search = SimpleNamespace(runs=runs, dataset=SimpleNamespace(multi_label=True), say=said.append)
    assert _Auto._ensemble_or(search, "seed-transformer", 0.5) == ("seed-transformer", 0.5)
    assert said == ["no ensemble: an ensemble averages runs of one label per text"]


def test_auto_shows_each_of_its_warnings_once_however_many_runs_meet_it(recwarn):
    from attentext.automl.auto import warned_once

    def one_run(recipe: str) -> None:  # what every run says of the same data, and of itself
        warnings.warn("data: the classes are imbalanced", AttentextWarning, stacklevel=2)
        warnings.warn(f"data-aware defaults for {recipe}", AttentextNote, stacklevel=2)
        warnings.warn("a library's own warning", UserWarning, stacklevel=2)

    warnings.simplefilter("always")  # Python's own once-per-line rule out of the way
    with warned_once():
        for recipe in ("seed-transformer", "attention-rnn", "encoder-frozen"):
            one_run(recipe)
    said = [str(w.message) for w in recwarn]
    assert said.count("data: the classes are imbalanced") == 1
    assert sum(line.startswith("data-aware defaults for") for line in said) == 3
    assert said.count("a library's own warning") == 3  # not attentext's: left as it was
    one_run("tfidf-logreg")  # a later call says it again
    assert [str(w.message) for w in recwarn].count("data: the classes are imbalanced") == 2


def test_auto_leaves_the_baseline_only_for_a_lead_beyond_the_validation_noise():
    from attentext.automl.auto import clearly_better, standard_error

    assert standard_error(0.9, 0.9, 100) == pytest.approx(0.0424, abs=1e-4)
    assert not clearly_better(0.8600, 0.8467, 150)  # newsgroups20: 2 texts of 150
    assert clearly_better(0.9272, 0.8146, 151)  # customer_reviews: the fine-tuned encoder
    assert clearly_better(0.8600, 0.8467, 20000)  # the same lead on many texts
    assert not clearly_better(0.80, 0.8467, 150)  # behind


def test_auto_refuses_a_budget_too_small_for_the_baseline(ag_news_dir, tmp_path):
    out = tmp_path / "auto"
    result = run_cli_here("auto", "--data", ag_news_dir, "--budget", "1s", "--output", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --budget 1s is too small for even the baseline")
    assert "give --budget" in lines[0] and not out.exists()


def test_a_recipe_skipped_for_time_names_a_budget_that_would_have_run_it():
    from attentext.automl.auto import MARGIN, _round_up, budget_to_fit

    # newsgroups20, 15 min (session 44): encoder-finetune's minimum 353 s, 315 s left after 492 s
    enough = budget_to_fit(minimum=353, elapsed=492, end_seconds=3)
    assert enough - 492 - 3 - MARGIN * enough == pytest.approx(353)  # `left()` with it
    assert _round_up(enough) == "16m"


def test_the_plan_gives_minimums_first_then_fills_in_priority_order():
    from attentext.automl.auto import _plan
    from attentext.automl.costs import Estimate

    frozen = Estimate("encoder-frozen", 10, 0, 1, 30, 10, 5)  # 45 s in full, 20 s at 5 epochs
    finetune = Estimate("encoder-finetune", 10, 0, 100, 3, 10, 5)  # 315 s, 65 s at 0.5 epoch
    seed = Estimate("seed-transformer", 2, 0, 5, 10, 10, 1)  # 53 s, 13 s at 2 epochs

    plan = _plan([frozen, finetune, seed], 150)
    assert {name: round(seconds) for name, (seconds, _) in plan.items()} == {
        "encoder-frozen": 45,  # filled first: its full default
        "encoder-finetune": 92,  # the rest
        "seed-transformer": 13,  # its minimum
    }
    assert set(_plan([frozen, finetune, seed], 60)) == {"encoder-frozen", "seed-transformer"}


def test_the_plan_completes_the_recipes_nearest_their_full_default_before_filling_the_rest():
    from attentext.automl.auto import _plan
    from attentext.automl.costs import Estimate

    frozen = Estimate("encoder-frozen", 10, 0, 1, 30, 10, 5)  # 45 s in full, 20 s at 5 epochs
    finetune = Estimate("encoder-finetune", 10, 0, 100, 3, 10, 5)  # 315 s, 65 s at 0.5 epoch
    seed = Estimate("seed-transformer", 2, 0, 5, 10, 10, 1)  # 53 s, 13 s at 2 epochs
    rnn = Estimate("attention-rnn", 2, 0, 3, 10, 10, 1)  # 33 s, 6 s at 1 epoch

    plan = _plan([frozen, finetune, seed, rnn], 200)
    assert {name: round(seconds) for name, (seconds, _) in plan.items()} == {
        "encoder-frozen": 45,  # each of the three cheap ones in full (25, 27 and 40 s more) ...
        "attention-rnn": 33,
        "seed-transformer": 53,
        "encoder-finetune": 69,  # ... and the encoder the 4 s left beyond its minimum
    }


def test_a_run_past_its_share_is_owed_its_minimum_steps_only_where_they_are_cheap():
    """The features before a frozen encoder's first step ran over their estimate: the share is
    spent, but the head's minimum epochs cost seconds and were paid for by the plan. A run whose
    steps are far slower than planned is stopped at its share as before."""
    from types import SimpleNamespace

    from attentext.automl.callbacks import Deadline

    def stops(guard: Deadline, step: int) -> bool:
        control = SimpleNamespace(should_training_stop=False)
        args = SimpleNamespace(eval_strategy="epoch")
        state = SimpleNamespace(global_step=step)
        return guard.on_step_end(args, state, control).should_training_stop

    def started(guard: Deadline, seconds_ago: float) -> Deadline:
        guard.on_train_begin(None, None, None)
        guard.began -= seconds_ago
        return guard

    now = time.monotonic()
    cheap = started(Deadline(now - 1, min_steps=5, min_seconds=10, hard_deadline=now + 3600), 1)
    assert not stops(cheap, 1) and not stops(cheap, 4)  # ~1 s for 5 steps, 10 s planned
    assert stops(cheap, 5) and cheap.stopped
    slow = started(Deadline(now - 1, min_steps=5, min_seconds=10, hard_deadline=now + 3600), 30)
    assert stops(slow, 1)  # 30 s a step: 150 s for the minimum, 10 s planned
    # a head on cached features: 0.5 s planned for 115 steps, the first one (the Trainer's start
    # in it) 0.04 s: ~5 s for the minimum, more than twice the plan but seconds all the same
    head = Deadline(now - 1, min_steps=115, min_seconds=0.5, hard_deadline=now + 3600)
    assert not stops(started(head, 0.04), 1)
    within = started(Deadline(now + 3600, min_steps=5, min_seconds=10), 30)
    assert not stops(within, 50)  # within its share, whatever the pace
    ended = started(Deadline(now - 2, min_steps=5, min_seconds=10, hard_deadline=now - 1), 0)
    assert stops(ended, 1)  # the budget's end
    assert stops(started(Deadline(now - 1), 0), 1)  # no minimum: the first step after the deadline


def test_a_recipe_timed_in_bf16_is_estimated_slower_where_it_will_train_in_fp32(monkeypatch):
    from attentext.automl import costs
    from attentext.automl.costs import COSTS, DataProfile, Speed, estimate

    profile = DataProfile(n_train=5000, n_validation=300, n_test=500, words=(10, 20, 30))
    speed = Speed(serial=1.0, parallel=1.0, torch=1.0, threads=2)
    monkeypatch.delenv("ATTENTEXT_PRECISION", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the CPU's case, on any machine

    def per_epoch(name: str, fast_bf16: bool, *overrides: str) -> float:
        monkeypatch.setattr(costs, "cpu_has_fast_bf16", lambda: fast_bf16)
        return estimate(resolve_recipe(name, overrides=list(overrides)), profile, speed).per_epoch

    gain = COSTS["encoder-finetune"].bf16_gain
    assert gain > 1  # measured in bf16 on the reference
    native = per_epoch("encoder-finetune", True)
    assert per_epoch("encoder-finetune", False) == pytest.approx(gain * native)
    assert per_epoch("encoder-finetune", True, "training.precision=fp32") == pytest.approx(
        gain * native
    )
    # timed in fp32 on the reference: the same estimate either way
    assert per_epoch("seed-transformer", False) == per_epoch("seed-transformer", True)


def test_the_encoder_recipes_are_planned_with_the_tokens_their_tokenizer_makes_of_these_words():
    from attentext.automl.costs import DataProfile, Speed, estimate, subword_ratio
    from attentext.text.tokenizers import build_tokenizer

    tokenizer = build_tokenizer(resolve_recipe("encoder-frozen"), [])
    english = ["The market rallied on strong earnings today"] * 3
    french = ["Le marché a progressé grâce aux résultats trimestriels"] * 3
    assert subword_ratio(english, tokenizer) == pytest.approx(1.0)  # every word known whole
    assert subword_ratio(french, tokenizer) > 1.5  # cut into pieces
    assert subword_ratio(["", "   "], tokenizer) is None

    words = (40,) * 10
    measured = DataProfile(1000, 100, 100, words, subword_ratio=2.0)
    assumed = DataProfile(1000, 100, 100, words)
    speed = Speed(1.0, 1.0, 1.0, 2)
    for name, slower in (("encoder-finetune", True), ("seed-transformer", False)):
        recipe = resolve_recipe(name, overrides=["tokenizer.max_length=512"])
        longer = (
            estimate(recipe, measured, speed).per_epoch > estimate(recipe, assumed, speed).per_epoch
        )
        assert longer is slower  # the word models' own vocabulary is words


# --- language ----------------------------------------------------------------------------------


def test_auto_puts_the_encoder_recipes_last_on_text_its_vocabulary_does_not_know(ag_news_dir):
    from types import SimpleNamespace

    from attentext.automl.auto import _Auto
    from attentext.data.dataset import load_text_dataset

    names = ["encoder-frozen", "encoder-finetune", "seed-transformer", "attention-rnn"]
    french = ag_news_dir.parent / "french_tweets_sentiment"  # the shared suite, beside it
    said: list[str] = []
    for data, expected in (
        (ag_news_dir, names),
        (french, ["seed-transformer", "attention-rnn", "encoder-frozen", "encoder-finetune"]),
    ):
        dataset = load_text_dataset(data)
        search = SimpleNamespace(train_data=dataset, overrides=[], say=said.append)
        assert _Auto.by_fit(search, names) == expected
    assert len(said) == 1 and "encoder-frozen, encoder-finetune come last" in said[0]


def test_trials_md_and_auto_md_show_what_the_user_named_as_written():
    """A searched value or recipe named `a|b` split its row of trials.md / auto.md, a data
    folder or note holding `<script>` was raw HTML there (round 6; the card and reports were
    mended in that round, these tables were not)."""
    from markdown_it import MarkdownIt

    from attentext.automl.auto import Candidate, _markdown
    from attentext.automl.trials import TrialRecord, trials_markdown

    record = TrialRecord(0, {"model.options.pooling": "a|b"}, "COMPLETE", 0.5, 1.0, note="<b>x")
    trials = (
        MarkdownIt("commonmark")
        .enable("table")
        .render(trials_markdown([record], "accuracy", "Trials of r on <script>alert(1)</script>"))
    )
    assert "<script>" not in trials and "<b>" not in trials
    assert "<td>a|b</td>" in trials and "&lt;b&gt;x" in trials
    auto_md = _markdown([Candidate("x|y", status="failed", reason="<i>")], "accuracy", None)
    rendered = MarkdownIt("commonmark").enable("table").render(auto_md)
    assert "<td>x|y</td>" in rendered and "<i>" not in rendered
