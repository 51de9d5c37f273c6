"""A Keras-like `model.summary()`: layer, output shape, parameters, trainable totals."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int
    trainable: int


@dataclass
class ModelSummary:
    rows: list[LayerRow]
    total: int
    trainable: int

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable


def _shape(output: object) -> str:
    for field in ("logits", "last_hidden_state"):
        if getattr(output, field, None) is not None:
            output = getattr(output, field)
            break
    if isinstance(output, tuple):
        output = output[0]
    if isinstance(output, torch.Tensor):
        return "(None, " + ", ".join(str(d) for d in output.shape[1:]) + ")"
    return "?"


def summarize(model: nn.Module, seq_len: int, batch: int = 2) -> ModelSummary:
    """Run one dummy batch of `seq_len` tokens and record each top-level layer's output shape."""
    shapes: dict[str, str] = {}
    hooks = [
        child.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, _shape(out))
        )
        for name, child in model.named_children()
    ]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            ids = torch.ones(
                batch, seq_len, dtype=torch.long, device=next(model.parameters()).device
            )
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    rows = [
        LayerRow(name, type(child).__name__, shapes.get(name, "-"), *_weights(child))
        for name, child in model.named_children()
        if not (isinstance(child, nn.ModuleList) and len(child) == 0)  # e.g. no more_blocks
    ]
    return ModelSummary(rows, *_weights(model))


def _weights(module: nn.Module) -> tuple[int, int]:
    """(all weights, trainable ones) of `module`: its parameters, and its floating-point
    buffers as non-trainable weights, as Keras counts a layer's fixed tables and statistics
    (attention-rnn's fixed word vectors are a buffer)."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    fixed = sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return total + fixed, trainable
