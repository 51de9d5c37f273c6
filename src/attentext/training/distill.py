"""Knowledge distillation: a small student trained on a big teacher's probabilities.

The teacher (any run directory: the fine-tuned MiniLM, say) classifies the transfer set once:
the training texts and, where given, unlabeled in-domain texts; its logits are cached on disk,
keyed by its weights and the texts, so a second student never reruns it. The student (a neural
recipe the Trainer trains on the transfer set: not tfidf-logreg, encoder-fewshot, a frozen
encoder on cached features, or texts read in windows, `check_student`) then trains with the Trainer on

    alpha * CE(student, gold label)  +  (1 - alpha) * T^2 * KL(teacher_T || student_T)

where `_T` is a softmax at temperature T (the T^2 keeps the soft term's gradients at the scale of
the hard one; Hinton et al., 2015), or, with `distill.loss: mse`, the squared distance between
the two logit vectors in place of the KL (Tang et al. 2019's choice: it also matches how sure the
teacher is, which a softmax forgets; the temperature plays no part then). Unlabeled texts carry
no gold label (-100) and learn from the teacher alone. Validation and test stay gold-only, so
the best checkpoint is the best student.

A small transfer set leaves most of what the teacher knows untold: `distill.augment` adds noisy
copies of every transfer text (Tang et al., "Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks", 2019: words masked, or an n-gram sampled), each labelled by the teacher
alone; the student sees the teacher's answer on texts near the data, not only on the data.

Several teachers (`distill.ensemble`: more runs on the same labels) teach as one: the soft
targets are the mean of their logits (Hinton et al. distilled an ensemble the same way), each
teacher's logits cached on their own.

Each teacher is loaded once per distillation (`load_teacher`): checked before the work folder is
made (`check_teacher`), then passed along to label the transfer set and let go after it.
"""

from __future__ import annotations

import hashlib
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase, Trainer

from attentext.bars import ProgressBar
from attentext.data.dataset import TextDataset
from attentext.data.texts import load_texts, without_evaluation_texts
from attentext.decisions import MULTI_LABEL
from attentext.errors import AttentextNote, DataError, RecipeError, short_list, shown
from attentext.evaluation.evaluate import multi_label_scores
from attentext.files import cache_root
from attentext.inference.classifier import load
from attentext.models.outputs import classification_loss
from attentext.recipes import DistillSpec, Recipe, resolve_recipe
from attentext.rundir import MEMBERS_DIR, ONNX_DIR, WEIGHTS_FILE, open_run, read_whole
from attentext.text.encoding import masks_written_as
from attentext.training.features import cached_features
from attentext.training.tokenized import PackedRows, tokenize_split
from attentext.training.workdir import is_main_process

IGNORE = -100  # the label of a text without one: the cross-entropy skips it
TEACHER_SLICE = 2048  # texts the teacher labels between two updates of the progress bar
# a masked word, as the noisy copies write it: read as the mask token by a model that has one
# (`text.encoding.masks_written_as`: the pretrained teacher), as the word "mask" by a word model
MASK = "[MASK]"
MASK_RATE = 0.1  # Tang et al.'s p_mask: each word masked with this probability
NGRAM_RATE = 0.25  # their p_ng: a copy kept as one n-gram of its words with this probability
MAX_NGRAM = 5  # n drawn from 1..5
FINAL_WEIGHTS = "training.best_metric=last"  # what a student keeps unless told otherwise
BIGRAM_SETTING = "model.options.bigram_buckets"  # a seed-transformer student's word pairs
STUDENT_BIGRAM_BUCKETS = 131072  # 2**17 rows of 32: 16.8 MB beside the student's 3
SEED_TRANSFORMER = "seed-transformer"
STUDENT_RECIPES = "seed-transformer, attention-rnn, encoder-finetune"  # students named in refusals
CHECKPOINT_SETTINGS = frozenset({"training.best_metric", "training.early_stopping_patience"})
# a label under this share of training: a note to try --temperature 1 too (rare_label_note)
RARE_LABEL_SHARE = 0.02
# noisy copies a distillation may make (`distill.augment` x the transfer set): each is a Python
# string and a row of ids held at once, about 2.5 GB here; AG News' 120,000 texts x 16 is 1.9 M
MAX_NOISY_COPIES = 10_000_000


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor | None,
    temperature: float,
    alpha: float,
    soft_loss: str = "kl",
    multi_label: bool = False,
) -> torch.Tensor:
    """alpha * CE on the labelled rows + (1 - alpha) * the teacher's term, in fp32.

    The teacher's term is T^2 * KL(teacher_T || student_T) (`soft_loss="kl"`) or the squared
    distance between the logit vectors, summed over classes and averaged over rows
    (`soft_loss="mse"`). A batch without labelled rows (unlabeled texts) has it alone.
    Several labels per text (`multi_label`): each label is its own two-class softmax, so the KL
    becomes T^2 * the binary cross-entropy of sigmoid(student / T) to sigmoid(teacher / T), and
    the gold term the binary cross-entropy of the labelled rows (a row of IGNORE has none), both
    averaged over every (text, label) pair as the training loss is.
    """
    student, teacher = student.float(), teacher.float()
    if soft_loss == "mse":
        soft = (student - teacher).pow(2).sum(dim=-1).mean()
    elif multi_label:
        soft = F.binary_cross_entropy_with_logits(
            student / temperature, torch.sigmoid(teacher / temperature)
        ) * (temperature**2)
    else:
        soft = F.kl_div(
            F.log_softmax(student / temperature, dim=-1),
            F.log_softmax(teacher / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        ) * (temperature**2)
    loss = (1 - alpha) * soft
    if labels is None or alpha <= 0:
        return loss
    if multi_label:
        labelled = labels[:, 0] != IGNORE
        if bool(labelled.any()):
            hard = F.binary_cross_entropy_with_logits(student[labelled], labels[labelled].float())
            loss = loss + alpha * hard
    elif bool((labels != IGNORE).any()):
        loss = loss + alpha * F.cross_entropy(student, labels, ignore_index=IGNORE)
    return loss


class DistillationTrainer(Trainer):
    """The Trainer, with the teacher's logits in each training batch and the loss above.

    Evaluation batches have no teacher logits: their loss is the plain cross-entropy (a
    student's `training.label_smoothing` is 0: the teacher's soft targets take its place).
    """

    def __init__(self, *args: Any, spec: DistillSpec, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201 (Trainer's signature)
        teacher = inputs.pop("teacher_logits", None)
        labels = inputs.pop("labels", None)
        outputs = model(**inputs)
        logits = outputs["logits"]
        multi_label = getattr(model.config, "problem_type", None) == MULTI_LABEL
        if teacher is None:
            loss = classification_loss(logits, labels, multi_label)
        else:
            spec = self.spec
            loss = distillation_loss(
                logits, teacher, labels, spec.temperature, spec.alpha, spec.loss, multi_label
            )
        return (loss, outputs) if return_outputs else loss


def keeping_final_weights(recipe: Recipe, overrides: Sequence[str] = ()) -> Recipe:
    """A student's recipe (one that names a teacher) with its final weights kept
    (`training.best_metric=last`), unless `overrides` (what the user said) choose the checkpoint
    or the recipe stops early (which waits for a best); any other recipe as it is.

    A student learns the teacher on a transfer set many times its labelled texts, over a schedule
    that decays to 0; its validation split (a few hundred gold labels) then picks between epochs
    that differ less than its own noise. On AG News each of the five students of 8 noisy copies (of
    38) whose validation kept an earlier epoch scored more on test with its final weights (0.03
    to 0.88 points; benchmarks/README.md, distillation)."""
    named = {item.split("=", 1)[0].strip() for item in overrides}
    if not recipe.distill.teacher or named & CHECKPOINT_SETTINGS:
        return recipe
    if recipe.training.early_stopping_patience:
        return recipe
    return resolve_recipe(recipe, overrides=[FINAL_WEIGHTS])


def reading_word_pairs(recipe: Recipe, overrides: Sequence[str] = ()) -> Recipe:
    """A seed-transformer student's recipe with the hashed word-pair table on
    (`model.options.bigram_buckets`, STUDENT_BIGRAM_BUCKETS rows), unless `overrides` name the
    setting or the recipe has one already; any other recipe as it is.

    A student trains on a transfer set many times its labelled texts, enough to fill a table
    of word pairs that the lesson's one block of two heads only sees through position vectors.
    Students with it, against without (Intel Xeon with AMX; benchmarks/README.md, word pairs):
    AG News 0.9061 over six seeds against 0.9043, trec 0.9240 against 0.8900 over two (its rare
    ABBR label learned: macro-F1 0.91-0.92 against 0.74-0.78), emotion level (0.8985, 0.8993)."""
    named = {item.split("=", 1)[0].strip() for item in overrides}
    if not recipe.distill.teacher or recipe.model.type != SEED_TRANSFORMER:
        return recipe
    if BIGRAM_SETTING in named or recipe.model.options.get("bigram_buckets"):
        return recipe
    return resolve_recipe(recipe, overrides=[f"{BIGRAM_SETTING}={STUDENT_BIGRAM_BUCKETS}"])


def unlabeled_texts(spec: DistillSpec, dataset: TextDataset) -> tuple[list[str], int]:
    """The extra texts of the transfer set (none when not asked for) without those that are
    also validation or test texts, which must stay held out; and how many were left out (said
    in one line)."""
    if not spec.unlabeled:
        return [], 0
    texts, left_out = without_evaluation_texts(load_texts(spec.unlabeled), dataset)
    if not texts:
        raise all_held_out(spec.unlabeled, left_out, dataset, "--unlabeled")
    if left_out and is_main_process():
        warnings.warn(left_out_note(spec.unlabeled, left_out, dataset), AttentextNote, stacklevel=2)
    return texts, left_out


def rare_label_note(recipe: Recipe, dataset: TextDataset) -> str | None:
    """The line that advises trying `--temperature 1` too, for a seed-transformer student of data
    with a label under RARE_LABEL_SHARE of the training texts distilled hotter; else None.

    Softened by 2, the teacher's targets spread a share of every label over every text, which a
    32-wide student can match everywhere without telling the rare label's texts apart: on trec
    (ABBR, 1.6 %) two seed-transformer students of three lost ABBR at 2 and all three kept it at
    1, 0.906 against 0.895; without a rare label 1 was a little worse (AG News 0.9023 against
    0.9040), and on a copy of AG News cut to 1.5 % Business neither kept it reliably: hence a
    note that says to compare, not a default (benchmarks/README.md, distillation). Several labels
    per text make every label such a one: on Reuters ModApte (90 topics) the student at 2 lost
    macro-F1 against scratch and at 1 gained it (two seeds), hence the note there too."""
    if recipe.model.type != "seed-transformer" or recipe.distill.temperature <= 1:
        return None
    if dataset.multi_label:
        return (
            f"{dataset.source}: several labels per text, each a rare yes against many no's; at "
            f"temperature {recipe.distill.temperature:g} the seed-transformer student of Reuters "
            "ModApte's fine-tuned encoder fell short of the same model from scratch (macro-F1 "
            "0.314 against 0.400, two seeds) where --temperature 1 beat it (0.418): try both "
            "(benchmarks/README.md, distillation)"
        )
    counts = np.bincount(dataset.labels("train"), minlength=len(dataset.label_names))
    shares = counts / max(counts.sum(), 1)
    rare = int(shares.argmin())
    if shares[rare] >= RARE_LABEL_SHARE:
        return None
    return (
        f"{dataset.source}: '{dataset.label_names[rare]}' is {shares[rare]:.1%} of the training "
        f"texts; at temperature {recipe.distill.temperature:g} seed-transformer students lost "
        "such a label on trec in two seeds of three where --temperature 1 kept it: try both "
        "and compare its recall (benchmarks/README.md, distillation)"
    )


def check_each_teacher_once(teachers: Sequence[str | Path]) -> None:
    """Refuse a teacher run named twice (`--ensemble` repeating the teacher, or one run twice,
    by another path or a link): the student learns the mean of the teachers' logits, so it
    counted twice there, without a word (`distill A --ensemble B --ensemble B`: B's logits 2/3
    of the targets)."""
    seen: dict[Path, str | Path] = {}
    for teacher in teachers:
        where = Path(teacher).resolve()
        if where in seen:
            raise RecipeError(
                f"{shown(str(teacher), 200)}: is the teacher run {shown(str(seen[where]), 200)} "
                "again, which would count twice in the mean of the teachers' logits; give each "
                "teacher once (the teacher, then --ensemble for each other run)"
            )
        seen[where] = teacher


def check_noisy_copies(spec: DistillSpec, n_texts: int) -> None:
    """Refuse, before anything is written, more noisy copies than MAX_NOISY_COPIES: `augment`
    copies of each of the `n_texts` of the transfer set are drawn in a Python loop, all held at
    once (`--augment 1000000000` on 190 texts drew without end, `<output>.partial` left)."""
    copies = spec.augment * n_texts
    if copies > MAX_NOISY_COPIES:
        raise RecipeError(
            f"distill.augment={spec.augment:,} makes {copies:,} noisy copies of the "
            f"{n_texts:,} texts of the transfer set, over the {MAX_NOISY_COPIES:,} a "
            f"distillation may hold; give --augment {max(MAX_NOISY_COPIES // n_texts, 1):,} or "
            "fewer (Tang et al. made 20 copies a text)"
        )


def all_held_out(source: str, left_out: int, dataset: TextDataset, setting: str) -> DataError:
    """The error for an unlabeled file whose every text is a validation or test text: nothing
    is left to learn from (distill went on with the labelled texts alone, without a word
    beyond the note; the few-shot recipe's rounds had nothing to label)."""
    return DataError(
        f"{source}: its {left_out:,} texts are all validation or test texts of "
        f"{dataset.source}, which a model must not learn from; give {setting} texts apart "
        "from them"
    )


def left_out_note(source: str, left_out: int, dataset: TextDataset) -> str:
    """The line that says unlabeled texts were left out for being evaluation texts."""
    return (
        f"{source}: {left_out:,} unlabeled texts are also validation or test texts of "
        f"{dataset.source}; left out, so that validation (checkpoint, temperature) and test "
        "stay held out"
    )


def augmented_texts(
    texts: list[str],
    copies: int,
    seed: int,
    ngram_rate: float = NGRAM_RATE,
    mask_rate: float = MASK_RATE,
) -> list[str]:
    """`copies` noisy versions of every text, copy by copy (Tang et al. 2019, without their
    part-of-speech replacement): each word masked with probability `mask_rate`, then, with
    probability `ngram_rate`, only a random n-gram (n in 1..MAX_NGRAM) of the words kept.
    Deterministic for a seed, so the teacher's logits of them are cached like the rest."""
    rng = random.Random(seed)
    noisy = []
    for _ in range(copies):
        for text in texts:
            words = [MASK if rng.random() < mask_rate else word for word in text.split()]
            if len(words) > 1 and rng.random() < ngram_rate:
                n = rng.randint(1, min(MAX_NGRAM, len(words)))
                start = rng.randrange(len(words) - n + 1)
                words = words[start : start + n]
            noisy.append(" ".join(words))
    return noisy


def _teacher_fingerprint(teacher: Path) -> str:
    """A hash of the teacher's weights and settings: an ensemble's members' files with it (by
    their paths in the run), an export in onnx/ left out."""
    digest = hashlib.sha256()
    for path in sorted(teacher.rglob("*")):
        relative = path.relative_to(teacher)
        if relative.parts[0] == ONNX_DIR or (
            relative.parts[0] != MEMBERS_DIR and len(relative.parts) > 1
        ):
            continue
        if path.is_file() and path.suffix in (".safetensors", ".json"):
            digest.update(relative.as_posix().encode())
            with open(path, "rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 24), b""):
                    digest.update(block)
    return digest.hexdigest()[:32]


def _texts_fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _logits_of(teacher: Any, texts: list[str]) -> np.ndarray:
    """A teacher's logits (a neural run's own; log-probabilities of the others, or their
    log-odds where each label has its own probability)."""
    if hasattr(teacher, "logits"):
        return teacher.logits(texts).astype(np.float32)
    if getattr(teacher, "multi_label", False):
        return multi_label_scores(teacher, texts)[1].astype(np.float32)
    probabilities = np.clip(teacher.predict_proba(texts), 1e-12, None)
    return np.log(probabilities).astype(np.float32)


def _label(teacher: Any, texts: list[str], bar: ProgressBar) -> torch.Tensor:
    """The teacher's logits of `texts`, TEACHER_SLICE texts at a time, `bar` moved after each."""
    logits = []
    for start in range(0, len(texts), TEACHER_SLICE):
        logits.append(_logits_of(teacher, texts[start : start + TEACHER_SLICE]))
        bar.update(len(logits[-1]))
    return torch.from_numpy(np.concatenate(logits) if logits else _logits_of(teacher, []))


@dataclass(frozen=True)
class Teacher:
    """A teacher run loaded once: checked before anything is written, then labelling the
    transfer set (it was loaded for each, twice the time of loading a large teacher)."""

    path: Path
    name: str
    classifier: Any  # attentext.inference.classifier.Classifier
    fingerprint: str  # of the files the classifier was loaded from: the logits' cache key


def load_teacher(teacher_dir: Path) -> Teacher:
    """The teacher run loaded, and the fingerprint of the same run's files (read again where
    the folder was replaced meanwhile: `rundir.read_whole`)."""
    return read_whole(teacher_dir, partial(_read_teacher, teacher_dir))


def _read_teacher(teacher_dir: Path) -> Teacher:
    """One reading of a teacher run (see `load_teacher`); a neural run without its weights is
    refused by name."""
    run = open_run(teacher_dir)
    if run.kind == "transformers" and not (run.path / WEIGHTS_FILE).is_file():
        raise RecipeError(f"{teacher_dir}: the teacher run has no {WEIGHTS_FILE}")
    return Teacher(run.path, run.name, load(run.path), _teacher_fingerprint(run.path))


def teacher_logits(
    spec: DistillSpec,
    texts: list[str],
    label_names: list[str],
    block: int | None = None,
    teachers: Sequence[Teacher] | None = None,
) -> tuple[np.ndarray, bool]:
    """The soft targets of `texts` (N, classes): the teacher's logits, or with `spec.ensemble`
    the mean of every teacher's; and whether they all came from the cache. Each teacher's logits
    are cached on their own, so a teacher labels a transfer set once whatever it is paired with;
    and by `block`s of texts when given (the transfer set, then each noisy copy of it), so that
    more copies (`distill.augment` 8 -> 16) only label the new ones. `teachers`: the spec's
    teacher runs loaded already (`check_teacher`), loaded here where not given."""
    if teachers is None:
        teachers = [load_teacher(Path(run)) for run in [spec.teacher, *spec.ensemble]]
    computed = [_one_teacher_logits(teacher, texts, label_names, block) for teacher in teachers]
    logits = np.mean([values for values, _ in computed], axis=0, dtype=np.float64)
    return logits.astype(np.float32), all(hit for _, hit in computed)


def _one_teacher_logits(
    teacher: Teacher, texts: list[str], label_names: list[str], block: int | None
) -> tuple[np.ndarray, bool]:
    """One teacher's logits of `texts`, each block from the cache or computed once (in the
    teacher's order, whatever data it teaches), in the order of `label_names`. The teacher must
    know the same labels (`teacher_order`)."""
    order = teacher_order(teacher.path, teacher.classifier.labels, label_names)
    folder = cache_root() / "teacher"
    size = block or len(texts) or 1
    blocks = [texts[start : start + size] for start in range(0, len(texts), size)] or [[]]
    parts, hits = [], []
    with ProgressBar(
        total=len(texts), desc=f"Teacher {teacher.name} labelling", unit="text"
    ) as bar:
        for part in blocks:
            data = _texts_fingerprint(part)
            key = hashlib.sha256(f"{teacher.fingerprint}|{data}".encode()).hexdigest()[:32]
            logits, hit = cached_features(
                key,
                partial(_label, teacher.classifier, part, bar),
                rows=len(part),
                data=data,
                cache_dir=folder,
            )
            if hit:
                bar.update(len(part))
            parts.append(logits.numpy())
            hits.append(hit)
    return np.concatenate(parts)[:, order], all(hits)


def check_student(recipe: Recipe, neural: bool) -> None:
    """Refuse, before anything is written, a student recipe that cannot learn from a teacher.

    The teacher's logits reach a student only through the Trainer's loss (DistillationTrainer):
    a recipe fitted in one go (tfidf-logreg; a few-shot recipe's pairs and logistic head) never
    sees them, and a frozen encoder trains its head on cached features, not on the transfer set.
    Such a student was trained as if no teacher were named (`distill --student tfidf-logreg`
    wrote a plain baseline run, then a KeyError traceback; `--student encoder-fewshot` tuned
    pairs for an hour), or refused only after its work folder was made."""
    whole = "distillation trains the whole student through the Trainer"
    if not neural or recipe.fewshot.pair_iterations:
        raise RecipeError(
            f"{recipe.name}: is fitted in one go and cannot learn from a teacher ({whole}); "
            f"choose a student recipe such as {STUDENT_RECIPES}"
        )
    if recipe.model.options.get("freeze_encoder") and recipe.training.feature_cache:
        raise RecipeError(
            f"{whole}; choose a student recipe without a frozen encoder ({STUDENT_RECIPES})"
        )
    if recipe.tokenizer.long_text == "chunks":
        raise RecipeError(
            "distillation reads each text in one piece; train the student with "
            "tokenizer.long_text=truncate"
        )


def check_teacher(teacher_dir: Path, dataset: TextDataset) -> Teacher:
    """Refuse, before anything is written, a teacher that cannot teach a student of `dataset`:
    one of another number of labels per text, a neural run without its weights, or one trained
    on other classes (`teacher_order`); return it loaded, to label the transfer set with."""
    run = open_run(teacher_dir)
    if run.multi_label != dataset.multi_label:
        several = "several labels" if dataset.multi_label else "one label"
        raise RecipeError(
            f"{teacher_dir}: the teacher and the data differ in labels per text (the data: "
            f"{several} per text); distill a teacher trained the same way"
        )
    teacher = load_teacher(teacher_dir)
    teacher_order(teacher_dir, teacher.classifier.labels, dataset.label_names)
    return teacher


def teacher_order(
    teacher_dir: Path, teacher_labels: Sequence[str], label_names: Sequence[str]
) -> list[int]:
    """The teacher's logit column of each of the data's labels, matched by name.

    A teacher trained on the same classes listed in another order (a folder whose classes.txt
    says World, Sports, ... against a CSV of the same names, read in sorted order) teaches each
    class through its own logit; it used to be refused as "the teacher's labels (4) differ from
    the data's (4)", after the work folder was made. Classes that differ are refused, named."""
    theirs, ours = [str(label) for label in teacher_labels], [str(name) for name in label_names]
    if sorted(theirs) == sorted(ours) and len(set(ours)) == len(ours):
        return [theirs.index(name) for name in ours]
    differences = [
        f"{where} {short_list(names)} only"
        for where, names in (
            ("the data has", [name for name in ours if name not in theirs]),
            ("the teacher has", [name for name in theirs if name not in ours]),
        )
        if names
    ]
    raise RecipeError(
        f"{teacher_dir}: the teacher's labels differ from the data's "
        f"({'; '.join(differences) or 'a label twice'}); distill a teacher trained on the "
        "same labels"
    )


def distillation_trainer(
    recipe: Recipe,
    dataset: TextDataset,
    tokenizer: PreTrainedTokenizerBase,
    rows: dict[str, Any],
    unlabeled_left_out: tuple[list[str], int],
    facts: dict[str, Any],
    teachers: list[Teacher] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The Trainer class to use, and the facts to record: a distilling one when the recipe names
    a teacher (the training rows then carry its logits; the facts count the unlabeled texts
    left out for being validation or test texts). `teachers`: the recipe's teachers as
    `check_teacher` loaded them."""
    unlabeled, left_out = unlabeled_left_out
    if not recipe.distill.teacher:
        return Trainer, facts
    if (note := rare_label_note(recipe, dataset)) and is_main_process():
        warnings.warn(note, AttentextNote, stacklevel=2)
    rows["train"], distilled = transfer_set(recipe, dataset, tokenizer, rows, unlabeled, teachers)
    if left_out:
        distilled["unlabeled_left_out"] = left_out
    return partial(DistillationTrainer, spec=recipe.distill), {**facts, "distillation": distilled}


def transfer_set(
    recipe: Recipe,
    dataset: TextDataset,
    tokenizer: PreTrainedTokenizerBase,
    rows: dict[str, PackedRows],
    unlabeled: list[str],
    teachers: list[Teacher] | None = None,
) -> tuple[PackedRows, dict[str, Any]]:
    """The training rows the student learns from: the train split, the unlabeled texts and the
    noisy copies of both (`distill.augment`; label IGNORE), each with the teacher's logits; and
    what the run records of it. `teachers` (loaded by `check_teacher`; loaded here if None) are
    let go once they have labelled: the student trains without them in memory."""
    spec = recipe.distill
    texts = dataset.texts("train") + unlabeled
    # the copies are data: drawn with the data seed, so students that differ only in their
    # training seed (a seed ensemble) share them, and the teacher labels them once
    noisy = augmented_texts(texts, spec.augment, recipe.data_seed)
    start = time.perf_counter()
    with masks_written_as(MASK):  # the copies' masks are the teacher's mask token
        logits, cached = teacher_logits(
            spec, texts + noisy, dataset.label_names, block=len(texts), teachers=teachers
        )
    if teachers is not None:
        teachers.clear()  # the caller's list too: nothing holds a teacher while the student trains
    train = rows["train"]
    if unlabeled or noisy:
        extra = datasets.Dataset.from_dict(
            {"text": unlabeled + noisy, "label": [IGNORE] * (len(unlabeled) + len(noisy))}
        )
        t = recipe.tokenizer
        with masks_written_as(MASK):  # and a student's that has one (a word model: a word)
            extra_rows = PackedRows.from_dataset(
                tokenize_split(extra, tokenizer, t.max_length, t.truncation)
            )
        if dataset.multi_label:  # no label set: a row of IGNORE, as wide as the multi-hot rows
            unlabelled = np.full((len(extra_rows), train.labels.shape[1]), IGNORE, np.float32)
            extra_rows = PackedRows(extra_rows.ids, extra_rows.offsets, unlabelled)
        train = PackedRows.concatenate(train, extra_rows)
    return train.with_column("teacher_logits", logits.astype(np.float32)), {
        "teacher": str(spec.teacher),
        **({"ensemble": list(spec.ensemble)} if spec.ensemble else {}),
        "temperature": spec.temperature,
        "alpha": spec.alpha,
        "loss": spec.loss,
        "n_labelled": len(rows["train"]),
        "n_unlabeled": len(unlabeled),
        "n_augmented": len(noisy),
        "teacher_seconds": round(time.perf_counter() - start, 2),
        "teacher_logits_cached": cached,
    }
