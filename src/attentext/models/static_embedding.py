"""A word embedding kept fixed, read beside the learned one (`model.options.static_dim`).

Kim (2014) fed his sentence CNN two copies of the pretrained word vectors: one fine-tuned, one
kept as it was ("multichannel"). The learned copy moves to the task's words; the fixed one keeps
what the pretrained vectors say of every word, including the words the few training texts use
rarely or differently than the test texts do. The word models (attention-rnn, seed-transformer)
offer it with their `embedding_init: encoder` start, which fills the table with the encoder's word
vectors (training/word_vectors.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StaticEmbedding(nn.Module):
    """A word embedding that no optimizer moves: its table is a buffer, not a parameter, so it is
    saved and loaded with the model but never trained, whatever sets `requires_grad`. It starts
    at zero (padding's row stays there); `model.embedding_init: encoder` fills it."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(vocab_size, dim))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(input_ids, self.weight)
