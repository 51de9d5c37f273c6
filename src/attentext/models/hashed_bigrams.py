"""Word pairs read beside the transformer (`model.options.bigram_buckets`): fastText's bigrams.

fastText (Joulin et al., "Bag of Tricks for Efficient Text Classification", 2017) reaches a
deep model's accuracy on AG News from the mean of its word and word-pair vectors: which words
stand next to each other ("wall street", "prime minister") says much of a news topic. The seed
transformer's one block of two heads sees word order only through its position vectors; a
table of pair vectors gives it the pairs directly. Pairs are hashed into a fixed number of rows
(fastText's hashing trick), so the table's size does not grow with the vocabulary squared, and
the hash is plain integer arithmetic on the word ids: ONNX exports it as it is.
"""

from __future__ import annotations

import torch
from torch import nn

# the multiplier of the pair hash (first id * HASH_MULTIPLIER + second id, modulo the rows): a
# prime above every vocabulary size, so distinct pairs only meet in a row by the modulo
HASH_MULTIPLIER = 1_000_003


def bigram_rows(input_ids: torch.Tensor, buckets: int) -> torch.Tensor:
    """(B, T) word ids -> (B, T - 1) the table row of each pair of neighbouring words."""
    return (input_ids[:, :-1] * HASH_MULTIPLIER + input_ids[:, 1:]) % buckets


class HashedBigrams(nn.Embedding):
    """The mean vector of a text's word pairs, both words real (padding's pairs are left out).

    An embedding table itself (its weight is `bigrams.weight` in the model's file), read by
    pairs of ids instead of ids."""

    def forward(self, input_ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """(B, T) ids and (B, T) bool real-token mask -> (B, dim); zeros for a one-word text."""
        if input_ids.shape[1] < 2:
            return self.weight.new_zeros((input_ids.shape[0], self.embedding_dim))
        both = (real[:, :-1] & real[:, 1:]).unsqueeze(-1)  # (B, T - 1, 1)
        vectors = super().forward(bigram_rows(input_ids, self.num_embeddings)) * both
        return vectors.sum(1) / both.sum(1).clamp(min=1)
