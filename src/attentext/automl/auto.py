"""`auto`: the best model a time budget buys on a user's data, never worse than the baseline.

tfidf-logreg trains first (seconds, and the floor every other recipe must beat). The others are
planned from their estimated cost on this data and this machine (`costs.py`): in priority order
each gets at least its minimum (a useful run), then the time left first completes the recipes
that need least to reach their full default training, and what remains fills the others in
priority order; a recipe whose share is under its default is capped
by `training.max_steps` (so its learning-rate schedule ends at the cap) and every run is stopped
at its share anyway (`callbacks.Deadline`: past it only to finish its minimum where its steps
keep the planned pace; at the budget's end whatever), early stopping on as in the recipes.
After each run the plan is made again with the time left and the estimates corrected by what
the runs took.
Every run is measured on the same validation split with `compare` (the leaderboard), the best
is kept as `best/`, a normal run directory, and the others are removed unless asked to keep them.
An interrupted call leaves the runs it finished in `runs/`; `resume` takes each of them that the
new plan asks for with the same settings instead of training it again.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from datasets import DatasetDict
from threadpoolctl import threadpool_limits

from attentext import rundir
from attentext.automl.budget import (
    BudgetError,
    compact_duration,
    format_duration,
    seconds_given,
)
from attentext.automl.callbacks import Deadline
from attentext.automl.costs import (
    COSTS,
    RATIO_TEXTS,
    REFERENCE_MACHINE,
    DataProfile,
    Estimate,
    Speed,
    estimate,
    sampled_texts,
    subword_ratio,
)
from attentext.automl.dataset import data_digest, shared_dataset
from attentext.automl.ensemble import ensemble as build_ensemble
from attentext.automl.ensemble import shares
from attentext.automl.folders import replacing, writing_output
from attentext.data.dataset import TextDataset
from attentext.data.profile import PROFILE_SAMPLE, WHOLE_WORD_WARNING, whole_word_share
from attentext.errors import (
    AttentextError,
    AttentextWarning,
    RecipeError,
    RunDirError,
    did_you_mean,
    listed,
    shown,
    yes_or_no,
)
from attentext.evaluation.evaluate import compare, evaluate
from attentext.files import path_parameter, user_path, write_json, write_text
from attentext.recipes import Recipe, load_recipe, resolve_recipe
from attentext.rendering import markdown_text
from attentext.text.tokenizers import build_tokenizer
from attentext.training.run import train
from attentext.training.workdir import (
    last_complete_checkpoint,
    pair_tuned_state,
    read_manifest,
    run_manifest,
)

BASELINE = "tfidf-logreg"
TAKEN = "taken from the interrupted call, --resume"  # a run an earlier call finished
GONE_ON = "went on from the interrupted call's last checkpoint, --resume"  # one it cut
METRICS = ("accuracy", "macro_f1")
# The order recipes get the budget in: the frozen encoder is cheap once its features are
# computed and beat the baseline on every English set tried; fine-tuning is the strongest and
# the slowest; the two models trained from scratch come last (they lost to the baseline there).
PRIORITY = ("encoder-frozen", "encoder-finetune", "seed-transformer", "attention-rnn")
NOT_TRIED = {
    "hf-frozen-base": "the lesson's linear probe on the same frozen encoder; encoder-frozen "
    "trains a better head on richer features of it",
}
AUTO_JSON = "auto.json"  # the record: written at the start and after each step
AUTO_MD = "auto.md"
BEST_RUN = "best"
ENSEMBLE = "ensemble"  # the runs' weighted ensemble, under runs/ beside them
RUNS_DIR = "runs"
LEADERBOARD_DIR = "leaderboard"
TEST_DIR = "test"  # the best run's report on the test split
_LOAD_SECONDS = 3.0  # loading a run to measure it, at the reference speed
END_SECONDS = 3.0  # the leaderboard's plots and the last moves, at the reference speed
# The share of the budget kept back from the plan: estimates are good to a factor of ~2, and a
# run stopped by the clock still evaluates, predicts and saves (3 min on ag_news overran by 9%
# without it).
MARGIN = 0.1


@dataclass
class Candidate:
    """One recipe's part in the search: planned, trained, skipped or failed, and how it went."""

    recipe: str
    status: str = "planned"
    reason: str = ""
    estimated_seconds: float | None = None
    allocated_seconds: float | None = None
    max_steps: int | None = None
    seconds: float | None = None
    stopped_by_deadline: bool = False
    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)


@dataclass
class AutoResult:
    """The best run (`run_dir`, a normal run directory), its recipe name and validation metric,
    the leaderboard's folder and rows, and every candidate's record."""

    run_dir: Path
    recipe: str
    metric: str
    value: float
    leaderboard: Path
    rows: list[dict[str, Any]]
    candidates: list[Candidate]


def best_by(names: list[str], rows: dict[str, dict[str, Any]], metric: str) -> str:
    """The best of `names` on validation `rows`: by `metric`, a tie broken by the other metric
    (as `compare` breaks a tie on accuracy by macro-F1), then the earlier name. It was the
    earlier name alone: of two runs tied on accuracy, best/ could be the one of lower macro-F1."""
    keys = (metric, *(other for other in METRICS if other != metric))
    return max(names, key=lambda n: (*(rows[n].get(k, 0.0) for k in keys), -names.index(n)))


def auto(
    data: str | Path | TextDataset,
    output: str | Path,
    budget: float | str,
    *,
    recipes: list[str] | None = None,
    metric: str = "accuracy",
    multi_label: bool = False,
    keep_all: bool = False,
    ensemble: bool = True,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> AutoResult:
    """Train the baseline, then what fits in `budget` (from this call), and keep the best on
    validation as `output/best`; the leaderboard in `output/leaderboard`.

    `budget` is seconds (a number) or a duration as `--budget` takes it (`"90s"`, `"15m"`, `"1h"`).

    `recipes` narrows the candidates (built-in names; the baseline is always trained);
    `keep_all` keeps every run in `output/runs/`; `ensemble` lets the runs' weighted
    ensemble (`attentext.ensemble`) be kept where it beats the best run on validation;
    `progress` receives one line per step. `resume` goes on in the `output` of an interrupted
    call on the same data: a recipe it finished, asked again with the same settings (a run
    capped at another step count is not), is taken as it is, not trained again.
    """
    started, data, output = time.monotonic(), user_path(data), path_parameter(output, "output")
    budget = seconds_given(budget, "budget")
    if metric not in METRICS:
        raise AttentextError(f"--metric {shown(metric)}: choose {' or '.join(METRICS)}")
    names = _candidates(recipes)
    # by their truth, multi_label="False" trained multi-label models
    multi_label, keep_all = yes_or_no(multi_label, "multi_label"), yes_or_no(keep_all, "keep_all")
    ensemble = yes_or_no(ensemble, "ensemble")
    overrides = ["data.multi_label=true"] if multi_label else []
    dataset = shared_dataset(resolve_recipe(BASELINE, overrides=overrides), data, "auto")
    search = _Auto(dataset, started, budget, metric, overrides, progress or (lambda _: None))
    search.refuse_if_too_small()
    search.ensemble_runs = ensemble
    with (
        writing_output(
            output, AUTO_JSON, "auto", overwrite, data, resume=resume, finished=_finished
        ) as folder,
        numeric_threads(search.speed.threads),
        warned_once(),
        search.interruptible(folder),
    ):
        search.folder, search.resume = folder, resume
        if resume:
            search.check_same_search()
            search.runs_back_from_best()
        search.say_data(names)
        search.run_baseline()
        others = [name for name in names if name != BASELINE]
        search.measure_subwords(others)
        search.reserve_ensemble(names)
        search.run_others(search.by_fit(others))
        return search.finish(keep_all)


@contextmanager
def warned_once() -> Iterator[None]:
    """Each of attentext's warnings shown once while auto runs: every run reads the same data, so
    its imbalance or its language would otherwise be said again for every recipe. Other warnings,
    and a later call, are not affected."""
    shown_before: set[tuple[str, type]] = set()
    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_once(
            message: Warning | str, category: type[Warning], *args: Any, **kw: Any
        ) -> None:
            key = (str(message), category)
            if issubclass(category, AttentextWarning):
                if key in shown_before:
                    return
                shown_before.add(key)
            show(message, category, *args, **kw)

        warnings.showwarning = show_once
        yield


@contextmanager
def numeric_threads(count: int) -> Iterator[None]:
    """torch and scikit-learn's BLAS on `count` threads while auto runs (the probe's faster
    count), then as they were."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(before)


def _candidates(recipes: list[str] | None) -> list[str]:
    """The recipes to try, the baseline first; a one-line error for a name with no cost."""
    names = listed(recipes, "recipes", "recipe names") if recipes else [BASELINE, *PRIORITY]
    for name in names:
        if name not in COSTS:
            raise RecipeError(
                f"--recipe {name}: auto plans the built-in recipes it knows the cost of"
                f"{did_you_mean(name, list(COSTS))}"
            )
    ordered = [BASELINE, *(n for n in PRIORITY if n in names)]
    return ordered + [n for n in names if n not in ordered]


class _Auto:
    """The state of one `auto` call: the data, the clock, the estimates' correction, the runs."""

    def __init__(
        self,
        dataset: TextDataset,
        started: float,
        budget: float,
        metric: str,
        overrides: list[str],
        say: Callable[[str], None],
    ) -> None:
        # Candidates train and are compared without the test split (each would predict it, for
        # nothing: the choice is made on validation); the best alone is measured on it.
        self.dataset, self.metric = dataset, metric
        self.data_sha256 = data_digest(dataset)  # what --resume compares: the texts, not the path
        self.train_data = _without_test(dataset)
        self.started, self.budget, self.deadline = started, budget, started + budget
        self.overrides, self.say = overrides, say
        self.profile = DataProfile.of(self.train_data)
        self.speed = Speed.measure()
        self.correction = 1.0  # what runs took / what they were estimated to take
        self.spent = self.expected = 0.0  # the numeric work of the runs so far, and estimates
        self.compare_seconds: float | None = None
        self.candidates: list[Candidate] = []
        self.runs: dict[str, Path] = {}
        self.folder = Path(".")
        self.ensemble_runs = True
        self.ensemble_seconds = 0.0  # kept back for the ensemble at the end (`reserve_ensemble`)
        self.resume = False  # take the runs an interrupted call finished (`trained_before`)

    @contextmanager
    def interruptible(self, folder: Path) -> Iterator[None]:
        """A Ctrl-C (or SIGTERM) raised again with the line that says what was kept and how to go
        on: the runs finished are in `folder`/runs/ for `--resume`, unless an earlier output is
        put back in its place (`--overwrite`)."""
        try:
            yield
        except KeyboardInterrupt:
            if replacing(folder):
                message = f"interrupted; {folder} keeps the earlier auto output"
                raise KeyboardInterrupt(message) from None
            if (folder / BEST_RUN).is_dir():  # chosen; runs/ emptied unless --keep-all
                raise KeyboardInterrupt(
                    f"interrupted after choosing {folder / BEST_RUN}: the same auto command with "
                    "--resume (resume=True in Python) takes it and finishes"
                ) from None
            done = ", ".join(self.runs) or "none"
            cut = [
                p for p in (folder / RUNS_DIR).glob(f"*{rundir.PARTIAL_SUFFIX}") if _resumable(p)
            ]
            goes_on = ", and goes on with the run it cut from its last checkpoint" if cut else ""
            raise KeyboardInterrupt(
                f"interrupted; the runs finished ({done}) are in {folder / RUNS_DIR}: the same "
                "auto command with --resume (resume=True in Python) takes them as they are"
                f"{goes_on}"
            ) from None

    def check_same_search(self) -> None:
        """What `--resume` goes on with is a search of this data by this metric (its auto.json)."""
        facts = json.loads((self.folder / AUTO_JSON).read_text(encoding="utf-8"))
        asked = {"data": self.dataset.source, "metric": self.metric}
        for key, value in asked.items():
            if facts.get(key) != value:
                raise RunDirError(
                    f"{self.folder}: holds an auto output of {key} {shown(facts.get(key))}, not "
                    f"{shown(value)}; give the same --data and --metric to resume it"
                )
        digest = facts.get("data_sha256")  # an auto.json written before holds none
        if isinstance(digest, str) and digest != self.data_sha256:
            raise RunDirError(
                f"{self.folder}: its runs were trained on other texts than "
                f"{shown(self.dataset.source)} holds now (the data changed since), so none can "
                "be taken: choose another --output, or pass --overwrite to start it over"
            )

    def runs_back_from_best(self) -> None:
        """The best/ of a call cut after it chose (while it measured the test split, runs/
        emptied) put back in runs/ as the runs it holds, taken as any run that call finished:
        a recipe's run under its name, an ensemble's members (it is weighed again). The run was
        trained again, and its rename onto that best/ an OSError traceback."""
        best, runs = self.folder / BEST_RUN, self.folder / RUNS_DIR
        try:
            run = rundir.open_run(best) if best.is_dir() else None
        except RunDirError:
            run = None
        if run is not None:
            runs.mkdir(exist_ok=True)
            members = best / rundir.MEMBERS_DIR
            found = members.iterdir() if run.kind == rundir.ENSEMBLE_KIND else [best]
            for kept in found:
                name = kept.name if kept != best else run.recipe_name
                if name and not (runs / name).exists():
                    kept.rename(runs / name)
        shutil.rmtree(best, ignore_errors=True)

    def trained_before(self, run_dir: Path, recipe: Recipe) -> dict[str, Any] | None:
        """The metrics of the run an interrupted call finished in `run_dir`, where it trained
        `recipe` as asked now (a setting asked as `auto` is the data's, and the data is the
        same); None where there is none to take, and what is there is removed."""
        try:
            rundir.read_marker(run_dir)
            made = load_recipe(run_dir / "recipe.yaml")
        except (RunDirError, RecipeError, OSError):
            made = None
        if made is not None and same_request(recipe.to_dict(), made.to_dict()):
            shutil.rmtree(rundir.partial_dir(run_dir), ignore_errors=True)
            return rundir.read_metrics(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        return None

    def cut_before(self, run_dir: Path, recipe: Recipe) -> Recipe | None:
        """The recipe to go on training with (`train --resume`) where an interrupted call cut
        the run in `run_dir` past a checkpoint: `recipe` as asked now, with the cap of steps
        the cut run was planned with (its schedule ends there), said in one line; None where
        there is none, and what is there is removed, said in one line where a run was cut
        (such a run was trained again from its first step, without a word)."""
        work = rundir.partial_dir(run_dir)
        if not work.exists():
            return None
        checkpoint = last_complete_checkpoint(work)
        made = read_manifest(work) if checkpoint or pair_tuned_state(work) else None
        made_recipe = made.get("recipe") if made is not None else None
        why = "it kept no checkpoint" if made is None else "of other settings or data"
        if isinstance(made_recipe, dict):
            training = made_recipe.get("training")
            cap = training.get("max_steps") if isinstance(training, dict) else None
            if type(cap) is int:
                recipe = resolve_recipe(recipe, overrides=[f"training.max_steps={cap}"])
            now = run_manifest(recipe, self.train_data)
            if same_request(recipe.to_dict(), made_recipe) and all(
                made.get(key) == now[key] for key in ("labels", "data")
            ):
                where = checkpoint.name if checkpoint else "its encoder tuned on pairs"
                self.say(f"{recipe.name}: goes on from {where}, where the interrupted call cut it")
                return recipe
        self.say(f"{recipe.name}: the run the interrupted call cut is trained again ({why})")
        shutil.rmtree(work, ignore_errors=True)
        return None

    def left(self) -> float:
        """Seconds the plan may still give out."""
        reserve = self.end_seconds() + MARGIN * self.budget
        return self.deadline - time.monotonic() - reserve

    def estimate(self, name: str) -> Estimate:
        recipe = resolve_recipe(name, overrides=self.overrides)
        return estimate(recipe, self.profile, self.speed.scaled(self.correction))

    def end_seconds(self) -> float:
        """What the end takes: the leaderboard's last moves and the ensemble's weighing."""
        return END_SECONDS * self.speed.serial + self.ensemble_seconds

    def reserve_ensemble(self, names: list[str]) -> None:
        """Keep back the time the ensemble at the end needs (each run's validation texts
        predicted once more), so that the runs' shares leave it: a fine-tuned encoder given
        the rest of the budget would otherwise use it up."""
        if self.ensemble_runs and len(names) > 1 and not self.dataset.multi_label:
            n = self.profile.n_validation
            self.ensemble_seconds = sum(self._predict_seconds(name, n) for name in names)

    def refuse_if_too_small(self) -> None:
        """One line when even the baseline does not fit: what it needs, and a budget that fits."""
        needed = self.estimate(BASELINE).seconds
        if needed <= self.left():
            return
        spent_loading = time.monotonic() - self.started
        enough = _round_up(
            (1.5 * (needed + END_SECONDS * self.speed.serial) + spent_loading) / (1 - MARGIN)
        )
        raise BudgetError(
            f"--budget {compact_duration(self.budget)} is too small for even the baseline: "
            f"{BASELINE} needs about {format_duration(needed)} on these "
            f"{self.profile.n_train:,} texts (~{self.profile.mean_words:.0f} words each) on this "
            f"machine now; give --budget {enough} or more"
        )

    def say_data(self, names: list[str]) -> None:
        """The data, the budget and the machine's speed; the recipes left out, one line each."""
        p = self.profile
        self.say(
            f"data: {p.n_train:,} training texts, {p.n_validation:,} validation, "
            f"{len(self.dataset.splits.get('test', [])):,} test (for the best run only), "
            f"~{p.mean_words:.0f} words each; budget {format_duration(self.budget)}; this "
            f"machine now takes {self.speed.serial:.2g}x the reference times on one thread, "
            f"{self.speed.torch:.2g}x for the models, on {self.speed.threads} thread(s) "
            f"(reference: {REFERENCE_MACHINE})"
        )
        for name in COSTS:
            if name not in names:
                self._skip(name, NOT_TRIED.get(name, "not among the --recipe asked for"))
        self.save()

    def measure_subwords(self, names: list[str]) -> None:
        """The encoder recipes' tokens per word on these texts, for their estimates (their
        tokenizer splits another language's words, or addresses, into many more pieces)."""
        pretrained = [n for n in names if resolve_recipe(n).tokenizer.type == "pretrained"]
        if pretrained:
            recipe = resolve_recipe(pretrained[0], overrides=self.overrides)
            texts = sampled_texts(self.train_data)[:RATIO_TEXTS]
            ratio = subword_ratio(texts, build_tokenizer(recipe, []))
            self.profile = replace(self.profile, subword_ratio=ratio)

    def by_fit(self, names: list[str]) -> list[str]:
        """The recipes on a pretrained vocabulary last when it does not fit these texts'
        language (the default English encoder on French tweets lost 14 points to the baseline):
        the others get the budget first, and the leaderboard still decides."""
        pretrained = [n for n in names if resolve_recipe(n).tokenizer.type == "pretrained"]
        if not pretrained:
            return names
        recipe = resolve_recipe(pretrained[0], overrides=self.overrides)
        vocabulary = build_tokenizer(recipe, []).get_vocab()
        share = whole_word_share(
            list(self.train_data["train"]["text"][:PROFILE_SAMPLE]), vocabulary
        )
        if share is None or share >= WHOLE_WORD_WARNING:
            return names
        self.say(
            f"the encoder knows only {100 * share:.0f} % of these texts' words whole (English "
            f"text: 86-95 %), so {', '.join(pretrained)} come last; --recipe chooses otherwise"
        )
        return [n for n in names if n not in pretrained] + pretrained

    def run_baseline(self) -> None:
        """The baseline, whatever the time: it is the floor, and the budget was checked for it."""
        candidate = Candidate(BASELINE, estimated_seconds=round(self.estimate(BASELINE).seconds, 1))
        self.candidates.append(candidate)
        self._train(candidate, resolve_recipe(BASELINE, overrides=self.overrides), None)
        if candidate.status != "trained":
            raise AttentextError(f"the baseline failed: {candidate.reason}")

    def run_others(self, names: list[str]) -> None:
        """Plan, run the planned recipe with the smallest share, plan again with the time left
        and corrected estimates, until none is left; one that no longer fits even alone is
        skipped (the time only shrinks)."""
        waiting = list(names)
        while waiting:
            available = self.left()
            estimates = []
            for planned in map(self.estimate, list(waiting)):
                if _minimum(planned) > available:
                    waiting.remove(planned.recipe)
                    self._skip(planned.recipe, self._too_long(planned, available))
                else:
                    estimates.append(planned)
            if not estimates:
                break
            plan = _plan(estimates, available)
            name = min(plan, key=lambda n: plan[n][0])
            waiting.remove(name)
            spare = available - sum(seconds for seconds, _ in plan.values())
            self._run_planned(name, *plan[name], spare)
        self.save()

    def _too_long(self, planned: Estimate, available: float) -> str:
        """Why a recipe no longer fits, and the budget it would have needed at least: the time
        spent so far and its minimum, with the reserve kept back (a larger budget also gives the
        recipes before it more, hence "at least")."""
        elapsed = time.monotonic() - self.started
        minimum = _minimum(planned)
        enough = budget_to_fit(minimum, elapsed, self.end_seconds())
        return (
            f"needs ~{format_duration(minimum)} for {_minimum_epochs(planned):g} epoch(s) on "
            f"this data, {format_duration(max(0.0, available))} left (--budget "
            f"{_round_up(enough)} or more would have run it)"
        )

    def _skip(self, name: str, reason: str) -> None:
        self.candidates.append(Candidate(name, status="skipped", reason=reason))
        self.say(f"skipped {name}: {reason}")

    def _run_planned(self, name: str, seconds: float, planned: Estimate, spare: float) -> None:
        """Train one recipe within `seconds`: capped by max_steps where its full default does not
        fit, and stopped by the clock a little after its share, or later where time is `spare`
        (time nobody was given is better spent)."""
        overrides = list(self.overrides)
        candidate = Candidate(name, estimated_seconds=round(planned.seconds, 1))
        candidate.allocated_seconds = round(seconds, 1)
        if seconds < planned.seconds:
            steps = max(1, math.floor(planned.epochs_within(seconds) * planned.steps_per_epoch))
            candidate.max_steps = steps
            overrides.append(f"training.max_steps={steps}")
        self.candidates.append(candidate)
        # an estimate is good to a factor of ~2: a quarter more, or the spare time, before the
        # clock stops it, never past the budget (MARGIN keeps room for the overshoot)
        now = time.monotonic()
        longest = self.deadline - now - self.end_seconds()
        share = min(max(1.25 * seconds, seconds + spare), longest)
        # the minimum the plan gave it is trained even where the work before the first step ran
        # over its estimate, if its steps are about as fast as planned; the budget's end stops it
        epochs = _minimum_epochs(planned)
        guard = Deadline(
            now + max(1.0, share - planned.after),
            min_steps=math.ceil(epochs * planned.steps_per_epoch),
            min_seconds=epochs * planned.per_epoch,
            hard_deadline=now + max(1.0, longest - planned.after),
        )
        self._train(candidate, resolve_recipe(name, overrides=overrides), guard, planned)

    def _train(
        self,
        candidate: Candidate,
        recipe: Recipe,
        guard: Deadline | None,
        planned: Estimate | None = None,
    ) -> None:
        """Train, record the outcome (a failure is one line and the search goes on)."""
        run_dir = self.folder / RUNS_DIR / candidate.recipe
        start = time.monotonic()
        earlier = self.trained_before(run_dir, recipe) if self.resume else None
        cut = self.cut_before(run_dir, recipe) if self.resume and earlier is None else None
        try:
            metrics = (
                earlier
                if earlier is not None
                else train(
                    cut or recipe,
                    self.train_data,
                    run_dir,
                    resume=cut is not None,
                    overwrite=cut is None,
                    callbacks=[guard] if guard else None,
                    log_lines=False,  # one line per run from `say`
                ).metrics
            )
        except AttentextError as error:
            candidate.status, candidate.reason = "failed", str(error)
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(rundir.partial_dir(run_dir), ignore_errors=True)
            self.say(f"{candidate.recipe}: failed: {error}")
            return
        candidate.seconds = round(time.monotonic() - start, 1)
        candidate.status = "trained"
        candidate.stopped_by_deadline = bool(guard and guard.stopped)
        candidate.validation = _scores(metrics.get("validation", {}))
        self.runs[candidate.recipe] = run_dir
        if earlier is not None:
            candidate.seconds = metrics.get("train_seconds", candidate.seconds)
            candidate.reason = TAKEN
        elif cut is not None:  # its seconds are this call's part: no measure of its speed
            candidate.reason = GONE_ON
            candidate.max_steps = cut.training.max_steps if cut.training.max_steps > 0 else None
        elif planned is not None:
            spent, expected = _measured(planned, metrics)
            self.spent += spent
            self.expected += expected / self.correction  # at the reference figures
            self.correction = _correction(self.spent, self.expected)
        taken = f" ({candidate.reason})" if earlier is not None or cut is not None else ""
        self.say(_trained_line(candidate, self.metric) + taken)
        self.save()

    def finish(self, keep_all: bool) -> AutoResult:
        """Compare every run on validation, keep the best as best/, write the record."""
        board = self.folder / LEADERBOARD_DIR
        names = list(self.runs)
        start = time.monotonic()
        rows = compare([self.runs[n] for n in names], self.train_data, board, split="validation")
        self.compare_seconds = round(time.monotonic() - start, 1)
        by_name = {row["model"]: row for row in rows}
        best = best_by(names, by_name, self.metric)
        value, floor = by_name[best][self.metric], by_name[BASELINE][self.metric]
        n = self.profile.n_validation
        if best != BASELINE and not clearly_better(value, floor, n):
            self.say(
                f"{best} leads {BASELINE} by {value - floor:.4f} in validation {self.metric}, "
                f"within the noise of {n:,} texts (one standard error: "
                f"{standard_error(value, floor, n):.4f}): keeping {BASELINE}, the cheaper"
            )
            best = BASELINE
        value = by_name[best][self.metric]
        best_dir = self.folder / BEST_RUN
        if self.ensemble_runs:
            best, value = self._ensemble_or(best, value)
        self.runs[best].rename(best_dir)
        if not keep_all:
            shutil.rmtree(self.folder / RUNS_DIR, ignore_errors=True)
        self.say(
            f"best: {best}, validation {self.metric} {value:.4f} ({BASELINE}: {floor:.4f}); "
            f"run directory {best_dir}; leaderboard {board / 'leaderboard.md'}"
        )
        self._measure_test(best, best_dir)
        self.save(best)
        return AutoResult(best_dir, best, self.metric, value, board, rows, self.candidates)

    def _ensemble_or(self, best: str, value: float) -> tuple[str, float]:
        """The runs' ensemble (greedy selection on validation) instead of `best` where it is at
        least as good on the metric and lower in log-loss; `best` where not, or where fewer
        than two runs, or not the time, are there for it."""
        names = [n for n in self.runs if n != ENSEMBLE]
        if len(names) < 2:
            return best, value
        if self.dataset.multi_label:
            self.say("no ensemble: an ensemble averages runs of one label per text")
            return best, value
        needed = sum(self._predict_seconds(n, self.profile.n_validation) for n in names)
        if needed > self.deadline - time.monotonic():
            self.say(f"no ensemble: ~{format_duration(needed)} to weigh the runs, over the budget")
            return best, value
        start = time.monotonic()
        result = build_ensemble(
            [self.runs[n] for n in names], self.train_data, self.folder / RUNS_DIR / ENSEMBLE
        )
        candidate = Candidate(
            ENSEMBLE, status="trained", reason=f"weights: {shares(result.weights)}"
        )
        candidate.seconds = round(time.monotonic() - start, 1)
        candidate.validation = {k: result.validation[k] for k in METRICS}
        self.candidates.append(candidate)
        self.runs[ENSEMBLE] = result.run_dir
        ours, theirs = result.validation, result.runs[best]
        kept = ensemble_wins(ours, theirs, self.metric)
        self.say(
            f"ensemble ({shares(result.weights)}): validation {self.metric} "
            f"{ours[self.metric]:.4f}, log-loss {ours['log_loss']:.4f} against {best}'s "
            f"{theirs[self.metric]:.4f} and {theirs['log_loss']:.4f}: "
            + ("kept" if kept else f"keeping {best}")
        )
        return (ENSEMBLE, ours[self.metric]) if kept else (best, value)

    def _predict_seconds(self, name: str, n_texts: int) -> float:
        """What classifying `n_texts` takes with run `name` (an ensemble: all its members)."""
        if name == ENSEMBLE:
            members = [n for n in self.runs if n != ENSEMBLE]
            return sum(self._predict_seconds(n, n_texts) for n in members)
        per_text = self.estimate(name).per_text
        return per_text * n_texts + _LOAD_SECONDS * self.speed.serial

    def _measure_test(self, name: str, run_dir: Path) -> None:
        """The best run on the test split, into OUTPUT/test/, when the budget still allows it."""
        if "test" not in self.dataset.splits:
            return
        n_test = len(self.dataset["test"])
        needed = self._predict_seconds(name, n_test)
        if needed > self.deadline - time.monotonic():
            self.say(
                f"test split not measured: ~{format_duration(needed)} for {n_test:,} texts, "
                f"over the budget; run `attentext evaluate {run_dir} --data "
                f"{self.dataset.source}`"
            )
            return
        report = evaluate(run_dir, self.dataset, split="test", output=self.folder / TEST_DIR)
        candidate = next(c for c in self.candidates if c.recipe == name)
        candidate.test = _scores(report.to_dict())
        scores = ", ".join(f"{key} {value:.4f}" for key, value in candidate.test.items())
        self.say(f"test ({name}, {n_test:,} texts): {scores}; report {self.folder / TEST_DIR}")

    def save(self, best: str | None = None) -> None:
        """auto.json and auto.md: the data, the machine, every candidate, the best."""
        facts = {
            "data": self.dataset.source,
            "data_sha256": self.data_sha256,
            "metric": self.metric,
            "n_train": self.profile.n_train,
            "n_validation": self.profile.n_validation,
            "mean_words": round(self.profile.mean_words, 1),
            "subword_ratio": self.profile.subword_ratio and round(self.profile.subword_ratio, 3),
            "speed": asdict(self.speed),
            "correction": round(self.correction, 3),
            "budget_seconds": self.budget,
            "seconds": round(time.monotonic() - self.started, 1),
            "compare_seconds": self.compare_seconds,
            "reference_machine": REFERENCE_MACHINE,
            "best": best,
            "candidates": [asdict(c) for c in self.candidates],
        }
        write_json(self.folder / AUTO_JSON, facts)
        write_text(self.folder / AUTO_MD, _markdown(self.candidates, self.metric, best))


def _finished(folder: Path) -> bool:
    """Whether `folder` holds a finished auto output (its auto.json names the best), which
    `--resume` has nothing to go on with."""
    try:
        facts = json.loads((folder / AUTO_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(facts, dict) and facts.get("best") is not None


def _resumable(work: Path) -> bool:
    """Whether a run's work folder holds what `train --resume` goes on from."""
    return last_complete_checkpoint(work) is not None or pair_tuned_state(work) is not None


def same_request(asked: dict[str, Any], made: dict[str, Any]) -> bool:
    """Whether a run's recipe (`made`, as trained: `auto` settings resolved from the data) is
    the recipe `asked`: every setting equal, or asked as `auto`."""
    for key, value in asked.items():
        if isinstance(value, dict) and isinstance(made.get(key), dict):
            if not same_request(value, made[key]):
                return False
        elif value != "auto" and made.get(key, value) != value:
            return False
    return True


def _without_test(dataset: TextDataset) -> TextDataset:
    splits = DatasetDict({name: rows for name, rows in dataset.splits.items() if name != "test"})
    return TextDataset(splits, dataset.label_names, dataset.source, dataset.multi_label)


def ensemble_wins(ensemble: dict[str, float], best: dict[str, float], metric: str) -> bool:
    """Whether the runs' ensemble replaces the best run: at least as good on `metric` and
    lower in log-loss, both on validation. The log-loss decides because it reads every text's
    probability where accuracy reads only the few texts that flip; the metric must not drop,
    so the ensemble is never worse than the run (and the baseline) on what the user chose."""
    return ensemble[metric] >= best[metric] and ensemble["log_loss"] < best["log_loss"]


def standard_error(first: float, second: float, n: int) -> float:
    """One standard error of the difference of two accuracies measured on `n` texts (binomial;
    a rough one for macro-F1)."""
    return math.sqrt((first * (1 - first) + second * (1 - second)) / max(1, n))


def clearly_better(value: float, baseline: float, n: int) -> bool:
    """Whether a run's validation score beats the baseline's by more than one standard error of
    the difference. On small validation splits the ranking is mostly noise: on newsgroups20 (150
    validation texts) the seed transformer led tfidf-logreg by 2 texts (0.8600 against 0.8467)
    and scored 0.739 on test against its 0.788."""
    return value - baseline > standard_error(value, baseline, n)


def _scores(report: dict[str, Any]) -> dict[str, float]:
    return {key: float(report[key]) for key in ("accuracy", "macro_f1") if key in report}


def _plan(estimates: list[Estimate], available: float) -> dict[str, tuple[float, Estimate]]:
    """Seconds for each recipe that gets some: in the given (priority) order each is taken if its
    minimum fits beside those before it. The time left then completes the recipes that need
    least to reach their full default, as many as it can (a word model's one epoch is no run,
    and its full default is seconds where a fine-tuned encoder's is minutes: on customer_reviews
    the priority order left attention-rnn one epoch to give the encoder 30 s more); what remains
    fills the others in priority order."""
    chosen: dict[str, tuple[float, Estimate]] = {}
    used = 0.0
    for planned in estimates:
        minimum = _minimum(planned)
        if used + minimum <= available:
            chosen[planned.recipe] = (minimum, planned)
            used += minimum
    spare = available - used

    def needs(name: str) -> float:
        seconds, planned = chosen[name]
        return max(0.0, planned.seconds - seconds)

    for name in sorted(chosen, key=needs):  # stable: priority order among equals
        if needs(name) <= spare:
            spare -= needs(name)
            chosen[name] = (chosen[name][1].seconds, chosen[name][1])
    for name, (seconds, planned) in chosen.items():
        extra = min(needs(name), spare)
        chosen[name] = (seconds + extra, planned)
        spare -= extra
    return chosen


def budget_to_fit(minimum: float, elapsed: float, end_seconds: float) -> float:
    """The smallest budget whose plan, after `elapsed` seconds, still has `minimum` to give:
    `left()` is the budget less the time spent, the end's seconds and the MARGIN kept back."""
    return (minimum + elapsed + end_seconds) / (1 - MARGIN)


def _minimum_epochs(planned: Estimate) -> float:
    """The recipe's minimum epochs (its default, if fewer)."""
    return min(COSTS[planned.recipe].min_epochs, planned.epochs)


def _minimum(planned: Estimate) -> float:
    """The shortest run worth its time: its minimum epochs and what comes before and after."""
    return planned.fixed + planned.per_epoch * _minimum_epochs(planned)


PRIOR_SECONDS = 30.0  # how much evidence the reference figures count as, against the runs'


def _measured(planned: Estimate, metrics: dict[str, Any]) -> tuple[float, float]:
    """(seconds a run's numeric work took, seconds it was estimated to take) for the epochs it
    trained: early stopping and the deadline shorten a run, not its speed. Features read from
    the cache are left out of both."""
    epochs = float(metrics.get("epochs") or 0.0)
    spent = float(metrics.get("train_seconds") or 0.0)
    expected = planned.per_epoch * epochs
    if planned.features and not metrics.get("cache_hits"):
        spent += float(metrics.get("extraction_seconds") or 0.0)
        expected += planned.features
    return spent, expected


def _correction(spent: float, expected: float) -> float:
    """What runs took over their estimates, weighted by time (a 3 s run says little about a
    3 min one) and drawn toward 1 by PRIOR_SECONDS of the reference figures; within [0.25, 4]."""
    return min(4.0, max(0.25, (spent + PRIOR_SECONDS) / (expected + PRIOR_SECONDS)))


def _round_up(seconds: float) -> str:
    """A budget a user would type, at least `seconds`: 20s, 45s, 2m, 10m ..."""
    if seconds <= 60:
        return f"{math.ceil(seconds / 5) * 5}s"
    return f"{math.ceil(seconds / 60)}m"


def _trained_line(candidate: Candidate, metric: str) -> str:
    value = candidate.validation.get(metric)
    figure = "-" if value is None else f"{value:.4f}"
    cap = f", capped at {candidate.max_steps:,} steps" if candidate.max_steps else ""
    stopped = ", stopped at its share of the budget" if candidate.stopped_by_deadline else ""
    estimated = candidate.estimated_seconds or 0.0
    return (
        f"{candidate.recipe}: trained in {format_duration(candidate.seconds or 0.0)} (estimated "
        f"{format_duration(estimated)}{cap}{stopped}), validation {metric} {figure}"
    )


def _markdown(candidates: list[Candidate], metric: str, best: str | None) -> str:
    lines = [
        "# attentext auto",
        "",
        f"| recipe | status | validation {metric} | test {metric} | seconds | estimated s | "
        "allocated s | max steps | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in candidates:
        name = markdown_text(c.recipe)  # a recipe file's name: `a|b.yaml` split its row
        name = f"**{name}** (best)" if c.recipe == best else name
        cells = [
            name,
            c.status,
            _num(c.validation.get(metric)),
            _num(c.test.get(metric)),
            _seconds(c.seconds),
            _seconds(c.estimated_seconds),
            _seconds(c.allocated_seconds),
            "" if c.max_steps is None else f"{c.max_steps:,}",
            markdown_text(c.reason or ("stopped at its share" if c.stopped_by_deadline else "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"
