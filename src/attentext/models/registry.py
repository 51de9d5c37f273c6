"""Model families: recipe `model.type` -> the code that builds, trains and loads it.

The registry knows every model type, the scikit-learn baseline included, and imports a family's
module only when it is used: `import attentext` imports none of them, and loading a TF-IDF run
never imports torch. Registering attentext's configs and models with the Auto classes
(`register_auto_classes`) is what lets `AutoModelForSequenceClassification.from_pretrained(run_dir)`
and `transformers.pipeline("text-classification", model=run_dir)` load any attentext run.

A neural family's module has `build(spec, tokenizer, label_names, max_length, multi_label)`
returning a Hugging Face `PreTrainedModel`; a non-neural family's module has
`new_classifier(label_names, options, multi_label)` and `load_classifier(folder)` returning objects
with `fit`, `predict_proba` and `save`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from attentext.data.defaults import with_widths
from attentext.errors import RecipeError, did_you_mean, shown
from attentext.recipes import AGGREGATIONS, AUTO, ModelSpec, coerce_setting
from attentext.rundir import TRANSFORMERS_KIND


@dataclass(frozen=True)
class ModelFamily:
    """One model type of recipes, and where its code lives (imported on first use)."""

    name: str
    module: str
    neural: bool = True  # a Hugging Face model trained by the Trainer
    config_class: str | None = None  # attentext's own families: registered with the Auto classes
    model_class: str | None = None
    computed: tuple[str, ...] = ()  # config arguments set from the data, not from the recipe
    fixed_options: tuple[str, ...] = ()  # the options of a family without a config class
    # a non-neural family's class whose constructor takes the options (their types, their ranges)
    options_class: str | None = None
    # long documents: whether the family learns attention over windows (else mean or max only)
    learned_aggregation: bool = False
    # a word embedding learned from scratch, which `model.embedding_init: encoder` can start
    word_embedding: bool = False

    def code(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def run_kind(self) -> str:
        """What a run's marker says for this family: one kind for all Hugging Face models."""
        return TRANSFORMERS_KIND if self.neural else self.name

    def options(self) -> tuple[str, ...]:
        """The keys `model.options` accepts: the config's arguments, or the fixed list."""
        if self.config_class is None:
            return self.fixed_options
        config_cls = getattr(self.code(), self.config_class)
        params = inspect.signature(config_cls.__init__).parameters
        found = tuple(n for n in params if n not in {"self", "kwargs", *self.computed})
        # every neural family reads long documents in windows: how it combines them is a config
        # attribute (config.json), a declared argument where the family learns it
        return found if "aggregation" in found or not self.neural else (*found, "aggregation")

    def check_spec(self, spec: ModelSpec) -> None:
        """`check_options`, and an `embedding_init` this family can take."""
        self.check_options(spec.options)
        if spec.embedding_init == "encoder" and not self.word_embedding:
            raise RecipeError(
                f"model.embedding_init: {spec.embedding_init} starts a word embedding learned "
                f"from scratch (seed-transformer, attention-rnn); {self.name} has none"
            )

    def check_options(self, options: dict[str, Any]) -> None:
        """A one-line error for an unknown key of `model.options`, with a did-you-mean, or for
        an aggregation this family cannot do."""
        known = self.options()
        for key in options:
            if key not in known:
                raise RecipeError(
                    f"unknown option 'model.options.{key}' for {self.name}{did_you_mean(key, known)}"
                )
        self._check_option_types(options)
        self._check_option_values(options)
        aggregation = options.get("aggregation", "mean")
        if aggregation not in AGGREGATIONS:
            raise RecipeError(
                f"model.options.aggregation is '{shown(aggregation)}'"
                f"{did_you_mean(str(aggregation), AGGREGATIONS)}"
            )
        if aggregation == "attention" and not self.learned_aggregation:
            raise RecipeError(
                f"{self.name} combines windows by mean or max; attention over windows is "
                "learned by encoder-classifier (encoder-frozen, encoder-finetune)"
            )

    def _option_parameters(self) -> dict[str, inspect.Parameter]:
        """The arguments of the class that takes the options (config or classifier); {} if none."""
        name = self.config_class or self.options_class
        if name is None:
            return {}
        return dict(inspect.signature(getattr(self.code(), name).__init__).parameters)

    def option_default(self, name: str) -> Any:
        """The default of option `name` (its type is the option's); None if it has none."""
        param = self._option_parameters().get(name)
        return None if param is None else param.default

    def _check_option_types(self, options: dict[str, Any]) -> None:
        """Each option against the type of its config default: options load as free YAML, and a
        string where a width belongs was torch's "empty(): argument 'size'" traceback, a string
        where a switch belongs (bidirectional: maybe) silently true."""
        params = self._option_parameters()
        for key, value in options.items():
            if key not in params or value == AUTO:
                continue
            default = params[key].default  # None: an optional integer (max_features)
            if default is None or isinstance(default, bool | int | float | str):
                coerce_setting(value, default, f"model.options.{key}")

    def _check_option_values(self, options: dict[str, Any]) -> None:
        """Each option's range, by building the config (or the unfitted classifier) from the
        options given: its constructor's checks (a width of at least 1, a dropout rate under 1)
        run before anything is written, not when the model is built inside `<output>.partial`
        (`num_heads: 0` trained to chance without a word; `dropout: 1.5` was a torch traceback).
        """
        params = self._option_parameters()
        if not params:
            return
        given = {k: v for k, v in options.items() if k in params and v != AUTO}
        try:
            if self.config_class is not None:
                getattr(self.code(), self.config_class)(**given)
            else:
                getattr(self.code(), self.options_class)(["a", "b"], **given)
        except ValueError as err:
            raise RecipeError(f"model.options of {self.name}: {err}") from None


_WORD_MODEL_COMPUTED = (
    "vocab_size",
    "max_position_embeddings",
    "pad_token_id",
    "unk_token_id",
)
MODEL_FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            "seed-transformer",
            "attentext.models.seed_transformer",
            config_class="SeedTransformerConfig",
            model_class="SeedTransformerForSequenceClassification",
            computed=_WORD_MODEL_COMPUTED,
            word_embedding=True,
        ),
        ModelFamily(
            "attention-rnn",
            "attentext.models.attention_rnn",
            config_class="AttentionRNNConfig",
            model_class="AttentionRNNForSequenceClassification",
            computed=_WORD_MODEL_COMPUTED,
            word_embedding=True,
        ),
        ModelFamily(
            "encoder-classifier",
            "attentext.models.encoder_classifier",
            config_class="EncoderClassifierConfig",
            model_class="EncoderClassifierForSequenceClassification",
            computed=("encoder",),
            learned_aggregation=True,
        ),
        ModelFamily(
            "hf-sequence-classification",
            "attentext.models.hf_sequence_classification",
            fixed_options=("freeze_base", "aggregation"),
        ),
        ModelFamily(
            "tfidf-logreg",
            "attentext.models.tfidf_logreg",
            neural=False,
            fixed_options=(
                "C",
                "ngram_max",
                "min_df",
                "max_features",
                "sublinear_tf",
                "max_iter",
                "max_chars",
            ),
            options_class="TfidfLogRegClassifier",
        ),
    )
}


def model_family(model_type: str) -> ModelFamily:
    """The family of a recipe's `model.type`; a one-line error with a did-you-mean if unknown."""
    if model_type not in MODEL_FAMILIES:
        raise RecipeError(
            f"unknown model type '{model_type}'{did_you_mean(model_type, list(MODEL_FAMILIES))}"
        )
    return MODEL_FAMILIES[model_type]


def family_of_run(kind: str) -> ModelFamily | None:
    """The non-neural family whose runs carry marker kind `kind`; None for Hugging Face runs."""
    if kind == TRANSFORMERS_KIND:
        return None
    for family in MODEL_FAMILIES.values():
        if not family.neural and family.name == kind:
            return family
    raise RecipeError(f"unknown run kind '{kind}'{did_you_mean(kind, list(MODEL_FAMILIES))}")


def build_model(
    spec: ModelSpec,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    multi_label: bool = False,
) -> Any:
    """A neural model for recipe `spec`, sized for the tokenizer and the labels, options checked;
    with `multi_label`, sigmoid outputs trained with binary cross-entropy per label."""
    family = model_family(spec.type)
    family.check_spec(spec)
    if not family.neural:
        raise RecipeError(f"{spec.type} is not a neural model; it has no Hugging Face model")
    # widths a run decides from its data (training/run.py); a recipe built as loaded gets the same
    spec = dataclasses.replace(spec, options=with_widths(spec.options, len(label_names)))
    return family.code().build(spec, tokenizer, label_names, max_length, multi_label)


def register_auto_classes() -> None:
    """Make attentext's model types known to transformers' Auto classes (idempotent).

    Importing a family's module registers it (`models/auto.py`); a module being imported right
    now (transformers first imported from inside it) registers itself when it finishes.
    """
    for family in MODEL_FAMILIES.values():
        if family.config_class is not None:
            family.code()
