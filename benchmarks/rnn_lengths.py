"""Benchmark: the attention RNN's training step by text length, without and with packed sequences.

attentext's attention RNN reads padded texts without packing: each direction reads a text's real
tokens before any padding (the backward one over the text reversed within its own length).
Packed sequences (`pack_padded_sequence`) gave the same states, but torch's backward pass through
a packed RNN on a CPU grows faster than the sequence, which made attention-rnn several times
slower a token on long posts (newsgroups20) than on short texts and threw off `auto`'s estimates.
This times one training step (forward, backward, AdamW) of the recipe's default model (embedding
128, bidirectional GRU 128, attention 128) on batches of `--batch` texts whose lengths are drawn
between half the width and the width, the model as it is against the same model with its encoder
packing, side by side in one run; microseconds per real token and their ratio.

    python benchmarks/rnn_lengths.py
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from common import machine, markdown_table, publish
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attentext.models.attention_rnn import (
    AttentionRNNConfig,
    AttentionRNNForSequenceClassification,
    RNNEncoder,
)

SECTION = "rnn_lengths"


class PackedEncoder(RNNEncoder):
    """The encoder as attentext had it before: packed sequences (the reference)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.rnn(packed)
        return pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])[0]


def per_token_us(packed: bool, width: int, batch: int, seconds: float, seed: int) -> float:
    """Microseconds per real token of a training step, timed over `seconds` after a warm-up."""
    torch.manual_seed(seed)
    config = AttentionRNNConfig(vocab_size=20_000, max_position_embeddings=width, num_labels=4)
    model = AttentionRNNForSequenceClassification(config).train()
    if packed:
        model.encoder = PackedEncoder(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    lengths = torch.randint(max(1, width // 2), width + 1, (batch,))
    lengths[0] = width
    steps = torch.arange(width)[None, :]
    mask = (steps < lengths[:, None]).long()
    ids = torch.randint(2, config.vocab_size, (batch, width)) * mask
    labels = torch.randint(0, 4, (batch,))

    def step() -> None:
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 2:
        step()
        count += 1
    return (time.perf_counter() - start) / count / int(lengths.sum()) * 1e6


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    head = (
        f"{m['cpu']} ({m['cpu_capabilities']}), {m['cores']} cores, torch {m['torch']}, load "
        f"{m['load_average_1min']}; fp32; batches of {payload['batch']} texts, lengths drawn "
        f"between half the width and the width; one training step (forward, backward, AdamW), "
        f"timed over {payload['seconds']} s per cell."
    )
    columns = [
        ("width", "width (tokens)"),
        ("unpacked_us", "attentext (unpacked) us/token"),
        ("packed_us", "packed sequences us/token"),
        ("packed_over_unpacked", "packed / unpacked"),
    ]
    return head + "\n\n" + markdown_table(payload["results"], columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="32,128,512")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows = []
    for width in map(int, args.widths.split(",")):
        unpacked = per_token_us(False, width, args.batch, args.seconds, seed=width)
        packed = per_token_us(True, width, args.batch, args.seconds, seed=width)
        rows.append(
            {
                "width": width,
                "unpacked_us": round(unpacked, 1),
                "packed_us": round(packed, 1),
                "packed_over_unpacked": round(packed / unpacked, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "batch": args.batch,
        "seconds": args.seconds,
        "results": rows,
    }
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
