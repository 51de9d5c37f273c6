"""The lesson's small transformer classifier, as a Hugging Face config/model pair.

Keras original (the lesson, after keras.io's "Text classification with Transformer"):
token + position embedding -> one post-LN transformer block -> global average pooling ->
Dropout -> Dense(20, relu) -> Dropout -> Dense(num_labels). The parameter counts match the Keras
model exactly (648,192 / 10,656 / 660 / 84 for 4 labels). Unlike the lesson, padding is masked
in attention and in pooling, so a text's logits do not depend on how much padding its batch
needed; `mask_padding=False` reproduces the lesson's behaviour.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from attentext.decisions import MULTI_LABEL
from attentext.models.attention_rnn import AdditiveAttention
from attentext.models.auto import register
from attentext.models.config_args import word_model_config
from attentext.models.hashed_bigrams import HashedBigrams
from attentext.models.option_ranges import check_at_least, check_positive, check_rate
from attentext.models.outputs import PooledClassifierOutput, classification_output
from attentext.models.static_embedding import StaticEmbedding
from attentext.models.word_dropout import drop_words
from attentext.recipes import ModelSpec

POOLINGS = ("mean", "attention")  # model.options.pooling (SeedTransformerConfig)


class SeedTransformerConfig(PretrainedConfig):
    """Configuration of `SeedTransformerForSequenceClassification`.

    Args:
        vocab_size: word vocabulary size, padding (0) and [UNK] (1) included.
        max_position_embeddings: longest input, in tokens (Keras' `maxlen`).
        embed_dim: token and position embedding size.
        num_heads: attention heads.
        key_dim: size of each head's query/key/value (Keras' `key_dim`; the lesson uses embed_dim).
        ff_dim: hidden size of the block's feed-forward network.
        classifier_hidden_dim: size of the Dense(relu) layer before the classifier (Keras: 20).
        dropout: dropout rate in the block and the head.
        layer_norm_eps: LayerNorm epsilon (Keras' 1e-6).
        mask_padding: mask padding in attention and pooling (False: the lesson's behaviour).
        word_dropout: in training, the probability that a word is read as [UNK]
            (models/word_dropout.py); 0 reads every word, like the lesson.
        unk_token_id: the id of [UNK] in the word vocabulary.
        static_dim: width of a second word embedding that training never changes, projected to
            embed_dim (a learned projection) and added to the learned one
            (models/static_embedding.py; `model.embedding_init: encoder` fills it with the
            encoder's word vectors); 0: none.
        num_blocks: transformer blocks stacked (the lesson: 1). A student distilled from a
            fine-tuned encoder has far more signal to fit than labels alone give, and depth is
            what the distillation literature adds first (TinyBERT, MiniLM students: 4-6 layers).
        pooling: how the last block's outputs become one vector: "mean" over the real tokens
            (the lesson's global average pooling), or "attention": the additive (Bahdanau)
            attention the lesson's RNN pools with, a learned weight per token (Yang et al.
            2016's attention pooling). Never a [CLS] state: explain's rollout reads every row,
            weighted by the pooling, even when the tokens are WordPiece pieces after [CLS].
        bigram_buckets: rows of a table of word-pair vectors (fastText's hashed bigrams,
            models/hashed_bigrams.py); the mean of a text's pair vectors, embed_dim wide, adds
            a linear term of its own to the logits (Wide & Deep's wide part; fastText's linear
            read of its n-grams). 0: none (the lesson's model).
    """

    model_type = "attentext-seed-transformer"

    def __init__(
        self,
        vocab_size: int = 20000,
        max_position_embeddings: int = 256,
        embed_dim: int = 32,
        num_heads: int = 2,
        key_dim: int = 32,
        ff_dim: int = 32,
        classifier_hidden_dim: int = 20,
        dropout: float = 0.1,
        layer_norm_eps: float = 1e-6,
        mask_padding: bool = True,
        word_dropout: float = 0.0,
        unk_token_id: int = 1,
        static_dim: int = 0,
        num_blocks: int = 1,
        pooling: str = "mean",
        bigram_buckets: int = 0,
        pad_token_id: int = 0,
        **kwargs,
    ) -> None:
        check_at_least(
            1,
            embed_dim=embed_dim,
            num_heads=num_heads,
            key_dim=key_dim,
            ff_dim=ff_dim,
            classifier_hidden_dim=classifier_hidden_dim,
            num_blocks=num_blocks,
        )
        check_at_least(0, static_dim=static_dim, bigram_buckets=bigram_buckets)
        check_rate(dropout=dropout, word_dropout=word_dropout)
        check_positive(layer_norm_eps=layer_norm_eps)
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.ff_dim = ff_dim
        self.classifier_hidden_dim = classifier_hidden_dim
        self.dropout = dropout
        self.layer_norm_eps = layer_norm_eps
        self.mask_padding = mask_padding
        self.word_dropout = word_dropout
        self.unk_token_id = unk_token_id
        self.static_dim = static_dim
        self.num_blocks = num_blocks
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.bigram_buckets = bigram_buckets
        super().__init__(pad_token_id=pad_token_id, **kwargs)


class TokenAndPositionEmbedding(nn.Module):
    def __init__(self, config: SeedTransformerConfig) -> None:
        super().__init__()
        self.token_emb = nn.Embedding(config.vocab_size, config.embed_dim)
        self.pos_emb = nn.Embedding(config.max_position_embeddings, config.embed_dim)
        self.static_emb = self.static_proj = None
        if config.static_dim:
            self.static_emb = StaticEmbedding(config.vocab_size, config.static_dim)
            self.static_proj = nn.Linear(config.static_dim, config.embed_dim, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.token_emb(input_ids) + self.pos_emb(positions)  # (B, T, C)
        if self.static_emb is not None:
            x = x + self.static_proj(self.static_emb(input_ids))
        return x


class MultiHeadSelfAttention(nn.Module):
    """Keras MultiHeadAttention(num_heads, key_dim) used as self-attention."""

    def __init__(self, config: SeedTransformerConfig) -> None:
        super().__init__()
        self.num_heads, self.key_dim = config.num_heads, config.key_dim
        inner = config.num_heads * config.key_dim
        self.query = nn.Linear(config.embed_dim, inner)
        self.key = nn.Linear(config.embed_dim, inner)
        self.value = nn.Linear(config.embed_dim, inner)
        self.output = nn.Linear(inner, config.embed_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.key_dim).transpose(1, 2)  # (B, nh, T, hs)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = x.shape
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        # key_mask: (B, T) bool, True for real tokens -> broadcast over heads and queries.
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T)
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.key_dim)  # (B, nh, T, T)
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            weights = scores.softmax(dim=-1)
            out = weights @ v
        else:  # the fused kernel: same result, less memory, faster
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(B, T, self.num_heads * self.key_dim)  # (B, T, nh*hs)
        return self.output(out), weights


class TransformerBlock(nn.Module):
    """Post-LN block: x = LN(x + Drop(MHA(x))); x = LN(x + Drop(FFN(x)))."""

    def __init__(self, config: SeedTransformerConfig) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.ffn = nn.Sequential(
            nn.Linear(config.embed_dim, config.ff_dim),
            nn.ReLU(),
            nn.Linear(config.ff_dim, config.embed_dim),
        )
        self.layernorm1 = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.layernorm2 = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(x, key_mask, need_weights)
        x = self.layernorm1(x + self.dropout1(attended))
        x = self.layernorm2(x + self.dropout2(self.ffn(x)))
        return x, weights


class SeedTransformerPreTrainedModel(PreTrainedModel):
    config_class = SeedTransformerConfig
    base_model_prefix = "seed_transformer"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        # Keras' defaults: Glorot-uniform dense kernels, zero biases, U(-0.05, 0.05) embeddings.
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class SeedTransformerForSequenceClassification(SeedTransformerPreTrainedModel):
    def __init__(self, config: SeedTransformerConfig) -> None:
        super().__init__(config)
        self.embedding = TokenAndPositionEmbedding(config)
        self.transformer_block = TransformerBlock(config)
        # blocks after the first under their own name, so a one-block run's weights (every run
        # saved before `num_blocks`) load unchanged
        self.more_blocks = nn.ModuleList(
            TransformerBlock(config) for _ in range(config.num_blocks - 1)
        )
        self.dropout1 = nn.Dropout(config.dropout)
        self.bigrams = self.bigram_out = None
        if config.bigram_buckets:  # word pairs straight to the logits, as fastText reads them
            self.bigrams = HashedBigrams(config.bigram_buckets, config.embed_dim)
            self.bigram_out = nn.Linear(config.embed_dim, config.num_labels)
        self.dense = nn.Linear(config.embed_dim, config.classifier_hidden_dim)
        self.dropout2 = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.classifier_hidden_dim, config.num_labels)
        self.attention_pooling = None
        if config.pooling == "attention":
            self.attention_pooling = AdditiveAttention(config.embed_dim, config.embed_dim)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embedding (`model.embedding_init: encoder` starts it from an encoder)."""
        return self.embedding.token_emb

    def get_static_embeddings(self) -> StaticEmbedding | None:
        """The word embedding kept fixed (`model.options.static_dim`), or None."""
        return self.embedding.static_emb

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"input of {input_ids.shape[1]} tokens exceeds max_position_embeddings="
                f"{self.config.max_position_embeddings}; truncate it in the tokenizer"
            )
        if input_ids.shape[1] == 0:  # a batch of empty texts: one padding slot each
            input_ids = input_ids.new_full((input_ids.shape[0], 1), self.config.pad_token_id)
            attention_mask = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        real = attention_mask.bool().clone()  # (B, T)
        real[:, 0] |= ~real.any(dim=1)  # an empty text attends to its first slot, not to nothing
        key_mask = real if self.config.mask_padding else None
        if self.training:
            input_ids = drop_words(
                input_ids, attention_mask, self.config.word_dropout, self.config.unk_token_id
            )
        x = self.embedding(input_ids)  # (B, T, C)
        layers = []  # each block's attention weights, first block first
        for block in (self.transformer_block, *self.more_blocks):
            x, weights = block(x, key_mask, bool(output_attentions))
            layers.append(weights)
        weights = None
        if self.attention_pooling is not None:  # a learned weight per real token
            pooled, weights = self.attention_pooling(x, real)
        elif self.config.mask_padding:  # mean over real tokens only
            w = real.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
            pooled = (x * w).sum(1) / w.sum(1).clamp(min=1.0)  # (B, C)
        else:
            pooled = x.mean(1)
        hidden = self.dropout2(F.relu(self.dense(self.dropout1(pooled))))
        logits = self.classifier(hidden)  # (B, num_labels)
        if self.bigrams is not None:  # the pairs' own linear term, beside the network's
            logits = logits + self.bigram_out(self.bigrams(input_ids, real))
        attentions = tuple(layers) if output_attentions else None
        multi_label = self.config.problem_type == MULTI_LABEL
        output = classification_output(logits, labels, attentions, multi_label)
        if weights is None or not output_attentions:
            return output
        return PooledClassifierOutput(**output, pooling_weights=weights)


def build(
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> SeedTransformerForSequenceClassification:
    """A fresh model for a recipe: the recipe's options, sized for the vocabulary and labels."""
    config = word_model_config(
        SeedTransformerConfig, spec, tokenizer, label_names, max_length, multi_label
    )
    return SeedTransformerForSequenceClassification(config)


register(SeedTransformerConfig, SeedTransformerForSequenceClassification)
