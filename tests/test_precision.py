"""Precision: `auto` follows what the hardware does (probe), explicit choices win, and bf16
inference runs a bf16 copy of the model while the fp32 weights stay untouched.

The rule is tested with fixed figures, not this machine's timings; the probe itself is tested for
what it must survive (one stalled step).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from attentext import precision
from attentext.encoders import resolve_encoder
from attentext.inference.torch_backend import TransformersClassifier
from attentext.precision import BF16_MIN_SPEEDUP, inference_model, probe_model, resolve_precision
from attentext.training.features import compute_features

TEXTS = [
    "Oil prices jump as OPEC cuts output and stocks slide on Wall Street",
    "The Yankees beat the Red Sox 5-3 to clinch the division title",
    "NASA's new telescope spots water vapour on a distant exoplanet",
    "Rebels attack an army base near the capital, officials say",
]


@pytest.fixture
def auto(monkeypatch):
    """`auto` left to the probe (conftest pins ATTENTEXT_PRECISION=fp32 for everything else), on
    a CPU said to have native bf16, whatever this machine has."""
    monkeypatch.delenv("ATTENTEXT_PRECISION", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)


@pytest.mark.parametrize(
    ("speedup", "expected"),
    [(BF16_MIN_SPEEDUP, "bf16"), (5.0, "bf16"), (BF16_MIN_SPEEDUP - 0.01, "fp32"), (0.5, "fp32")],
)
def test_auto_picks_bf16_only_when_the_probe_finds_it_clearly_faster(auto, speedup, expected):
    assert resolve_precision("auto", lambda: {"fp32": 1.0, "bf16": speedup}) == expected


def test_auto_without_a_probe_is_fp32(auto):
    assert resolve_precision("auto") == "fp32"


def test_several_processes_take_fp32_without_probing(auto, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")

    def probe():
        raise AssertionError("each process would time itself under the others' load")

    assert resolve_precision("auto", probe) == "fp32"


@pytest.mark.parametrize("explicit", ["fp32", "bf16"])
def test_an_explicit_precision_wins_over_the_probe(auto, explicit):
    def probe():
        raise AssertionError("an explicit precision needs no probe")

    assert resolve_precision(explicit, probe) == explicit


def test_the_environment_variable_overrides_auto(auto, monkeypatch):
    monkeypatch.setenv("ATTENTEXT_PRECISION", "bf16")
    assert resolve_precision("auto", lambda: {"fp32": 10.0, "bf16": 1.0}) == "bf16"


def test_a_cpu_without_native_bf16_takes_fp32_without_probing(auto, monkeypatch):
    """AVX2-only CPUs emulate bf16 (~100x slower matmuls): timing it would cost minutes."""
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)

    def probe():
        raise AssertionError("no probe where bf16 cannot be fast")

    assert resolve_precision("auto", probe) == "fp32"


@pytest.mark.parametrize(
    ("flags", "fast"),
    [
        ({"avx2", "fma"}, False),  # AMD EPYC, AVX2 only
        ({"avx2", "avx512f", "avx512_vnni"}, False),  # AVX-512 without its bf16 part
        ({"avx2", "avx512f", "avx512_bf16"}, True),  # AMD Zen5
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, True),  # Xeon with AMX
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, flags, fast):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.cpu_has_fast_bf16() is fast


def test_the_probe_cache_is_keyed_by_the_cpu_capabilities_not_only_its_name(monkeypatch):
    """Two AMD EPYC generations print the same model name; one has native bf16, one has not."""
    monkeypatch.setattr(precision, "cpu_model", lambda: "AMD EPYC")
    model = _SpikyModel(spike_at=0)
    batch = {"input_ids": torch.ones(8, 4)}
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    probe_model(model, batch)
    calls = model.calls
    probe_model(model, batch)
    assert model.calls == calls  # the same CPU: the cached answer
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    probe_model(model, batch)
    assert model.calls > calls  # another CPU kind under the same name: measured again


def test_the_probe_stops_its_timed_rounds_at_its_budget():
    """A slow model (0.3 s a step here) gets its warm-ups and one timed round, not three."""
    model = _SpikyModel(spike_at=0, every_step_s=0.3)
    speeds = probe_model(model, {"input_ids": torch.ones(8, 4)}, refresh=True, budget_s=0.5)
    assert model.calls == 2 + 2  # a warm-up and one timed step per precision
    assert 0 < speeds["fp32"] < 4


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be auto, fp32, bf16 or fp16"):
        resolve_precision("int4")


def test_fp16_without_a_gpu_is_a_one_line_error(monkeypatch):
    from attentext.errors import AttentextError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AttentextError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")


def test_a_precision_training_cannot_use_is_refused_before_the_work_folder(
    ag_news_dir, tmp_path, monkeypatch
):
    """`train --precision fp16` on a CPU was refused after `<output>.partial` was made."""
    import attentext
    from attentext.errors import AttentextError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    with pytest.raises(AttentextError, match="fp16 needs a CUDA GPU"):
        attentext.train("seed-transformer", ag_news_dir, out, precision="fp16", max_steps=1)
    assert not out.exists() and not (tmp_path / "run.partial").exists()


class _SpikyModel(torch.nn.Module):
    """A tiny classifier whose `spike_at`-th forward stalls, as under another process's load."""

    def __init__(self, spike_at: int, every_step_s: float = 0.0) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.calls, self.spike_at, self.every_step_s = 0, spike_at, every_step_s

    def forward(self, input_ids: torch.Tensor, **kwargs):
        self.calls += 1
        if self.calls == self.spike_at:
            time.sleep(0.3)
        time.sleep(self.every_step_s)
        return SimpleNamespace(logits=self.linear(input_ids.float()))


@pytest.mark.parametrize("spike_at", [1, 3])  # the fp32 warm-up, the first timed fp32 step
def test_one_stalled_step_does_not_decide_the_probe(spike_at):
    model = _SpikyModel(spike_at)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    speeds = probe_model(model, {"input_ids": torch.ones(8, 4)}, refresh=True)

    assert model.calls == 2 + 2 * 3  # a warm-up and 3 timed steps per precision, alternating
    assert speeds["fp32"] > 50  # a 4 x 2 linear layer: thousands of steps/s; a 0.3 s stall: 3.3
    assert model.linear.weight.grad is None  # gradients cleared
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_bf16_inference_runs_a_copy_and_leaves_the_fp32_model_alone():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.LayerNorm(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    assert inference_model(model, "fp32") is model
    copy = inference_model(model, "bf16")

    assert copy is not model
    assert {p.dtype for p in copy.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    torch.testing.assert_close(
        copy(torch.ones(2, 8, dtype=torch.bfloat16)).float(),
        model(torch.ones(2, 8)),
        atol=0.05,
        rtol=0.05,
    )


def test_bf16_predictions_agree_with_fp32(run_dir):
    fp32 = TransformersClassifier.from_run_dir(run_dir, precision="fp32")
    bf16 = TransformersClassifier.from_run_dir(run_dir, precision="bf16")

    probabilities = fp32.predict_proba(TEXTS)
    assert {p.dtype for p in bf16.model.parameters()} == {torch.float32}  # the loaded weights
    assert {p.dtype for p in bf16.runner.parameters()} == {torch.bfloat16}
    assert bf16.predict_proba(TEXTS).dtype == np.float64  # every backend's (R13-A3), not bf16
    np.testing.assert_allclose(bf16.predict_proba(TEXTS), probabilities, atol=0.05)


def test_bf16_encoder_features_match_fp32_features():
    """The frozen-encoder recipe's extraction in bf16: same pooled features up to bf16 rounding."""
    from attentext.models.encoder_classifier import (
        EncoderClassifierConfig,
        EncoderClassifierForSequenceClassification,
    )

    source = resolve_encoder("default")
    encoder = AutoModel.from_pretrained(source)
    config = EncoderClassifierConfig(encoder=encoder.config.to_dict(), pooling_layers=2)
    model = EncoderClassifierForSequenceClassification(config)
    model.load_encoder_weights(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    ids = tokenizer(TEXTS)["input_ids"]

    fp32 = compute_features(model, ids, tokenizer.pad_token_id, "fp32")
    bf16 = compute_features(model, ids, tokenizer.pad_token_id, "bf16")

    assert fp32.dtype == bf16.dtype == torch.float32
    assert fp32.shape == bf16.shape == (len(TEXTS), 2 * 384)
    similarity = torch.nn.functional.cosine_similarity(fp32, bf16)
    assert similarity.min() > 0.99, similarity
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_features_leave_the_head_trainable_after_moving_the_model(monkeypatch):
    """compute_features puts the model on its device (the GPU where there is one) before
    inference mode starts. Moved inside it, every parameter became an inference tensor and the
    head the Trainer then trained on an H200 learned nothing. No GPU here: a conversion to
    float64 makes new parameter tensors as a move to the GPU does."""
    from attentext.models.encoder_classifier import (
        EncoderClassifierConfig,
        EncoderClassifierForSequenceClassification,
    )
    from attentext.training import features

    monkeypatch.setattr(features, "default_device", lambda: torch.float64)
    source = resolve_encoder("default")
    config = EncoderClassifierConfig(encoder=AutoModel.from_pretrained(source).config.to_dict())
    model = EncoderClassifierForSequenceClassification(config)
    ids = AutoTokenizer.from_pretrained(source)(TEXTS[:2])["input_ids"]

    found = features.compute_features(model, ids, 0, "fp32")

    assert found.shape[0] == 2
    assert not any(p.is_inference() for p in model.parameters())
    head = model.head.train()
    before = [p.detach().clone() for p in head.parameters()]
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.1)
    head(found.double(), labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, head.parameters(), strict=True))


def test_the_inference_probe_fits_a_model_shorter_than_its_batch(auto, ag_news_dir, tmp_path):
    """A word model whose length was chosen from short texts (fewer than the probe's 64 tokens)
    loads with `auto`: the probe's batch is cut to the model's longest input."""
    import attentext

    out = tmp_path / "short"
    attentext.train(
        "seed-transformer",
        ag_news_dir,
        out,
        max_steps=2,
        overrides=["tokenizer.max_length=16"],
    )
    classifier = TransformersClassifier.from_run_dir(out, precision="auto")
    assert classifier.model.config.max_position_embeddings == 16
    assert classifier.predict_proba(TEXTS).shape == (len(TEXTS), 4)
