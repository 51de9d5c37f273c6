"""`tune`: a hyperparameter search of one recipe with Optuna, the only module that imports it.

Each trial trains the recipe with settings drawn from its search space (`spaces.py`) by a TPE
sampler, on one data split loaded once, so every trial is measured on the same validation
texts. After each evaluation (one per epoch) the validation metric is reported to the trial, and
a median pruner stops a trial below the median of earlier trials at the same epoch: the budget
goes to promising settings. A trial also stops early where its recipe does
(`training.early_stopping_patience` > 0: the encoder recipes; seed-transformer and attention-rnn
run every epoch and leave it to the pruner). The best trial's run
directory is kept (`best/`), the others removed as they end; its recipe is written as
`best.yaml`, which `attentext train` takes, with the search section kept so it can be tuned
again; `trials.md` and `trials.json` hold the table. A Ctrl-C ends the search as the timeout
would, without the trial it cut: what finished is kept and `TuneInterrupted` says where.
The same search with `resume` (`tune --resume`) goes on from trials.json: the trials it records
are told to the sampler (so it draws no setting twice), the best so far is kept, and only the
trials left are run; a search killed (-9, SIGTERM) finds its best trial in trials/.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from attentext import rundir
from attentext.automl.budget import seconds_given
from attentext.automl.callbacks import Deadline
from attentext.automl.dataset import data_digest, shared_dataset
from attentext.automl.folders import replacing, writing_output
from attentext.automl.spaces import search_space, suggest, with_values
from attentext.automl.trials import (
    COMPLETE,
    FAILED,
    PRUNED,
    TRIALS_JSON,
    TRIALS_MD,
    TrialRecord,
    progress_line,
    write_trials,
)
from attentext.data.dataset import TextDataset
from attentext.errors import (
    AttentextError,
    AttentextNote,
    RunDirError,
    short_list,
    shown,
    whole_number,
)
from attentext.files import path_parameter, user_path, write_text
from attentext.models.registry import model_family
from attentext.recipes import Recipe, SearchParam, resolve_recipe
from attentext.training.run import one_fit_ignores, train

INSTALL_HINT = "pip install 'attentext[tune]'"
METRICS = ("accuracy", "macro_f1")
BEST_RUN = "best"  # the best trial's run directory, in the output folder
BEST_RECIPE = "best.yaml"
TRIALS_DIR = "trials"  # trials being trained; emptied as they end
# A trial under the median of the complete trials at the same evaluation (epoch) stops there:
# from its 2nd evaluation on (the first epoch of a model trained from scratch says little), once
# 3 trials have completed (a median of fewer is noise).
MEDIAN_PRUNER = "median, from the 2nd evaluation, after 3 complete trials"
INTERRUPTED = "interrupted"  # the note of the trial a Ctrl-C cut


class TuneError(AttentextError):
    """A search that cannot start (Optuna missing, no search space, no validation split) or
    in which no trial completed."""


class TuneInterrupted(KeyboardInterrupt):
    """Ctrl-C during a search, raised once what it finished is on disk; its message says what
    was kept. A KeyboardInterrupt still, so a caller that stops on one stops on this."""


class _Interrupted(BaseException):
    """A KeyboardInterrupt in a trial, carried past Optuna: Optuna catches KeyboardInterrupt to
    log the trial as failed, with a traceback, before raising it again; this it lets through."""


@dataclass
class TuneResult:
    """The best trial's recipe (its YAML at `recipe_path`), run directory, validation metric
    and metrics.json, and every trial's record."""

    recipe: Recipe
    recipe_path: Path
    run_dir: Path
    metric: str
    value: float
    trials: list[TrialRecord]
    metrics: dict[str, Any]


def _optuna() -> Any:
    """Optuna, or a one-line error naming the extra that installs it. Its log shows errors
    only: at WARNING each failed trial printed its traceback (50 lines), where the trial's
    progress line already says why it failed."""
    try:
        import optuna
    except ImportError:
        raise TuneError(f"attentext tune needs Optuna; install it with {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


class _Reporter(TrainerCallback):
    """Hands the validation metric of each evaluation to the trial, and stops a trial the
    pruner judges hopeless (Optuna's TrialPruned, raised out of the Trainer)."""

    def __init__(self, trial: Any, metric: str, pruned: type[Exception]) -> None:
        self.trial, self.key, self.pruned = trial, f"eval_{metric}", pruned
        self.values: list[float] = []  # each evaluation's, reported as step 1, 2, ...
        self.last: float | None = None
        self.epoch: float | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **_: Any):
        value = (metrics or {}).get(self.key)
        if value is None:
            return control
        self.last, self.epoch = float(value), round(float(state.epoch or 0), 2)
        self.values.append(self.last)
        self.trial.report(self.last, len(self.values))
        if self.trial.should_prune():
            raise self.pruned(f"at epoch {self.epoch:g}")
        return control


def tune(
    recipe: str | Path | Recipe,
    data: str | Path | TextDataset,
    output: str | Path,
    *,
    trials: int = 20,
    timeout: float | str | None = None,
    metric: str = "accuracy",
    overwrite: bool = False,
    overrides: list[str] | None = None,
    precision: str | None = None,
    pruner: Any = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> TuneResult:
    """Search `recipe`'s settings on `data` for up to `trials` trials or `timeout` (seconds, or a
    duration as `--timeout` takes it: `"90s"`, `"30m"`, `"1h"`; a trial running at the timeout
    ends at its next step, evaluated); write the best recipe, its run directory and the table of
    trials in `output`.

    `overrides` (`key=value`) fix settings for every trial; a searched setting they name is no
    longer searched. `pruner` replaces the median pruner (any Optuna pruner); `progress`
    receives one line per trial. `resume` goes on with the search in `output` (the same recipe,
    data, metric and settings): its trials are kept and `trials` counts them; `timeout` is this
    call's.
    """
    _check_request(metric, trials)
    data, output = user_path(data), path_parameter(output, "output")
    timeout = None if timeout is None else seconds_given(timeout, "timeout", bare_seconds=True)
    optuna = _optuna()
    base = resolve_recipe(recipe, precision=precision, overrides=overrides)
    given = {"precision": precision, "overrides": overrides}
    for phrase in one_fit_ignores(model_family(base.model.type), given):  # said once, not a trial
        warnings.warn(f"{base.name}: {phrase}", AttentextNote, stacklevel=2)
    fixed = {item.partition("=")[0].strip() for item in overrides or []}
    space = {path: p for path, p in search_space(base).items() if path not in fixed}
    if not space:
        raise TuneError(f"--set fixes every searched setting of {base.name}: nothing to search")
    dataset = shared_dataset(base, data, "tune")
    with writing_output(
        output, TRIALS_JSON, "tune", overwrite, data, _kept_best, resume=resume
    ) as folder:
        search = _Search(base, space, dataset, folder, metric, trials, progress, optuna)
        search.deadline = None if timeout is None else time.monotonic() + timeout
        search.pruner = type(pruner).__name__ if pruner is not None else MEDIAN_PRUNER
        study = _study(optuna, base, trials, pruner)
        if resume:
            search.restore(study)
        search.save()
        try:
            study.optimize(
                search.objective,
                n_trials=max(0, trials - len(search.records)),
                timeout=timeout,
                catch=(AttentextError,),
            )
        except (KeyboardInterrupt, _Interrupted):
            raise TuneInterrupted(search.interrupted()) from None
        return search.finish()


def _study(optuna: Any, base: Recipe, trials: int, pruner: Any) -> Any:
    """A study maximizing the metric: TPE seeded by the recipe, the median pruner by default."""
    return optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=base.training.seed, n_startup_trials=max(2, min(10, trials // 3))
        ),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )


def _distributions(optuna: Any, space: dict[str, SearchParam]) -> dict[str, Any]:
    """The Optuna distribution of each searched setting, as `spaces.suggest` draws it: what a
    trial told to a study (`add_trial`) must name."""
    found = optuna.distributions
    shapes: dict[str, Any] = {}
    for path, p in space.items():
        if p.choices:
            shapes[path] = found.CategoricalDistribution(list(p.choices))
        elif p.integer:
            step = int(p.step or 1)
            shapes[path] = found.IntDistribution(int(p.low), int(p.high), step=step, log=p.log)
        else:
            shapes[path] = found.FloatDistribution(
                float(p.low), float(p.high), step=p.step, log=p.log
            )
    return shapes


def _kept_best(folder: Path) -> bool:
    """Whether an interrupted search kept its best trial (best.yaml): it then replaces an
    earlier search's output, as a finished one does."""
    return (folder / BEST_RECIPE).is_file()


def fixed_settings(base: Recipe, space: dict[str, SearchParam]) -> dict[str, Any]:
    """Every setting of the search's recipe but those searched and its description, by path
    (`data.val_fraction`), as trials.json records them (JSON's types): what a resumed search
    must have been trained with."""
    flat: dict[str, Any] = {}
    stack: list[tuple[str, dict[str, Any]]] = [("", base.to_dict())]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                stack.append((f"{path}.", value))
            elif path not in space and path != "description":
                flat[path] = value
    return json.loads(json.dumps(dict(sorted(flat.items())), default=str))


def _check_request(metric: str, trials: int) -> None:
    if metric not in METRICS:
        raise TuneError(f"--metric {shown(metric)}: choose {' or '.join(METRICS)}")
    if whole_number(trials, "trials") < 1:
        raise TuneError(f"--trials {trials}: run at least one trial")


class _Search:
    """What the study's objective needs between trials: the base recipe and its space, the data,
    the records, and which trial's run directory is kept (the best so far)."""

    def __init__(
        self,
        base: Recipe,
        space: dict[str, SearchParam],
        dataset: TextDataset,
        folder: Path,
        metric: str,
        total: int,
        progress: Callable[[str], None] | None,
        optuna: Any,
    ) -> None:
        self.base, self.space, self.dataset, self.folder = base, space, dataset, folder
        self.metric, self.total, self.progress, self.optuna = metric, total, progress, optuna
        self.records: list[TrialRecord] = []
        # the best trial so far: its value, recipe, run directory, metrics and number
        self.best: tuple[float, Recipe, Path, dict[str, Any], int] | None = None
        self.deadline: float | None = None
        self.pruner = MEDIAN_PRUNER
        self.started = time.monotonic()
        self.earlier = 0.0  # the seconds of the calls a resumed search went on from
        self.data_sha256 = data_digest(dataset)  # the texts every trial is trained and measured on

    def objective(self, trial: Any) -> float:
        """One trial, a Ctrl-C (or SIGTERM) anywhere in it carried past Optuna: one landing
        after training, while the trial's line was printed, reached Optuna as itself and was
        logged with a traceback before the one line that says what was kept."""
        try:
            return self._trial(trial)
        except KeyboardInterrupt:
            raise _Interrupted from None

    def _trial(self, trial: Any) -> float:
        """One trial: train the drawn recipe, record how it ended, keep its run if best."""
        values = suggest(trial, self.space)
        record = TrialRecord(trial.number + 1, values, FAILED, None, 0.0)
        run_dir = self.folder / TRIALS_DIR / f"trial-{record.number:03d}"
        reporter = _Reporter(trial, self.metric, self.optuna.TrialPruned)
        deadline = Deadline(self.deadline) if self.deadline is not None else None
        callbacks: list[TrainerCallback] = [reporter, *([deadline] if deadline else [])]
        start = time.perf_counter()
        try:
            recipe = with_values(self.base, values)
            result = train(
                recipe, self.dataset, run_dir, overwrite=True, callbacks=callbacks, log_lines=False
            )
        except self.optuna.TrialPruned as pruned:
            record.state, record.note = PRUNED, str(pruned)
            raise
        except AttentextError as error:
            record.note = str(error)
            raise
        except KeyboardInterrupt:
            record.note = INTERRUPTED
            raise _Interrupted from None
        else:
            record.state = COMPLETE
            record.metric = float(result.metrics["validation"][self.metric])
            record.note = "cut at the timeout" if deadline and deadline.stopped else ""
            self._keep_if_best(record, recipe, result.run_dir, result.metrics)
            return record.metric
        finally:
            record.seconds = round(time.perf_counter() - start, 2)
            record.metric = reporter.last if record.metric is None else record.metric
            record.epochs = reporter.epoch
            record.intermediate = list(reporter.values)
            self._ended(record, run_dir)

    def _keep_if_best(
        self, record: TrialRecord, recipe: Recipe, run_dir: Path, metrics: dict[str, Any]
    ) -> None:
        """The first trial with the highest value keeps its run directory."""
        value = float(record.metric or 0.0)
        if self.best is not None and value <= self.best[0]:
            return
        if self.best is not None:
            shutil.rmtree(self.best[2], ignore_errors=True)
        self.best = (value, recipe, run_dir, metrics, record.number)

    def _ended(self, record: TrialRecord, run_dir: Path) -> None:
        """Remove what the trial left unless it is the best so far; record and show it."""
        if self.best is None or self.best[2] != run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(rundir.partial_dir(run_dir), ignore_errors=True)
        self.records.append(record)
        self.save()
        if self.progress is not None and record.note != INTERRUPTED:
            self.progress(progress_line(record, self.total, self.metric))

    def restore(self, study: Any) -> None:
        """Go on with the search trials.json records (`tune --resume`): its trials told to the
        study with the metric of each of their evaluations (the pruner's median at an epoch
        reads them: without them it had no trial to judge the new ones against), the trial a
        Ctrl-C cut left out (it runs again), the best one kept."""
        facts = json.loads((self.folder / TRIALS_JSON).read_text(encoding="utf-8"))
        asked = {"recipe": self.base.name, "data": self.dataset.source, "metric": self.metric}
        for key, value in asked.items():
            if facts.get(key) != value:
                raise RunDirError(
                    f"{self.folder}: holds a search of {key} {shown(facts.get(key))}, not "
                    f"{shown(value)}; run the same search to resume it, or choose another --output"
                )
        self._check_same_trials(facts)
        records = [TrialRecord(**r) for r in facts["trials"] if r["note"] != INTERRUPTED]
        if any(set(record.values) != set(self.space) for record in records):
            raise RunDirError(
                f"{self.folder}: its trials searched other settings than "
                f"{', '.join(self.space)} (another --set); give the same --set to resume it"
            )
        self.records, self.earlier = records, float(facts.get("seconds") or 0.0)
        shapes = _distributions(self.optuna, self.space)
        states = self.optuna.trial.TrialState
        for record in records:
            done = record.state == COMPLETE and record.metric is not None
            state = states.COMPLETE if done else states.PRUNED if record.state == PRUNED else None
            study.add_trial(
                self.optuna.trial.create_trial(
                    params=record.values,
                    distributions=shapes,
                    value=record.metric if done else None,
                    state=state or states.FAIL,
                    intermediate_values=dict(enumerate(record.intermediate, start=1)),
                )
            )
        self._restore_best()

    def _check_same_trials(self, facts: dict[str, Any]) -> None:
        """The trials to go on from were trained with the settings fixed now and measured on the
        texts the data holds now (trials.json records both; one written before is not checked).
        A resume with another `--set data.val_fraction` (or any fixed setting), or after the
        data file was edited, kept the earlier best, measured on other validation texts or
        trained otherwise, and wrote best.yaml with the new settings beside its run."""
        made, now = facts.get("settings"), fixed_settings(self.base, self.space)
        if isinstance(made, dict) and made != now:
            differ = [
                f"{key} {shown(made.get(key, '(unset)'), 30)} (now {shown(now.get(key), 30)})"
                for key in sorted(set(made) | set(now))
                if made.get(key, ...) != now.get(key, ...)
            ]
            raise RunDirError(
                f"{self.folder}: its trials were trained with other settings: "
                f"{short_list(differ, 4, 80)}; give the same --set and --precision to resume "
                "it, or choose another --output"
            )
        digest = facts.get("data_sha256")
        if isinstance(digest, str) and digest != data_digest(self.dataset):
            raise RunDirError(
                f"{self.folder}: its trials were measured on other texts than "
                f"{shown(self.dataset.source)} holds now (the data changed since); its trials "
                "cannot be compared with new ones: choose another --output, or pass --overwrite to "
                "start it over"
            )

    def _restore_best(self) -> None:
        """The best complete trial whose run is whole (in best/, or in trials/ where the search
        was killed before it moved it), kept as the best so far; other trials' runs removed."""
        complete = [r for r in self.records if r.state == COMPLETE and r.metric is not None]
        for record in sorted(complete, key=lambda r: (-(r.metric or 0.0), r.number)):
            run_dir = self.folder / TRIALS_DIR / f"trial-{record.number:03d}"
            if record.best:
                run_dir = self.folder / BEST_RUN
            try:
                rundir.read_marker(run_dir)
            except RunDirError:
                continue
            recipe, metrics = with_values(self.base, record.values), rundir.read_metrics(run_dir)
            self.best = (record.metric or 0.0, recipe, run_dir, metrics, record.number)
            break
        for left in (self.folder / TRIALS_DIR).glob("trial-*"):
            if self.best is None or left != self.best[2]:
                shutil.rmtree(left, ignore_errors=True)

    def save(self, best: int | None = None) -> None:
        for record in self.records:
            record.best = record.number == best
        facts = {
            "recipe": self.base.name,
            "data": self.dataset.source,
            "metric": self.metric,
            "sampler": "TPE",
            "pruner": self.pruner,
            "best_trial": best,
            "seconds": round(self.earlier + time.monotonic() - self.started, 1),
            "settings": fixed_settings(self.base, self.space),
            "data_sha256": self.data_sha256,
        }
        write_trials(self.folder, self.records, self.metric, facts)

    def interrupted(self) -> str:
        """After a Ctrl-C: keep the best trial so far as `finish` does (best.yaml, best/), or the
        table alone if none completed; the line that says what was kept."""
        done = sum(record.note != INTERRUPTED for record in self.records)
        stopped = f"interrupted after {done} of {self.total} trials"
        again = (
            f"; the same tune command with --resume (resume=True in Python) runs the "
            f"{self.total - done} left"
        )
        if self.best is None:
            shutil.rmtree(self.folder / TRIALS_DIR, ignore_errors=True)
            self.save()
            if replacing(self.folder):  # put back: nothing of this search to go on from
                return f"{stopped}, none complete; {self._where_trials()}"
            return f"{stopped}, none complete; {self._where_trials()}{again}"
        result = self.finish()
        return (
            f"{stopped}; kept the best so far: recipe {result.recipe_path}, run {result.run_dir}, "
            f"trials {self.folder / TRIALS_MD}{again}"
        )

    def _where_trials(self) -> str:
        """Where the table of a search that kept no trial is: in its folder, or, where it
        replaced an earlier search's output, nowhere (that output is put back whole)."""
        if replacing(self.folder):
            return f"{self.folder} keeps the earlier search's output"
        return f"the trials are in {self.folder / TRIALS_MD}"

    def _none_completed(self) -> str:
        """Why no trial completed. Where every trial failed, their errors and that the settings
        must change: "give more --trials or a longer --timeout" was said of a --set that failed
        every trial (`model.options.min_df=1000`), which more trials fail the same way."""
        counts = {s: sum(r.state == s for r in self.records) for s in (PRUNED, FAILED)}
        if self.records and counts[FAILED] == len(self.records):
            errors = list(dict.fromkeys(r.note for r in self.records if r.note))
            return (
                f"no trial completed: all {len(self.records)} failed "
                f"({short_list(errors, 2, 200) or 'no error recorded'}; {self._where_trials()}); "
                "change the settings that fail them (--set, the search: section) and run it again"
            )
        return (
            f"no trial completed ({counts[PRUNED]} pruned, {counts[FAILED]} failed; "
            f"{self._where_trials()}); give more --trials or a longer --timeout"
        )

    def finish(self) -> TuneResult:
        """The best trial's run moved to `best/`, its recipe to best.yaml; the table written."""
        if self.best is None:
            shutil.rmtree(self.folder / TRIALS_DIR, ignore_errors=True)
            self.save()
            raise TuneError(self._none_completed())
        value, recipe, run_dir, metrics, number = self.best
        best_dir = self.folder / BEST_RUN
        if run_dir != best_dir:  # a resumed search's best may be the earlier call's best/
            run_dir.rename(best_dir)
        shutil.rmtree(self.folder / TRIALS_DIR, ignore_errors=True)
        recipe_path = self.folder / BEST_RECIPE
        recipe.description = (
            f"{recipe.description.rstrip()} Tuned by `attentext tune` on {self.dataset.source}: "
            f"trial {number} of {len(self.records)}, validation {self.metric} {value:.4f}."
        ).strip()
        write_text(recipe_path, recipe.to_yaml(search=True))
        self.save(best=number)
        return TuneResult(recipe, recipe_path, best_dir, self.metric, value, self.records, metrics)
