"""Word embeddings that start from a pretrained encoder instead of noise (`model.embedding_init:
encoder`), for the models trained from scratch (seed-transformer, attention-rnn).

A word model learns each word's vector from the training texts alone, so a word seen a few times
in train carries little and one seen only in test (or more often there) carries nothing learned.
Starting every vocabulary entry from what a pretrained encoder knows of it is the classic fix
(Tang et al. 2019 started their distilled BiLSTM from word2vec). The vectors come from the
recipe's encoder (`model.encoder`, the packaged MiniLM by default), so nothing new is needed:

- a word vocabulary (`tokenizer.type: word`): each word encoded alone, the mean of the encoder's
  last states over its pieces (the encoder's own sentence embedding of that one word);
- the encoder's WordPiece vocabulary (`tokenizer.type: pretrained`): its input-embedding table.

Both are reduced to the model's `embed_dim` by PCA and scaled to the spread of the random
initialisation they replace, so the rest of the model starts as it always did. The vectors are
cached (keyed by the encoder's weights and the vocabulary): a second run on the same data reads
them back.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from attentext.bars import ProgressBar
from attentext.encoders import encoder_fingerprint, resolve_encoder
from attentext.files import cache_root
from attentext.text.batching import run_in_batches
from attentext.training.features import cached_features

# the longest piece sequence of one vocabulary word that is encoded (a word of 30 pieces is noise)
WORD_PIECES = 16
# U(-0.05, 0.05), the word models' random initialisation: its standard deviation
RANDOM_INIT_STD = 0.05 / 3**0.5


def vocabulary(tokenizer: Any) -> list[str]:
    """The tokenizer's entries in id order."""
    words = [""] * len(tokenizer)
    for word, index in tokenizer.get_vocab().items():
        if index < len(words):
            words[index] = word
    return words


def encoder_word_vectors(encoder: str, tokenizer: Any) -> tuple[np.ndarray, bool]:
    """(V, H) vectors for the tokenizer's vocabulary from `encoder`, and whether they came from
    the cache."""
    source = resolve_encoder(encoder)
    words = vocabulary(tokenizer)
    data = hashlib.sha256("\n".join(words).encode()).hexdigest()
    key = hashlib.sha256(f"{encoder_fingerprint(source)}|{data}".encode()).hexdigest()[:32]

    def compute() -> torch.Tensor:
        pieces = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source).eval()
        if pieces.get_vocab() == tokenizer.get_vocab():  # the encoder's own vocabulary
            return model.get_input_embeddings().weight.detach().float().clone()
        ids = pieces(words, truncation=True, max_length=WORD_PIECES, verbose=False)["input_ids"]
        return torch.from_numpy(_mean_states(model, ids, pieces.pad_token_id))

    vectors, hit = cached_features(
        key, compute, rows=len(words), data=data, cache_dir=cache_root() / "word_vectors"
    )
    return vectors.numpy(), hit


@torch.inference_mode()
def _mean_states(model: Any, ids: list[list[int]], pad_id: int) -> np.ndarray:
    """The mean of the encoder's last states over each row's real tokens (fp32: exact on any CPU)."""

    def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
        input_ids, mask = (torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask"))
        states = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        return ((states * weights).sum(1) / weights.sum(1).clamp(min=1.0)).numpy()

    with ProgressBar(total=len(ids), desc="Word vectors from the encoder", unit="word") as bar:
        return run_in_batches(ids, pooled, pad_id, batch_size=256, on_batch=bar.update)


def reduce_vectors(vectors: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """`vectors` (V, H) as (V, dim): their first principal components, scaled to the random
    initialisation's standard deviation (zero columns where there are fewer components than
    `dim`: a tiny vocabulary or a narrow encoder)."""
    from sklearn.decomposition import PCA

    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    kept = min(dim, *centred.shape)
    reduced = np.zeros((len(vectors), dim))
    reduced[:, :kept] = PCA(n_components=kept, random_state=seed).fit_transform(centred)
    spread = reduced[:, :kept].std()
    return (reduced / max(spread, 1e-12) * RANDOM_INIT_STD).astype(np.float32)


def initialize_word_embeddings(model: Any, tokenizer: Any, encoder: str, seed: int = 0) -> dict:
    """Copy the encoder's vectors of the tokenizer's words into `model`'s input embedding, and
    into its fixed one where it has one (`get_static_embeddings`), each at its own width;
    special tokens (padding, [UNK], ...) keep their own rows. Returns what was done, for the
    run's metrics."""
    start = time.perf_counter()
    vectors, hit = encoder_word_vectors(encoder, tokenizer)
    static = getattr(model, "get_static_embeddings", lambda: None)()
    words = _fill_embedding(model.get_input_embeddings(), vectors, tokenizer, seed)
    if static is not None:
        _fill_embedding(static, vectors, tokenizer, seed)
    return {
        "from": encoder,
        "words": int(len(words)),
        "cached": hit,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _fill_embedding(embedding: Any, vectors: np.ndarray, tokenizer: Any, seed: int) -> np.ndarray:
    """The word rows of `embedding` set to `vectors` reduced to its width; the rows set."""
    rows, dim = embedding.weight.shape
    if len(vectors) != rows:
        raise ValueError(f"{len(vectors)} word vectors for an embedding of {rows} rows")
    words = np.setdiff1d(np.arange(rows), tokenizer.all_special_ids)
    if len(words) >= 2:  # one word has no direction to keep: it stays as drawn
        reduced = reduce_vectors(vectors[words], dim, seed)
        with torch.no_grad():
            weights = torch.from_numpy(reduced).to(embedding.weight)
            embedding.weight[torch.from_numpy(words)] = weights
    else:
        words = words[:0]
    return words
