"""Word dropout: words of a training text read as [UNK] at random.

A word model trained on a few thousand texts learns to lean on a handful of words it saw with one
label; hiding a share of each text's words at every step makes it use the rest too (the word
dropout of Iyyer et al. 2015, "Deep Unordered Composition Rivals Syntactic Methods for Text
Classification"; the masking Tang et al. 2019 used to distil BERT into small models). It acts in
training only: evaluation and prediction read every word.
"""

from __future__ import annotations

import torch


def drop_words(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, rate: float, unk_id: int
) -> torch.Tensor:
    """`input_ids` with each real token (attention_mask 1) replaced by `unk_id` with probability
    `rate`; padding is left as it is. A new tensor: the batch the collator made is not changed."""
    if rate <= 0.0:
        return input_ids
    hidden = (torch.rand(input_ids.shape, device=input_ids.device) < rate) & attention_mask.bool()
    return input_ids.masked_fill(hidden, unk_id)
