"""A linear model of the words a text contains, added to a word model's logits
(`model.options.bag_of_words`).

On a few thousand texts, TF-IDF with logistic regression is hard to beat: a weight per word and
class, each word counted whether or not the text around it was understood. Cheng et al.'s "Wide &
Deep" (2016) and fastText (Joulin et al., 2017) pair such a linear ("wide") path with the learned
representation, so that the network only has to learn what the words alone do not say. Here each
word of the model's vocabulary gets one weight per class; a text's wide logits are the sum of its
words' weights over the square root of its length (a bag of words normalised to unit length, as
the TF-IDF vectors are), added to the deep path's logits and trained with them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The path's output is scaled by RATE, so that under Adam its weights move RATE times as fast as
# the network's (a word's weight is updated only in the batches holding it): at 1 they stayed
# near zero and changed no prediction. 10 and 30 were tried (benchmarks/README.md).
RATE = 30.0


class BagOfWordsLogits(nn.Module):
    """(B, T) word ids and a (B, T) mask of real tokens -> (B, num_labels) logits. The weights
    start at zero (the model starts as its deep path alone) and are a plain parameter, not an
    `nn.Embedding`, so that no model's weight initialisation fills them with noise."""

    def __init__(self, vocab_size: int, num_labels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(vocab_size, num_labels))

    def forward(self, input_ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        mask = real.unsqueeze(-1).to(self.weight.dtype)  # (B, T, 1)
        summed = (F.embedding(input_ids, self.weight) * mask).sum(1)  # (B, C)
        return RATE * summed / mask.sum(1).clamp(min=1.0).sqrt()
