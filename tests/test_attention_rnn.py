"""The attention RNN: additive attention by hand, padding that costs nothing, a real tiny run."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import AutoModelForSequenceClassification

from attentext.data.defaults import planned
from attentext.errors import RecipeError
from attentext.models.attention_rnn import (
    AdditiveAttention,
    AttentionRNNConfig,
    AttentionRNNForSequenceClassification,
    RNNEncoder,
)
from attentext.models.registry import build_model
from attentext.recipes import ModelSpec, load_recipe


def tiny_model(**options) -> AttentionRNNForSequenceClassification:
    torch.manual_seed(0)
    config = AttentionRNNConfig(
        vocab_size=50, embed_dim=8, hidden_size=6, attention_dim=5, num_labels=3, **options
    )
    return AttentionRNNForSequenceClassification(config).eval()


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and mask, as the collator makes them."""
    T = max(1, *(len(r) for r in rows))
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def test_additive_attention_equals_a_hand_computation():
    attention = AdditiveAttention(input_dim=2, attention_dim=2)
    W, b, v = [[1.0, -1.0], [0.5, 2.0]], [0.1, -0.2], [1.5, -0.5]
    with torch.no_grad():
        attention.proj.weight.copy_(torch.tensor(W))
        attention.proj.bias.copy_(torch.tensor(b))
        attention.v.weight.copy_(torch.tensor([v]))
    h = [[0.2, 0.4], [-1.0, 0.3], [0.7, -0.6], [9.0, 9.0]]  # the last state is padding

    context, alpha = attention(torch.tensor([h]), torch.tensor([[True, True, True, False]]))

    def score(state: list[float]) -> float:  # v^T tanh(W h + b), written out
        hidden = [math.tanh(sum(W[r][c] * state[c] for c in range(2)) + b[r]) for r in range(2)]
        return sum(v[r] * hidden[r] for r in range(2))

    exps = [math.exp(score(state)) for state in h[:3]]
    expected_alpha = [e / sum(exps) for e in exps] + [0.0]
    expected_context = [
        sum(a * state[c] for a, state in zip(expected_alpha[:3], h[:3], strict=True))
        for c in range(2)
    ]
    assert alpha[0].tolist() == pytest.approx(expected_alpha, abs=1e-6)
    assert alpha[0, 3].item() == 0.0  # padding gets exactly nothing
    assert context[0].tolist() == pytest.approx(expected_context, abs=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_alpha_sums_to_one_over_real_tokens_and_padding_gets_zero(cell):
    model = tiny_model(cell=cell)
    ids, mask = padded([[5, 6, 7], [8, 9, 10, 11, 12, 13], [4]])

    alpha = model(ids, attention_mask=mask, output_attentions=True).attentions[0]

    assert alpha.shape == (3, 6)
    assert torch.allclose(alpha.sum(-1), torch.ones(3))
    assert torch.all(alpha[mask == 0] == 0)
    assert torch.all(alpha[mask == 1] > 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_logits_are_the_same_alone_and_batched_with_longer_texts(cell):
    model = tiny_model(cell=cell)
    short = [5, 6, 7]
    alone = model(*padded([short]), output_attentions=True)
    ids, mask = padded([[8, 9, 10, 11, 12, 13, 14, 15, 16, 17], short, [4, 4, 4, 4, 4]])
    batched = model(ids, attention_mask=mask, output_attentions=True)

    # The backward GRU starts at the short text's last word, not at the padding.
    assert torch.allclose(alone.logits[0], batched.logits[1], atol=1e-6)
    assert torch.allclose(alone.attentions[0][0], batched.attentions[0][1, :3], atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_states_and_gradients_are_those_of_packed_sequences(cell):
    """The encoder reads padded texts without packing (torch's packed backward pass is slow on a
    CPU); torch's packed sequences are the reference for its states and their gradients."""
    encoder = RNNEncoder(AttentionRNNConfig(embed_dim=8, hidden_size=6, cell=cell))
    x = torch.randn(5, 9, 8)
    lengths = torch.tensor([9, 3, 1, 7, 5])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    reference, _ = pad_packed_sequence(encoder.rnn(packed)[0], batch_first=True, total_length=9)
    states = encoder(x, lengths)
    weights = torch.randn_like(states)

    assert torch.allclose(states, reference, atol=1e-6)
    ours = torch.autograd.grad((states * weights).sum(), list(encoder.rnn.parameters()))
    theirs = torch.autograd.grad((reference * weights).sum(), list(encoder.rnn.parameters()))
    for mine, packed_grad in zip(ours, theirs, strict=True):
        assert torch.allclose(mine, packed_grad, atol=1e-5)
    assert [name for name, _ in encoder.named_parameters()] == [
        f"rnn.{name}" for name, _ in encoder.rnn.named_parameters()
    ]  # the one-direction runner is no submodule: run directories keep their weights


def test_empty_texts_give_finite_predictions():
    model = tiny_model()
    all_empty = model(torch.zeros(2, 0, dtype=torch.long), output_attentions=True)
    ids, mask = padded([[], [5, 6]])
    one_empty = model(ids, attention_mask=mask, output_attentions=True)

    assert torch.isfinite(all_empty.logits).all() and torch.isfinite(one_empty.logits).all()
    assert one_empty.attentions[0][0].tolist() == [1.0, 0.0]  # its first slot counts as real


def test_loss_trains_and_padding_embedding_stays_zero():
    model = tiny_model(dropout=0.0).train()
    ids, mask = padded([[5, 6, 7], [8, 9]])
    labels = torch.tensor([0, 2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = model(ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    assert losses[-1] < losses[0] / 4
    assert torch.all(model.embedding.weight[0] == 0)


def test_a_static_channel_is_read_beside_the_learned_one_and_never_trained(tmp_path):
    model = tiny_model(static_dim=4, dropout=0.0).train()
    static = model.get_static_embeddings().weight
    static.normal_()
    start = static.clone()
    ids, mask = padded([[5, 6, 7], [8, 9]])
    assert model.encoder.rnn.input_size == 8 + 4
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        model(ids, attention_mask=mask, labels=torch.tensor([0, 2])).loss.backward()
        optimizer.step()
    assert torch.equal(static, start)  # a buffer: no optimizer holds it
    with torch.no_grad():  # and the model reads it: other fixed vectors, other logits
        before = model.eval()(ids, mask).logits
        static.add_(1.0)
        assert not torch.allclose(before, model(ids, mask).logits)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert torch.equal(loaded.get_static_embeddings().weight, static)


def test_save_and_load_through_the_auto_classes(tmp_path):
    model = tiny_model(cell="lstm", bidirectional=False)
    ids, mask = padded([[5, 6, 7], [8]])
    model.save_pretrained(tmp_path)

    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()

    assert type(loaded) is AttentionRNNForSequenceClassification
    assert loaded.config.cell == "lstm" and loaded.config.state_size == 6
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.allclose(model(ids, mask).logits, loaded(ids, mask).logits, atol=1e-6)


def test_recipe_builds_the_documented_model():
    recipe = planned(load_recipe("attention-rnn"))  # `auto` settings at their caps
    tokenizer = type("Sized", (), {"__len__": lambda self: 20000, "pad_token_id": 0})()

    model = build_model(recipe.model, tokenizer, ["a", "b", "c", "d"], recipe.tokenizer.max_length)

    assert isinstance(model, AttentionRNNForSequenceClassification)
    assert model.config.cell == "gru" and model.config.bidirectional
    assert model.classifier.in_features == 2 * model.config.hidden_size
    assert model.config.max_position_embeddings == recipe.tokenizer.max_length


@pytest.mark.parametrize(
    ("options", "message"),
    [({"cell": "lstn"}, "cell must be one of gru, lstm"), ({"hidden": 3}, "did you mean")],
)
def test_bad_options_are_recipe_errors(options, message):
    tokenizer = type("Sized", (), {"__len__": lambda self: 100, "pad_token_id": 0})()
    with pytest.raises(RecipeError, match=message):
        build_model(ModelSpec(type="attention-rnn", options=options), tokenizer, ["a", "b"], 16)
