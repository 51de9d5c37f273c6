"""Explain a PyTorch model's predictions with its own attention, word by word.

What "importance" means depends on the model:

- the attention RNN: its additive-attention weights `alpha`, exactly what it pools with;
- a one-layer transformer (the seed transformer): the attention each word receives, averaged over
  the real query positions (the model mean-pools the block's outputs, so this is what flows in);
- a multi-layer encoder (or a seed transformer of `num_blocks` > 1): attention rollout (Abnar &
  Zuidema, "Quantifying Attention Flow in Transformers", 2020): each layer's head-averaged
  attention plus the identity (the residual path), rows renormalized, multiplied across layers;
  the [CLS] row when the classifier reads [CLS], else the mean over rows (mean pooling).

Word pieces are merged back into words (sum of importance; attention received summed, attention
given averaged). Special tokens ([CLS], [SEP]) are dropped from what is shown and the rest
renormalized: they mostly act as attention sinks (Clark et al., "What Does BERT Look At?", 2019)
and would crowd out the words. Attention is a view of what the model reads, not a proof of why it
decided; use it to inspect, not to certify.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel

from attentext.inference.torch_backend import TransformersClassifier
from attentext.interpret.explanation import ExplainError, Explanation
from attentext.models.attention_rnn import AttentionRNNForSequenceClassification
from attentext.text.batching import length_sorted_batches, pad_rows
from attentext.text.encoding import EncodedText, encode_with_offsets


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


def word_groups(encoded: EncodedText) -> list[list[int]]:
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


def to_words(
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
    for module in model.modules():
        if not isinstance(module, PreTrainedModel):
            continue
        if getattr(module.config, "_attn_implementation", None) in (None, "eager"):
            continue
        try:
            module.set_attn_implementation("eager")
        except (AttributeError, ValueError, TypeError):
            module.config._attn_implementation = "eager"


def _reads_cls(model: torch.nn.Module, tokenizer: Any, ids: list[int]) -> bool:
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


def batch_outputs(
    classifier: TransformersClassifier,
    batch: dict[str, np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Every layer's attention (as numpy), the raw logits of a batch, for a model with
    attention over windows each row's window score, and for a model that pools by attention
    each token's pooling weight (rows of the batch)."""
    model = classifier.model
    output = model(
        **{name: torch.from_numpy(array).to(model.device) for name, array in batch.items()},
        output_attentions=True,
    )
    attentions = output.attentions
    if not attentions or any(a is None for a in attentions):
        raise ExplainError(
            f"{type(model).__name__} returned no attention weights; explain needs a model "
            "that can output them"
        )
    attentions = [a.float().cpu().numpy() for a in attentions]
    _check_index(layer, len(attentions), "layer")
    _check_index(head, 1 if is_rnn else attentions[0].shape[1], "head")
    scores = getattr(output, "window_scores", None)
    scores = None if scores is None else scores.float().cpu().numpy()
    pooling = getattr(output, "pooling_weights", None)
    pooling = None if pooling is None else pooling.float().cpu().numpy()
    return attentions, output.logits.float().cpu().numpy(), scores, pooling


def _batch_attentions(
    classifier: TransformersClassifier,
    batch: dict[str, np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Every layer's attention (as numpy), the (calibrated) class probabilities of a batch and
    the tokens' pooling weights where the model pools by attention."""
    attentions, logits, _, pooling = batch_outputs(classifier, batch, is_rnn, layer, head)
    return attentions, classifier.probabilities_of(logits), pooling


def prepare_model(classifier: TransformersClassifier) -> bool:
    """The model in eval mode, with eager attention where it has fused kernels; whether it is
    the attention RNN (whose importances are its own weights)."""
    model = classifier.model.eval()
    is_rnn = isinstance(model, AttentionRNNForSequenceClassification)
    if not is_rnn:
        _use_eager_attention(model)
    return is_rnn


@torch.inference_mode()
def explain_attention(
    classifier: TransformersClassifier, texts: list[str], layer: int = -1, head: int | None = None
) -> list[Explanation]:
    """Each text's prediction and its model's attention over its words (fp32, eager attention)."""
    tokenizer = classifier.tokenizer
    is_rnn = prepare_model(classifier)
    encoded = [
        encode_with_offsets(tokenizer, text, classifier.max_length, classifier.truncation)
        for text in texts
    ]
    results: list[Explanation | None] = [None] * len(texts)
    for index in length_sorted_batches([len(e.ids) for e in encoded], classifier.batch_size):
        batch = pad_rows([encoded[i].ids for i in index], classifier.pad_id)
        attentions, probabilities, pooling = _batch_attentions(
            classifier, batch, is_rnn, layer, head
        )
        for row, i in enumerate(index):
            per_layer = [a[row] for a in attentions]  # (T,) for the RNN, else (nh, T, T) each
            results[i] = explanation_of(
                classifier,
                texts[i],
                encoded[i],
                probabilities[row],
                per_layer,
                is_rnn,
                layer,
                head,
                None if pooling is None else pooling[row],
            )
    return [r for r in results if r is not None]


def token_importance(
    classifier: TransformersClassifier,
    encoded: EncodedText,
    per_layer: list[np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
    pooling: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """Importance per token, the shown token x token matrix, the method and the matrix's source.

    `pooling`: each token's weight in the pooled vector, for a model that pools by attention:
    the rows (what each position gathered) are then weighed by it instead of averaged."""
    n = len(encoded.ids)
    if is_rnn:
        return per_layer[0][:n], None, "additive attention weights", ""
    real = [a[:, :n, :n] for a in per_layer]  # (nh, n, n): the text's own tokens
    shown = real[layer]
    matrix = shown.mean(axis=0) if head is None else shown[head]
    n_heads = shown.shape[0]
    source = f"layer {layer % len(real)} of {len(real)}, " + (
        f"mean over {n_heads} heads" if head is None else f"head {head % n_heads} of {n_heads}"
    )
    rows = np.full(n, 1.0 / max(n, 1)) if pooling is None else _normalize(pooling[:n])
    weighed = "mean" if pooling is None else "attention-pooling weighted"
    if len(real) == 1:
        return rows @ matrix, matrix, f"{weighed} attention received", source
    rollout = attention_rollout([a.mean(axis=0) for a in real]) if n else np.zeros((0, 0))
    if n and _reads_cls(classifier.model, classifier.tokenizer, encoded.ids):
        return rollout[0], matrix, f"attention rollout over {len(real)} layers, [CLS] row", source
    method = f"attention rollout over {len(real)} layers, {weighed} over rows"
    return rows @ rollout, matrix, method, source


def _word_texts(
    classifier: TransformersClassifier, text: str, encoded: EncodedText, groups: list[list[int]]
) -> tuple[list[str], list[tuple[int, int]] | None]:
    """Each word as written in `text` and its character span (or rebuilt from its pieces)."""
    spans = [(encoded.offsets[g[0]][0], encoded.offsets[g[-1]][1]) for g in groups]
    if all(end > start for start, end in spans):
        return [text[start:end] for start, end in spans], spans
    pieces = classifier.tokenizer.convert_ids_to_tokens(encoded.ids)
    words = [classifier.tokenizer.convert_tokens_to_string([pieces[i] for i in g]) for g in groups]
    return words, None


def explanation_of(
    classifier: TransformersClassifier,
    text: str,
    encoded: EncodedText,
    probabilities: np.ndarray,
    per_layer: list[np.ndarray],
    is_rnn: bool,
    layer: int,
    head: int | None,
    pooling: np.ndarray | None = None,
) -> Explanation:
    importance, matrix, method, source = token_importance(
        classifier, encoded, per_layer, is_rnn, layer, head, pooling
    )
    groups = word_groups(encoded)
    if groups:
        words_importance, words_matrix = to_words(groups, np.asarray(importance), matrix)
    else:
        words_importance = np.zeros(0)
        words_matrix = None if is_rnn else np.zeros((0, 0))
    tokens, offsets = _word_texts(classifier, text, encoded, groups)
    labels = classifier.labels
    return Explanation(
        text=text,
        tokens=tokens,
        label=labels[int(np.argmax(probabilities))],
        probabilities={name: float(p) for name, p in zip(labels, probabilities, strict=True)},
        importances=words_importance,
        attention=words_matrix,
        offsets=offsets,
        method=method,
        attention_source=source,
        truncated=encoded.truncated,
    )
