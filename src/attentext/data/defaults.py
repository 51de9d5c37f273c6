"""Data-aware defaults: the recipe settings left to the data (`auto`), decided from the training split.

Every default of the recipes was first tuned on AG News (15k news items of ~40 words). Some of
them depend on the data more than on the model, so a recipe may write `auto` for them and the run
decides when it starts, from the training split alone:
- `tokenizer.max_length`: the `length_percentile`-th percentile of the texts' token counts (as the
  recipe's own tokenizer counts them), rounded up to a multiple of 8, at least `length_floor`, at
  most `length_cap` and the encoder's own limit: short texts are not padded to a length nobody
  reaches, long ones are read as far as the recipe affords. A recipe that pads each batch to its
  longest text (the fine-tuned encoder) pays nothing for a window longer than short texts: its
  floor keeps them whole instead of cutting their longest 5 %;
- `tokenizer.max_tokens` (the word vectorizer): the words seen at least twice in train, at most
  20,000: a word seen once gets an embedding trained on one example, which is how the 20,000 x 32
  table of the seed transformer overfit small data sets;
- `training.epochs`: whole epochs making about `training.auto_steps` optimizer steps (2 to 40):
  10 epochs of AG News are 1,130 steps, 10 epochs of 3,000 texts only 230, too few for a model
  trained from scratch, while on large data 2 epochs already make thousands; where a recipe has
  early stopping (the encoder recipes' patience 3; the recipes trained from scratch set 0 and run
  every epoch), it ends a run that stops improving. A distilled student counts
  every text it trains on (training split, unlabeled texts, noisy copies: training/run.py);
- `model.embedding_init` (the word models): their word embedding started from the encoder's word
  vectors (training/word_vectors.py) when the encoder knows the training texts' words, at least
  WHOLE_WORD_WARNING of them whole (English text: 86-95 %), from noise otherwise (another
  language: vectors of word fragments). On two 2,000-text samples of the suite's English data
  sets, the encoder's start raised seed-transformer's test accuracy by 3.1 points on average (11
  runs of 12 up, newsgroups20 0.593 -> 0.682) and attention-rnn's by 1.3 (6 of 10; trec_fine
  0.594 -> 0.724 on one sample, 0.712 -> 0.688 on the other); the MiniLM knows 41 % of the
  French tweets' words whole (benchmarks/README.md, the suite);
- `model.options.embed_dim`, `ff_dim` and `classifier_hidden_dim` (the seed transformer's
  widths): the lesson's 32, 32 and 20 up to MANY_LABELS labels, 64 each beyond. With 20 or 50
  classes the 20-wide layer before the output and the 32-wide embedding were the bottleneck: on
  the suite's 2,000-text samples (2 seeds each, AMD EPYC Zen 5) 64 wide took trec_fine (50
  classes) from 0.669 to 0.735 and newsgroups20 (20) from 0.681 to 0.708, while it cost trec and
  emotion (6 each) 1.1-1.6 points and moved the 2- and 3-class sets by +0.9;
- `training.label_smoothing` (the seed transformer): 0.2 beyond MANY_LABELS labels, none up to
  it (nor with several labels per text). With 20 and 50 classes the 2,000-text samples of
  newsgroups20 and trec_fine are memorized by mid-run; smoothing raised newsgroups20 in 4 runs of
  4 (0.713 -> 0.731 mean) and trec_fine in 3 of 4 (0.719 -> 0.729), while on the sets of 2 to 6
  labels it moved nothing beyond noise (benchmarks/README.md, regularizers; AMD EPYC, AVX2);
- `training.best_metric` (attention-rnn): the final weights (`last`) where the validation split
  has fewer than SMALL_VALIDATION texts, the epoch of best validation accuracy otherwise (and
  with early stopping, which waits for a best). On the suite's 2,000-text samples (100
  validation texts; 5 data sets, 2 draws, 2 seeds; AMD EPYC, AVX2) every epoch run with the
  final weights kept was +0.9 points over early stopping on average and +0.2 over the best
  epoch, the two seeds of a sample 0.8 points apart instead of 2.1; on the whole of AG News (759
  validation texts) the best epoch was +0.7 over the final weights (benchmarks/README.md);
- `training.head_learning_rate` (the fine-tuned encoder): its output layer at a rate of its own
  when a text carries several labels, one rate for every weight otherwise. A multi-label head
  starts from nothing and learns its rare labels last: on Reuters' 90 topics, 3 epochs at the
  encoder's 3e-5 left most of them unlearned (macro-F1 0.203, below TF-IDF's 0.317), 0.002 for
  the head gave 0.413 (micro-F1 0.810 -> 0.855); with one label per text it did not help (trec
  0.958 vs 0.962, AG News 0.914 vs 0.916: benchmarks/README.md).

The values chosen are written into the resolved recipe (the run's recipe.yaml has numbers, never
`auto`), and `describe` says in one line what was chosen and why. An explicit value always wins:
`auto` is only what the recipe says when the user says nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from attentext.data.profile import WHOLE_WORD_WARNING
from attentext.processes import world_size
from attentext.recipes import AUTO, AUTO_OPTIONS, AUTO_SETTINGS, Recipe, resolve_recipe

LENGTH_MULTIPLE = 8  # lengths rounded up to a multiple of 8 (tensor shapes kernels like)
MIN_WORD_COUNT = 2  # a word enters the vocabulary when seen at least this often in train
VOCABULARY_CAP = 20000  # the lesson's vocabulary; a larger one did not help on the suite's data
SPECIAL_WORDS = 2  # padding and [UNK] count in max_tokens, as in Keras
MIN_EPOCHS, MAX_EPOCHS = 2, 40
LENGTH_SAMPLE = 3000  # training texts whose token counts are measured (seeded sample)
MULTI_LABEL_HEAD_RATE = 0.002  # the head's rate with several labels per text (see above)
MANY_LABELS = 10  # more labels than this: the seed transformer's wide widths (see above)
MANY_LABELS_SMOOTHING = 0.2  # label smoothing beyond MANY_LABELS (see above)
SMALL_VALIDATION = 500  # fewer validation texts: attention-rnn keeps its final weights (above)
WIDTHS = {"embed_dim": (32, 64), "ff_dim": (32, 64), "classifier_hidden_dim": (20, 64)}
assert set(WIDTHS) == set(AUTO_OPTIONS)  # (the lesson's width, the wide one) of each


@dataclass(frozen=True)
class Choice:
    """One setting decided from the data: its path, the value, and why, in a few words."""

    setting: str
    value: int | float | str
    why: str


def auto_settings(recipe: Recipe) -> list[str]:
    """The paths of the recipe's settings left to the data (`auto`)."""
    fields = [
        f"{section}.{name}"
        for section, names in AUTO_SETTINGS.items()
        for name in names
        if getattr(getattr(recipe, section), name) == AUTO
    ]
    if recipe.tokenizer.type == "pretrained":  # the encoder's own vocabulary: nothing to size
        fields = [name for name in fields if name != "tokenizer.max_tokens"]
    options = [f"model.options.{name}" for name in auto_options(recipe.model.options)]
    return fields + options


def auto_options(options: dict) -> list[str]:
    """The names of the model options left to the data (`auto`)."""
    return [name for name in AUTO_OPTIONS if options.get(name) == AUTO]


def length_sample(texts: list[str], seed: int) -> list[str]:
    """At most LENGTH_SAMPLE of the texts, drawn with `seed`: enough for a 99th percentile."""
    if len(texts) <= LENGTH_SAMPLE:
        return list(texts)
    keep = np.random.default_rng(seed).choice(len(texts), LENGTH_SAMPLE, replace=False)
    return [texts[i] for i in sorted(keep)]


def auto_max_length(
    lengths: list[int], percentile: float, cap: int, limit: int | None = None, least: int = 1
) -> Choice:
    """The percentile of token counts, rounded up to a multiple of 8, within [least, cap, limit]."""
    top = min(cap, limit) if limit else cap
    found = float(np.percentile(lengths, percentile)) if lengths else 1.0
    rounded = LENGTH_MULTIPLE * math.ceil(max(found, 1.0) / LENGTH_MULTIPLE)
    value = max(least, min(rounded, top))
    why = f"{percentile:g}th percentile of the training texts' tokens {found:.0f}"
    if rounded > top:
        limited = "the encoder's limit" if limit and limit <= cap else "tokenizer.length_cap"
        why += f", cut to {limited} {top}"
    elif rounded < least:
        why += f", raised to {least}"
    return Choice("tokenizer.max_length", int(value), why)


def auto_max_tokens(frequencies: Counter) -> Choice:
    """The words seen at least MIN_WORD_COUNT times, with padding and [UNK], at most the cap."""
    seen = sum(1 for count in frequencies.values() if count >= MIN_WORD_COUNT)
    value = max(SPECIAL_WORDS + 1, min(VOCABULARY_CAP, seen + SPECIAL_WORDS))
    why = f"{seen:,} of {len(frequencies):,} words seen {MIN_WORD_COUNT}+ times"
    if seen + SPECIAL_WORDS > VOCABULARY_CAP:
        why += f", cut to {VOCABULARY_CAP:,}"
    return Choice("tokenizer.max_tokens", int(value), why)


def auto_epochs(n_train: int, batch_size: int, target_steps: int, patience: int) -> Choice:
    """Whole epochs making about `target_steps` optimizer steps, within MIN_EPOCHS..MAX_EPOCHS.
    Each of `world_size()` processes reads `batch_size` texts a step (torchrun): with two, an
    epoch is half the steps (it counted one process's: 2 processes made ~600 steps of 1,200)."""
    per_epoch = max(1, math.ceil(n_train / (batch_size * world_size())))
    wanted = math.ceil(target_steps / per_epoch)
    value = min(MAX_EPOCHS, max(MIN_EPOCHS, wanted))
    why = f"~{target_steps:,} steps at {per_epoch:,} an epoch on {n_train:,} texts"
    if value != wanted:
        why += f", kept within {MIN_EPOCHS}-{MAX_EPOCHS} epochs"
    if patience:
        why += f"; early stopping after {patience} epochs without gain"
    return Choice("training.epochs", float(value), why)


def auto_head_learning_rate(multi_label: bool) -> Choice:
    """The output layer's own rate for several labels per text; off (0) for one label."""
    if multi_label:
        return Choice(
            "training.head_learning_rate",
            MULTI_LABEL_HEAD_RATE,
            "several labels per text: the head learns its rare labels at a rate of its own",
        )
    return Choice("training.head_learning_rate", 0.0, "one label per text: one rate for all")


def auto_label_smoothing(n_labels: int, multi_label: bool, distilled: bool = False) -> Choice:
    """Label smoothing for many classes (one label per text), none otherwise."""
    if distilled:  # the distillation loss has no smoothing term (training/distill.py)
        why = "a distilled student: the teacher's probabilities are its soft targets"
        return Choice("training.label_smoothing", 0.0, why)
    if multi_label:
        return Choice("training.label_smoothing", 0.0, "several labels per text: no smoothing")
    if n_labels > MANY_LABELS:
        why = f"{n_labels} labels, more than {MANY_LABELS}: smoothed targets"
        return Choice("training.label_smoothing", MANY_LABELS_SMOOTHING, why)
    why = f"{n_labels} labels, {MANY_LABELS} or fewer: plain cross-entropy"
    return Choice("training.label_smoothing", 0.0, why)


def auto_best_metric(n_validation: int, patience: int) -> Choice:
    """The final weights where too few validation texts choose an epoch by chance; the epoch of
    best validation accuracy where they are enough, or where early stopping waits for a best."""
    if patience:
        return Choice("training.best_metric", "accuracy", "early stopping waits for a best")
    if n_validation < SMALL_VALIDATION:
        why = f"{n_validation} validation texts, fewer than {SMALL_VALIDATION}: the final weights"
        return Choice("training.best_metric", "last", why)
    why = f"{n_validation} validation texts: the epoch best on them"
    return Choice("training.best_metric", "accuracy", why)


def auto_width(option: str, n_labels: int) -> Choice:
    """A width of the seed transformer: the lesson's up to MANY_LABELS labels, wide beyond."""
    narrow, wide = WIDTHS[option]
    if n_labels > MANY_LABELS:
        why = f"{n_labels} labels, more than {MANY_LABELS}: wider than the lesson"
        return Choice(f"model.options.{option}", wide, why)
    why = f"{n_labels} labels, {MANY_LABELS} or fewer: the lesson's widths"
    return Choice(f"model.options.{option}", narrow, why)


def with_widths(options: dict, n_labels: int) -> dict:
    """`options` with each width left to the data decided for `n_labels` labels: what building
    a model from a recipe no run has resolved (a benchmark's, `summary`'s) does."""
    return {**options, **{name: auto_width(name, n_labels).value for name in auto_options(options)}}


def auto_embedding_init(word_share: float | None) -> Choice:
    """The word embedding's start: the encoder's word vectors where the encoder knows the
    training texts' words (`word_share`, the share it holds whole), noise where it does not."""
    if word_share is None:
        return Choice("model.embedding_init", "random", "no words for the encoder to know")
    share = f"{100 * word_share:.0f} % of the words whole"
    if word_share >= WHOLE_WORD_WARNING:
        return Choice("model.embedding_init", "encoder", f"the encoder knows {share}")
    return Choice("model.embedding_init", "random", f"the encoder knows only {share}")


def data_aware(
    recipe: Recipe,
    n_train: int,
    lengths: list[int] | None = None,
    limit: int | None = None,
    frequencies: Counter | None = None,
    multi_label: bool | None = None,
    word_share: float | None = None,
    n_labels: int = 0,
    n_validation: int = 0,
) -> tuple[Recipe, list[Choice]]:
    """The recipe with each `auto` setting decided from the training split's facts: its size,
    the token counts of its texts (and the encoder's limit), its word frequencies, whether its
    texts carry several labels (the recipe's `data.multi_label` when not said), the share of
    their words the encoder holds whole, the number of labels and of validation texts; and what
    was chosen. Settings the recipe states are kept as they are."""
    wanted = auto_settings(recipe)
    several = recipe.data.multi_label if multi_label is None else multi_label
    choices = []
    if "tokenizer.max_length" in wanted:
        spec = recipe.tokenizer
        least = max(spec.length_floor, spec.stride + 1 if spec.long_text == "chunks" else 1)
        choices.append(
            auto_max_length(lengths or [], spec.length_percentile, spec.length_cap, limit, least)
        )
    if "tokenizer.max_tokens" in wanted:
        choices.append(auto_max_tokens(frequencies or Counter()))
    if "model.embedding_init" in wanted:
        start = auto_embedding_init(word_share)
        choices.append(start)
        if start.value == "random" and recipe.model.options.get("static_dim"):
            choices.append(Choice("model.options.static_dim", 0, "no encoder vectors to keep"))
    if "training.epochs" in wanted:
        t = recipe.training
        epochs = auto_epochs(n_train, t.batch_size, t.auto_steps, t.early_stopping_patience)
        if t.max_steps > 0:  # the note said ~1,200 steps where --max-steps 20 trained 20
            epochs = replace(
                epochs, why=f"{epochs.why}; training.max_steps={t.max_steps} sets the steps instead"
            )
        choices.append(epochs)
    if "training.head_learning_rate" in wanted:
        choices.append(auto_head_learning_rate(several))
    if "training.label_smoothing" in wanted:
        choices.append(auto_label_smoothing(n_labels, several, bool(recipe.distill.teacher)))
    if "training.best_metric" in wanted:
        patience = recipe.training.early_stopping_patience
        choices.append(auto_best_metric(n_validation, patience))
    choices += [auto_width(name, n_labels) for name in auto_options(recipe.model.options)]
    return _with(recipe, choices), choices


def planned(recipe: Recipe, n_train: int | None = None) -> Recipe:
    """The recipe as it would run before its data is read (a summary, a cost estimate): a length
    left to the data at its cap, a vocabulary at its cap, epochs from `n_train` when known, the
    lesson's widths (what a few labels get)."""
    choices = []
    if recipe.tokenizer.max_length == AUTO:
        choices.append(Choice("tokenizer.max_length", recipe.tokenizer.length_cap, "cap"))
    if recipe.tokenizer.max_tokens == AUTO:
        choices.append(Choice("tokenizer.max_tokens", VOCABULARY_CAP, "cap"))
    if recipe.model.embedding_init == AUTO:  # what English text gets; no size depends on it
        choices.append(Choice("model.embedding_init", "encoder", "English"))
    if recipe.training.epochs == AUTO and n_train is not None:
        t = recipe.training
        choices.append(auto_epochs(n_train, t.batch_size, t.auto_steps, 0))
    if recipe.training.head_learning_rate == AUTO:
        choices.append(auto_head_learning_rate(recipe.data.multi_label))
    if recipe.training.label_smoothing == AUTO:
        choices.append(auto_label_smoothing(0, recipe.data.multi_label))
    if recipe.training.best_metric == AUTO:  # what a validation split of some size gets
        choices.append(Choice("training.best_metric", "accuracy", "validation"))
    choices += [auto_width(name, 0) for name in auto_options(recipe.model.options)]
    return _with(recipe, choices)


def _with(recipe: Recipe, choices: list[Choice]) -> Recipe:
    if not choices:
        return recipe
    return resolve_recipe(recipe, overrides=[f"{c.setting}={c.value}" for c in choices])


def describe(source: str, choices: list[Choice]) -> str:
    """One line: what the data decided, and why (once for settings decided for one reason)."""
    groups: list[list[Choice]] = []
    for choice in choices:
        if groups and groups[-1][-1].why == choice.why:
            groups[-1].append(choice)
        else:
            groups.append([choice])
    said = "; ".join(
        ", ".join(f"{c.setting}={_value(c.value)}" for c in group) + f" ({group[0].why})"
        for group in groups
    )
    return f"{source}: data-aware defaults: {said}; --set SETTING=VALUE to choose otherwise"


def _value(value: int | float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}"
