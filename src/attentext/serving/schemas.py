"""The HTTP API's request and response bodies (pydantic), as they appear in the OpenAPI schema.

Requests forbid unknown fields, so a typo (`"text"` sent to /v1/predict) is a 422 that names the
field rather than a silent empty request. Limits that depend on the server's settings (texts per
request, characters per text) are checked in the app, where the message can quote them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from attentext.data.unicode import unpaired_surrogate


def valid_unicode(text: str) -> str:
    """Refuse a lone surrogate (JSON can escape one: "\\ud800"); no tokenizer or encoder takes it."""
    problem = unpaired_surrogate(text)
    if problem:
        raise ValueError(f"not valid Unicode: {problem}; send the text as UTF-8")
    return text


# What a client sent, named as JSON names it: "NoneType", "dict" or "int" mean nothing to a
# client that is not written in Python (bool before int and float: true is no number).
JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def json_type(value: object) -> str:
    """A value parsed from JSON, described in JSON's words: null, a boolean, a number, ..."""
    if value is None:
        return "null"
    for kinds, name in JSON_TYPES:
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def text_or_texts(value: Any) -> str | list[str]:
    """One text or an array of texts, checked in one step: as a union of the two, a mistake was
    told twice in pydantic's words ("inputs.function-after[valid_unicode(), str]: Input should be
    a valid string (got NoneType); inputs.list[function-after[...]]: ...")."""
    if isinstance(value, str):
        return valid_unicode(value)
    if not isinstance(value, list):
        raise ValueError(f"expected a string or an array of strings, got {json_type(value)}")
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise ValueError(f"the text at [{i}] is {json_type(text)}; every text must be a string")
    return [valid_unicode(text) for text in value]


def whole_number(value: Any) -> int:
    """A JSON number that is a whole number: 3, or 3.0 (what a client's arithmetic gives, as
    pydantic's lax mode takes it). A boolean or a string is refused: pydantic's lax mode read
    `true` as 1 and `"3"` as 3, where TEI's serde and pydantic's strict mode refuse both (they
    refuse 3.0 too, which clients computing a count send)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    got = f"{value:g}" if isinstance(value, float) else json_type(value)
    raise ValueError(f"expected a whole number, got {got}")


def boolean(value: Any) -> bool:
    """A JSON boolean, and nothing else: pydantic's lax mode read `"true"`, `"yes"`, `"off"`,
    1 and 0 as booleans, where TEI's serde refuses them."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {json_type(value)}")
    return value


# Numbers and booleans as JSON types them (`whole_number`, `boolean`); constraints (ge=1) apply
# after, and the OpenAPI schema still says integer and boolean.
WholeNumber = Annotated[int, BeforeValidator(whole_number)]
Boolean = Annotated[bool, BeforeValidator(boolean)]
Text = Annotated[str, AfterValidator(valid_unicode)]
TextOrTexts = Annotated[
    str | list[str], PlainValidator(text_or_texts, json_schema_input_type=str | list[str])
]
# "" is no name: a 422, never a silent fall back to the default model (leave the field out).
# (The length is checked after the Unicode check: before it, pydantic's own message for a lone
# surrogate would replace the one that says what is wrong.)
ModelName = Annotated[str, AfterValidator(valid_unicode), Field(min_length=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Request):
    texts: list[Text] = Field(
        description="Texts to classify.", examples=[["Stocks rally on Wall Street"]]
    )
    top_k: WholeNumber = Field(
        1, ge=1, description="Labels ranked per text (capped at the label count)."
    )
    model: ModelName | None = Field(
        None, description="Served model name; the default model if omitted."
    )


class ExplainRequest(_Request):
    text: Text | None = Field(None, description="One text to explain (or use `texts`).")
    texts: list[Text] | None = Field(None, description="Several texts to explain.")
    model: ModelName | None = Field(
        None, description="Served model name; the default model if omitted."
    )
    method: Literal["attention", "occlusion"] = Field(
        "attention",
        description="attention: what the model attended to; occlusion: how far the label's "
        "log-odds fall with each word left out (any model; one prediction per word).",
    )

    @model_validator(mode="after")
    def _one_of_text_or_texts(self) -> ExplainRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('send exactly one of "text" (a string) or "texts" (a list of strings)')
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


# The same two fields, with the same meaning, in /v1/predict's and /v1/explain's answers
# (`serving/reading.py`): /v1/explain said `truncated` for the model's own limit and never for the
# server's cut, so one 58,508-character text was `false` in one answer and `true` in the other.
TRUNCATED = (
    "The server cut the text to its first max_chars characters (`serve --max-chars`, 10,000 by "
    "default) before the model read it."
)
PARTLY_READ = (
    "The model read only part of the text it was given: a model that truncates, its max_length "
    "tokens; a run that reads long texts in windows, the tokenizer.max_chunks windows it keeps "
    "(in /v1/explain, `windows` gives their spans); the TF-IDF baseline, its first "
    "model.options.max_chars characters. The words it did not read took no part in the answer."
)


# Scores are answered whole (the model's float32 as a float), as Hugging Face's pipeline
# (`score.item()`) and TEI (an f32) answer them. Rounded to 6 decimals, a probability under
# 5e-7 read 0.0 (a log-loss of infinity, rare labels tied) and one over 1 - 5e-7 read 1.0.
SCORE_DECIMALS: int | None = None


class LabelScore(BaseModel):
    label: str
    score: float


class Prediction(BaseModel):
    label: str = Field(description="The most probable label.")
    score: float = Field(description="Its probability.")
    top_k: list[LabelScore] = Field(description="The top_k labels, most probable first.")
    labels: list[str] | None = Field(
        None,
        description="Multi-label models: every label at or over its threshold (possibly none); "
        "their scores are each label's own probability.",
    )
    scores: dict[str, float] | None = Field(
        None, description="Multi-label models: every label's probability."
    )
    truncated: bool = Field(False, description=TRUNCATED)
    partly_read: bool = Field(False, description=PARTLY_READ)


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]


class WindowWeight(BaseModel):
    start: int = Field(description="First character the window read.")
    end: int = Field(description="Character after the last one the window read.")
    weight: float = Field(description="The window's weight in the text's prediction.")


class TokenExplanation(BaseModel):
    text: str
    label: str = Field(description="The most probable label: the one whose words are explained.")
    labels: list[str] | None = Field(
        None,
        description="A run of several labels per text: the labels it gives the text (each at or "
        "over its threshold, as /v1/predict answers); null for a run of one label per text.",
    )
    probabilities: dict[str, float] = Field(description="Probability of every label.")
    tokens: list[str] = Field(description="The words the model read, in order.")
    importances: list[float] = Field(description="Attention importance per token; sums to 1.")
    offsets: list[tuple[int, int]] | None = Field(
        None, description="Character span of each token in `text`, where the tokenizer has them."
    )
    method: str = Field("", description="How the importances were computed.")
    truncated: bool = Field(False, description=TRUNCATED)
    partly_read: bool = Field(False, description=PARTLY_READ)
    windows: list[WindowWeight] | None = Field(
        None,
        description="A model that reads long texts in windows: each window's character span "
        "and its weight in the decision (they sum to 1).",
    )


class ExplainResponse(BaseModel):
    model: str
    explanations: list[TokenExplanation]


class ModelInfo(BaseModel):
    name: str
    default: bool
    kind: str = Field(description="transformers (a neural model) or tfidf-logreg.")
    recipe: str | None
    labels: list[str]
    explainable: bool = Field(description="Whether /v1/explain works for this model.")
    metrics: dict[str, Any] = Field(
        description="From the run's metrics.json: scalars, and accuracy/F1 per split."
    )


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
