"""A bidirectional GRU (or LSTM) with additive attention pooling, as a Hugging Face config/model pair.

The classic pre-transformer attention classifier (Bahdanau et al., 2015; Yang et al., 2016):
word embedding -> bidirectional GRU -> additive attention over the GRU states -> Dropout ->
Linear. The attention scores each state with a small MLP, `score_i = v^T tanh(W h_i + b)`, and
pools the states with `alpha = softmax(score)` over the real tokens; `alpha` is the model's own
per-token importance, which `attentext explain` shows.

The recurrence never reads padding before a real token, as packed sequences would have it, but
without packing: the forward direction reads each text from its first token (padding, on the
right as the word tokenizer pads, comes after its real tokens), and the backward direction reads
each text reversed within its own length (a gather), so it starts at the last real token; states
at padded steps are zeroed. A text's logits are the same alone or in a batch of longer texts.
Packing gave the same results, but torch's backward pass through a packed RNN on a CPU grows
faster than the sequence: a training step with packing took 3.1x as long a token at 512 tokens,
1.4x at 128 and the same at 32 (benchmarks/rnn_lengths.py, AMD EPYC with AVX2), which made
attention-rnn several times slower a token on long posts than on short texts.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from attentext.decisions import MULTI_LABEL
from attentext.models.auto import register
from attentext.models.config_args import word_model_config
from attentext.models.option_ranges import check_at_least, check_rate
from attentext.models.outputs import classification_output
from attentext.models.static_embedding import StaticEmbedding
from attentext.recipes import ModelSpec

CELLS = ("gru", "lstm")


class AttentionRNNConfig(PretrainedConfig):
    """Configuration of `AttentionRNNForSequenceClassification`.

    Args:
        vocab_size: word vocabulary size, padding (0) and [UNK] (1) included.
        max_position_embeddings: longest input, in tokens (the RNN has no position embedding;
            the value is the tokenizer's `max_length`, kept so that every family reports it).
        embed_dim: word embedding size.
        hidden_size: RNN state size per direction.
        cell: the recurrent cell, "gru" or "lstm".
        bidirectional: read the text both ways (the states are then 2 * hidden_size wide).
        attention_dim: width of the additive attention's hidden layer (W's output size).
        dropout: dropout rate on the word embeddings and before the classifier.
        static_dim: width of a second word embedding that training never changes, concatenated
            to the learned one (models/static_embedding.py; `model.embedding_init: encoder`
            fills it with the encoder's word vectors); 0: none.
        pad_token_id: the padding id; the embedding keeps its row at zero.
    """

    model_type = "attentext-attention-rnn"

    def __init__(
        self,
        vocab_size: int = 20000,
        max_position_embeddings: int = 256,
        embed_dim: int = 128,
        hidden_size: int = 128,
        cell: str = "gru",
        bidirectional: bool = True,
        attention_dim: int = 128,
        dropout: float = 0.3,
        static_dim: int = 0,
        pad_token_id: int = 0,
        **kwargs,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        check_at_least(1, embed_dim=embed_dim, hidden_size=hidden_size, attention_dim=attention_dim)
        check_at_least(0, static_dim=static_dim)
        check_rate(dropout=dropout)
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.embed_dim = embed_dim
        self.hidden_size = hidden_size
        self.cell = cell
        self.bidirectional = bidirectional
        self.attention_dim = attention_dim
        self.dropout = dropout
        self.static_dim = static_dim
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def state_size(self) -> int:
        """Width of the RNN states the attention reads: hidden_size per direction."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class RNNEncoder(nn.Module):
    """A (bi)GRU/LSTM over right-padded texts: (B, T, E) embeddings + lengths -> (B, T, D)
    states, zeros at padded steps; each direction reads only a text's real tokens before its
    padding (the module docstring says why not packed sequences)."""

    def __init__(self, config: AttentionRNNConfig) -> None:
        super().__init__()
        rnn_cls = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            config.embed_dim + config.static_dim,
            config.hidden_size,
            batch_first=True,
            bidirectional=config.bidirectional,
        )
        # one direction, run with either direction's weights of `rnn` (functional_call); kept in
        # a tuple so that it is no submodule (the weights saved stay the bidirectional RNN's),
        # on the meta device so that it draws no random numbers (a seed gives the same model)
        single = rnn_cls(self.rnn.input_size, self.rnn.hidden_size, batch_first=True, device="meta")
        self._direction = (single,)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        real = steps < lengths[:, None]  # (B, T)
        h = self._run(x, "")
        if self.rnn.bidirectional:
            # position t of the reversed text is token length-1-t; padding stays where it is
            reverse = torch.where(real, lengths[:, None] - 1 - steps, steps)[..., None]
            x_rev = torch.gather(x, 1, reverse.expand(-1, -1, x.shape[-1]))
            h_rev = self._run(x_rev, "_reverse")  # the same gather puts it back in order
            h = torch.cat([h, torch.gather(h_rev, 1, reverse.expand(-1, -1, h_rev.shape[-1]))], -1)
        return h * real[..., None].to(h.dtype)

    def _run(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        """One direction of `rnn` (its weights ending in `suffix`) over `x`, first step first."""
        single = self._direction[0]
        weights = {name: getattr(self.rnn, name + suffix) for name, _ in single.named_parameters()}
        states, _ = functional_call(single, weights, (x,))
        return states


class AdditiveAttention(nn.Module):
    """Bahdanau attention pooling: score_i = v^T tanh(W h_i + b), alpha = softmax over real tokens."""

    def __init__(self, input_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, attention_dim)  # W, b
        self.v = nn.Linear(attention_dim, 1, bias=False)  # v

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) states and a (B, T) bool mask of real tokens -> (B, D) context, (B, T) alpha.

        Every row needs at least one real token; padding gets exactly zero weight.
        """
        scores = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # (B, T)
        scores = scores.float().masked_fill(~mask, float("-inf"))  # softmax in fp32 under bf16
        alpha = scores.softmax(dim=-1)  # (B, T); exp(-inf) = 0 for padding
        context = torch.bmm(alpha.unsqueeze(1).to(h.dtype), h).squeeze(1)  # (B, 1, T) @ (B, T, D)
        return context, alpha  # (B, D), (B, T)


class AttentionRNNPreTrainedModel(PreTrainedModel):
    config_class = AttentionRNNConfig
    base_model_prefix = "attention_rnn"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        # Glorot for the input and dense weights, orthogonal recurrent weights (stable early
        # gradients through time), zero biases except the LSTM forget gate at 1 (remember at first).
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.GRU | nn.LSTM):
            H = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    for gate in param.data.split(H):
                        nn.init.xavier_uniform_(gate)
                elif name.startswith("weight_hh"):
                    for gate in param.data.split(H):
                        nn.init.orthogonal_(gate)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        nn.init.ones_(param.data[H : 2 * H])  # gates are ordered i, f, g, o


class AttentionRNNForSequenceClassification(AttentionRNNPreTrainedModel):
    def __init__(self, config: AttentionRNNConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(
            config.vocab_size, config.embed_dim, padding_idx=config.pad_token_id
        )
        self.static_embedding = None
        if config.static_dim:
            self.static_embedding = StaticEmbedding(config.vocab_size, config.static_dim)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.encoder = RNNEncoder(config)
        self.attention = AdditiveAttention(config.state_size, config.attention_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.state_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embedding (`model.embedding_init: encoder` starts it from an encoder)."""
        return self.embedding

    def get_static_embeddings(self) -> StaticEmbedding | None:
        """The word embedding kept fixed (`model.options.static_dim`), or None."""
        return self.static_embedding

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, embed_dim + static_dim): the learned word vectors, and the fixed
        ones beside them where there are any."""
        x = self.embedding(input_ids)
        if self.static_embedding is None:
            return x
        return torch.cat([x, self.static_embedding(input_ids)], dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        if input_ids.shape[1] == 0:  # a batch of empty texts: give each one padding slot
            input_ids = F.pad(input_ids, (0, 1), value=self.config.pad_token_id)
            attention_mask = None
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        B, T = input_ids.shape
        # Right padding: a text's real tokens are its first `length` slots. An empty text
        # counts its first slot as real, so that it gets a defined (not NaN) prediction.
        lengths = attention_mask.sum(dim=1).clamp(min=1)  # (B,)
        real = torch.arange(T, device=input_ids.device)[None, :] < lengths[:, None]  # (B, T)
        x = self.embedding_dropout(self.embed(input_ids))  # (B, T, E + static_dim)
        h = self.encoder(x, lengths)  # (B, T, D)
        context, alpha = self.attention(h, real)  # (B, D), (B, T)
        logits = self.classifier(self.dropout(context))  # (B, num_labels)
        attentions = (alpha,) if output_attentions else None
        multi_label = self.config.problem_type == MULTI_LABEL
        return classification_output(logits, labels, attentions, multi_label)


def build(
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> AttentionRNNForSequenceClassification:
    """A fresh model for a recipe: the recipe's options, sized for the vocabulary and labels."""
    config = word_model_config(
        AttentionRNNConfig, spec, tokenizer, label_names, max_length, multi_label
    )
    return AttentionRNNForSequenceClassification(config)


register(AttentionRNNConfig, AttentionRNNForSequenceClassification)
