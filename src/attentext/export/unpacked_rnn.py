"""The attention RNN without packed sequences: the forward pass torch.export can trace."""

from __future__ import annotations

import torch
from torch import nn

from attentext.errors import AttentextError
from attentext.models.attention_rnn import AttentionRNNForSequenceClassification


class UnpackedRNN(nn.Module):
    """`AttentionRNNForSequenceClassification` without packed sequences, for export.

    Same result as the packed model (right padding): the forward direction reads each text from
    its first token, so its states at real tokens never see padding; the backward direction runs
    over each text reversed within its own length (a gather), so it starts at the last real
    token, and its states are put back in order by the same gather. Padded steps are zeroed as
    `pad_packed_sequence` leaves them. The weights are the model's own (the bidirectional RNN's
    two directions copied into two one-directional RNNs of the same cell).
    """

    def __init__(self, model: AttentionRNNForSequenceClassification) -> None:
        super().__init__()
        self.model = model
        rnn = model.encoder.rnn
        if rnn.num_layers != 1:
            raise AttentextError("ONNX export of the attention RNN supports one RNN layer")

        def direction(suffix: str) -> nn.Module:
            single = type(rnn)(rnn.input_size, rnn.hidden_size, batch_first=True, bias=rnn.bias)
            with torch.no_grad():
                for name, parameter in single.named_parameters():
                    parameter.copy_(getattr(rnn, name + suffix))
            return single.eval()

        self.forward_rnn = direction("")
        self.backward_rnn = direction("_reverse") if rnn.bidirectional else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]  # (1, T)
        lengths = attention_mask.sum(dim=1).clamp(min=1)[:, None]  # (B, 1), as the model counts
        real = steps < lengths  # (B, T)
        x = self.model.embed(input_ids)  # (B, T, E)
        h, _ = self.forward_rnn(x)  # (B, T, H)
        if self.backward_rnn is not None:
            # position t of the reversed text is token length-1-t; padding stays where it is
            reverse = torch.where(real, lengths - 1 - steps, steps)  # (B, T), its own inverse
            x_rev = torch.gather(x, 1, reverse[..., None].expand(-1, -1, x.shape[-1]))
            h_rev, _ = self.backward_rnn(x_rev)
            h_back = torch.gather(h_rev, 1, reverse[..., None].expand(-1, -1, h_rev.shape[-1]))
            h = torch.cat([h, h_back], dim=-1)  # (B, T, 2H)
        h = h * real[..., None].to(h.dtype)
        context, _ = self.model.attention(h, real)
        return self.model.classifier(context)
