"""Recipes: everything a training run needs, as YAML, overridable from the CLI.

A recipe has six sections (`data`, `tokenizer`, `model`, `training`, `distill`, `fewshot`) and an
optional `search:` that only `attentext tune` reads. Unknown keys are errors
with a did-you-mean, so that a typo never silently trains with a default. The resolved recipe is
saved in every run directory as `recipe.yaml`, which makes a run reproducible from its own folder.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from attentext.errors import RecipeError, did_you_mean, short_list, shown
from attentext.files import path_parameter, user_path

MAX_RECIPE_BYTES = 1 << 20
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # fp16: CUDA GPUs only
TRUNCATIONS = ("head", "tail", "head+tail")
LONG_TEXTS = ("truncate", "chunks")  # a text over max_length: cut it, or read it in windows
CHUNKS_KEPT = ("head", "tail", "spread")  # which windows max_chunks keeps
AGGREGATIONS = ("mean", "max", "attention")  # window logits -> one document's (model.options)
TOKENIZER_TYPES = ("word", "pretrained")
# the teacher's term in distillation: the KL of Hinton et al., or the logits' squared distance
DISTILL_LOSSES = ("kl", "mse")
# distill.temperature: below, logits / T overflow float32 (NaN weights); above, T^2 overflows
DISTILL_TEMPERATURES = (0.01, 100.0)
EMBEDDING_INITS = ("random", "encoder", "auto")
CLASS_WEIGHTS = ("none", "balanced")
LABEL_PRIORS = ("train", "balanced")  # training.label_prior (attentext.label_prior)
BEST_METRICS = ("accuracy", "loss", "last")
# the settings that name a file or a folder (a hub name never starts with `~`)
PATH_SETTINGS = {
    "model": ("encoder",),
    "distill": ("teacher", "unlabeled", "ensemble"),
    "fewshot": ("unlabeled",),
}
# a recipe argument of the Python API, as a wrong-typed one is told (`train(None, ...)`)
RECIPE_NAMED = "a recipe's name or YAML file (a str or a Path)"
RECIPE_ARGUMENT = f"{RECIPE_NAMED}, or a Recipe"
# `auto`: a setting decided from the training split when a run starts (data/defaults.py); the
# run's recipe.yaml holds the value chosen, and an explicit value (`--set`) always wins
AUTO = "auto"
AUTO_SETTINGS = {
    "tokenizer": ("max_length", "max_tokens"),
    "model": ("embedding_init",),
    "training": ("epochs", "head_learning_rate", "label_smoothing", "best_metric"),
}
# model.options a recipe may leave to the data: the seed transformer's widths (data/defaults.py)
AUTO_OPTIONS = ("embed_dim", "ff_dim", "classifier_hidden_dim")


@dataclass
class DataSpec:
    text_column: str = "text"
    label_column: str = "label"
    val_fraction: float = 0.05
    multi_label: bool = (
        False  # several labels per text: sigmoid + BCE, thresholds tuned on validation
    )
    label_separator: str = "|"  # what joins a text's labels in one cell (multi-label)
    # true: labels that print alike (`Sports` / `sports`, `A` / `Ａ`) train as classes of their
    # own; false refuses them before training, naming them and how to merge them
    distinct_lookalike_labels: bool = False
    # > 0: train on this many examples per class, drawn from the training split with
    # the data seed (stratified); the run then has no validation split (data/shots.py)
    shots: int = 0
    # the seed of the validation split carved from train, of the shots drawn and of a distilled
    # student's noisy copies; null: training.seed. Runs that differ only in training.seed then
    # share their validation texts, which an ensemble of them is weighed on (automl/ensemble.py),
    # and their copies, which the teacher labels once
    seed: int | None = None


@dataclass
class TokenizerSpec:
    type: str = "word"  # "word": a WordVectorizer fitted on train; "pretrained": the encoder's own
    # vocabulary size of a word tokenizer; auto: the words seen at least twice in train (at most
    # 20,000)
    max_tokens: int | str = 20000
    # auto: the length_percentile-th percentile of the training texts' token counts, at least
    # length_floor, at most length_cap (and the encoder's own limit)
    max_length: int | str = 256
    length_percentile: float = 95.0
    length_floor: int = 1
    length_cap: int = 512
    truncation: str = "head"  # what a text over max_length keeps: head, tail or head+tail
    # "chunks": a text over max_length is read as windows of max_length tokens (special tokens
    # in each), whose outputs the model's `aggregation` option combines into one prediction
    long_text: str = "truncate"
    stride: int = 0  # chunks: tokens each window shares with the one before it
    max_chunks: int = 0  # chunks: at most this many windows per text (0: every window)
    chunks_kept: str = "head"  # chunks over max_chunks: the first, the last, or evenly spread


@dataclass
class ModelSpec:
    type: str = "seed-transformer"
    encoder: str = (
        "default"  # pretrained families: "default" (packaged MiniLM), a folder or a hub name
    )
    options: dict[str, Any] = field(default_factory=dict)
    # the word models' embedding at the start: "random", or "encoder": every word's vector from
    # `encoder` (training/word_vectors.py), PCA-reduced to the model's width; auto: "encoder" where
    # the encoder knows the training texts' words (data/defaults.py)
    embedding_init: str = "random"
    # the word models started from the encoder: keep their embedding fixed in training (the
    # encoder's vectors as they are, like a static word2vec layer); a gain on some data sets and a
    # loss on others (benchmarks/README.md, attention-rnn's fixed embedding), so off by default
    freeze_embedding: bool = False


@dataclass
class TrainingSpec:
    # auto: whole epochs making about auto_steps optimizer steps on the training split (2 to 40);
    # early stopping ends the run sooner
    epochs: float | str = 3.0
    auto_steps: int = 1000
    # > 0: train this many optimizer steps, whatever `epochs` says (the lesson's steps_per_epoch)
    max_steps: int = -1
    batch_size: int = 128
    eval_batch_size: int = 256
    learning_rate: float = 1e-3
    # > 0: the learning rate of the output layer (the `classifier`), which starts from nothing,
    # when the rest is pretrained and moves at `learning_rate`; 0: one rate for every weight;
    # auto: on for several labels per text, off otherwise (data/defaults.py)
    head_learning_rate: float | str = 0.0
    weight_decay: float = 0.0
    # in [0, 1): the share of each single-label target spread over every label (Szegedy et al.
    # 2016); the loss never reaches 0, so a model trained on a few thousand texts stops pushing
    # the logits of what it has memorized apart. 0: plain cross-entropy; auto: from the number
    # of labels (data/defaults.py)
    label_smoothing: float | str = 0.0
    # Any `optim` of transformers' TrainingArguments. The fused AdamW updates every tensor in one
    # kernel: the same maths, and on 2 CPU cores it took the optimizer from 16% of a seed-transformer
    # step to 6% and from 17% of an encoder-finetune step to 4% (benchmarks/breakdown.py).
    optimizer: str = "adamw_torch_fused"
    lr_scheduler: str = "constant"
    warmup_ratio: float = 0.0  # share of all steps with a linear warmup, in [0, 1)
    max_grad_norm: float = 1.0
    precision: str = "auto"
    class_weight: str = "none"
    group_by_length: bool = True
    pad_to_max_length: bool = False
    seed: int = 42
    logging_steps: int = 50
    feature_cache: bool = True  # frozen encoders: compute features once, cache them on disk
    calibrate: bool = True  # a temperature fitted on validation: probabilities mean what they say
    # the label distribution the probabilities assume: "train" (the training split's, as the data
    # came) or "balanced" (every label alike: the training split's label shares divided out of
    # the calibrated probabilities, attentext.label_prior); one label per text only
    label_prior: str = "train"
    # stop when the validation metric has not improved for this many evaluations (one per epoch);
    # the best checkpoint is kept either way; 0 trains every epoch asked for
    early_stopping_patience: int = 3
    # what "best" means for the checkpoint kept and for early stopping: the validation
    # "accuracy" (micro-F1 with several labels per text), or the validation "loss"; "last" keeps
    # the final weights (validation still measured each epoch), for a schedule that decays to 0
    # and a validation split too small to choose among epochs by; auto: from the validation
    # split's size (data/defaults.py)
    best_metric: str = "accuracy"


@dataclass
class DistillSpec:
    """Knowledge distillation: the student learns the teacher's probabilities (Hinton et al.,
    "Distilling the Knowledge in a Neural Network", 2015) on the training texts and, where given,
    unlabeled ones. Off while `teacher` is empty."""

    teacher: str = ""  # a run directory: its logits are the soft targets
    temperature: float = 2.0  # softens both distributions; the KL term is scaled by its square
    alpha: float = 0.5  # weight of the gold labels' cross-entropy; 1 - alpha on the teacher's term
    # the teacher's term: "kl" (Hinton et al.) or "mse", the squared distance of the logits (Tang
    # et al. 2019), which keeps how sure the teacher is and ignores the temperature
    loss: str = "kl"
    unlabeled: str = ""  # a file of more texts (one per line, or a data file) for the transfer set
    # > 0: this many noisy copies of every transfer text (words masked, n-grams sampled; Tang et
    # al. 2019) for the teacher to label: more of what the teacher knows, at the teacher's cost
    augment: int = 0
    # more teacher runs (trained on the same labels): the soft targets are the mean of every
    # teacher's logits (each teacher's cached on its own), an ensemble no single teacher matches
    ensemble: list[str] = field(default_factory=list)


@dataclass
class FewShotSpec:
    """SetFit-style few-shot training (Tunstall et al., "Efficient Few-Shot Learning Without
    Prompts", 2022): the encoder is tuned on pairs of labelled texts (cosine similarity against
    1 for a pair of one class, 0 across), then a logistic regression on its embeddings becomes
    the head; optionally self-trained on unlabeled texts. Off while `pair_iterations` is 0.

    The defaults are encoder-fewshot.yaml's (benchmarks/README.md, few labels, says why each):
    a recipe of one's own with a `fewshot:` section gets the settings measured, not older ones."""

    pair_iterations: int = 0  # each round gives every labelled text one positive and one negative
    pair_batch_size: int = 16
    pair_epochs: int = 1
    pair_learning_rate: float = 2e-5
    head_c: float = 1.0  # inverse L2 strength of the logistic-regression head
    unlabeled: str = ""  # self-training: a file of texts (one per line, or a data file)
    self_training_rounds: int = 5
    self_training_threshold: float = 0.0  # the least probability a pseudo-label is taken at
    self_training_per_class: int = 2000  # at most this many pseudo-labels per class (0: no cap)
    # at most this share of the texts predicted as each class, its most confident ones: a rule
    # that reads the same for 2 classes or 20, where one probability threshold does not
    self_training_share: float = 0.75
    self_training_max_texts: int = 20000  # unlabeled texts read (a seeded sample of the file)
    # after the rounds, every weight trained on the labelled and pseudo-labelled texts (0: off)
    self_training_finetune_epochs: int = 0
    # at most this many pseudo-labelled texts per class in that pass, a seeded draw of those the
    # last round took (0: all of them): the pass costs time in proportion to the texts it reads
    self_training_finetune_per_class: int = 0
    self_training_finetune_batch_size: int = 32
    self_training_finetune_learning_rate: float = 3e-5
    self_training_finetune_head_learning_rate: float = 1e-3
    # the pseudo-labelled texts read with words masked (each with probability mask_rate) in that
    # pass: their labels came from the clean texts (the noisy student's noise, Xie et al. 2020)
    self_training_finetune_noise: bool = True
    self_training_finetune_mask_rate: float = 0.1  # that noise: each word masked with this


@dataclass(frozen=True)
class SearchParam:
    """One setting `attentext tune` varies: a range from `low` to `high` (on a log scale with
    `log`, in steps of `step`; whole numbers where the recipe's setting is one) or a list of
    `choices`. Declared in a recipe's `search:` section, checked when the recipe loads."""

    path: str  # e.g. training.learning_rate, model.options.dropout
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    integer: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, as written in a recipe."""
        if self.choices:
            return {"choices": list(self.choices)}
        raw: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            raw["log"] = True
        if self.step is not None:
            raw["step"] = self.step
        return raw


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)
    fewshot: FewShotSpec = field(default_factory=FewShotSpec)
    # How `attentext tune` searches this recipe: setting path -> range or choices. Not part of
    # what a run trains with, so a run's recipe.yaml leaves it out (`to_dict(search=True)` keeps it).
    search: dict[str, SearchParam] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_seed(self) -> int:
        """The seed of the data a run reads (the validation split carved from train, the shots
        drawn, a student's noisy copies): data.seed, or training.seed where that is null (so
        one seed still sets a whole run)."""
        return self.training.seed if self.data.seed is None else self.data.seed

    def to_dict(self, search: bool = False) -> dict[str, Any]:
        raw = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "search"
        }
        raw = {key: dataclasses.asdict(v) if key in _SECTIONS else v for key, v in raw.items()}
        if search and self.search:
            raw["search"] = {path: param.to_dict() for path, param in self.search.items()}
        return raw

    def to_yaml(self, search: bool = False) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if not (search and self.search):
            return text
        searched = {"search": self.to_dict(search=True)["search"]}  # one line per setting
        return text + yaml.safe_dump(searched, sort_keys=False, default_flow_style=None)


_SECTIONS = {
    "data": DataSpec,
    "tokenizer": TokenizerSpec,
    "model": ModelSpec,
    "training": TrainingSpec,
    "distill": DistillSpec,
    "fewshot": FewShotSpec,
}


def coerce_setting(value: Any, default: Any, where: str) -> Any:
    """Check a value against the type of its default; ints are accepted where floats are."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true or false, got {shown(value)}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecipeError(f"{where}: expected a number, got {shown(value)}")
        if not math.isfinite(value):  # nan passes every `<= 0` check; inf never ends an epoch
            raise RecipeError(f"{where}: expected a finite number, got {shown(value)}")
        return float(value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {shown(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {shown(value)}")
    elif default is None:  # an optional integer (data.seed): null keeps its fallback
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise RecipeError(f"{where}: expected an integer or null, got {shown(value)}")
    elif isinstance(default, dict) and not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a mapping, got {shown(value)}")
    elif isinstance(default, list) and not (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ):
        raise RecipeError(f"{where}: expected a list of strings, got {shown(value)}")
    return value


# a recipe file is read whole: written as changes to a built-in recipe (its model left out, or
# `base: tfidf-logreg`), it trained the default model, or failed on a key it could not know
WHOLE_RECIPE = (
    "a recipe file is a whole recipe, not changes to a built-in one: name its model "
    "(model: {type: tfidf-logreg}; attentext recipes lists them), or train the built-in by name "
    "with --set KEY=VALUE for each change"
)
_INHERITING = {"base", "extends", "inherit", "inherits", "parent", "from", "defaults", "recipe"}


def recipe_from_dict(raw: dict[str, Any], origin: str = "recipe") -> Recipe:
    """Build and validate a Recipe from a plain mapping (parsed YAML)."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{origin}: expected a mapping at the top level")
    recipe = Recipe()
    top_keys = ["name", "description", *_SECTIONS, "search"]
    for key, value in raw.items():
        if key == "search":  # read last: its settings are checked against the recipe's values
            continue
        if key not in top_keys:
            hint = f"; {WHOLE_RECIPE}" if str(key).lower() in _INHERITING else ""
            raise RecipeError(
                f"{origin}: unknown key '{shown(key)}'{did_you_mean(str(key), top_keys)}{hint}"
            )
        if key in ("name", "description"):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise RecipeError(f"{origin}: {key} must be text, got {shown(value)}")
            setattr(recipe, key, str(value))
            continue
        if not isinstance(value, dict):
            raise RecipeError(f"{origin}: section '{key}' must be a mapping, got {shown(value)}")
        section = getattr(recipe, key)
        names = [f.name for f in dataclasses.fields(section)]
        for sub, sub_value in value.items():
            if sub not in names:
                raise RecipeError(
                    f"{origin}: unknown key '{key}.{shown(sub)}'{did_you_mean(str(sub), names)}"
                )
            default = getattr(section, sub)
            if sub_value == AUTO and sub in AUTO_SETTINGS.get(key, ()):
                setattr(section, sub, AUTO)
                continue
            value = coerce_setting(sub_value, default, f"{origin}: {key}.{sub}")
            setattr(
                section, sub, home_expanded(value) if sub in PATH_SETTINGS.get(key, ()) else value
            )
    _validate(recipe, origin)
    if raw.get("search") is not None:
        recipe.search = _search_section(raw["search"], recipe, origin)
    return recipe


def home_expanded(value: str | list[str]) -> str | list[str]:
    """A path setting's value (a path, or a list of them) with a leading `~` read as the home
    folder, however the recipe came (a YAML file, `--set`, Python): no shell expands
    `--set distill.unlabeled=~/x`, which was "~/x: file not found", while `distill --unlabeled
    ~/x` read the file. recipe.yaml then records the path expanded."""
    if isinstance(value, list):
        return [user_path(item) for item in value]
    return user_path(value)


SEARCHED_SECTIONS = ("tokenizer", "model", "training")
_RANGE_KEYS = ("low", "high", "log", "step")


def _search_section(raw: Any, recipe: Recipe, origin: str) -> dict[str, SearchParam]:
    """The `search:` section: each key a setting of the recipe, each value a range or choices."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{origin}: section 'search' must be a mapping, got {shown(raw)}")
    return {
        str(path): _search_param(str(path), spec, recipe, f"{origin}: search.{shown(path)}")
        for path, spec in raw.items()
    }


def _searched_value(path: str, recipe: Recipe, where: str) -> Any:
    """The recipe's current value at `path` (None for a model option it leaves to the family);
    an error for a path that names no setting trials may vary."""
    parts = path.split(".")
    if parts[0] in ("data", "distill"):
        raise RecipeError(
            f"{where}: {parts[0]} settings are not searched: every trial reads the same split"
        )
    if parts[0] not in SEARCHED_SECTIONS:
        raise RecipeError(
            f"{where}: not in tokenizer, model or training{did_you_mean(parts[0], SEARCHED_SECTIONS)}"
        )
    section = getattr(recipe, parts[0])
    if parts[:2] == ["model", "options"] and len(parts) == 3:
        # the family knows its options' names and types, and checks them when tune starts
        # (automl.spaces.search_space): the value set here may itself be the mistake
        return None
    names = [f.name for f in dataclasses.fields(section) if f.name not in ("options", "type")]
    if len(parts) != 2 or parts[1] not in names:
        raise RecipeError(
            f"{where}: not a setting{did_you_mean(parts[-1], [*names, 'options.NAME'])}"
        )
    value = getattr(section, parts[1])
    # an `auto` setting is searched as the number it stands for: the type of its default
    return getattr(type(section)(), parts[1]) if value == AUTO else value


def _search_param(path: str, spec: Any, recipe: Recipe, where: str) -> SearchParam:
    """One searched setting, its bounds or choices of the setting's type."""
    current = _searched_value(path, recipe, where)
    if not isinstance(spec, dict) or not spec:
        raise RecipeError(f"{where}: expected {{low: A, high: B}} or {{choices: [...]}}")
    for key in spec:
        if key not in ("choices", *_RANGE_KEYS):
            raise RecipeError(
                f"{where}: unknown key '{shown(key)}'{did_you_mean(str(key), ('choices', *_RANGE_KEYS))}"
            )
    if "choices" in spec:
        choices = spec["choices"]
        if len(spec) > 1 or not isinstance(choices, list) or not choices:
            raise RecipeError(f"{where}: choices is a non-empty list, alone")
        values = [
            _numeric(c) if current is not None and not isinstance(current, str) else c
            for c in choices
        ]
        if current is not None:
            values = [coerce_setting(value, current, where) for value in values]
        return SearchParam(path, choices=tuple(values))
    return _search_range(path, spec, current, where)


def _search_range(path: str, spec: dict[str, Any], current: Any, where: str) -> SearchParam:
    """A range: numbers low < high (low > 0 on a log scale), an optional positive step."""
    if "low" not in spec or "high" not in spec:
        raise RecipeError(f"{where}: a range needs low and high")
    low, high, step = (_numeric(spec.get(key)) for key in ("low", "high", "step"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise RecipeError(f"{where}: log: expected true or false, got {shown(log)}")
    numbers = [v for v in (low, high, step) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
        raise RecipeError(f"{where}: low, high and step are numbers")
    if current is not None and (isinstance(current, bool) or not isinstance(current, int | float)):
        raise RecipeError(f"{where}: {path} is not a number; search it with choices: [...]")
    integer = (
        isinstance(current, int)
        if current is not None
        else all(isinstance(v, int) for v in numbers)
    )
    if integer and not all(isinstance(v, int) for v in numbers):
        raise RecipeError(f"{where}: {path} is a whole number; give whole low, high and step")
    if not low < high or (log and low <= 0) or (step is not None and step <= 0):
        raise RecipeError(f"{where}: needs low < high, low > 0 with log, step > 0")
    if log and step is not None:
        raise RecipeError(f"{where}: a range has log or step, not both")
    return SearchParam(path, low, high, log, step, integer=integer)


def _numeric(value: Any) -> Any:
    """A number written as YAML 1.1 reads it ('1e-3' is a string there) made a float."""
    return float(value) if isinstance(value, str) and _looks_numeric(value) else value


def _validate_model(recipe: Recipe, origin: str) -> None:
    for name, value in recipe.model.options.items():
        if value == AUTO and name not in AUTO_OPTIONS:
            raise RecipeError(
                f"{origin}: model.options.{name} cannot be auto; the options decided from the "
                f"data are {', '.join(AUTO_OPTIONS)}"
            )
    if recipe.model.embedding_init not in EMBEDDING_INITS:
        raise RecipeError(
            f"{origin}: model.embedding_init must be one of {', '.join(EMBEDDING_INITS)}"
            f"{did_you_mean(str(recipe.model.embedding_init), EMBEDDING_INITS)}"
        )
    if recipe.model.freeze_embedding and recipe.model.embedding_init == "random":
        raise RecipeError(
            f"{origin}: model.freeze_embedding keeps the word models' embedding (seed-transformer, "
            "attention-rnn) at the encoder's word vectors; with model.embedding_init: random it "
            "would keep noise"
        )
    if recipe.model.options.get("static_dim") and recipe.model.embedding_init == "random":
        raise RecipeError(
            f"{origin}: model.options.static_dim reads the encoder's word vectors beside the "
            "learned ones; with model.embedding_init: random there are none to read"
        )


def _validate(recipe: Recipe, origin: str) -> None:
    _validate_model(recipe, origin)
    t = recipe.training
    if t.precision not in PRECISIONS:
        raise RecipeError(f"{origin}: training.precision must be one of {', '.join(PRECISIONS)}")
    if t.class_weight not in CLASS_WEIGHTS:
        raise RecipeError(
            f"{origin}: training.class_weight must be one of {', '.join(CLASS_WEIGHTS)}"
        )
    if t.label_prior not in LABEL_PRIORS:
        raise RecipeError(
            f"{origin}: training.label_prior must be one of {', '.join(LABEL_PRIORS)}"
        )
    if t.label_prior != "train" and recipe.data.multi_label:
        raise RecipeError(
            f"{origin}: training.label_prior applies to one label per text; several labels per "
            "text are decided by each label's threshold"
        )
    if t.batch_size < 1 or t.eval_batch_size < 1:
        raise RecipeError(f"{origin}: batch sizes must be positive")
    if t.epochs != AUTO and t.epochs <= 0 and t.max_steps <= 0:
        raise RecipeError(f"{origin}: set training.epochs > 0 or training.max_steps > 0")
    if t.auto_steps < 1:
        raise RecipeError(f"{origin}: training.auto_steps must be positive")
    if t.learning_rate <= 0:
        raise RecipeError(f"{origin}: training.learning_rate must be positive")
    if t.head_learning_rate != AUTO and t.head_learning_rate < 0:
        raise RecipeError(f"{origin}: training.head_learning_rate must be 0 (off) or positive")
    if t.early_stopping_patience < 0:
        raise RecipeError(f"{origin}: training.early_stopping_patience must be 0 (off) or more")
    if not 0.0 <= t.warmup_ratio < 1.0:
        raise RecipeError(
            f"{origin}: training.warmup_ratio is the share of all steps spent warming up, in "
            f"[0, 1); got {t.warmup_ratio:g}"
        )
    _validate_loss(recipe, origin)
    _validate_seeds(recipe, origin)
    _validate_data(recipe.data, origin)
    if recipe.tokenizer.truncation not in TRUNCATIONS:
        raise RecipeError(f"{origin}: tokenizer.truncation must be one of {', '.join(TRUNCATIONS)}")
    if recipe.tokenizer.type not in TOKENIZER_TYPES:
        raise RecipeError(f"{origin}: tokenizer.type must be one of {', '.join(TOKENIZER_TYPES)}")
    _validate_distill(recipe, origin)
    _validate_lengths(recipe.tokenizer, origin)
    _validate_long_text(recipe, origin)
    _validate_fewshot(recipe, origin)


def _validate_distill(recipe: Recipe, origin: str) -> None:
    """The distill section's settings: a temperature above 0, alpha in [0, 1], a known loss,
    and a teacher for the settings that read one."""
    d = recipe.distill
    if not d.temperature > 0:
        raise RecipeError(f"{origin}: distill.temperature must be positive")
    low, high = DISTILL_TEMPERATURES
    if not low <= d.temperature <= high:  # 1e-300 trained a model of NaN weights, published
        raise RecipeError(  # without a word; 1e300 an OverflowError traceback after OUT.partial
            f"{origin}: distill.temperature {d.temperature:g} is out of range (logits are divided "
            f"by it, the loss scaled by its square); give one from {low:g} to {high:g} (Hinton "
            "et al. used 1 to 20)"
        )
    if not 0.0 <= d.alpha <= 1.0:
        raise RecipeError(f"{origin}: distill.alpha must be in [0, 1]")
    if d.loss not in DISTILL_LOSSES:
        raise RecipeError(f"{origin}: distill.loss must be one of {', '.join(DISTILL_LOSSES)}")
    if d.unlabeled and not d.teacher:
        raise RecipeError(f"{origin}: distill.unlabeled needs distill.teacher (a run directory)")
    if d.augment < 0:
        raise RecipeError(f"{origin}: distill.augment is a number of copies: 0 (off) or more")
    if d.augment and not d.teacher:
        raise RecipeError(f"{origin}: distill.augment needs distill.teacher (a run directory)")
    if d.ensemble and not d.teacher:
        raise RecipeError(f"{origin}: distill.ensemble needs distill.teacher (a run directory)")


def _validate_data(data: DataSpec, origin: str) -> None:
    """How the data is read: a share to hold out in [0, 1); two columns, each named; a label
    separator of at least one character. An empty separator was str.split's "empty separator"
    traceback; `data.text_column=label` trained a model to read each text's label as its text
    (perfect scores without a word); an empty column name was looked up as a column."""
    if not 0.0 <= data.val_fraction < 1.0:
        raise RecipeError(f"{origin}: data.val_fraction must be in [0, 1)")
    for name, value in (("text_column", data.text_column), ("label_column", data.label_column)):
        if not value.strip():
            raise RecipeError(f"{origin}: data.{name} is empty; name the column of the data file")
    if data.text_column == data.label_column:
        raise RecipeError(
            f"{origin}: data.text_column and data.label_column both name '{shown(data.text_column)}';"
            " the texts and their labels are two columns: name each"
        )
    if not data.label_separator:
        raise RecipeError(
            f"{origin}: data.label_separator is empty; it is the character between a text's "
            "labels in one cell ('|' by default)"
        )


MAX_SEED = 2**32 - 1  # NumPy's and torch's generators take seeds of 32 bits


def _validate_seeds(recipe: Recipe, origin: str) -> None:
    """Seeds the random generators take: whole numbers in [0, 2**32 - 1]. `training.seed=-1`
    was NumPy's "expected non-negative integer" traceback when the validation split was carved;
    `2**40` one from the seeding of the first step, after `<output>.partial` was made."""
    for name, seed in (("training.seed", recipe.training.seed), ("data.seed", recipe.data.seed)):
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise RecipeError(
                f"{origin}: {name} must be a whole number from 0 to {MAX_SEED:,}, got {seed}"
            )


def _validate_loss(recipe: Recipe, origin: str) -> None:
    """What the loss and the checkpoint kept may be: label smoothing where one label per text
    is learnt from the labels themselves, a known best metric."""
    smoothing = recipe.training.label_smoothing
    if recipe.training.best_metric != AUTO:
        _one_of(recipe.training.best_metric, BEST_METRICS, f"{origin}: training.best_metric")
    if recipe.training.best_metric == "last" and recipe.training.early_stopping_patience:
        raise RecipeError(
            f"{origin}: training.best_metric=last keeps the final weights; early stopping needs "
            "a best to wait for: set training.early_stopping_patience=0, or "
            "training.best_metric=accuracy to stop early"
        )
    if smoothing != AUTO and not 0.0 <= smoothing < 1.0:
        raise RecipeError(f"{origin}: training.label_smoothing must be in [0, 1)")
    if smoothing not in (AUTO, 0) and recipe.distill.teacher:
        raise RecipeError(
            f"{origin}: training.label_smoothing does not apply to a distilled student (the "
            "teacher's probabilities are its soft targets): set it to 0"
        )
    if smoothing not in (AUTO, 0) and recipe.data.multi_label:
        raise RecipeError(
            f"{origin}: training.label_smoothing spreads one label's target over the others; "
            "with several labels per text there is no one label: set it to 0"
        )


def _validate_fewshot(recipe: Recipe, origin: str) -> None:
    """Shots and the few-shot settings: counts of 0 or more, a threshold that is a probability."""
    f = recipe.fewshot
    if recipe.data.shots < 0:
        raise RecipeError(f"{origin}: data.shots must be 0 (every example) or more")
    counts = (
        f.pair_iterations,
        f.self_training_per_class,
        f.self_training_finetune_epochs,
        f.self_training_finetune_per_class,
    )
    if min(counts) < 0:
        raise RecipeError(f"{origin}: fewshot counts must be 0 or more")
    if min(f.pair_batch_size, f.pair_epochs, f.self_training_rounds, f.self_training_max_texts) < 1:
        raise RecipeError(
            f"{origin}: fewshot pair_batch_size, pair_epochs, self_training_rounds and "
            "self_training_max_texts must be positive"
        )
    rates = (
        f.pair_learning_rate,
        f.head_c,
        f.self_training_finetune_learning_rate,
        f.self_training_finetune_head_learning_rate,
        f.self_training_finetune_batch_size,
    )
    if min(rates) <= 0:
        raise RecipeError(
            f"{origin}: fewshot.pair_learning_rate, head_c and the self_training_finetune "
            "rates and batch size must be positive"
        )
    if not 0.0 <= f.self_training_threshold <= 1.0:
        raise RecipeError(f"{origin}: fewshot.self_training_threshold must be in [0, 1]")
    if not 0.0 < f.self_training_share <= 1.0:
        raise RecipeError(f"{origin}: fewshot.self_training_share must be in (0, 1]")
    if not 0.0 <= f.self_training_finetune_mask_rate < 1.0:
        raise RecipeError(f"{origin}: fewshot.self_training_finetune_mask_rate must be in [0, 1)")


def _validate_lengths(spec: TokenizerSpec, origin: str) -> None:
    """A positive length and vocabulary, or `auto` with a percentile and a cap that make sense."""
    if spec.max_length != AUTO and spec.max_length < 1:
        raise RecipeError(f"{origin}: tokenizer.max_length must be positive (or auto)")
    if spec.max_tokens != AUTO and spec.max_tokens < 3:
        raise RecipeError(
            f"{origin}: tokenizer.max_tokens counts padding, [UNK] and the words: 3 or more "
            "(or auto)"
        )
    if not 0.0 < spec.length_percentile <= 100.0:
        raise RecipeError(f"{origin}: tokenizer.length_percentile must be in (0, 100]")
    if spec.length_cap < 1:
        raise RecipeError(f"{origin}: tokenizer.length_cap must be positive")
    if not 1 <= spec.length_floor <= spec.length_cap:
        raise RecipeError(
            f"{origin}: tokenizer.length_floor must be between 1 and tokenizer.length_cap "
            f"({spec.length_cap}); got {spec.length_floor}"
        )


def _one_of(value: Any, choices: tuple[str, ...], where: str) -> None:
    """A one-line error for a value not among `choices`, with a did-you-mean."""
    if value not in choices:
        raise RecipeError(f"{where} is '{shown(value)}'{did_you_mean(str(value), choices)}")


def _validate_long_text(recipe: Recipe, origin: str) -> None:
    """The chunking settings: known values, a stride shorter than a window, a cap of 0 or more;
    and the aggregation option, when given, a known one (its model family checks the rest)."""
    spec = recipe.tokenizer
    _one_of(spec.long_text, LONG_TEXTS, f"{origin}: tokenizer.long_text")
    _one_of(spec.chunks_kept, CHUNKS_KEPT, f"{origin}: tokenizer.chunks_kept")
    if spec.max_chunks < 0:
        raise RecipeError(f"{origin}: tokenizer.max_chunks must be 0 (every window) or more")
    window = spec.length_cap if spec.max_length == AUTO else spec.max_length
    if not 0 <= spec.stride < window:
        raise RecipeError(
            f"{origin}: tokenizer.stride is the overlap of two windows, in [0, max_length "
            f"{window}); got {spec.stride}"
        )
    aggregation = recipe.model.options.get("aggregation")
    if aggregation is not None:
        _one_of(aggregation, AGGREGATIONS, f"{origin}: model.options.aggregation")
        if aggregation == "attention" and spec.long_text != "chunks":
            raise RecipeError(
                f"{origin}: model.options.aggregation attention weighs a text's windows; set "
                "tokenizer.long_text=chunks too"
            )


CHUNK_SETTINGS = ("stride", "max_chunks", "chunks_kept")  # what only long_text=chunks reads


def settings_without_effect(recipe: Recipe) -> list[str]:
    """What a recipe sets that its training never reads, each said in a phrase: the windows'
    settings without `tokenizer.long_text=chunks`, windows for tfidf-logreg, which reads every
    word, a validation share for a `--shots` run, which keeps no validation split (the share is
    recorded all the same: it decides the carve the shots are drawn from), and few-shot
    settings no training reads. A note, not a refusal: a run saved with such a setting must
    still load, and `auto` gives one `--set` to every recipe it trains, the baseline included."""
    spec, default = recipe.tokenizer, TokenizerSpec()
    unused = []
    changed = [
        f"tokenizer.{name}={getattr(spec, name)}"
        for name in CHUNK_SETTINGS
        if getattr(spec, name) != getattr(default, name)
    ]
    if changed and spec.long_text != "chunks":
        unused.append(
            f"{', '.join(changed)} shapes the windows of tokenizer.long_text=chunks and does "
            f"nothing with long_text {spec.long_text} (add --set tokenizer.long_text=chunks to "
            "read long texts in windows)"
        )
    if recipe.model.type == "tfidf-logreg" and spec.long_text == "chunks":
        unused.append(
            "tfidf-logreg reads every word of a text: tokenizer.long_text=chunks does nothing"
        )
    if recipe.data.shots and recipe.data.val_fraction != DataSpec().val_fraction:
        unused.append(
            f"data.val_fraction={recipe.data.val_fraction} holds out no validation split with "
            f"data.shots={recipe.data.shots} (the examples drawn are all the run's labels); it "
            "only changes which rows of the training file the shots are drawn from"
        )
    return unused + _fewshot_without_effect(recipe)


def _fewshot_without_effect(recipe: Recipe) -> list[str]:
    """The note for few-shot settings no training reads: all of them while
    `fewshot.pair_iterations` is 0 (`fewshot.unlabeled` was recorded and never read: no
    self-training), and pair tuning for tfidf-logreg, which has no encoder."""
    spec, default = recipe.fewshot, FewShotSpec()
    if spec.pair_iterations and recipe.model.type != "tfidf-logreg":
        return []
    changed = [
        f"fewshot.{f.name}"
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != getattr(default, f.name)
    ]
    if not changed:
        return []
    if spec.pair_iterations:
        return [
            "few-shot settings without effect on tfidf-logreg, which has no encoder to tune on "
            f"pairs: {short_list(changed, 4)}"
        ]
    return [
        "few-shot settings without effect while fewshot.pair_iterations is 0 (no pair tuning, "
        f"no self-training): {short_list(changed, 4)}; set fewshot.pair_iterations (the "
        "encoder-fewshot recipe's 20) to train so"
    ]


def builtin_recipe_names() -> list[str]:
    folder = resources.files("attentext") / "recipes"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a recipe never needs them, and a few hundred bytes of
    nested aliases expand to billions of nodes (the "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise RecipeError(
                f"line {mark.line + 1}: YAML aliases (*name) are not allowed in recipes; write "
                "the value out"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A mapping whose keys are each given once: PyYAML kept the last of a key written
        twice without a word (`C: 10` then `C: 1` two screens down trained C=1)."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise RecipeError(
                    f"line {line}: '{shown(key)}' is given twice in one section (also on line "
                    f"{seen[key]}); keep one"
                )
            if isinstance(key, Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, origin: str) -> Any:
    """Parse recipe YAML (no aliases); a one-line RecipeError naming the line on a mistake."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecipeError as err:
        raise RecipeError(f"{origin}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{origin}:{where} invalid YAML ({getattr(err, 'problem', err)})"
        ) from None
    except RecursionError:
        raise RecipeError(f"{origin}: YAML nested too deeply for a recipe") from None


def recipe_from_text(text: str, origin: str, overrides: list[str] | None = None) -> Recipe:
    """A Recipe from YAML text, with `key=value` overrides applied."""
    raw = parse_yaml(text, origin)
    if raw is None:  # an empty file (or comments only) trained the default recipe without a word
        raise RecipeError(
            f"{origin}: the recipe holds no settings (an empty file?); a recipe names at least "
            "its model, e.g. model: {type: tfidf-logreg} (attentext recipes lists the built-in "
            "ones, whose YAML is a start)"
        )
    if not isinstance(raw, dict):  # before the overrides, which write into it
        raise RecipeError(f"{origin}: expected a mapping at the top level")
    for override in override_list(overrides):
        apply_override(raw, override)
    recipe = recipe_from_dict(raw, origin)
    model = raw.get("model")
    if not isinstance(model, dict) or "type" not in model:
        raise RecipeError(
            f"{origin}: names no model type, so it would train the default ({recipe.model.type}) "
            f"without a word; {WHOLE_RECIPE}"
        )
    check_namesake(recipe, origin)
    return recipe


def check_namesake(recipe: Recipe, origin: str) -> None:
    """Refuse a recipe named as a built-in one whose model type is another (a copy of
    tfidf-logreg.yaml made into an attention-rnn, or `train tfidf-logreg --set
    model.type=attention-rnn`): the card, the leaderboard and tune's search space took it for
    the built-in, without a word (an audit). A refusal, not a warning: the name is written in
    every run and leaderboard it makes, and renaming costs one line."""
    if recipe.name not in builtin_recipe_names():
        return
    builtin = builtin_model_type(recipe.name)
    if builtin != recipe.model.type:
        raise RecipeError(
            f"{origin}: name '{recipe.name}' is the built-in recipe's that trains {builtin}, "
            f"but this one trains {recipe.model.type}, so its runs would be shown as "
            f"{recipe.name}; give it a name of its own (name: my-{recipe.model.type} in the "
            "YAML, or --set name=my-...)"
        )


@functools.cache
def builtin_model_type(name: str) -> str:
    """The model type built-in recipe `name` trains, read from its YAML alone."""
    resource = resources.files("attentext") / "recipes" / f"{name}.yaml"
    raw = parse_yaml(resource.read_text(encoding="utf-8"), name)
    return str(raw.get("model", {}).get("type", ModelSpec.type))


def override_list(overrides: Any) -> list[str]:
    """`overrides` as the list of `key=value` strings it must be (None: none). A single string
    was read character by character ("--set t: expected key=value"), a mapping by its keys
    ("--set training.epochs: expected key=value") and a tuple an AttributeError: each is a
    `TypeError` that says how to write them."""
    if overrides is None:
        return []
    example = "write them as ['training.epochs=3', 'data.seed=7']"
    if isinstance(overrides, str | bytes | Mapping) or not isinstance(overrides, Iterable):
        kind = "a single string" if isinstance(overrides, str) else type(overrides).__name__
        raise TypeError(f"overrides must be a list of 'key=value' strings, got {kind}; {example}")
    items = list(overrides)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(
                f"overrides must be a list of 'key=value' strings; overrides[{i}] is a "
                f"{type(item).__name__}; {example}"
            )
    return items


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load a built-in recipe by name or a YAML file by path, then apply `key=value` overrides."""
    # `~` as a shell reads it; None was "unknown recipe 'None'"
    text, origin = _recipe_text(str(path_parameter(name_or_path, "name_or_path", RECIPE_NAMED)))
    return recipe_from_text(text, origin, overrides)


def _recipe_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise RecipeError(f"{path}: recipe file not found")
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path}: over {MAX_RECIPE_BYTES:,} bytes; not a recipe")
        return _decoded(path), str(path)
    names = builtin_recipe_names()
    if name_or_path not in names:
        raise RecipeError(
            f"unknown recipe '{shown(name_or_path)}'{did_you_mean(name_or_path, names)}"
        )
    resource = resources.files("attentext") / "recipes" / f"{name_or_path}.yaml"
    return resource.read_text(encoding="utf-8"), name_or_path


def _decoded(path: Path) -> str:
    """A recipe file's text: UTF-8 (a BOM dropped); any other bytes a one-line RecipeError
    naming where (a Latin-1 `café` in a description was a UnicodeDecodeError traceback)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RecipeError(
            f"{path}: line {line} is not valid UTF-8 (byte {error.start}); save the recipe as "
            "UTF-8 (iconv -f cp1252 -t utf-8 IN > OUT converts a Windows file)"
        ) from None


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one `section.key=value` override; the value is parsed as YAML (`3`, `1e-3`, `true`)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {shown(override)}: expected key=value, e.g. training.epochs=5")
    parts = key.strip().split(".")
    try:
        parsed = parse_yaml(value, "--set") if value.strip() else ""
    except RecipeError:
        raise RecipeError(f"--set {shown(override)}: cannot parse the value") from None
    if isinstance(parsed, str) and _looks_numeric(parsed):
        parsed = float(parsed)  # YAML 1.1 reads '1e-3' as a string
    if parts[0] == "search" and len(parts) > 1:
        # a search entry's key is a setting's whole path (`search.model.options.C`): split on
        # its dots, it was "search.model: not a setting", and no search could be set by --set
        parts = ["search", ".".join(parts[1:])]
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"--set {shown(override)}: '{shown(part)}' is not a section")
    node[parts[-1]] = parsed


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def resolve_recipe(
    recipe: str | Path | Recipe,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    class_weight: str | None = None,
    label_prior: str | None = None,
    val_fraction: float | None = None,
    multi_label: bool | None = None,
    shots: int | None = None,
    overrides: list[str] | None = None,
) -> Recipe:
    """A recipe by name, path or object, with the common options and `key=value` overrides."""
    sets = override_list(overrides)
    named = {
        "data.multi_label": None if multi_label is None else str(multi_label).lower(),
        "training.epochs": epochs,
        "training.max_steps": max_steps,
        "training.batch_size": batch_size,
        "training.precision": precision,
        "training.class_weight": class_weight,
        "training.label_prior": label_prior,
        "data.val_fraction": val_fraction,
        "data.shots": shots,
    }
    sets += [f"{key}={value}" for key, value in named.items() if value is not None]
    if isinstance(recipe, Recipe):
        raw = recipe.to_dict(search=True)
        for item in sets:
            apply_override(raw, item)
        changed = recipe_from_dict(raw, recipe.name)
        if sets:  # a Recipe as given is the caller's (a run's own is read as it was written)
            check_namesake(changed, recipe.name)
        return changed
    return load_recipe(path_parameter(recipe, "recipe", RECIPE_ARGUMENT), sets)
