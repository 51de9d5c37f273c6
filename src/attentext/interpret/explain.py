"""`explain`: predict texts and show what each model looked at, as data, PNG and HTML.

Which explanation a model gets depends on what it is: a PyTorch model its own attention
(`attention.py`; over each window and the windows' weights, `windows.py`, for a run that reads
long texts in chunks), the TF-IDF baseline its n-grams (`ngrams.py`); an ONNX Runtime model has
no attention to read. This module is the one place that decides.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from attentext.data.readers import text_list
from attentext.decisions import decide
from attentext.errors import shown
from attentext.inference.classifier import load
from attentext.inference.torch_backend import TransformersClassifier
from attentext.interpret.attention import explain_attention
from attentext.interpret.explanation import ExplainError, Explanation
from attentext.interpret.ngrams import explain_ngrams
from attentext.interpret.occlusion import explain_occlusion
from attentext.interpret.render import render_html, render_png
from attentext.interpret.windows import explain_windows
from attentext.models.registry import family_of_run
from attentext.models.tfidf_logreg import TfidfLogRegClassifier
from attentext.outputs import check_output_folder
from attentext.rundir import ENSEMBLE_KIND, open_run

FORMATS = ("png", "html", "both")
ATTENTION, OCCLUSION = "attention", "occlusion"
METHODS = (ATTENTION, OCCLUSION)  # read the model's attention (n-grams for TF-IDF), or ask it
HTML_FILE = "explanation.html"
PNG_NAME = re.compile(r"explanation-[0-9]+\.png")  # explanation-<i>.png, i from 0


def can_explain(classifier: Any) -> bool:
    """Whether `explain` has something to show for this classifier (its attention or n-grams)."""
    return isinstance(classifier, TransformersClassifier | TfidfLogRegClassifier)


def _classifier(run_dir_or_classifier: Any) -> Any:
    """The classifier to explain: as given, or loaded from a run directory in fp32 on PyTorch."""
    if can_explain(run_dir_or_classifier):
        return run_dir_or_classifier
    if not isinstance(run_dir_or_classifier, str | Path):
        raise ExplainError(
            f"cannot explain a {type(run_dir_or_classifier).__name__}: pass a run directory, a "
            "TransformersClassifier or a TF-IDF classifier"
        )
    run = open_run(run_dir_or_classifier)
    if run.kind == ENSEMBLE_KIND:
        members = ", ".join(str(path) for path, _ in run.members)
        raise ExplainError(
            f"{run.path}: an ensemble has no attention of its own; explain it with --method "
            f"occlusion (method='occlusion'), or one of its members ({members})"
        )
    if family_of_run(run.kind) is not None:
        return load(run.path)
    return TransformersClassifier.from_run(run, precision="fp32")


def _check_request(fmt: str, method: str, layer: int, head: int | None) -> None:
    """A format or method explain does not know, or an attention matrix chosen for occlusion
    (which reads none), refused before the model loads."""
    if fmt not in FORMATS:
        raise ExplainError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if method not in METHODS:
        raise ExplainError(f"unknown method {shown(method)}; use one of {', '.join(METHODS)}")
    if method == OCCLUSION and (layer != -1 or head is not None):
        raise ExplainError("--layer and --head choose an attention matrix; occlusion reads none")


def _any_classifier(run_dir_or_classifier: Any) -> Any:
    """What occlusion asks: a classifier as given, or any run directory loaded (ensembles and
    runs without attention too), in fp32."""
    if isinstance(run_dir_or_classifier, str | Path):
        return load(run_dir_or_classifier, precision="fp32")
    if not hasattr(run_dir_or_classifier, "predict_proba"):
        raise ExplainError(
            f"cannot explain a {type(run_dir_or_classifier).__name__}: pass a run directory or "
            "a classifier with predict_proba"
        )
    return run_dir_or_classifier


def explain(
    run_dir_or_classifier: Any,
    texts: list[str],
    output_dir: str | Path | None = None,
    fmt: str = "both",
    layer: int = -1,
    head: int | None = None,
    method: str = ATTENTION,
) -> list[Explanation]:
    """Predict each text and explain it with the model's attention; write PNG/HTML if asked.

    `layer`/`head` choose the attention matrix shown (head None: the mean over heads); the
    importances do not depend on them for multi-layer encoders (rollout uses every layer, heads
    averaged). With `output_dir`, writes `explanation-<i>.png` per text and/or `explanation.html`
    there, removing those an earlier call wrote (the folder shows this call's texts only).
    The model runs in fp32; HF encoders are switched to eager attention to return the weights.
    `method="occlusion"` asks the model instead of reading its attention: each word's importance
    is how far the label's log-odds fall without it (`occlusion.py`; any run, ensembles too).
    """
    texts = text_list(texts)
    _check_request(fmt, method, layer, head)
    if not texts:
        raise ExplainError("no texts to explain")
    if output_dir is not None:
        check_output_folder(output_dir)
    if method == OCCLUSION:
        classifier = _any_classifier(run_dir_or_classifier)
        explanations = explain_occlusion(classifier, texts)
    else:
        classifier = _classifier(run_dir_or_classifier)
        explanations = _read_attention(classifier, texts, layer, head)
    mark_decisions(explanations, classifier)
    if output_dir is not None:
        write_explanations(explanations, Path(output_dir), fmt)
    return explanations


def _read_attention(
    classifier: Any, texts: list[str], layer: int, head: int | None
) -> list[Explanation]:
    """What the model itself shows: its n-grams (TF-IDF), its attention over each window (a run
    reading long texts in windows), or its attention."""
    if isinstance(classifier, TfidfLogRegClassifier):
        return explain_ngrams(classifier, texts)
    if classifier.chunking is not None:
        return explain_windows(classifier, texts, layer, head)
    return explain_attention(classifier, texts, layer, head)


def mark_decisions(explanations: list[Explanation], classifier: Any) -> None:
    """For a run of several labels per text, set each explanation's `labels` to those `predict`
    gives (each label at or over its threshold). Its `label`, the most probable one, was all
    `explain` showed: `earn 0.215` for a text the run gives no label, one label for a text it
    gives two."""
    if not getattr(classifier, "multi_label", False):
        return
    names = list(classifier.labels)
    for explanation in explanations:
        row = np.array([[explanation.probabilities[name] for name in names]])
        explanation.labels = list(decide(row, names, True, classifier.thresholds)[0])


def remove_earlier_explanations(folder: Path) -> list[Path]:
    """Remove the files an earlier `explain` wrote in `folder` (explanation-<i>.png and
    explanation.html, plain files only), so that it never mixes two calls' explanations (an
    audit: 3 texts, then 1, left the first call's explanation-1.png and -2.png); any other file
    is the user's and stays."""
    removed = []
    for path in sorted(folder.glob("explanation*")) if folder.is_dir() else []:
        own = path.name == HTML_FILE or PNG_NAME.fullmatch(path.name)
        if own and path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed


def write_explanations(explanations: list[Explanation], folder: Path, fmt: str = "both") -> None:
    """`explanation-<i>.png` per text and/or one `explanation.html` in `folder`, in place of
    the explanation files an earlier call left there."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_earlier_explanations(folder)
    if fmt in ("png", "both"):
        for i, explanation in enumerate(explanations):
            render_png(explanation, folder / f"explanation-{i}.png")
    if fmt in ("html", "both"):
        (folder / HTML_FILE).write_text(render_html(explanations), encoding="utf-8")
