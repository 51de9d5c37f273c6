"""Bodies of text-embeddings-inference's `POST /predict`, with TEI's input grammar, and of its
`GET /info`.

`inputs` is one text (`"a"`), one sequence (`["a"]`, or a pair `["a", "b"]`), or a batch of
sequences (`[["a"], ["b"]]`). A single text or sequence is answered with a flat list of
`{"score", "label"}`, a batch with one list per sequence; every label, best first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from attentext.serving.schemas import Boolean, valid_unicode

ERROR_TYPES = ("Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer", "Empty")
GRAMMAR = (
    "expected a string, a pair of strings [string, string] or a batch of single strings and "
    "pairs [[string], [string, string], ...]"
)

_Sequence = Annotated[list[str], Field(min_length=1, max_length=2)]


def _is_sequence(value: Any) -> bool:
    return (
        isinstance(value, list) and 1 <= len(value) <= 2 and all(isinstance(v, str) for v in value)
    )


def tei_inputs(value: Any) -> str | list[str] | list[list[str]]:
    """TEI's grammar, checked in one step so that a mistake gets TEI's one sentence instead of
    one pydantic message per member of the union."""
    if isinstance(value, str):
        return valid_unicode(value)
    if _is_sequence(value):
        return [valid_unicode(text) for text in value]
    if isinstance(value, list) and value and all(_is_sequence(item) for item in value):
        return [[valid_unicode(text) for text in item] for item in value]
    raise ValueError(GRAMMAR)


TeiInputs = Annotated[
    str | list[str] | list[list[str]],
    PlainValidator(
        tei_inputs,
        json_schema_input_type=str | _Sequence | Annotated[list[_Sequence], Field(min_length=1)],
    ),
]


class TeiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: TeiInputs = Field(
        description="A string; a sequence [string] (a pair [string, string] is refused: these "
        "models classify single texts); or a batch [[string], [string], ...].",
        examples=["I like you."],
    )
    truncate: Boolean | None = Field(
        None,
        description="true or null: texts longer than the model reads are cut as at training. "
        "false: such a text is refused (422).",
    )
    truncation_direction: Literal["Left", "Right", "left", "right"] | None = Field(
        None,
        description="The side to drop of a text longer than the model reads: Right keeps the "
        "start, Left the end. Texts are cut as the run was trained (its recipe's "
        "tokenizer.truncation or chunks_kept; the server's --max-chars and the TF-IDF baseline "
        "keep the start): a text that would be cut otherwise than asked is refused (422); a "
        "text read whole, or null, is answered.",
    )
    raw_scores: Boolean = Field(
        False,
        description="true: the calibrated logits (logits / the run's temperature, plus its label "
        "prior's bias if it has one) instead of probabilities.",
    )


class TeiError(BaseModel):
    error: str
    error_type: Literal["Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer", "Empty"]


class TeiClassifier(BaseModel):
    id2label: dict[str, str] = Field(description="Each label by its column, as config.json.")
    label2id: dict[str, int]


class TeiModelType(BaseModel):
    classifier: TeiClassifier


class TeiInfo(BaseModel):
    """TEI's Info, filled from the default model and the server's settings."""

    model_config = ConfigDict(protected_namespaces=())

    model_id: str = Field(description="The default model: its run directory's name.")
    model_sha: str | None = None
    model_dtype: str = Field(
        description="What the model computes in: float32, bfloat16 or float16 (PyTorch), int8 "
        "(an ONNX int8 export), float64 (the TF-IDF baseline).",
        examples=["float32"],
    )
    served_model_name: str
    model_type: TeiModelType
    max_concurrent_requests: int = Field(
        description="Texts the model's queue holds (every request has one at least); past it, "
        "429 Overloaded."
    )
    max_input_length: int = Field(
        description="The longest text the model reads whole: its tokens (max_length, or what "
        "its cap of windows holds); the TF-IDF baseline's characters (model.options.max_chars, "
        "within the server's max_chars); an ensemble's least member's, in that member's unit; "
        "else the server's max_chars (a text is cut there, and has no more tokens than "
        "characters)."
    )
    max_batch_tokens: int = Field(
        description="max_input_length times the texts one model call of the micro-batcher "
        "takes (max_batch_size, or a request's max_client_batch_size run on its own)."
    )
    max_batch_requests: int | None = Field(
        description="Requests one model call joins at most (the micro-batcher's max_batch_size)."
    )
    max_client_batch_size: int = Field(description="Texts per request (the server's max_texts).")
    auto_truncate: bool = Field(
        description="With `truncate` null a text over the limits is cut; false on a strict "
        "server, which refuses a text over max_chars (and cuts one over the model's tokens)."
    )
    tokenization_workers: int = Field(
        description="Texts are tokenized in the one inference thread."
    )
    version: str = Field(description="attentext's version.")
    sha: str | None = None
    docker_label: str | None = None
