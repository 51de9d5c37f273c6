"""Few-shot training, SetFit's way (Tunstall et al., "Efficient Few-Shot Learning Without Prompts").

With eight examples per class a classifier head has too little to learn from, but pairs of
examples are plenty: 32 texts make 496 distinct pairs. So the encoder is tuned first, on pairs
(cosine similarity of the two pooled embeddings against 1 for a pair of one class and 0 across,
mean squared error: sentence-transformers' `CosineSimilarityLoss`), which pulls each class into
its own region of the embedding space; then a logistic regression on the tuned embeddings becomes
the model's linear head. The result is an ordinary `encoder-classifier`: its run directory loads,
predicts, serves and exports like any other.

Self-training (optional): the trained model labels unlabeled texts, the most confident of each
class join the labelled ones, and the head is fitted again; `self_training_rounds` times, each
round labelling with the head the last one fitted. What is taken is a share of each predicted
class (`self_training_share`, its surest texts, at most `self_training_per_class`) rather than
what passes one probability (`self_training_threshold`, 0 by default): a regression on eight
examples a class is unsure in proportion to the number of classes, so a threshold that suits four
takes every text of two and, of six, one class's texts and none of the others', and the rounds
then teach the head that one class. The rounds cost a regression each on embeddings computed once;
with `self_training_finetune_epochs`, the whole model then trains on the labelled texts and the
last round's pseudo-labelled ones (training/fewshot_finetune.py), the latter with words masked
(`self_training_finetune_noise`): the model was surest of exactly those texts, so read clean they
teach it little (its loss starts at ~0.01), while masked it has to find their label from less
(the noisy student of Xie et al. 2020).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from safetensors.torch import load_model, save_model
from sklearn.linear_model import LogisticRegression
from transformers import get_linear_schedule_with_warmup

from attentext import rundir
from attentext.bars import ProgressBar
from attentext.data.dataset import TextDataset
from attentext.data.profile import classes_read_as_classes
from attentext.data.texts import sample_texts, without_evaluation_texts
from attentext.errors import AttentextNote, DataError, RecipeError, RunDirError, shown
from attentext.files import file_digest, write_atomic, write_json
from attentext.models.dropout import use_cpu_dropout
from attentext.precision import probe_model, resolve_precision
from attentext.recipes import FewShotSpec, Recipe
from attentext.text.batching import pad_rows
from attentext.text.encoding import encode, masks_written_as
from attentext.training.distill import MASK, all_held_out, augmented_texts, left_out_note
from attentext.training.features import (
    cache_key,
    cached_features,
    compute_features,
    data_fingerprint,
)
from attentext.training.fewshot_finetune import (
    finetune_on_labels,
    length_grouped_batches,
    optimizer_step,
)
from attentext.training.workdir import pair_tuned_state

PAIR_TUNED_WEIGHTS = "model.safetensors"  # in the work folder's rundir.PAIR_TUNED_SUBDIR
# beside it, once self-training has computed them: the unlabeled texts' embeddings (a feature
# cache entry), what the rounds chose (CHOSEN) and the fine-tuning pass's state, each in a file
# named by what it depends on
UNLABELED_PREFIX = "unlabeled-"
CHOSEN_PREFIX = "chosen-"
PASS_PREFIX = "finetuning-"  # the fine-tuning pass's state, named as the pseudo-labels it reads
CHOSEN = ("weight", "bias", "kept", "pseudo", "confidence")
WARMUP_SHARE = 0.1  # of the pair steps: sentence-transformers' (and SetFit's) default
WEIGHT_DECAY = 0.01  # AdamW's, as sentence-transformers trains
EVALUATED_SPLITS = ("validation", "test")
# The most pairs a run may draw: they are drawn in Python before the first step, ~150 bytes and
# ~15 microseconds each, so 20 million take ~3 GB and minutes (1.25 million steps of 16, days
# on a CPU). SetFit's 20 iterations stay far under it: 64 texts of 100 classes make 256,000, all
# 120,000 AG News training texts 4.8 million. `pair_iterations=10**9` filled memory instead.
MAX_PAIRS = 20_000_000


def sample_pairs(labels: list[int] | np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """(P, 3) int64 rows (first, second, 1 when they share a class else 0), shuffled.

    Each iteration gives every text one partner of its class (never itself) and one of another
    class, so positives and negatives are equal in number; a class with a single text has no
    positive partner, and its texts get no negative either, to keep the balance.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise RecipeError("few-shot pairs need texts of two classes or more")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(labels))
    same = {c: rows[labels == c] for c in classes}
    other = {c: rows[labels != c] for c in classes}
    pairs = []
    for _ in range(iterations):
        for i, label in enumerate(labels):
            partners = same[label]
            if len(partners) < 2:
                continue
            j = partners[rng.integers(len(partners) - 1)]
            j = partners[-1] if j == i else j  # one draw among the partners other than i
            pairs.append((i, j, 1))
            pairs.append((i, other[label][rng.integers(len(other[label]))], 0))
    return rng.permutation(np.asarray(pairs, dtype=np.int64).reshape(-1, 3))


def _pair_loss(model: Any, ids: list[list[int]], batch: np.ndarray, pad_id: int, bf16: bool):
    """Mean squared error of the pairs' cosine similarity against 1 (one class) or 0.

    A text in several pairs of the batch is encoded once: with 32 labelled texts, a batch of 16
    pairs holds ~20 distinct ones, not 32.
    """
    unique, where = np.unique(batch[:, :2], return_inverse=True)
    padded = pad_rows([ids[i] for i in unique], pad_id)
    tensors = {k: torch.from_numpy(v).to(model.device) for k, v in padded.items()}
    with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
        features, _ = model.pooled(tensors["input_ids"], tensors["attention_mask"])  # (U, F)
    where = torch.from_numpy(where.reshape(-1, 2)).to(model.device)
    first, second = features.float()[where[:, 0]], features.float()[where[:, 1]]  # (B, F) each
    target = torch.from_numpy(batch[:, 2]).to(model.device, torch.float32)
    return F.mse_loss(F.cosine_similarity(first, second), target)


def tune_encoder(
    model: Any,
    ids: list[list[int]],
    labels: np.ndarray,
    spec: FewShotSpec,
    seed: int,
    precision: str,
    pad_id: int,
) -> dict[str, Any]:
    """Tune the model's encoder on pairs of the labelled texts (AdamW, linear warmup and decay);
    what the run records of it.

    Each pair's loss is its own (no in-batch negatives), so which pairs share a batch changes
    nothing but the padding: the batches are grouped by the pairs' longer text, as the
    fine-tuning groups texts. On 64 AG News texts per class that pads 0.46x the tokens of
    batches in sampling order."""
    pairs = sample_pairs(labels, spec.pair_iterations, seed)
    steps = spec.pair_epochs * math.ceil(len(pairs) / spec.pair_batch_size)
    params = list(model.encoder.requires_grad_(True).parameters())
    optimizer = torch.optim.AdamW(params, lr=spec.pair_learning_rate, weight_decay=WEIGHT_DECAY)
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP_SHARE * steps), steps)
    use_cpu_dropout(model)  # no weights in dropout: the saved model is the same
    model.train()
    lengths = [max(len(ids[first]), len(ids[second])) for first, second, _ in pairs]
    losses = []
    with ProgressBar(total=steps, desc="Tuning on pairs", unit="step") as bar:
        for epoch in range(spec.pair_epochs):
            for rows in length_grouped_batches(lengths, spec.pair_batch_size, seed + epoch):
                loss = _pair_loss(model, ids, pairs[rows], pad_id, precision == "bf16")
                losses.append(optimizer_step(loss, optimizer, schedule))
                bar.update()
    model.eval()
    model.apply_freezing()  # requires_grad as the config says, as a loaded model has it
    return {
        "pairs": len(pairs),
        "pair_steps": steps,
        "pair_loss_first": round(float(np.mean(losses[:10])), 4),
        "pair_loss_last": round(float(np.mean(losses[-10:])), 4),
    }


def fit_regression(
    features: np.ndarray, labels: np.ndarray, spec: FewShotSpec, seed: int
) -> LogisticRegression:
    """The logistic regression the head becomes, fitted on the embeddings."""
    regression = LogisticRegression(C=spec.head_c, max_iter=1000, random_state=seed)
    with classes_read_as_classes():  # one text a class (--shots 1) is the draw asked for
        return regression.fit(features, labels)


def copy_into_head(model: Any, weight: np.ndarray, bias: np.ndarray) -> None:
    """A regression's weights (`coef_`, `intercept_`) into the model's linear head (so the saved
    model's softmax is the regression's probabilities)."""
    if weight.shape[0] == 1:  # two classes: softmax([-z/2, z/2]) is sigmoid(z) for class 1
        weight, bias = np.concatenate([-weight, weight]) / 2, np.concatenate([-bias, bias]) / 2
    linear = model.head.classifier
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight).to(linear.weight.dtype))
        linear.bias.copy_(torch.from_numpy(bias).to(linear.bias.dtype))


def select_pseudo_labels(
    probabilities: np.ndarray, threshold: float, per_class: int = 0, share: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, labels) of the rows to take as pseudo-labelled: of the rows predicted as
    each label, the most confident `share` of them (rounded down), at most `per_class` (0: no
    cap), and only those whose probability is at least `threshold`."""
    confidence = probabilities.max(axis=1)
    predicted = probabilities.argmax(axis=1)
    chosen = [np.empty(0, dtype=np.int64)]
    for label in np.unique(predicted):
        rows = np.flatnonzero(predicted == label)
        rows = rows[np.argsort(-confidence[rows], kind="stable")]
        limit = math.floor(share * len(rows))  # share 1.0: every row
        rows = rows[: min(limit, per_class) if per_class else limit]
        chosen.append(rows[confidence[rows] >= threshold])
    kept = np.sort(np.concatenate(chosen))
    return kept, predicted[kept]


def capped_per_class(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted positions of at most `cap` rows of each label, a draw seeded by `seed` (0: every
    row); a label with fewer keeps them all."""
    if not cap:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    drawn = [rng.permutation(np.flatnonzero(labels == label))[:cap] for label in np.unique(labels)]
    return np.sort(np.concatenate([np.empty(0, dtype=np.int64), *drawn]))


def self_training_rounds(
    features: np.ndarray,
    labels: np.ndarray,
    unlabeled: np.ndarray,
    spec: FewShotSpec,
    seed: int,
    first: np.ndarray | None = None,
) -> tuple[LogisticRegression, np.ndarray, np.ndarray, np.ndarray]:
    """Rounds of: label the unlabeled embeddings, keep the confident ones, fit the regression
    again on the labelled and pseudo-labelled ones. `first`: the class probabilities the first
    round labels by (None: the regression's on the labelled texts alone; a benchmark tries
    others). The last regression, and the last round's kept rows, their labels and the
    probabilities they were chosen by."""
    if first is None:
        first = fit_regression(features, labels, spec, seed).predict_proba(unlabeled)
    probabilities = first
    for round_ in range(spec.self_training_rounds):
        kept, pseudo = select_pseudo_labels(
            probabilities,
            spec.self_training_threshold,
            spec.self_training_per_class,
            spec.self_training_share,
        )
        regression = fit_regression(
            np.concatenate([features, unlabeled[kept]]),
            np.concatenate([labels, pseudo]),
            spec,
            seed,
        )
        if round_ + 1 < spec.self_training_rounds:  # the next round labels by this regression
            probabilities = regression.predict_proba(unlabeled)
    return regression, kept, pseudo, probabilities


def check_fewshot(recipe: Recipe, dataset: TextDataset) -> tuple[list[str], int]:
    """What the few-shot recipe is refused for before anything is written (each of these was
    found only after the work folder `<output>.partial` was made, the pool after the pair steps):
    a model it cannot tune, several labels per text, no class with two texts to pair (`--shots
    1`), an unlabeled file that cannot be read or holds only evaluation texts. Returns the
    unlabeled texts (a seeded sample, without validation and test texts) and how many were
    left out, said in one line; ([], 0) without self-training."""
    if recipe.model.type != "encoder-classifier" or recipe.tokenizer.long_text == "chunks":
        raise RecipeError(
            "fewshot.pair_iterations tunes an encoder-classifier reading each text in one "
            "piece; set model.type=encoder-classifier and tokenizer.long_text=truncate"
        )
    if dataset.multi_label:
        raise RecipeError("the few-shot recipe learns one label per text; not for multi-label data")
    if np.bincount(dataset.labels("train")).max() < 2:
        shots = f" (--shots {recipe.data.shots})" if recipe.data.shots else ""
        more = "use --shots 2 or more" if recipe.data.shots else "give a class two texts or more"
        raise DataError(
            f"{dataset.source}: every class has one training text{shots}, so there is no pair of "
            f"texts of one class to tune the encoder on; {more}"
        )
    spec = recipe.fewshot
    pairs = 2 * spec.pair_iterations * len(dataset.labels("train"))  # one positive, one negative
    if pairs > MAX_PAIRS:
        raise RecipeError(
            f"fewshot.pair_iterations={spec.pair_iterations:,} draws {pairs:,} pairs of the "
            f"{pairs // (2 * spec.pair_iterations):,} training texts, over the {MAX_PAIRS:,} a run "
            "may draw (each round gives every text two pairs; the recipe's 20 is SetFit's); "
            "lower fewshot.pair_iterations"
        )
    if not spec.unlabeled:
        return [], 0
    texts = sample_texts(spec.unlabeled, spec.self_training_max_texts, recipe.training.seed)
    kept, left_out = without_evaluation_texts(texts, dataset)  # the test split stays held out
    if not kept:
        raise all_held_out(spec.unlabeled, left_out, dataset, "fewshot.unlabeled")
    if left_out:
        warnings.warn(left_out_note(spec.unlabeled, left_out, dataset), AttentextNote, stacklevel=2)
    return kept, left_out


def self_train(
    model: Any,
    tokenizer: Any,
    recipe: Recipe,
    labelled: tuple[list[list[int]], np.ndarray, np.ndarray],
    precision: str,
    dataset: TextDataset,
    pool: tuple[list[str], int],
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Self-training on the recipe's unlabeled texts (`pool`: those `check_fewshot` read, and
    how many it left out), embedded once by the tuned encoder; the last regression becomes the
    head (and the whole model trains on the pseudo-labels where the recipe says so). `labelled`
    is the labelled texts' ids, embeddings and labels. With `work_dir` (the run's
    `<output>.partial`), the embeddings, what the rounds chose and the fine-tuning pass's state
    are kept beside the encoder tuned on pairs, so that `--resume` after an interrupt reads them
    back rather than encoding again (~100 s for 12,000 texts on a CPU) and goes on with the pass
    from where it was saved. Returns what the last round took."""
    spec, pad_id = recipe.fewshot, tokenizer.pad_token_id
    _, features, labels = labelled
    texts, left_out = pool
    start = time.perf_counter()
    ids = encode(tokenizer, texts, recipe.tokenizer.max_length, recipe.tokenizer.truncation)
    unlabeled, key = _unlabeled_features(model, ids, pad_id, precision, work_dir)
    encoded = time.perf_counter()
    where, saved = _kept_files(work_dir, key, features, labels, recipe) if key else (None, None)
    chosen = _rounds_chosen(features, labels, unlabeled, recipe, where)
    seconds = {"encoding_seconds": encoded - start, "rounds_seconds": time.perf_counter() - encoded}
    copy_into_head(model, chosen["weight"], chosen["bias"])
    kept, pseudo, confidence = chosen["kept"], chosen["pseudo"], chosen["confidence"]
    label_names = dataset.label_names
    counts = np.bincount(pseudo, minlength=len(label_names))
    facts = {
        "unlabeled": spec.unlabeled,
        "unlabeled_read": len(texts),
        "unlabeled_left_out": left_out,
        "threshold": spec.self_training_threshold,
        "share": spec.self_training_share,
        "rounds": spec.self_training_rounds,
        "pseudo_labels": {name: int(n) for name, n in zip(label_names, counts, strict=True)},
        "min_confidence": round(float(confidence.min()), 4) if len(kept) else None,
    }
    if spec.self_training_finetune_epochs:
        start = time.perf_counter()
        pseudo_rows = ([texts[i] for i in kept], [ids[i] for i in kept], pseudo)
        facts |= _finetune_on_pseudo_labels(
            model, tokenizer, recipe, labelled, pseudo_rows, precision, saved
        )
        seconds["finetune_seconds"] = time.perf_counter() - start
    return facts | {name: round(value, 2) for name, value in seconds.items()}


def _unlabeled_features(
    model: Any, ids: list[list[int]], pad_id: int, precision: str, work_dir: Path | None
) -> tuple[np.ndarray, str | None]:
    """The tuned encoder's embeddings of the unlabeled texts (`ids`), and the key they are kept
    under in `work_dir` (None without one). Kept as the frozen-feature cache keeps its entries
    (written whole, the values checked against their checksum on reading), in the folder of the
    encoder tuned on pairs, keyed by its saved weights, pooling, precision and the token ids:
    another unlabeled file, tokenizer or encoder is never read back. Read back, said in one
    line."""

    def encoded() -> torch.Tensor:
        return compute_features(model, ids, pad_id, precision, description="Encoding unlabeled")

    if work_dir is None:
        return encoded().numpy(), None
    folder, data = rundir.pair_tuned_dir(work_dir), data_fingerprint(ids)
    key = cache_key(
        encoder=file_digest(folder / PAIR_TUNED_WEIGHTS),
        pooling=model.config.pooling,
        pooling_layers=model.config.pooling_layers,
        normalize=bool(getattr(model.config, "normalize", False)),
        precision=precision,
        data=data,
    )
    features, hit = cached_features(
        UNLABELED_PREFIX + key, encoded, rows=len(ids), data=data, cache_dir=folder
    )
    if hit:
        warnings.warn(
            f"{work_dir.name}: the embeddings of the {len(ids):,} unlabeled texts kept there are "
            "read back, not computed again",
            AttentextNote,
            stacklevel=3,
        )
    return features.numpy(), key


def _kept_files(
    work_dir: Path, key: str, features: np.ndarray, labels: np.ndarray, recipe: Recipe
) -> tuple[Path, Path]:
    """Where what the rounds chose, and the state of the fine-tuning pass that reads it, are
    kept in `work_dir`: names keyed by the unlabeled embeddings' `key`, the labelled embeddings
    and labels, the few-shot settings and the seed."""
    labelled = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    labelled.update(np.asarray(labels, dtype=np.int64).tobytes())
    chosen = cache_key(
        unlabeled=key,
        labelled=labelled.hexdigest(),
        fewshot=dataclasses.asdict(recipe.fewshot),
        seed=recipe.training.seed,
    )
    folder = rundir.pair_tuned_dir(work_dir)
    return folder / f"{CHOSEN_PREFIX}{chosen}.safetensors", folder / f"{PASS_PREFIX}{chosen}.pt"


def _rounds_chosen(
    features: np.ndarray,
    labels: np.ndarray,
    unlabeled: np.ndarray,
    recipe: Recipe,
    where: Path | None,
) -> dict[str, np.ndarray]:
    """What self-training's rounds chose: the last regression's `weight` and `bias`, the rows
    `kept`, their `pseudo` labels and the `confidence` each was taken at. With `where`, kept
    there (written whole) and read back when it is whole, said in one line, so a resume redoes
    at most the fine-tuning pass."""
    if where is not None and (chosen := _read_chosen(where)) is not None:
        warnings.warn(
            f"{where.parent.parent.name}: the {len(chosen['kept']):,} pseudo-labels self-training "
            "chose, kept there, are read back, not chosen again",
            AttentextNote,
            stacklevel=3,
        )
        return chosen
    spec, seed = recipe.fewshot, recipe.training.seed
    regression, kept, pseudo, probabilities = self_training_rounds(
        features, labels, unlabeled, spec, seed
    )
    chosen = {
        "weight": regression.coef_,
        "bias": regression.intercept_,
        "kept": kept,
        "pseudo": pseudo,
        "confidence": probabilities.max(axis=1)[kept],
    }
    chosen = {name: np.ascontiguousarray(values) for name, values in chosen.items()}
    if where is not None:
        write_atomic(where, lambda tmp: save_arrays(chosen, str(tmp)))
    return chosen


def _read_chosen(where: Path) -> dict[str, np.ndarray] | None:
    """What `_rounds_chosen` kept at `where`, or None where nothing whole is there."""
    try:
        chosen = load_arrays(str(where))
    except (OSError, SafetensorError):
        return None
    return chosen if set(chosen) == set(CHOSEN) else None


def _finetune_on_pseudo_labels(
    model: Any,
    tokenizer: Any,
    recipe: Recipe,
    labelled: tuple[list[list[int]], np.ndarray, np.ndarray],
    pseudo_rows: tuple[list[str], list[list[int]], np.ndarray],
    precision: str,
    saved: Path | None = None,
) -> dict[str, Any]:
    """Every weight trained on the labelled texts and the pseudo-labelled ones (`pseudo_rows`:
    their texts, ids and labels; at most `self_training_finetune_per_class` of each class, a
    seeded draw), the latter with words masked where the recipe says so, their labels from the
    clean texts; what it records. `saved`: where the pass keeps its state to go on from
    (`finetune_on_labels`)."""
    spec, seed, t = recipe.fewshot, recipe.training.seed, recipe.tokenizer
    texts, pseudo_ids, pseudo = pseudo_rows
    rows = capped_per_class(pseudo, spec.self_training_finetune_per_class, seed)
    texts, pseudo_ids = [texts[i] for i in rows], [pseudo_ids[i] for i in rows]
    pseudo = pseudo[rows]
    if spec.self_training_finetune_noise and texts:  # none taken: the labelled texts alone
        noisy = augmented_texts(
            texts, 1, seed, ngram_rate=0.0, mask_rate=spec.self_training_finetune_mask_rate
        )
        with masks_written_as(MASK):
            pseudo_ids = encode(tokenizer, noisy, t.max_length, t.truncation)
    labelled_ids, _, labels = labelled
    chosen, targets = labelled_ids + pseudo_ids, np.concatenate([labels, pseudo])
    pad_id = tokenizer.pad_token_id
    return finetune_on_labels(model, chosen, targets, spec, seed, precision, pad_id, saved)


def _precision(recipe: Recipe, model: Any, ids: list[list[int]], pad_id: int) -> str:
    """fp32 or bf16 for the pair steps (a probe on a batch of the texts where bf16 is native)."""
    size = 2 * recipe.fewshot.pair_batch_size
    rows = pad_rows(ids[:size], pad_id)
    batch = {k: torch.from_numpy(v) for k, v in rows.items()}
    return resolve_precision(recipe.training.precision, lambda: probe_model(model, batch))


def fit_fewshot(
    recipe: Recipe,
    model: Any,
    tokenizer: Any,
    dataset: TextDataset,
    pool: tuple[list[str], int] | None = None,
    work_dir: Path | None = None,
    resume: bool = False,
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Tune the encoder on pairs, fit the head (and self-train on `pool`, the unlabeled texts
    `check_fewshot` returned, read by it here where None): the run's facts, and (true labels,
    logits) of its validation and test splits. The tuned encoder is kept in `work_dir` (the
    run's `<output>.partial`), and with `resume` taken from there (`pair_tuned`); so are
    self-training's embeddings and pseudo-labels once computed (`self_train`)."""
    pool = check_fewshot(recipe, dataset) if pool is None else pool
    spec, t = recipe.fewshot, recipe.tokenizer
    pad_id = tokenizer.pad_token_id
    train = dataset["train"]
    ids = encode(tokenizer, train["text"], t.max_length, t.truncation)
    labels = np.asarray(train["label"])
    facts, precision, start = pair_tuned(recipe, model, (ids, labels, pad_id), work_dir, resume)
    features = compute_features(model, ids, pad_id, precision, description="Encoding train")
    if spec.unlabeled:
        labelled = (ids, features.numpy(), labels)
        facts["self_training"] = self_train(
            model, tokenizer, recipe, labelled, precision, dataset, pool, work_dir
        )
    else:
        regression = fit_regression(features.numpy(), labels, spec, recipe.training.seed)
        copy_into_head(model, regression.coef_, regression.intercept_)
    seconds = time.perf_counter() - start
    facts = {
        "precision": precision,
        "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(facts["pairs"] * spec.pair_epochs / seconds, 1),
        "n_train": len(labels),
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
        "total_parameters": sum(p.numel() for p in model.parameters()),
        "fewshot": facts,
    }
    return facts, _logits_per_split(model, tokenizer, recipe, dataset, precision)


def pair_tuned(
    recipe: Recipe,
    model: Any,
    labelled: tuple[list[list[int]], np.ndarray, int],
    work_dir: Path | None,
    resume: bool,
) -> tuple[dict[str, Any], str, float]:
    """The encoder tuned on pairs of the `labelled` texts (their ids, labels and the pad id),
    then saved in `work_dir` with the random generators' state, so that an interrupt after it
    (self-training: minutes of encoding and fine-tuning) costs not the pair steps; resuming,
    taken from there instead, said in one line. Its facts, its precision, and the
    `perf_counter` reading the run's training time counts from (the pair steps included)."""
    ids, labels, pad_id = labelled
    state = pair_tuned_state(work_dir) if resume and work_dir is not None else None
    if work_dir is not None and state is not None:
        return _resumed_from(model, work_dir, state)
    model.encoder.requires_grad_(True)  # the probe times what the pair steps train
    precision = _precision(recipe, model, ids, pad_id)
    start = time.perf_counter()
    facts = tune_encoder(
        model, ids, labels, recipe.fewshot, recipe.training.seed, precision, pad_id
    )
    facts["pair_seconds"] = round(time.perf_counter() - start, 2)
    if work_dir is not None:
        folder = rundir.pair_tuned_dir(work_dir)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(model, str(folder / PAIR_TUNED_WEIGHTS))
        state = {"precision": precision, "facts": facts, "random": _random_state()}
        write_json(folder / rundir.PAIR_TUNED_STATE, state)  # last: the weights are whole
    return facts, precision, start


def _resumed_from(
    model: Any, work_dir: Path, state: dict[str, Any]
) -> tuple[dict[str, Any], str, float]:
    """The weights and random generators `pair_tuned` saved, into `model` and this process
    (the model as the pair steps left it: dropout swapped, in eval mode, frozen as configured),
    said in one line; what `pair_tuned` returns. A state that cannot be read is one line."""
    weights = rundir.pair_tuned_dir(work_dir) / PAIR_TUNED_WEIGHTS
    try:
        facts, precision = dict(state["facts"]), str(state["precision"])
        steps, started = int(facts["pair_steps"]), time.perf_counter() - facts["pair_seconds"]
        load_model(model, str(weights), device=str(model.device))
        _set_random_state(state["random"])
    except (OSError, SafetensorError, RuntimeError, LookupError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RunDirError(
            f"{weights.parent}: cannot read the encoder tuned on pairs ({shown(reason)}); pass "
            "--overwrite to start over"
        ) from None
    warnings.warn(
        f"{work_dir.name}: resuming from the encoder tuned on pairs saved there (its {steps:,} "
        "pair steps are not run again)",
        AttentextNote,
        stacklevel=3,
    )
    use_cpu_dropout(model)
    model.eval()
    model.apply_freezing()
    return facts, precision, started


def _random_state() -> dict[str, Any]:
    """Python's, NumPy's, torch's (and CUDA's, where started) global generators, as JSON:
    self-training's fine-tuning draws its dropout from torch's, so a resumed run draws what
    the run would have drawn."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), position, has_gauss, cached],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [state.tolist() for state in cuda],
    }


def _set_random_state(state: dict[str, Any]) -> None:
    """The generators as `_random_state` recorded them."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


@torch.no_grad()  # not inference mode: compute_features moves the model, which is saved after
def _logits_per_split(
    model: Any, tokenizer: Any, recipe: Recipe, dataset: TextDataset, precision: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(true labels, logits) of the validation and test splits, by the tuned model."""
    results = {}
    for split in EVALUATED_SPLITS:
        if split in dataset.splits:
            rows = dataset[split]
            ids = encode(
                tokenizer, rows["text"], recipe.tokenizer.max_length, recipe.tokenizer.truncation
            )
            features = compute_features(
                model, ids, tokenizer.pad_token_id, precision, description=f"Encoding {split}"
            )
            logits = model.head(features.to(model.device)).logits.float().cpu().numpy()
            results[split] = (np.asarray(rows["label"]), logits)
    return results
