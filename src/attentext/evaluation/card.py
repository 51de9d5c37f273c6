"""The model card of a run: `README.md` in the Hugging Face model-card format, so that a run
directory pushed to the Hub (or read by anyone) says what the model is and how well it does.

YAML metadata first (its strings' control and bidirectional characters escaped:
`rendering.yaml_text`; `pipeline_tag`, `library_name`, `labels`, and a `model-index` holding the
evaluation's metrics, which `huggingface_hub.ModelCard` parses into `eval_results`), then what
the model is, its recipe, its training data, its evaluation per class, its calibration, what it
is for and where it stops, and how to load it with attentext and with `transformers.pipeline`.

Everything comes from the `Run` (metrics.json, recipe.yaml, calibration.json), so a run written
before cards existed gets one on the fly (`attentext card RUN`). Training writes the card when it
publishes a run; `evaluate --card` refreshes it with an evaluation on other data.

A card ends with a stamp, an HTML comment holding the SHA-256 of the text above it: a card that no
longer matches its stamp was edited by hand (or is the user's own README.md), and is never
replaced without the command's overwrite flag (an audit found `card --write` replacing one).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentext import rundir
from attentext.errors import AttentextError, RunDirError
from attentext.files import write_text
from attentext.rendering import (
    LABEL_NOUNS,
    TABLE_CLASSES,
    markdown_code,
    markdown_fence,
    markdown_prose,
    markdown_text,
    python_string,
    shown_classes,
    yaml_text,
)
from attentext.rundir import CARD_FILE, Run

MAX_CARD_BYTES = 4 << 20
SPLITS = ("test", "validation")  # the splits training measures, the one reported first first
UNRECORDED = "training data"
# why a README.md is not the card's to replace (`check_card_replaceable`, recalibrate's warning)
NOT_OWN_CARD = "edited by hand, not written by attentext, or a card from before cards were stamped"  # what the card calls data whose name the run does not record
STAMP = "<!-- written by attentext; sha256 of the text above: {digest} -->\n"
STAMP_LINE = re.compile(
    r"^<!-- written by attentext; sha256 of the text above: ([0-9a-f]{64}) -->\n?\Z", re.MULTILINE
)


@dataclass
class Evaluation:
    """A report of `evaluate` (its dictionary), on `data`'s `split`: what `evaluate --card`
    adds to the card before the training run's own splits."""

    data: str
    split: str
    report: dict[str, Any]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def short_data_name(data: str) -> str:
    """What a card calls data: a local folder or file by its name, a hub dataset by its id."""
    path = Path(data)
    return path.resolve().name if path.exists() and path.resolve().name else data


def data_name(run: Run) -> str | None:
    """The training data's name where metrics.json records it (`data`), else None."""
    name = run.metrics.get("data")
    return short_data_name(name) if isinstance(name, str) and name else None


def card_labels(run: Run) -> list[str]:
    """The label names, from the metrics' reports, else the model's config.json."""
    for split in SPLITS:
        report = run.metrics.get(split)
        if isinstance(report, dict) and isinstance(report.get("label_names"), list):
            return [str(label) for label in report["label_names"]]
    try:
        text = rundir.read_run_file(run.path, rundir.CONFIG_FILE, rundir.MAX_MARKER_BYTES)
        id2label = json.loads(text).get("id2label", {})
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    except (RunDirError, ValueError, AttributeError, TypeError, KeyError):
        return []


def _reports(run: Run, evaluation: Evaluation | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(data, split, report) of each evaluation the card shows: `evaluation` first."""
    found = [(evaluation.data, evaluation.split, evaluation.report)] if evaluation else []
    for split in SPLITS:
        report = run.metrics.get(split)
        if isinstance(report, dict) and _number(report.get("accuracy")) is not None:
            found.append((data_name(run) or UNRECORDED, split, report))
    return found


def _multi_label(report: dict[str, Any]) -> bool:
    return report.get("problem_type") == "multi_label"


def _metric_list(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A report's headline numbers as model-index metrics."""
    accuracy = "Subset accuracy" if _multi_label(report) else "Accuracy"
    wanted = [
        ("accuracy", "accuracy", accuracy, None),
        ("micro_f1", "f1", "Micro F1", "micro"),
        ("macro_f1", "f1", "Macro F1", "macro"),
        ("weighted_f1", "f1", "Weighted F1", "weighted"),
    ]
    metrics = []
    for key, kind, title, average in wanted:
        value = _number(report.get(key))
        if value is not None:
            metric: dict[str, Any] = {"type": kind, "value": round(value, 4), "name": title}
            if average:
                metric["args"] = {"average": average}
            metrics.append(metric)
    return metrics


def _model_index(name: str, reports: list[tuple[str, str, dict[str, Any]]]) -> list[dict]:
    results = [
        {
            "task": {"type": "text-classification", "name": "Text Classification"},
            "dataset": {"type": data, "name": data, "split": split},
            "metrics": _metric_list(report),
        }
        for data, split, report in reports
    ]
    return [{"name": name, "results": results}] if results else []


def _metadata(run: Run, name: str, reports: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The card's YAML front matter."""
    recipe = run.recipe
    tags = ["attentext", "text-classification", run.kind]
    if recipe is not None and run.kind != rundir.ENSEMBLE_KIND:
        tags += [recipe.name, recipe.model.type]
    metadata: dict[str, Any] = {
        "library_name": "attentext",
        "pipeline_tag": "text-classification",
        "tags": list(dict.fromkeys(tags)),
        "labels": card_labels(run),
        "metrics": ["accuracy", "f1"],
    }
    if run.kind == rundir.TRANSFORMERS_KIND:
        metadata["inference"] = False  # a custom architecture: attentext registers it
    index = _model_index(name, reports)
    if index:
        metadata["model-index"] = index
    # a label's bidi override or control character escaped: the Hub reads the labels here
    return f"---\n{yaml_text(metadata)}---\n"


def _description(run: Run, name: str) -> list[str]:
    recipe = run.recipe
    labels = card_labels(run)
    what = (
        "a Hugging Face model (config.json, model.safetensors, tokenizer.json)"
        if run.kind == rundir.TRANSFORMERS_KIND
        else f"attentext's non-neural baseline ({run.kind})"
    )
    lines = [f"# {markdown_text(name)}", ""]
    if run.kind == rundir.ENSEMBLE_KIND:
        first = (
            f"An ensemble of {len(run.members)} attentext runs: the weighted mean of their "
            "calibrated probabilities (ensemble.json; each run in members/)."
        )
    else:
        if recipe is not None and recipe.description.strip():
            lines += [markdown_prose(" ".join(recipe.description.split())), ""]
        first = (
            f"A text classifier trained with attentext from the recipe "
            f"{markdown_code(run.recipe_name or 'custom')}: {what}."
        )
    several = recipe is not None and getattr(recipe.data, "multi_label", False)
    sorts = "gives a text every label that applies, of" if several else "sorts a text into one of"
    names = ", ".join(markdown_code(label) for label in labels[:TABLE_CLASSES])
    if len(labels) > TABLE_CLASSES:  # the front matter lists every label
        names += f" and {len(labels) - TABLE_CLASSES:,} more (all in the front matter)"
    return [*lines, f"{first} It {sorts} {len(labels):,} labels: {names}.", ""]


def _recipe_rows(run: Run) -> list[tuple[str, Any]]:
    """The recipe settings worth a table row: a neural model's training, or the baseline's
    options (the rest of its recipe does not apply to it)."""
    recipe = run.recipe
    assert recipe is not None
    rows: list[tuple[str, Any]] = [("recipe", recipe.name), ("model", recipe.model.type)]
    if run.kind != rundir.TRANSFORMERS_KIND:
        return rows + [(f"option {key}", value) for key, value in recipe.model.options.items()]
    if recipe.tokenizer.type == "pretrained" or "encoder" in recipe.model.type:
        rows.append(("encoder", recipe.model.encoder))
    if recipe.model.embedding_init == "encoder":
        kept = ", kept fixed" if recipe.model.freeze_embedding else ""
        rows.append(("word embedding started from", f"{recipe.model.encoder} (word vectors{kept})"))
    return rows + [
        ("tokenizer", recipe.tokenizer.type),
        ("max length (tokens)", recipe.tokenizer.max_length),
        ("truncation", recipe.tokenizer.truncation)
        if recipe.tokenizer.long_text != "chunks"
        else ("long texts", _windows_row(recipe)),
        ("epochs", recipe.training.epochs),
        ("batch size", recipe.training.batch_size),
        ("learning rate", recipe.training.learning_rate),
        ("precision", run.metrics.get("precision", recipe.training.precision)),
        (
            "seed",
            recipe.training.seed
            if recipe.data.seed is None
            else f"{recipe.training.seed} (data split: {recipe.data.seed})",
        ),
    ]


def _windows_row(recipe: Any) -> str:
    spec = recipe.tokenizer
    cap = f", max {spec.max_chunks} ({spec.chunks_kept})" if spec.max_chunks else ""
    how = recipe.model.options.get("aggregation", "mean")
    return f"windows, stride {spec.stride}{cap}, {how}"


def _members_section(run: Run) -> list[str]:
    """An ensemble's members: each one's recipe, weight and validation scores."""
    members = run.metrics.get("members")
    members = members if isinstance(members, dict) else {}
    selection = run.metrics.get("selection")
    how = selection.get("method") if isinstance(selection, dict) else None
    lines = ["## Members", "", f"Weights chosen by {how or 'an unrecorded method'}.", ""]
    lines += ["| member | recipe | weight | validation accuracy |", "|---|---|---|---|"]
    for path, weight in run.members:
        record = members.get(path.name)
        accuracy = _number(record.get("accuracy") if isinstance(record, dict) else None)
        recipe = record.get("recipe", "?") if isinstance(record, dict) else "?"
        shown = "" if accuracy is None else f"{accuracy:.4f}"
        lines.append(
            f"| {markdown_text(path.name)} | {markdown_text(recipe)} | {weight:.2f} | {shown} |"
        )
    return [*lines, ""]


def _recipe_section(run: Run) -> list[str]:
    if run.kind == rundir.ENSEMBLE_KIND:
        return _members_section(run)
    recipe = run.recipe
    if recipe is None:
        return ["## Recipe", "", "This run has no recipe.yaml.", ""]
    lines = ["## Recipe", "", "| setting | value |", "|---|---|"]
    lines += [f"| {markdown_text(k)} | {markdown_text(v)} |" for k, v in _recipe_rows(run)]
    lines += [
        "",
        "<details><summary>recipe.yaml (the resolved recipe, as trained)</summary>",
        "",
        *markdown_fence(recipe.to_yaml().rstrip(), "yaml"),
        "",
        "</details>",
        "",
    ]
    return lines


def _data_section(run: Run) -> list[str]:
    metrics = run.metrics
    facts = metrics.get("distillation")
    facts = facts if isinstance(facts, dict) else {}
    # a student's n_train counts its transfer set: the train split is its labelled texts
    sizes = [("train", facts.get("n_labelled", metrics.get("n_train")))]
    for split in ("validation", "test"):
        report = metrics.get(split)
        sizes.append((split, report.get("n_examples") if isinstance(report, dict) else None))
    name = data_name(run)
    lines = [
        "## Training data",
        "",
        f"Data: {markdown_code(name)}." if name else "Data: its name is not recorded in this run.",
        "",
        "| split | texts |",
        "|---|---|",
    ]
    lines += [f"| {split} | {size:,} |" for split, size in sizes if isinstance(size, int)]
    return [
        *lines,
        "",
        *_copies_lines(metrics.get("data_profile")),
        *_shots_lines(run),
        *_self_training_lines(run),
        *_distillation_lines(facts),
    ]


def _copies_lines(data_profile: Any) -> list[str]:
    """The validation and test texts that are also training texts, where training counted some
    (a reader of the card's test figures should know they include texts the model learned)."""
    profile = data_profile if isinstance(data_profile, dict) else {}
    found = [
        (split, n)
        for split in ("validation", "test")
        if isinstance(n := profile.get(f"{split}_in_train"), int)
        and not isinstance(n, bool)
        and n > 0
    ]
    if not found:
        return []
    said = " and ".join(f"{n:,} {split} texts" for split, n in found)
    return [f"{said} are also training texts (case and spacing ignored).", ""]


def _shots_lines(run: Run) -> list[str]:
    """How a `--shots` run drew its training texts, or nothing: its card counted them as a
    train split and said its probabilities were calibrated on a validation split it never had."""
    shots = run.recipe.data.shots if run.recipe is not None else 0
    if not shots:
        return []
    return [
        f"The train split is {shots} examples per class, drawn with data seed "
        f"{run.recipe.data_seed} from the training data (`data.shots`); no validation split was "
        "held out.",
        "",
    ]


def self_trained(run: Run) -> tuple[str, int] | None:
    """(the unlabeled file, how many of its texts the run labelled itself and learned from) of
    a self-trained few-shot run (metrics.json's `fewshot.self_training`), or None."""
    fewshot = run.metrics.get("fewshot")
    facts = fewshot.get("self_training") if isinstance(fewshot, dict) else None
    if not isinstance(facts, dict) or not isinstance(facts.get("pseudo_labels"), dict):
        return None
    counts = [n for n in facts["pseudo_labels"].values() if isinstance(n, int)]
    return str(facts.get("unlabeled", "")), sum(counts)


def _self_training_lines(run: Run) -> list[str]:
    """What a self-trained few-shot run learned beside its labelled texts, or nothing: its card
    said it learned from its 16 labelled texts, not the 149 it labelled itself (an audit)."""
    trained = self_trained(run)
    if trained is None:
        return []
    source, n = trained
    return [
        f"Self-trained: it also learned from {n:,} texts of {markdown_code(source)} that it "
        "labelled itself, the surest of each label (pseudo-labels; `fewshot.unlabeled`).",
        "",
    ]


def _distillation_lines(facts: dict[str, Any]) -> list[str]:
    """What a distilled student learned from (metrics.json's `distillation`), or nothing.

    A student's card said nothing of its teacher, began with its recipe's "trained from
    scratch", and counted the texts the teacher labelled (unlabeled ones, noisy copies) as its
    train split's."""
    if not facts:
        return []
    teachers = [facts.get("teacher"), *(facts.get("ensemble") or [])]
    names = ", ".join(markdown_code(teacher) for teacher in teachers if isinstance(teacher, str))
    counts = [
        f"{facts[key]:,} {what}"
        for key, what in (
            ("n_labelled", "training texts"),
            ("n_unlabeled", "unlabeled texts"),
            ("n_augmented", "noisy copies"),
        )
        if isinstance(facts.get(key), int) and facts[key]
    ]
    how = ", ".join(
        f"{what} {markdown_text(facts[key])}"
        for key, what in (("loss", "loss"), ("temperature", "temperature"), ("alpha", "alpha"))
        if key in facts
    )
    return [
        f"Distilled from the teacher run(s) {names or '(not recorded)'}: the student learned "
        f"their probabilities on {', '.join(counts) or 'its training texts'}, each labelled by "
        f"the teacher ({how or 'settings not recorded'}; alpha weighs the gold labels).",
        "",
    ]


INTERVALS = (
    ("accuracy_interval", "Accuracy's 95 % interval (Wilson)"),
    ("macro_f1_interval", "Macro-F1's 95 % interval (bootstrap)"),
)


def _interval_lines(report: dict[str, Any]) -> list[str]:
    """The 95 % intervals of the accuracy and macro-F1, where metrics.json has them (runs before
    had none) and they are intervals: two ends, low to high, within [0, 1]. A metrics.json
    edited by hand put "nan-1.0000", "0.9000-0.1000" or "-5.0000-7.0000" on a card the Hub
    shows; such an interval is left out."""
    lines = []
    for key, name in INTERVALS:
        interval = report.get(key)
        ends = [_number(end) for end in interval] if isinstance(interval, list) else []
        if len(ends) == 2 and None not in ends and 0.0 <= ends[0] <= ends[1] <= 1.0:
            lines += [f"{name}: {ends[0]:.4f}-{ends[1]:.4f}.", ""]
    return lines


def _report_lines(data: str, split: str, report: dict[str, Any]) -> list[str]:
    """One evaluation: its headline numbers, then precision, recall, F1 and support per class."""
    headline = ", ".join(f"{m['name']} {m['value']:.4f}" for m in _metric_list(report))
    n = report.get("n_examples")
    lines = [f"### {markdown_text(split)} split of {markdown_text(data)}", ""]
    lines += [f"{headline}" + (f" on {n:,} texts." if isinstance(n, int) else "."), ""]
    lines += _interval_lines(report)
    ece = _number(report.get("expected_calibration_error"))
    if ece is not None:
        lines += [f"Expected calibration error: {ece:.4f}.", ""]
    per_class = report.get("per_class")
    if isinstance(per_class, dict) and per_class:
        lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        rows, rest = shown_classes(per_class, nouns=LABEL_NOUNS)
        for label, row in rows:
            if isinstance(row, dict):
                cells = [_number(row.get(key)) for key in ("precision", "recall", "f1")]
                shown = " | ".join("" if v is None else f"{v:.3f}" for v in cells)
                lines.append(
                    f"| {markdown_text(label)} | {shown} | {markdown_text(row.get('support', ''))} |"
                )
        lines += ["", f"Shown: {rest}.", ""] if rest else [""]
    return lines


def _evaluation_section(reports: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    lines = ["## Evaluation", ""]
    if not reports:
        return [*lines, "This run records no evaluation.", ""]
    for data, split, report in reports:
        lines += _report_lines(data, split, report)
    return lines


def fitted_on(calibration: dict | None) -> str:
    """Where the temperature was fitted, as a phrase: "the validation split", "ag_news test",
    "held_out.csv", or the texts and the reference run of `recalibrate --reference`."""
    where = calibration.get("fitted_on", "validation") if isinstance(calibration, dict) else None
    return "the validation split" if where in (None, "validation") else str(where)


def _calibration_section(run: Run) -> list[str]:
    lines = ["## Calibration", ""]
    calibration = run.metrics.get("calibration")
    if not isinstance(calibration, dict) or _number(calibration.get("temperature")) is None:
        if isinstance(run.metrics.get("thresholds"), dict):
            return [
                *lines,
                "Several labels per text: each label's decision threshold was tuned on the "
                "validation split (thresholds.json); every reader applies them.",
                "",
            ]
        return [*lines, f"Not calibrated: temperature {run.temperature:g} (none fitted).", ""]
    lines += [
        *_scaling_lines(run, calibration),
        *_confidence_map_lines(run, calibration),
        *_label_prior_lines(calibration),
        "| split | ECE before | ECE after | NLL before | NLL after |",
        "|---|---|---|---|---|",
    ]
    where = calibration.get("fitted_on", "validation")
    if calibration.get("reference"):  # measured against the reference's probabilities
        where = f"{where} (measured against them)"
    for split, numbers in ((where, calibration), ("test", calibration.get("test"))):
        if isinstance(numbers, dict):
            keys = ("ece_before", "ece_after", "nll_before", "nll_after")
            values = [_number(numbers.get(key)) for key in keys]
            shown = " | ".join("" if v is None else f"{v:.4f}" for v in values)
            lines.append(f"| {markdown_text(split)} | {shown} |")
    return [*lines, ""]


def _scaling_lines(run: Run, calibration: dict) -> list[str]:
    """What the temperature does: one for the softmax, or one per label's sigmoid."""
    fitted = calibration.get("label_temperatures")
    if isinstance(fitted, dict):
        own = fitted.get("per_label", {})
        return [
            "Temperature scaling per label: each label's logit is divided by its own temperature "
            f"before its sigmoid, fitted on {markdown_text(fitted_on(calibration))} ({len(own)} "
            "labels with "
            f"enough positive and negative texts there have their own; the others share "
            f"T = {_number(fitted.get('pooled')) or 1.0:.4f}, fitted on every (text, label) pair); "
            + (
                "the decision thresholds were then moved to the same logits under them, so "
                "every text keeps the labels it had before "
                if "replaces_label_temperatures" in calibration
                else "the decision thresholds were then tuned on the calibrated probabilities "
            )
            + "(calibration.json, thresholds.json; attentext applies both wherever the run is "
            "loaded). ECE and NLL below are over every (text, label) pair.",
            "",
        ]
    return [
        f"Temperature scaling: the logits are divided by T = {run.temperature:.4f} before the "
        f"softmax, fitted on {markdown_text(fitted_on(calibration))} "
        "(calibration.json; attentext applies it wherever the run is loaded). Alone it never "
        "changes the predicted label, only how sure the model says it is.",
        "",
    ]


def _confidence_map_lines(run: Run, calibration: dict) -> list[str]:
    if run.confidence_map is None:
        return []
    return [
        f"After the temperature, a monotone map of the top label's probability "
        f"({len(run.confidence_map.confidence)} points, isotonic regression on the same texts) "
        "sets it to the accuracy seen at it; the other labels share the rest in their old "
        "proportions. Its ECE and NLL after are out of fold (each half of the texts scored by "
        "a map fitted on the other).",
        "",
    ]


def _label_prior_lines(calibration: dict) -> list[str]:
    prior = calibration.get("label_prior")
    if not isinstance(prior, dict) or not isinstance(prior.get("train_counts"), dict):
        return []
    counts = ", ".join(
        f"{markdown_text(name)} {count:,}" for name, count in prior["train_counts"].items()
    )
    shares = prior.get("estimated_shares")
    target = (
        f"the shares estimated on {markdown_text(prior.get('estimated_on'))} ("
        + ", ".join(f"{markdown_text(name)} {share}" for name, share in shares.items())
        + ")"
        if isinstance(shares, dict)
        else "texts where every label is as likely"
    )
    return [
        f"Label prior: {markdown_text(prior.get('target'))}. The training split's label counts ({counts}) are "
        "divided out of the calibrated probabilities (a bias per label added to the logits / T; "
        f"training.label_prior, recalibrate --label-prior), as for {target}; unlike the "
        "temperature, this can change the predicted label. The test row includes it; the "
        "validation row, whose labels come in the training split's shares, does not.",
        "",
    ]


def _length_limit(recipe: Any) -> str:
    """What the model reads of a long text: its cut part, or its windows and how they combine."""
    spec = recipe.tokenizer
    if spec.long_text != "chunks":
        return (
            f"Texts longer than {spec.max_length} tokens are cut ({spec.truncation}, as at "
            "training), so the model reads only that part."
        )
    cap = (
        f", at most {spec.max_chunks} per text ({spec.chunks_kept} kept)" if spec.max_chunks else ""
    )
    how = recipe.model.options.get("aggregation", "mean")
    return (
        f"Texts longer than {spec.max_length} tokens are read in windows of {spec.max_length} "
        f"tokens overlapping by {spec.stride}{cap}; the windows' predictions are combined by "
        f"{how}, as at training."
    )


def _use_section(run: Run) -> list[str]:
    recipe = run.recipe
    if run.kind == rundir.ENSEMBLE_KIND:
        limit = "Each member reads texts as its own recipe does (see its card in members/)."
    elif recipe is not None and run.kind == rundir.TRANSFORMERS_KIND:
        limit = _length_limit(recipe)
    else:
        limit = "The TF-IDF baseline reads every word, but knows only its training vocabulary."
    n_train = run.metrics.get("n_train")
    size = f"{n_train:,} texts" if isinstance(n_train, int) else "its training texts"
    if (trained := self_trained(run)) is not None:
        size += f" and {trained[1]:,} it labelled itself"
    calibration = run.metrics.get("calibration")
    calibrated = isinstance(calibration, dict) and "temperature" in calibration
    probabilities = (
        f"calibrated on {markdown_text(fitted_on(calibration))}"
        if calibrated or run.multi_label
        else "not calibrated (no temperature was fitted: `attentext recalibrate` fits one on "
        "held-out labelled texts)"
    )
    return [
        "## Intended use and limits",
        "",
        "Intended for sorting texts like its training data into the labels above: routing, "
        "tagging, analytics, and as a baseline to compare other models with.",
        "",
        f"- It learned from {size}: texts of another domain, language or time, and labels it "
        "never saw, get confident answers that can be wrong; measure it on your own data "
        "(`attentext evaluate`).",
        f"- {limit}",
        f"- Its probabilities are {probabilities}; they are estimates, not "
        "guarantees, and drift with the data.",
        "- It carries the biases of its training data. Do not use it alone for decisions about "
        "people.",
        "",
    ]


def _loading_section(run: Run, name: str) -> list[str]:
    lines = [
        "## How to use",
        "",
        "With attentext (calibrated probabilities):",
        "",
        "```python",
        "import attentext",
        "",
        f"classifier = attentext.load({python_string(name)})",
        'classifier.predict(["Stocks rally as oil prices fall"])',
        'classifier.predict_proba(["Stocks rally as oil prices fall"])',
        "```",
        "",
        f"Served over HTTP ({markdown_code('attentext serve ' + shlex.quote(name))}): attentext's /v1 API, the Hugging Face "
        "inference shape, TEI's /predict and the Open Inference Protocol v2.",
        "",
    ]
    if run.kind == rundir.ENSEMBLE_KIND:
        return [*lines, "An ensemble loads with attentext only; each member also alone.", ""]
    if run.kind != rundir.TRANSFORMERS_KIND:
        return [*lines, "This non-neural baseline loads with attentext only.", ""]
    return [
        *lines,
        "With transformers (importing attentext registers its model types with the Auto "
        "classes; the pipeline's "
        + (
            "sigmoids do not apply the labels' temperatures"
            if run.multi_label
            else "softmax does not apply the run's temperature"
        )
        + "):",
        "",
        "```python",
        "import attentext  # noqa: F401",
        "from transformers import pipeline",
        "",
        f'classify = pipeline("text-classification", model={python_string(name)})',
        'classify("Stocks rally as oil prices fall", top_k=None)',
        "```",
        "",
    ]


def model_card(run: Run, name: str | None = None, evaluation: Evaluation | None = None) -> str:
    """The README.md of `run` (`name`: what to call it, its folder's name by default)."""
    name = name or run.name
    reports = _reports(run, evaluation)
    sections = [
        _description(run, name),
        _recipe_section(run),
        _data_section(run),
        _evaluation_section(reports),
        _calibration_section(run),
        _use_section(run),
        _loading_section(run, name),
    ]
    body = "\n".join(line for section in sections for line in section)
    return stamped(_metadata(run, name, reports) + "\n" + body.rstrip() + "\n")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamped(text: str) -> str:
    """`text` and a last line holding its SHA-256: how a later write knows the card is the one
    attentext wrote, unedited, and so its own to replace."""
    return text + "\n" + STAMP.format(digest=_digest(text))


def is_own_card(text: str) -> bool:
    """Whether `text` is a card attentext wrote and nobody edited since (it matches its stamp)."""
    found = STAMP_LINE.search(text)
    if found is None or not found.start():
        return False
    return found.group(1) == _digest(text[: found.start() - 1])


def read_card(run: Run) -> str | None:
    """The run's README.md as written, or None for a run made before cards."""
    if not (run.path / CARD_FILE).exists():
        return None
    return rundir.read_run_file(run.path, CARD_FILE, MAX_CARD_BYTES)


def check_card_replaceable(run: Run, flag: str = "--overwrite") -> None:
    """Refuse, in one line naming `flag`, to replace a README.md that attentext did not write or
    that was edited since: the user's words are not the card's to drop."""
    target = run.path / CARD_FILE
    try:
        text = read_card(run)
    except RunDirError:  # a link, a 5 MB file, not UTF-8: not a card attentext wrote
        text = ""
    if text is not None and not is_own_card(text):
        raise AttentextError(
            f"{target}: {NOT_OWN_CARD}, so it is kept; {flag} replaces it with a new card"
        )


def write_card(
    run: Run,
    evaluation: Evaluation | None = None,
    overwrite: bool = False,
    flag: str = "--overwrite",
) -> Path:
    """(Re)write the run's README.md, holding the run's lock like every writer of a run; a card
    edited by hand is replaced only with `overwrite` (else refused, naming `flag`)."""
    target = run.path / CARD_FILE
    text = model_card(run, evaluation=evaluation)
    with rundir.writing(run.path, "card"):
        if target.is_dir() and not target.is_symlink():  # `--overwrite` was an IsADirectoryError
            raise AttentextError(
                f"{target}: a folder, where the card is written; move it out of the run (or "
                "rename it) and run again"
            )
        if not overwrite:
            check_card_replaceable(run, flag)
        write_text(target, text)
    return target
