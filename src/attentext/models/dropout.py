"""Dropout that is cheap on CPU, swapped into a model for training.

torch's CPU dropout draws its mask with `bernoulli_`, which is slow: on a 128 x 40 x 32
activation (a seed-transformer batch) forward + backward take 1.47 ms, against 0.62 ms for the
same inverted dropout written as a uniform draw and a comparison. With four dropouts per step
that was the largest single op of a seed-transformer training step on 2 cores (20 % of its CPU
time); swapping it in trains seed-transformer 15 % faster (benchmarks/breakdown.py). BERT-style
encoders gain little: most of their masks come from a functional dropout inside the attention,
which no module swap reaches. On CUDA the fused kernel is faster than anything written here, so
the module falls back to it there.
"""

from __future__ import annotations

import torch
from torch import nn


class CPUDropout(nn.Dropout):
    """`nn.Dropout` (inverted: kept values scaled by 1 / (1 - p)) with a cheaper CPU mask.

    Same distribution as `nn.Dropout`: each value is kept with probability 1 - p, drawn from
    fp32 uniforms whatever the activation's dtype (a bf16 uniform would round p). It draws from
    torch's global generator, so `torch.manual_seed` makes it reproducible like `nn.Dropout`.
    Dropout has no weights: state dicts and saved models are the same as with `nn.Dropout`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        if self.p == 1.0:
            return x * 0.0
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


def use_cpu_dropout(model: nn.Module) -> int:
    """Replace every plain `nn.Dropout` in `model` with a `CPUDropout` of the same rate.

    Works on any model (ours and Hugging Face ones: their attention code reads `.p`, which stays).
    Returns how many modules were replaced.
    """
    replaced = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, CPUDropout(child.p, child.inplace))
                replaced += 1
    return replaced
