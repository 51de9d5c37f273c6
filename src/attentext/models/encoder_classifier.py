"""A pretrained encoder with a pooled Dropout + Linear head: the lesson's BERT classifiers.

Used frozen (`encoder-frozen`: only the head trains, on features computed once and cached) and
fine-tuned (`encoder-finetune`: every weight trains, word embeddings optionally frozen). The
encoder's own config travels inside this config, so a run directory holds the whole model and
loads without the original checkpoint.

Long documents read in windows (`tokenizer.long_text: chunks`) get one prediction from their
windows' by the config's `aggregation`: "mean" or "max" of the window logits, or "attention", a
learned additive attention over the windows' pooled features (`window_attention`, saved with the
model; its forward then also returns each window's score).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from attentext.decisions import MULTI_LABEL
from attentext.encoders import resolve_encoder
from attentext.errors import RecipeError
from attentext.models.aggregation import WindowAttention
from attentext.models.auto import register
from attentext.models.config_args import label_config
from attentext.models.option_ranges import check_rate
from attentext.models.outputs import WindowClassifierOutput, classification_output
from attentext.recipes import AGGREGATIONS, ModelSpec

POOLINGS = ("mean", "cls", "pooler")


class EncoderClassifierConfig(PretrainedConfig):
    """Configuration of `EncoderClassifierForSequenceClassification`.

    Args:
        encoder: the encoder's config as a dict (`model_type` included), e.g. a BERT config.
        pooling: "mean" over real tokens, "cls" (first token) or "pooler" (the encoder's pooler).
        pooling_layers: pool each of the last k layers' hidden states and concatenate them (the
            head reads k * hidden_size features). Lower layers keep more lexical detail that the
            last layer of a sentence-similarity encoder has averaged away: on AG News, MiniLM's
            last 4 layers give a frozen linear head about +0.7 point over the last one alone.
        dropout: dropout before the linear classifier.
        freeze_encoder: keep every encoder weight fixed (the frozen-feature recipe).
        freeze_embeddings: keep the word-embedding matrix fixed while fine-tuning (faster).
        aggregation: how a document read in windows gets one prediction: "mean" or "max" of the
            windows' logits, or "attention" (learned weights over the windows' features).
        aggregation_hidden: the size of the window attention's hidden layer.
        normalize: scale each pooled layer's features to unit length (sentence-transformers'
            `Normalize`): a pair-tuned encoder is trained on cosines, so its direction is what
            carries the class, and a logistic-regression head reads unit vectors best
            (`encoder-fewshot`).
    """

    model_type = "attentext-encoder-classifier"

    def __init__(
        self,
        encoder: dict | None = None,
        pooling: str = "mean",
        pooling_layers: int = 1,
        dropout: float = 0.1,
        freeze_encoder: bool = False,
        freeze_embeddings: bool = False,
        aggregation: str = "mean",
        aggregation_hidden: int = 128,
        normalize: bool = False,
        **kwargs,
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not isinstance(pooling_layers, int) or pooling_layers < 1:
            raise ValueError(f"pooling_layers must be a positive integer, got {pooling_layers!r}")
        if pooling == "pooler" and pooling_layers != 1:
            raise ValueError("pooling 'pooler' reads the last layer only; use pooling_layers: 1")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}")
        if not isinstance(aggregation_hidden, int) or aggregation_hidden < 1:
            raise ValueError(
                f"aggregation_hidden must be a positive integer, got {aggregation_hidden!r}"
            )
        check_rate(dropout=dropout)
        layers = (encoder or {}).get("num_hidden_layers")
        if layers is not None and pooling_layers > layers:
            raise ValueError(
                f"pooling_layers is {pooling_layers} but the encoder has {layers} layers"
            )
        self.encoder = encoder or {}
        self.pooling = pooling
        self.pooling_layers = pooling_layers
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
        self.freeze_embeddings = freeze_embeddings
        self.aggregation = aggregation
        self.aggregation_hidden = aggregation_hidden
        self.normalize = normalize
        super().__init__(**kwargs)  # sets problem_type among the label arguments

    def encoder_config(self) -> PretrainedConfig:
        options = dict(self.encoder)
        return AutoConfig.for_model(options.pop("model_type"), **options)

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.get("hidden_size", 0))


def pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str, pooler_output=None
) -> torch.Tensor:
    """(B, T, H) hidden states -> (B, H) by the chosen pooling."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "pooler":
        if pooler_output is None:
            raise ValueError("this encoder has no pooler; use pooling 'mean' or 'cls'")
        return pooler_output
    # A bf16 model's states are summed over up to 512 tokens in fp32, then given back in bf16.
    weights = attention_mask.unsqueeze(-1).float()  # (B, T, 1)
    mean = (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return mean.to(hidden.dtype)


class ClassificationHead(nn.Module):
    """Dropout + Linear on pooled features; trains alone on cached features when the encoder is frozen."""

    def __init__(
        self, hidden_size: int, num_labels: int, dropout: float, multi_label: bool = False
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.multi_label = multi_label

    def forward(
        self, features: torch.Tensor, labels: torch.Tensor | None = None
    ) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(features))
        return classification_output(logits, labels, multi_label=self.multi_label)


class EncoderClassifierPreTrainedModel(PreTrainedModel):
    config_class = EncoderClassifierConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, ClassificationHead):
            nn.init.normal_(module.classifier.weight, std=0.02)
            nn.init.zeros_(module.classifier.bias)
        elif isinstance(module, WindowAttention):
            module.reset_parameters()


class EncoderClassifierForSequenceClassification(EncoderClassifierPreTrainedModel):
    def __init__(self, config: EncoderClassifierConfig) -> None:
        super().__init__(config)
        encoder_config = config.encoder_config()
        self.encoder = (
            AutoModel.from_config(encoder_config, add_pooling_layer=config.pooling == "pooler")
            if encoder_config.model_type == "bert"
            else AutoModel.from_config(encoder_config)
        )
        self.head = ClassificationHead(
            encoder_config.hidden_size * config.pooling_layers,
            config.num_labels,
            config.dropout,
            config.problem_type == MULTI_LABEL,
        )
        self.window_attention = (
            WindowAttention(
                encoder_config.hidden_size * config.pooling_layers, config.aggregation_hidden
            )
            if config.aggregation == "attention"
            else None
        )
        self.post_init()
        self.apply_freezing()

    def apply_freezing(self) -> None:
        """Set requires_grad from the config (after loading weights, too)."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad = not self.config.freeze_encoder
        if self.config.freeze_embeddings and not self.config.freeze_encoder:
            self.encoder.get_input_embeddings().weight.requires_grad = False

    def load_encoder_weights(self, source: str) -> None:
        """Copy the weights of a pretrained encoder (folder or hub name) into this model."""
        pretrained = AutoModel.from_pretrained(source)
        missing, unexpected = self.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        real_missing = [k for k in missing if not k.startswith("pooler.")]
        if real_missing:
            raise ValueError(f"{source}: encoder weights missing for {', '.join(real_missing[:5])}")
        self.apply_freezing()

    def pooled(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        **kwargs,
    ):
        """(B, k * H) features: the pooled states of the last `pooling_layers` layers, concatenated."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        layers = self.config.pooling_layers
        outputs = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=layers > 1,
            **kwargs,
        )
        if layers == 1:
            pooled = pool(
                outputs.last_hidden_state,
                attention_mask,
                self.config.pooling,
                getattr(outputs, "pooler_output", None),
            )
            return self._normalized(pooled), outputs
        hidden = outputs.hidden_states[-layers:]  # hidden_states[0] is the embedding output
        pooled = [self._normalized(pool(h, attention_mask, self.config.pooling)) for h in hidden]
        return torch.cat(pooled, -1), outputs

    def _normalized(self, features: torch.Tensor) -> torch.Tensor:
        """(B, H) features at unit length when the config says so (in fp32, as `pool` sums)."""
        if not self.config.normalize:
            return features
        return nn.functional.normalize(features.float(), dim=-1).to(features.dtype)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        features, outputs = self.pooled(input_ids, attention_mask, bool(output_attentions), **extra)
        result = self.head(features, labels)
        result.attentions = outputs.attentions if output_attentions else None
        if self.window_attention is None:
            return result
        return WindowClassifierOutput(
            loss=result.loss,
            logits=result.logits,
            attentions=result.attentions,
            window_scores=self.window_attention(features),
        )


def build(
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> EncoderClassifierForSequenceClassification:
    """A pretrained encoder (its weights loaded) with a fresh pooled head."""
    source = resolve_encoder(spec.encoder)
    encoder_config = AutoConfig.from_pretrained(source).to_dict()
    try:
        config = EncoderClassifierConfig(
            encoder=encoder_config, **spec.options, **label_config(label_names, multi_label)
        )
    except ValueError as err:  # e.g. more pooling layers than the encoder has
        raise RecipeError(f"model.options of encoder-classifier: {err}") from None
    model = EncoderClassifierForSequenceClassification(config)
    model.load_encoder_weights(source)
    return model


register(EncoderClassifierConfig, EncoderClassifierForSequenceClassification)
