"""Explain predictions with the models' own attention: per-word importance, heatmaps, HTML.

What "importance" means depends on the model:

- the attention RNN: its additive-attention weights `alpha`, exactly what it pools with;
- a one-layer transformer (the seed transformer): the attention each word receives, averaged over
  the real query positions (the model mean-pools the block's outputs, so this is what flows in);
- a multi-layer encoder: attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in
  Transformers", 2020): each layer's head-averaged attention plus the identity (the residual
  path), rows renormalized, multiplied across layers; the [CLS] row when the classifier reads
  [CLS], else the mean over rows (mean pooling).

Word pieces are merged back into words (sum of importance; attention received summed, attention
given averaged). Special tokens ([CLS], [SEP]) are dropped from what is shown and the rest
renormalized: they mostly act as attention sinks (Clark et al., "What Does BERT Look At?", 2019)
and would crowd out the words. Attention is a view of what the model reads, not a proof of why it
decided; use it to inspect, not to certify.
"""

from __future__ import annotations

import html
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attentext.errors import AttentextError

FORMATS = ("png", "html", "both")
MAX_PLOT_TOKENS = 64  # heatmap and bar chart show the first 64 words, so labels stay readable
PNG_DPI = 100
TRANSFORMER_FIGSIZE = (10.0, 12.0)  # inches: heatmap above, importance bars below
RNN_FIGSIZE = (10.0, 4.0)  # inches: importance bars only
HTML_FILE = "explanation.html"


class ExplainError(AttentextError):
    """An explanation was asked for with a bad layer, head or format, or of a model without attention."""


@dataclass
class Explanation:
    """One text's prediction and the attention behind it, word by word.

    `tokens` are the words the model read (word pieces merged, special tokens dropped, cut at the
    model's max_length), `offsets` their character spans in `text` (None when the tokenizer has
    no offsets), `importances` sum to 1 over `tokens`, and `attention` is the word x word
    attention of the chosen layer/head (rows: the attending word), None for the attention RNN.
    """

    text: str
    tokens: list[str]
    label: str
    probabilities: dict[str, float]
    importances: np.ndarray
    attention: np.ndarray | None = None
    offsets: list[tuple[int, int]] | None = None
    method: str = ""  # how the importances were computed
    attention_source: str = ""  # which layer/head `attention` shows
    truncated: bool = False

    def top_tokens(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most important words with their importance, most important first."""
        order = np.argsort(-self.importances, kind="stable")[:k]
        return [(self.tokens[i], float(self.importances[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (arrays as lists)."""
        return {
            "text": self.text,
            "tokens": self.tokens,
            "label": self.label,
            "probabilities": self.probabilities,
            "importances": self.importances.tolist(),
            "attention": None if self.attention is None else self.attention.tolist(),
            "offsets": self.offsets,
            "method": self.method,
            "attention_source": self.attention_source,
            "truncated": self.truncated,
        }


# --- the computation ----------------------------------------------------------------------------


def attention_rollout(layers: list[np.ndarray]) -> np.ndarray:
    """Abnar & Zuidema's rollout: (T, T) head-averaged attention per layer, first layer first.

    Each layer becomes 0.5 * A + 0.5 * I (the residual connection), rows renormalized; the
    rollout is A_L' @ ... @ A_1', whose row i says how much of position i's final state comes
    from each input position.
    """
    rollout = None
    for attention in layers:
        n = attention.shape[-1]
        mixed = 0.5 * attention + 0.5 * np.eye(n, dtype=attention.dtype)
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)
        rollout = mixed if rollout is None else mixed @ rollout
    assert rollout is not None, "rollout needs at least one layer"
    return rollout


@dataclass
class _Encoded:
    ids: list[int]
    word_ids: list[int | None]  # None for special tokens
    offsets: list[tuple[int, int]]
    truncated: bool


def _encode(tokenizer, text: str, max_length: int, truncation: str) -> _Encoded:
    """Token ids as `tokenization.encode` makes them, with word ids and character offsets."""
    from attentext.tokenization import special_tokens_around

    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    word_ids = list(enc.word_ids()) if hasattr(enc, "word_ids") else list(range(len(ids)))
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    truncated = len(ids) > budget
    if truncated:
        head = {"head": budget, "tail": 0, "head+tail": budget // 2}[truncation]
        keep = list(range(head)) + list(range(len(ids) - (budget - head), len(ids)))
        ids = [ids[i] for i in keep]
        offsets = [offsets[i] for i in keep]
        word_ids = [word_ids[i] for i in keep]
    return _Encoded(
        prefix + ids + suffix,
        [None] * len(prefix) + word_ids + [None] * len(suffix),
        [(0, 0)] * len(prefix) + offsets + [(0, 0)] * len(suffix),
        truncated,
    )


def _word_groups(encoded: _Encoded) -> list[list[int]]:
    """Token positions of each word, in order (consecutive pieces with the same word id)."""
    groups: list[list[int]] = []
    previous = None
    for position, word in enumerate(encoded.word_ids):
        if word is None:
            previous = None
            continue
        if groups and word == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = word
    return groups


def _normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    total = x.sum(axis=axis, keepdims=True)
    return np.divide(x, total, out=np.zeros_like(x), where=total > 0)


def _to_words(
    groups: list[list[int]], importance: np.ndarray, matrix: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Token-level importance/attention -> word level: importance and attention received summed
    over a word's pieces, attention given averaged; both renormalized over the words."""
    words = np.array([importance[g].sum() for g in groups], dtype=np.float64)
    if matrix is None:
        return _normalize(words), None
    received = np.stack([matrix[:, g].sum(axis=1) for g in groups], axis=1)  # (T, W)
    given = np.stack([received[g].mean(axis=0) for g in groups], axis=0)  # (W, W)
    return _normalize(words), _normalize(given.astype(np.float64))


def _use_eager_attention(model: torch.nn.Module) -> None:
    """Fused attention kernels (sdpa, flash) return no weights: switch every HF sub-model to eager."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if not isinstance(module, PreTrainedModel):
            continue
        if getattr(module.config, "_attn_implementation", None) in (None, "eager"):
            continue
        try:
            module.set_attn_implementation("eager")
        except (AttributeError, ValueError, TypeError):
            module.config._attn_implementation = "eager"


def _reads_cls(model: torch.nn.Module, tokenizer, ids: list[int]) -> bool:
    """Whether the classifier reads the [CLS] state (so rollout should take the [CLS] row)."""
    cls_id = getattr(tokenizer, "cls_token_id", None)
    if cls_id is None or not ids or ids[0] != cls_id:
        return False
    pooling = getattr(model.config, "pooling", None)
    return pooling in ("cls", "pooler") if pooling is not None else True


def _check_index(value: int | None, count: int, what: str) -> None:
    if value is None:
        return
    if not -count <= value < count:
        valid = "0" if count == 1 else f"0..{count - 1}"
        raise ExplainError(
            f"{what} {value} is out of range: this model has {count} attention "
            f"{what}{'s' if count != 1 else ''} (use {valid}, or -1 for the last)"
        )


def _load(run_dir_or_classifier):
    from attentext.baseline import BASELINE_TYPE, TfidfLogRegClassifier
    from attentext.classifier import TransformersClassifier

    if isinstance(run_dir_or_classifier, TransformersClassifier | TfidfLogRegClassifier):
        return run_dir_or_classifier
    if isinstance(run_dir_or_classifier, str | Path):
        from attentext import rundir

        kind = rundir.read_marker(run_dir_or_classifier).get("kind", "transformers")
        if kind == BASELINE_TYPE:
            return TfidfLogRegClassifier.load(run_dir_or_classifier)
        if kind != "transformers":
            raise ExplainError(
                f"{run_dir_or_classifier}: a '{kind}' run has no attention to explain; "
                "explain works on the neural recipes"
            )
        return TransformersClassifier.from_run_dir(run_dir_or_classifier, precision="fp32")
    raise ExplainError(
        f"cannot explain a {type(run_dir_or_classifier).__name__}: pass a run directory or a "
        "TransformersClassifier"
    )


def explain(
    run_dir_or_classifier,
    texts: list[str],
    output_dir: str | Path | None = None,
    fmt: str = "both",
    layer: int = -1,
    head: int | None = None,
) -> list[Explanation]:
    """Predict each text and explain it with the model's attention; write PNG/HTML if asked.

    `layer`/`head` choose the attention matrix shown (head None: the mean over heads); the
    importances do not depend on them for multi-layer encoders (rollout uses every layer, heads
    averaged). With `output_dir`, writes `explanation-<i>.png` per text and/or `explanation.html`.
    The model runs in fp32; HF encoders are switched to eager attention to return the weights.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string")
    texts = list(texts)
    if fmt not in FORMATS:
        raise ExplainError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if not texts:
        raise ExplainError("no texts to explain")
    classifier = _load(run_dir_or_classifier)
    from attentext.baseline import TfidfLogRegClassifier

    if isinstance(classifier, TfidfLogRegClassifier):
        explanations = [_explain_tfidf(classifier, text) for text in texts]
    else:
        explanations = _explain(classifier, texts, layer, head)
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        if fmt in ("png", "both"):
            for i, explanation in enumerate(explanations):
                render_png(explanation, output_dir / f"explanation-{i}.png")
        if fmt in ("html", "both"):
            (output_dir / HTML_FILE).write_text(render_html(explanations), encoding="utf-8")
    return explanations


@torch.inference_mode()
def _explain(classifier, texts: list[str], layer: int, head: int | None) -> list[Explanation]:
    from attentext.models.attention_rnn import AttentionRNNForSequenceClassification

    model, tokenizer = classifier.model.eval(), classifier.tokenizer
    is_rnn = isinstance(model, AttentionRNNForSequenceClassification)
    if not is_rnn:
        _use_eager_attention(model)
    truncation = getattr(model.config, "attentext_truncation", "head")
    encoded = [_encode(tokenizer, t, classifier.max_length, truncation) for t in texts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = np.argsort([len(e.ids) for e in encoded], kind="stable")  # little padding per batch
    results: list[Explanation | None] = [None] * len(texts)
    for start in range(0, len(order), classifier.batch_size):
        index = order[start : start + classifier.batch_size]
        # An empty text still gets one (padding) slot: the models treat it as their first token.
        T = max(1, max(len(encoded[i].ids) for i in index))
        input_ids = torch.full((len(index), T), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(index), T), dtype=torch.long)
        for row, i in enumerate(index):
            input_ids[row, : len(encoded[i].ids)] = torch.tensor(encoded[i].ids, dtype=torch.long)
            attention_mask[row, : len(encoded[i].ids)] = 1
        output = model(
            input_ids=input_ids.to(model.device),
            attention_mask=attention_mask.to(model.device),
            output_attentions=True,
        )
        attentions = output.attentions
        if not attentions or any(a is None for a in attentions):
            raise ExplainError(
                f"{type(model).__name__} returned no attention weights; explain needs a model "
                "that can output them"
            )
        attentions = [a.float().cpu().numpy() for a in attentions]
        n_layers = len(attentions)
        n_heads = 1 if is_rnn else attentions[0].shape[1]
        _check_index(layer, n_layers, "layer")
        _check_index(head, n_heads, "head")
        probabilities = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
        for row, i in enumerate(index):
            per_layer = [a[row] for a in attentions]  # (T,) for the RNN, else (nh, T, T) each
            results[i] = _explanation(
                classifier, texts[i], encoded[i], probabilities[row], per_layer, is_rnn, layer, head
            )
    return [r for r in results if r is not None]


def _explain_tfidf(classifier, text: str, k: int = 15) -> Explanation:
    """The TF-IDF baseline explains itself by the n-grams that push toward the predicted class:
    tf-idf value x that class's coefficient, the positive ones, normalized to sum to 1."""
    probabilities = classifier.predict_proba([text])[0]
    best = int(np.argmax(probabilities))
    top = [(gram, weight) for gram, weight in classifier.top_ngrams(text, best, k) if weight > 0]
    weights = np.array([w for _, w in top], dtype=np.float64)
    return Explanation(
        text=text,
        tokens=[gram for gram, _ in top],
        label=classifier.labels[best],
        probabilities={
            name: float(p) for name, p in zip(classifier.labels, probabilities, strict=True)
        },
        importances=weights / weights.sum() if weights.size else weights,
        method="TF-IDF x coefficient of the predicted class (top n-grams)",
    )


def _explanation(
    classifier,
    text: str,
    encoded: _Encoded,
    probabilities: np.ndarray,
    per_layer: list[np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
) -> Explanation:
    n = len(encoded.ids)
    groups = _word_groups(encoded)
    matrix, source = None, ""
    if is_rnn:
        importance = per_layer[0][:n]
        method = "additive attention weights"
    else:
        real = [a[:, :n, :n] for a in per_layer]  # (nh, n, n): the text's own tokens
        shown = real[layer]
        matrix = shown.mean(axis=0) if head is None else shown[head]
        n_heads = shown.shape[0]
        source = f"layer {layer % len(real)} of {len(real)}, " + (
            f"mean over {n_heads} heads" if head is None else f"head {head % n_heads} of {n_heads}"
        )
        if len(real) == 1:
            importance = matrix.mean(axis=0) if n else np.zeros(0)
            method = "mean attention received"
        else:
            rollout = attention_rollout([a.mean(axis=0) for a in real]) if n else np.zeros((0, 0))
            if n and _reads_cls(classifier.model, classifier.tokenizer, encoded.ids):
                importance = rollout[0]
                method = f"attention rollout over {len(real)} layers, [CLS] row"
            else:
                importance = rollout.mean(axis=0) if n else np.zeros(0)
                method = f"attention rollout over {len(real)} layers, mean over rows"
    if groups:
        words_importance, words_matrix = _to_words(groups, np.asarray(importance), matrix)
    else:
        words_importance = np.zeros(0)
        words_matrix = None if is_rnn else np.zeros((0, 0))
    spans = [(encoded.offsets[g[0]][0], encoded.offsets[g[-1]][1]) for g in groups]
    has_offsets = all(end > start for start, end in spans)
    if has_offsets:
        tokens = [text[start:end] for start, end in spans]
    else:
        pieces = classifier.tokenizer.convert_ids_to_tokens(encoded.ids)
        tokens = [
            classifier.tokenizer.convert_tokens_to_string([pieces[i] for i in g]) for g in groups
        ]
    labels = classifier.labels
    best = int(np.argmax(probabilities))
    return Explanation(
        text=text,
        tokens=tokens,
        label=labels[best],
        probabilities={name: float(p) for name, p in zip(labels, probabilities, strict=True)},
        importances=words_importance,
        attention=words_matrix,
        offsets=spans if has_offsets else None,
        method=method,
        attention_source=source,
        truncated=encoded.truncated,
    )


# --- PNG -----------------------------------------------------------------------------------------


def _tick_label(token: str, width: int = 18) -> str:
    """A token as a safe axis label: shortened, and `$` escaped so matplotlib does no mathtext."""
    token = token if len(token) <= width else token[: width - 1] + "…"
    return token.replace("$", r"\$")


def _title(explanation: Explanation) -> str:
    p = explanation.probabilities[explanation.label]
    preview = " ".join(explanation.text.split())
    preview = preview if len(preview) <= 160 else preview[:157] + "..."
    head = f"{explanation.label} ({p:.3f}) - {explanation.method}"
    return (
        _tick_label(head, 200)
        + "\n"
        + "\n".join(_tick_label(line, 200) for line in textwrap.wrap(preview, 100))
    )


def render_png(explanation: Explanation, path: str | Path) -> Path:
    """One PNG: the word x word attention heatmap (transformers) and the word-importance bars.

    The figure size is fixed (TRANSFORMER_FIGSIZE or RNN_FIGSIZE at PNG_DPI) and only the first
    MAX_PLOT_TOKENS words are drawn.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    n = min(len(explanation.tokens), MAX_PLOT_TOKENS)
    labels = [_tick_label(t) for t in explanation.tokens[:n]]
    fontsize = 9 if n <= 24 else 7 if n <= 40 else 5.5
    with_matrix = explanation.attention is not None
    figure = Figure(
        figsize=TRANSFORMER_FIGSIZE if with_matrix else RNN_FIGSIZE,
        dpi=PNG_DPI,
        layout="constrained",
    )
    figure.suptitle(_title(explanation), fontsize=9)
    if with_matrix:
        heat_ax, bar_ax = figure.subplots(2, 1, height_ratios=[3, 1])
    else:
        bar_ax = figure.subplots(1, 1)
    shown = "" if n == len(explanation.tokens) else f" (first {n} of {len(explanation.tokens)})"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")  # e.g. CJK in DejaVu Sans
        if with_matrix:
            if n:
                # Colours span the matrix's own range (the colorbar gives the values): small
                # models attend almost uniformly, and a 0..max scale would show one flat colour.
                image = heat_ax.imshow(explanation.attention[:n, :n], cmap="viridis", aspect="auto")
                heat_ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
                heat_ax.set_yticks(range(n), labels, fontsize=fontsize)
                figure.colorbar(image, ax=heat_ax, shrink=0.8, label="attention")
            heat_ax.set_xlabel("attended word (key)")
            heat_ax.set_ylabel("attending word (query)")
            heat_ax.set_title(f"attention, {explanation.attention_source}{shown}", fontsize=9)
        if n:
            bar_ax.bar(range(n), explanation.importances[:n], color="tab:orange")
            uniform = 1.0 / len(explanation.tokens)
            bar_ax.axhline(uniform, color="gray", linestyle="--", linewidth=0.8)
            bar_ax.text(
                n - 0.5, uniform, " uniform", color="gray", fontsize=7, va="bottom", ha="right"
            )
            bar_ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
            bar_ax.set_xlim(-0.5, n - 0.5)
        else:
            bar_ax.text(0.5, 0.5, "no tokens", ha="center", va="center")
            bar_ax.set_xticks([])
        bar_ax.set_ylabel("importance")
        bar_ax.set_title(f"word importance{shown}", fontsize=9)
        figure.savefig(path, format="png", dpi=PNG_DPI)
    return path


# --- HTML ----------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 60em; padding: 0 1em; color: #222; }
section { border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin-bottom: 1.5em; }
h2 { font-size: 1.1em; margin: 0 0 0.5em 0; }
.method { color: #666; font-size: 0.85em; }
.text { line-height: 2; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 24em;
        overflow-y: auto; border-top: 1px solid #eee; padding-top: 0.5em; }
.tok { border-radius: 3px; padding: 0.1em 0.05em; }
.cut { color: #aaa; }
table.probs { border-collapse: collapse; margin: 0.5em 0; }
table.probs td { padding: 0.1em 0.5em; font-size: 0.9em; }
.bar { background: #eee; width: 16em; height: 0.9em; }
.bar div { background: #4a7bd0; height: 100%; }
.best td { font-weight: bold; }
"""


def _highlight(explanation: Explanation) -> str:
    """The text with each word's background proportional to its importance (max = opaque)."""
    top = float(explanation.importances.max()) if len(explanation.importances) else 0.0

    def span(token: str, importance: float) -> str:
        alpha = importance / top if top > 0 else 0.0
        return (
            f'<span class="tok" style="background: rgba(255, 140, 0, {alpha:.3f})" '
            f'title="{importance:.4f}">{html.escape(token)}</span>'
        )

    if not explanation.tokens:
        return f'<span class="cut">{html.escape(explanation.text) or "(empty text)"}</span>'
    if explanation.offsets is None:
        return " ".join(
            span(t, float(w))
            for t, w in zip(explanation.tokens, explanation.importances, strict=True)
        )
    parts, cursor = [], 0
    text = explanation.text
    for (start, end), importance in zip(explanation.offsets, explanation.importances, strict=True):
        if start < cursor:  # head+tail truncation jumps over the middle: mark the gap
            continue
        parts.append(html.escape(text[cursor:start]))
        parts.append(span(text[start:end], float(importance)))
        cursor = end
    if cursor < len(text):
        rest = text[cursor:]
        css = (
            ' class="cut" title="not read by the model (truncated)"'
            if explanation.truncated
            else ""
        )
        parts.append(f"<span{css}>{html.escape(rest)}</span>")
    return "".join(parts)


def _probability_table(explanation: Explanation) -> str:
    rows = []
    for name, p in sorted(explanation.probabilities.items(), key=lambda item: -item[1]):
        best = ' class="best"' if name == explanation.label else ""
        rows.append(
            f"<tr{best}><td>{html.escape(name)}</td>"
            f'<td><div class="bar"><div style="width: {100 * p:.1f}%"></div></div></td>'
            f"<td>{p:.3f}</td></tr>"
        )
    return '<table class="probs">' + "".join(rows) + "</table>"


def render_html(explanations: list[Explanation]) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources) for all texts."""
    sections = []
    for i, explanation in enumerate(explanations):
        p = explanation.probabilities[explanation.label]
        sections.append(
            f'<section id="text-{i}">'
            f"<h2>Text {i}: {html.escape(explanation.label)} ({p:.3f})</h2>"
            f"{_probability_table(explanation)}"
            f'<p class="method">Importance: {html.escape(explanation.method)}'
            f"{' (text truncated)' if explanation.truncated else ''}</p>"
            f'<div class="text">{_highlight(explanation)}</div>'
            "</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>attentext explanations</title><style>{_CSS}</style></head><body>"
        "<h1>attentext explanations</h1>" + "".join(sections) + "</body></html>\n"
    )
