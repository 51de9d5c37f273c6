"""Recipes: everything a training run needs, as YAML, overridable from the CLI.

A recipe has four sections (`data`, `tokenizer`, `model`, `training`). Unknown keys are errors
with a did-you-mean, so that a typo never silently trains with a default. The resolved recipe is
saved in every run directory as `recipe.yaml`, which makes a run reproducible from its own folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from attentext.errors import RecipeError, did_you_mean, shown

MAX_RECIPE_BYTES = 1 << 20
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # fp16: CUDA GPUs only
TRUNCATIONS = ("head", "tail", "head+tail")
TOKENIZER_TYPES = ("word", "pretrained")
CLASS_WEIGHTS = ("none", "balanced")


@dataclass
class DataSpec:
    text_column: str = "text"
    label_column: str = "label"
    val_fraction: float = 0.05
    multi_label: bool = (
        False  # several labels per text: sigmoid + BCE, thresholds tuned on validation
    )
    label_separator: str = "|"  # what joins a text's labels in one cell (multi-label)


@dataclass
class TokenizerSpec:
    type: str = "word"  # "word": a WordVectorizer fitted on train; "pretrained": the encoder's own
    max_tokens: int = 20000  # vocabulary size of a word tokenizer
    max_length: int = 256
    truncation: str = "head"  # what a text over max_length keeps: head, tail or head+tail


@dataclass
class ModelSpec:
    type: str = "seed-transformer"
    encoder: str = (
        "default"  # pretrained families: "default" (packaged MiniLM), a folder or a hub name
    )
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingSpec:
    epochs: float = 3.0
    max_steps: int = -1  # > 0: stop after this many optimizer steps (the lesson's steps_per_epoch)
    batch_size: int = 128
    eval_batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
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
    # stop when the validation metric has not improved for this many evaluations (one per epoch);
    # the best checkpoint is kept either way; 0 trains every epoch asked for
    early_stopping_patience: int = 3


@dataclass
class DistillSpec:
    """Knowledge distillation: the student learns the teacher's probabilities (Hinton et al.,
    "Distilling the Knowledge in a Neural Network", 2015) on the training texts and, where given,
    unlabeled ones. Off while `teacher` is empty."""

    teacher: str = ""  # a run directory: its logits are the soft targets
    temperature: float = 2.0  # softens both distributions; the KL term is scaled by its square
    alpha: float = 0.5  # weight of the gold labels' cross-entropy; 1 - alpha on the teacher's KL
    unlabeled: str = ""  # a file of more texts (one per line, or a data file) for the transfer set


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_SECTIONS = {
    "data": DataSpec,
    "tokenizer": TokenizerSpec,
    "model": ModelSpec,
    "training": TrainingSpec,
    "distill": DistillSpec,
}


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Check a value against the type of its default; ints are accepted where floats are."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true or false, got {shown(value)}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecipeError(f"{where}: expected a number, got {shown(value)}")
        return float(value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {shown(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {shown(value)}")
    elif isinstance(default, dict) and not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a mapping, got {shown(value)}")
    return value


def recipe_from_dict(raw: dict[str, Any], origin: str = "recipe") -> Recipe:
    """Build and validate a Recipe from a plain mapping (parsed YAML)."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{origin}: expected a mapping at the top level")
    recipe = Recipe()
    top_keys = ["name", "description", *_SECTIONS]
    for key, value in raw.items():
        if key not in top_keys:
            raise RecipeError(
                f"{origin}: unknown key '{shown(key)}'{did_you_mean(str(key), top_keys)}"
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
            setattr(section, sub, _coerce(sub_value, default, f"{origin}: {key}.{sub}"))
    _validate(recipe, origin)
    return recipe


def _validate(recipe: Recipe, origin: str) -> None:
    t = recipe.training
    if t.precision not in PRECISIONS:
        raise RecipeError(f"{origin}: training.precision must be one of {', '.join(PRECISIONS)}")
    if t.class_weight not in CLASS_WEIGHTS:
        raise RecipeError(
            f"{origin}: training.class_weight must be one of {', '.join(CLASS_WEIGHTS)}"
        )
    if t.batch_size < 1 or t.eval_batch_size < 1:
        raise RecipeError(f"{origin}: batch sizes must be positive")
    if t.epochs <= 0 and t.max_steps <= 0:
        raise RecipeError(f"{origin}: set training.epochs > 0 or training.max_steps > 0")
    if t.learning_rate <= 0:
        raise RecipeError(f"{origin}: training.learning_rate must be positive")
    if t.early_stopping_patience < 0:
        raise RecipeError(f"{origin}: training.early_stopping_patience must be 0 (off) or more")
    if not 0.0 <= t.warmup_ratio < 1.0:
        raise RecipeError(
            f"{origin}: training.warmup_ratio is the share of all steps spent warming up, in "
            f"[0, 1); got {t.warmup_ratio:g}"
        )
    if not 0.0 <= recipe.data.val_fraction < 1.0:
        raise RecipeError(f"{origin}: data.val_fraction must be in [0, 1)")
    if recipe.tokenizer.truncation not in TRUNCATIONS:
        raise RecipeError(f"{origin}: tokenizer.truncation must be one of {', '.join(TRUNCATIONS)}")
    if recipe.tokenizer.type not in TOKENIZER_TYPES:
        raise RecipeError(f"{origin}: tokenizer.type must be one of {', '.join(TOKENIZER_TYPES)}")
    d = recipe.distill
    if not d.temperature > 0:
        raise RecipeError(f"{origin}: distill.temperature must be positive")
    if not 0.0 <= d.alpha <= 1.0:
        raise RecipeError(f"{origin}: distill.alpha must be in [0, 1]")
    if d.unlabeled and not d.teacher:
        raise RecipeError(f"{origin}: distill.unlabeled needs distill.teacher (a run directory)")
    if recipe.tokenizer.max_length < 1:
        raise RecipeError(f"{origin}: tokenizer.max_length must be positive")


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
    raw = parse_yaml(text, origin) or {}
    if not isinstance(raw, dict):  # before the overrides, which write into it
        raise RecipeError(f"{origin}: expected a mapping at the top level")
    for override in overrides or []:
        apply_override(raw, override)
    return recipe_from_dict(raw, origin)


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load a built-in recipe by name or a YAML file by path, then apply `key=value` overrides."""
    text, origin = _recipe_text(str(name_or_path))
    return recipe_from_text(text, origin, overrides)


def _recipe_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise RecipeError(f"{path}: recipe file not found")
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path}: over {MAX_RECIPE_BYTES:,} bytes; not a recipe")
        return path.read_text(encoding="utf-8"), str(path)
    names = builtin_recipe_names()
    if name_or_path not in names:
        raise RecipeError(
            f"unknown recipe '{shown(name_or_path)}'{did_you_mean(name_or_path, names)}"
        )
    resource = resources.files("attentext") / "recipes" / f"{name_or_path}.yaml"
    return resource.read_text(encoding="utf-8"), name_or_path


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
    val_fraction: float | None = None,
    multi_label: bool | None = None,
    overrides: list[str] | None = None,
) -> Recipe:
    """A recipe by name, path or object, with the common options and `key=value` overrides."""
    sets = list(overrides or [])
    named = {
        "data.multi_label": None if multi_label is None else str(multi_label).lower(),
        "training.epochs": epochs,
        "training.max_steps": max_steps,
        "training.batch_size": batch_size,
        "training.precision": precision,
        "training.class_weight": class_weight,
        "data.val_fraction": val_fraction,
    }
    sets += [f"{key}={value}" for key, value in named.items() if value is not None]
    if isinstance(recipe, Recipe):
        raw = recipe.to_dict()
        for item in sets:
            apply_override(raw, item)
        return recipe_from_dict(raw, recipe.name)
    return load_recipe(recipe, sets)
