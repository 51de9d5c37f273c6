"""What a recipe costs on this data and this machine, before training it.

Each recipe's cost was measured once (`COSTS`, on `REFERENCE_MACHINE`) as seconds per training
sample and per text read, each a fixed part plus a part per token, and a fixed part per run
(loading, tokenizing, saving, and its share of the final comparison). Every figure is stated at
the speed `REFERENCE_GFLOPS` of a small probe (fp32 matmuls of a small model's shape) measured
beside it, so that on another machine, or on this one busy with other jobs, two 0.2 s runs of the
probe (one thread, and all of torch's) scale them (`Speed`). The data's share comes from its size
and text lengths (`DataProfile`). The estimates are a plan, not a promise: `auto` corrects them
by what its runs took, and stops a run at its share of the budget (`callbacks.Deadline`).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from attentext.data.dataset import TextDataset
from attentext.data.defaults import planned
from attentext.precision import cpu_has_fast_bf16
from attentext.recipes import Recipe

# Where COSTS were measured: each recipe trained for a few steps (seed-transformer 40,
# attention-rnn 30, encoder-finetune 10; encoder-frozen and tfidf-logreg in full, with a cold
# feature cache) on 3,000-row training subsets of trec (~10 words a text) and ag_news (~38), 273
# and 300 validation and 500 test texts, torch on 1 thread (on 2 threads other jobs' load made
# the probe swing 20x), the probe run before and after each; figures are seconds x that probe /
# REFERENCE_GFLOPS, the per-token part fitted through the two datasets. Load average 2-7: other
# jobs shared the cores, so each figure is good to a factor of ~2, which the runs' own speed
# then corrects (`auto`).
REFERENCE_MACHINE = "AMD EPYC (family 26, Zen 5), 2 cores, KVM, torch 2.13.0+cpu"
REFERENCE_GFLOPS = 100.0  # the probe's speed (1 thread, idle) the figures are stated at
PROBE_SHAPE = (256, 384, 384)  # rows x inner x outer: a batch of MiniLM-wide token vectors
SAMPLED_TEXTS = 5000  # texts whose lengths are read for the profile
RATIO_TEXTS = 1000  # of those, texts a pretrained tokenizer reads for its tokens per word (auto)


@dataclass(frozen=True)
class RecipeCost:
    """Seconds at REFERENCE_GFLOPS: `fixed` per run; `train` per training sample seen and
    `infer` per text read (evaluation, prediction, frozen features), each (fixed, per token);
    `tokens_per_word` from whitespace words to the recipe's tokens; `min_epochs`: a run
    shorter than this is not worth its time (skipped instead); `bf16_gain`: where the figures
    were measured in bf16 (the reference has native bf16, and `precision: auto` took it), how
    much faster that ran than fp32 there, so that a machine that trains the recipe in fp32 is
    not promised bf16's speed (the probe is fp32 on both)."""

    fixed: float
    train: tuple[float, float]
    infer: tuple[float, float]
    tokens_per_word: float
    min_epochs: float
    bf16_gain: float = 1.0


COSTS: dict[str, RecipeCost] = {
    # fixed s, train s/sample (base, per token), infer s/text (base, per token), tokens/word, min
    # epochs. scikit-learn's fit on the whole of trec, ag_news and emotion at load average ~1.5
    # (0.25, 0.78 and 0.72 ms a text at ~160 GFLOP/s on 2 threads): its iterations, not the
    # words, set most of it; under load its fit on 2 threads ran 4-12x slower.
    "tfidf-logreg": RecipeCost(2.0, (6.5e-4, 1.6e-5), (2.0e-5, 1.0e-6), 1.0, 1.0),
    "seed-transformer": RecipeCost(1.0, (0.0, 3.4e-6), (3.0e-5, 1.2e-6), 1.15, 2.0),
    "attention-rnn": RecipeCost(1.2, (0.0, 2.7e-5), (3.0e-5, 8.0e-6), 1.15, 1.0),
    # the encoder's pass over every text is its `infer`; the head's epochs are nearly free
    "encoder-frozen": RecipeCost(6.0, (3.0e-5, 0.0), (0.0, 1.2e-4), 1.35, 5.0),
    # in bf16, 2.1x fp32's speed on the reference (44.48 against 20.97 samples/s on AG News;
    # benchmarks/README.md, encoder-finetune); on an AMD EPYC with AVX2 only (fp32) trec's full
    # run took 392 s against the 205 s estimated without this
    "encoder-finetune": RecipeCost(5.0, (1.3e-3, 3.2e-4), (2.4e-3, 6.0e-5), 1.35, 0.5, 2.1),
    # not measured: the base's forward pass at every step, as encoder-frozen's features
    "hf-frozen-base": RecipeCost(6.0, (0.0, 1.2e-4), (0.0, 1.2e-4), 1.35, 1.0),
}


@dataclass(frozen=True)
class DataProfile:
    """The data's size and text lengths, which with a recipe's cost give its time."""

    n_train: int
    n_validation: int
    n_test: int
    words: tuple[int, ...]  # whitespace words of up to SAMPLED_TEXTS training texts
    # subword tokens per whitespace word of the encoder recipes' tokenizer on these texts, where
    # measured: English text runs 1.06-1.35 (the COSTS figure), French tweets 2.06 and the 20
    # Newsgroups posts (headers, addresses) 1.97, whose steps are that much longer
    subword_ratio: float | None = None

    @classmethod
    def of(cls, dataset: TextDataset) -> DataProfile:
        sizes = {split: len(rows) for split, rows in dataset.splits.items()}
        return cls(
            sizes.get("train", 0),
            sizes.get("validation", 0),
            sizes.get("test", 0),
            tuple(len(text.split()) for text in sampled_texts(dataset)),
        )

    @property
    def mean_words(self) -> float:
        return sum(self.words) / max(1, len(self.words))

    def tokens(self, per_word: float, cap: int) -> float:
        """Mean tokens per text as a tokenizer with `per_word` tokens a word, cut at `cap`, reads
        them (2 more for the special tokens)."""
        if not self.words:
            return 2.0
        return sum(min(math.ceil(w * per_word) + 2, cap) for w in self.words) / len(self.words)


def sampled_texts(dataset: TextDataset) -> list[str]:
    """Up to SAMPLED_TEXTS training texts (a fixed-seed sample, in their order): what the
    profile reads."""
    texts = dataset.texts("train")
    rows = range(len(texts))
    if len(texts) > SAMPLED_TEXTS:
        rows = sorted(random.Random(0).sample(rows, SAMPLED_TEXTS))
    return [str(texts[i]) for i in rows]


def subword_ratio(texts: list[str], tokenizer: Any) -> float | None:
    """Tokens per whitespace word of `tokenizer` on `texts` (special tokens aside); None for
    texts without words."""
    words = sum(len(text.split()) for text in texts)
    if not words:
        return None
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return sum(map(len, ids)) / words


@dataclass(frozen=True)
class Estimate:
    """A recipe's planned seconds on this data: `setup` before training (loading, tokenizing,
    and `features`, a frozen encoder's pass over every text), `per_epoch` (training and one
    validation pass) for `epochs` epochs of `steps_per_epoch` optimizer steps, and `after`
    (final predictions, calibration, saving, its rows of the comparison)."""

    recipe: str
    setup: float
    features: float
    per_epoch: float
    epochs: float
    steps_per_epoch: int
    after: float
    per_text: float = 0.0  # reading one more text with the trained model (the test split)

    @property
    def fixed(self) -> float:
        return self.setup + self.after

    @property
    def seconds(self) -> float:
        return self.fixed + self.per_epoch * self.epochs

    def epochs_within(self, seconds: float) -> float:
        """How many epochs fit in `seconds`."""
        return max(0.0, (seconds - self.fixed) / self.per_epoch) if self.per_epoch else 1e9


COMPARED_TEXTS = 512 + 50  # compare's throughput sample and latency calls, per run


def estimate(recipe: Recipe, profile: DataProfile, speed: Speed) -> Estimate:
    """The recipe's time on data of `profile` at `speed`."""
    cost = COSTS[recipe.name]
    recipe = planned(recipe, profile.n_train)  # `auto` settings: epochs from the size, caps
    baseline = recipe.model.type == "tfidf-logreg"
    cap = 10**6 if baseline else recipe.tokenizer.max_length  # TF-IDF reads every word
    per_word = cost.tokens_per_word
    if recipe.tokenizer.type == "pretrained" and profile.subword_ratio:
        per_word = profile.subword_ratio  # measured on these texts
    tokens = profile.tokens(per_word, cap)
    scale = speed.parallel if baseline else speed.torch
    if not trains_in_bf16(recipe):
        scale *= cost.bf16_gain
    train = (cost.train[0] + cost.train[1] * tokens) * scale
    infer = (cost.infer[0] + cost.infer[1] * tokens) * scale
    steps = max(1, math.ceil(profile.n_train / recipe.training.batch_size))
    epochs = 1.0 if baseline else recipe.training.epochs
    if recipe.training.max_steps > 0:
        epochs = min(epochs, recipe.training.max_steps / steps)
    frozen = recipe.name == "encoder-frozen"  # every text through the encoder once
    features = (profile.n_train + profile.n_validation + profile.n_test) * infer if frozen else 0.0
    per_epoch = profile.n_train * train
    if not baseline:  # one validation pass per epoch (on cached features: a training step's cost)
        per_epoch += profile.n_validation * (train if frozen else infer)
    compared = profile.n_validation + min(profile.n_validation, COMPARED_TEXTS)
    read_after = compared + (0 if frozen else profile.n_validation + profile.n_test)
    return Estimate(
        recipe.name,
        setup=0.6 * cost.fixed * speed.serial + features,
        features=features,
        per_epoch=per_epoch,
        epochs=epochs,
        steps_per_epoch=steps,
        after=0.4 * cost.fixed * speed.serial + read_after * infer,
        per_text=infer,
    )


def trains_in_bf16(recipe: Recipe) -> bool:
    """Whether the recipe will likely train in half precision here: as it (or
    ATTENTEXT_PRECISION) says, or with `auto` where a GPU or the CPU's native bf16 is (where the
    run's own probe then decides)."""
    import torch

    precision = recipe.training.precision
    if precision == "auto":
        precision = os.environ.get("ATTENTEXT_PRECISION", "auto")
    if precision != "auto":
        return precision in ("bf16", "fp16")
    return torch.cuda.is_available() or cpu_has_fast_bf16()


def speed_probe(seconds: float = 0.2, threads: int | None = None, device: str = "cpu") -> float:
    """GFLOP/s of fp32 matmuls of PROBE_SHAPE on this machine now, on `threads` threads (torch's
    own number by default) or on a GPU: what the machine gives a small model now, load included."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        rows, inner, outer = PROBE_SHAPE
        a = torch.randn(rows, inner, device=device)
        b = torch.randn(inner, outer, device=device)
        for _ in range(3):  # warm up
            a @ b
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            (a @ b).sum().item()  # waits for a GPU: each step as a training step would
            count += 1
    finally:
        torch.set_num_threads(before)
    return count * 2 * rows * inner * outer / elapsed / 1e9


@dataclass(frozen=True)
class Speed:
    """Reference seconds -> seconds here, now: `serial` for one-thread work (loading, saving),
    `parallel` for the numeric work on the CPU (scikit-learn's BLAS, torch without a GPU) on
    `threads` threads: one thread where one ran the probe faster than all of them (other jobs on
    the cores stall threads that wait on each other: here 2 threads ran it 20x slower than 1
    while another job was busy, and scikit-learn's fit 4-12x slower); `torch` for the models'
    work, on the GPU where there is one (a rough figure: a small model's steps gain less from a
    GPU than its matmuls, which the runs' own speed then corrects)."""

    serial: float
    parallel: float
    torch: float
    threads: int

    @classmethod
    def measure(cls) -> Speed:
        """The probes (0.4 s; 0.6 s with a GPU), each ratio kept within [0.05, 50]: a stalled
        probe is not a forecast."""
        import torch

        one, every = speed_probe(threads=1), speed_probe()
        threads = torch.get_num_threads() if every >= one else 1
        cpu = _ratio(max(one, every))
        gpu = _ratio(speed_probe(device="cuda")) if torch.cuda.is_available() else cpu
        return cls(_ratio(one), cpu, gpu, threads)

    def scaled(self, correction: float) -> Speed:
        """The models' work corrected by what runs took against their estimates."""
        return Speed(self.serial, self.parallel, self.torch * correction, self.threads)


def _ratio(measured: float) -> float:
    return min(50.0, max(0.05, REFERENCE_GFLOPS / max(measured, 1e-3)))
