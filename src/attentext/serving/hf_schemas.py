"""Bodies of the Hugging Face inference shape for text classification (`POST /models/{name}`,
`POST /`), as `huggingface_hub.InferenceClient.text_classification` sends and parses them.

The client posts `{"inputs": "...", "parameters": {...}}` to the model's URL and reads a list
holding one list of `{"label", "score"}` per input, best first.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from attentext.serving.schemas import TextOrTexts, WholeNumber

FUNCTIONS = ("softmax", "sigmoid", "none")


class HfParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: WholeNumber | None = Field(
        None, ge=1, description="Labels per input, best first; all labels if omitted."
    )
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        None,
        description="softmax (the default): the calibrated probabilities. none: the calibrated "
        "logits (logits / the run's temperature, plus its label prior's bias if it has one; the "
        "TF-IDF baseline, which has no logits, gives its log-probabilities). sigmoid: the sigmoid of those.",
    )


class HfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: TextOrTexts = Field(
        description="One text, or a list of texts.", examples=["Stocks rally on Wall Street"]
    )
    parameters: HfParameters | None = None
    options: dict[str, Any] | None = Field(
        None,
        description="The Inference API's options (use_cache, wait_for_model): accepted and "
        "ignored, the model is always loaded and nothing is cached.",
    )


class HfError(BaseModel):
    error: str
