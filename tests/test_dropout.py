"""CPUDropout: the same inverted dropout as nn.Dropout, drawn more cheaply on CPU, and swapped into
models for training without changing what they save."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attentext.models.dropout import CPUDropout, use_cpu_dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drops_at_rate_p_and_scales_what_it_keeps(p):
    torch.manual_seed(0)
    x = torch.ones(400, 1000)

    y = CPUDropout(p).train()(x)

    dropped = (y == 0).float().mean().item()
    assert abs(dropped - p) < 0.005  # 400,000 draws: the standard error is under 0.001
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)

    y = CPUDropout(0.3).train()(x)
    y.sum().backward()

    kept = y.detach() != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.7))
    assert torch.all(x.grad[~kept] == 0)


def test_eval_and_rate_zero_are_identity_rate_one_is_zero():
    x = torch.randn(8, 16)
    assert CPUDropout(0.5).eval()(x) is x
    assert CPUDropout(0.0).train()(x) is x
    assert torch.all(CPUDropout(1.0).train()(x) == 0)


def test_reproducible_under_a_seed_and_keeps_dtype():
    x = torch.randn(32, 32).to(torch.bfloat16)
    torch.manual_seed(7)
    first = CPUDropout(0.3).train()(x)
    torch.manual_seed(7)
    second = CPUDropout(0.3).train()(x)

    assert first.dtype == torch.bfloat16
    assert torch.equal(first, second)


def test_swap_replaces_every_plain_dropout_and_keeps_the_state_dict():
    from attentext.models.seed_transformer import (
        SeedTransformerConfig,
        SeedTransformerForSequenceClassification,
    )

    model = SeedTransformerForSequenceClassification(
        SeedTransformerConfig(vocab_size=50, max_position_embeddings=16, dropout=0.2)
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = sum(type(m) is nn.Dropout for m in model.modules())

    replaced = use_cpu_dropout(model)

    assert replaced == plain == 4
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert all(m.p == 0.2 for m in model.modules() if isinstance(m, CPUDropout))
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert use_cpu_dropout(model) == 0  # already swapped


def test_swap_into_a_hugging_face_bert():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    model = BertForSequenceClassification(config)

    assert use_cpu_dropout(model) > 0
    model.train()
    ids = torch.randint(0, 100, (4, 12))
    out = model(input_ids=ids, labels=torch.tensor([0, 1, 0, 1]))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    model.eval()
    with torch.no_grad():  # eval: no dropout anywhere, so two passes agree exactly
        assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)


def test_other_devices_use_torch_dropout(monkeypatch):
    # CUDA's fused dropout beats a hand-written one: anything not on the CPU goes to nn.Dropout.
    # A meta tensor stands in for a GPU one here (no GPU on CI).
    calls = []
    original = nn.Dropout.forward
    monkeypatch.setattr(nn.Dropout, "forward", lambda self, x: calls.append(x) or original(self, x))
    dropout = CPUDropout(0.3).train()

    out = dropout(torch.empty(4, 8, device="meta"))
    dropout(torch.ones(4, 8))

    assert out.device.type == "meta" and out.shape == (4, 8)
    assert len(calls) == 1 and calls[0].device.type == "meta"
