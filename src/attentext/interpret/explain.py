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
from attentext.errors import AttentextError, short_list, shown, whole_number, yes_or_no
from attentext.files import files_replaced_together, path_parameter, user_path
from attentext.inference.classifier import load
from attentext.inference.torch_backend import TransformersClassifier
from attentext.interpret.attention import explain_attention
from attentext.interpret.explanation import ExplainError, Explanation
from attentext.interpret.ngrams import explain_ngrams
from attentext.interpret.occlusion import explain_occlusion
from attentext.interpret.render import HTML_TITLE, PNG_SOFTWARE, render_html, render_png
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
    whole_number(layer, "layer")
    if head is not None:
        whole_number(head, "head")
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
    overwrite: bool = False,
) -> list[Explanation]:
    """Predict each text and explain it with the model's attention; write PNG/HTML if asked.

    `layer`/`head` choose the attention matrix shown (head None: the mean over heads); the
    importances do not depend on them for multi-layer encoders (rollout uses every layer, heads
    averaged). With `output_dir`, writes `explanation-<i>.png` per text and/or `explanation.html`
    there, replacing those an earlier call wrote (the folder shows this call's texts only); a
    folder of other files holding files of those names is refused unless `overwrite`.
    The model runs in fp32; HF encoders are switched to eager attention to return the weights.
    `method="occlusion"` asks the model instead of reading its attention: each word's importance
    is how far the label's log-odds fall without it (`occlusion.py`; any run, ensembles too).
    """
    texts = text_list(texts)
    output_dir = path_parameter(output_dir, "output_dir", optional=True)
    run_dir_or_classifier = user_path(run_dir_or_classifier)
    _check_request(fmt, method, layer, head)
    if not texts:
        raise ExplainError("no texts to explain")
    if output_dir is not None:
        check_explain_folder(output_dir, overwrite)
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
        if layer != -1 or head is not None:  # it was ignored without a word
            raise ExplainError(
                "tfidf-logreg has no attention matrix for --layer and --head to choose (its "
                "explanation is its n-grams' weights); leave them out"
            )
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


def is_explanation_file(name: str) -> bool:
    """explanation-<i>.png or explanation.html: the names `explain` writes."""
    return name == HTML_FILE or PNG_NAME.fullmatch(name) is not None


def check_explain_folder(folder: str | Path, overwrite: bool = False) -> Path:
    """`check_output_folder`, and, unless `overwrite`, refuse a folder holding a file of
    explain's names that explain did not write (a page of the user's named explanation.html):
    an earlier call's files are replaced, and that one was lost without a word (an audit). An
    earlier call's files, and any file of other names, are fine (`written_by_explain`)."""
    folder = check_output_folder(folder)
    if yes_or_no(overwrite, "overwrite") or not folder.is_dir():
        return folder
    theirs = sorted(
        entry.name
        for entry in folder.iterdir()
        if is_explanation_file(entry.name) and not written_by_explain(entry)
    )
    if theirs:
        raise AttentextError(
            f"{folder}: --output holds {short_list([shown(name, 40) for name in theirs])}, which "
            "explain did not write and would replace; choose a new or empty folder, or add "
            "--overwrite to replace them (overwrite=True in Python)"
        )
    return folder


def written_by_explain(path: Path) -> bool:
    """Whether a file of explain's names is one explain wrote: a plain file whose first bytes
    hold its page's title, or its PNGs' Software tag (`render.PNG_SOFTWARE`; Matplotlib's own,
    which PNGs written before the tag carry, counts too)."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if path.name == HTML_FILE:
        return HTML_TITLE.encode() in head
    return any(
        b"tEXtSoftware\x00" + name in head for name in (PNG_SOFTWARE.encode(), b"Matplotlib")
    )


def write_explanations(explanations: list[Explanation], folder: Path, fmt: str = "both") -> None:
    """`explanation-<i>.png` per text and/or one `explanation.html` in `folder`, in place of
    the explanation files an earlier call left there (any other file is left as it is): all
    written in a staging folder, then renamed in together, so that a Ctrl-C or a full disk
    in the middle leaves the earlier call's files whole, never half of each call's."""
    with files_replaced_together(folder, is_explanation_file) as staging:
        _write_into(explanations, staging, fmt)


def _write_into(explanations: list[Explanation], folder: Path, fmt: str) -> None:
    """The files of `fmt` for `explanations`, written into `folder` (a staging folder)."""
    if fmt in ("png", "both"):
        for i, explanation in enumerate(explanations):
            render_png(explanation, folder / f"explanation-{i}.png")
    if fmt in ("html", "both"):
        (folder / HTML_FILE).write_text(render_html(explanations), encoding="utf-8")
