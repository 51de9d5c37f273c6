"""Bodies of the Open Inference Protocol v2 (KServe, Triton, Seldon), as its REST
specification and Triton's clients shape them.

A served model has one input, `text` (BYTES, shape [-1]: the texts), and two outputs: `label`
(BYTES, [-1]: the best label of each text) and `scores` (FP32, [-1, n_labels]: every label's
calibrated probability, columns in the order of the model metadata's `labels`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from attentext.serving.schemas import WholeNumber, json_type


def parameter_value(value: Any) -> bool | int | float | str:
    """A parameter's value as the protocol types it (a string, a number or a boolean), checked
    in one step: as a union of the four, one null was four messages ("parameters.x.bool: Input
    should be a valid boolean (got NoneType); parameters.x.int: ...")."""
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"a parameter is a string, a number or a boolean, got {json_type(value)}")


# A parameter's value, as KServe's data model types it (bools before ints: true is no 1).
ParameterValue = Annotated[
    bool | int | float | str,
    PlainValidator(
        parameter_value, json_schema_input_type=StrictBool | StrictInt | StrictFloat | str
    ),
]
Parameters = dict[str, ParameterValue]
Dimension = Annotated[WholeNumber, Field(ge=0, le=2**31)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class V2InputTensor(_Request):
    name: str = Field(description="The input's name; this server's models have one, `text`.")
    shape: list[Dimension] = Field(
        max_length=8, description="[n] (or [n, 1]): as many elements as texts."
    )
    datatype: str = Field(description="BYTES: the texts, UTF-8.")
    parameters: Parameters | None = Field(
        None, description="`binary_data_size`: the texts are in the binary part of the body."
    )
    data: list[Any] | None = Field(
        None, description="The texts (nested lists are read in row-major order)."
    )


class V2RequestedOutput(_Request):
    name: str = Field(description="`label` or `scores`.")
    parameters: Parameters | None = Field(
        None,
        description="`binary_data` (bool): the output in the binary part of the answer; "
        "`classification` (int k, on `scores`): the k best as BYTES `score:index:label`.",
    )


class V2InferRequest(_Request):
    id: str | None = Field(None, description="Echoed in the answer.")
    parameters: Parameters | None = Field(
        None, description="`binary_data_output` (bool): every output in the binary part."
    )
    inputs: list[V2InputTensor] = Field(min_length=1)
    outputs: list[V2RequestedOutput] | None = Field(
        None, description="The outputs to answer; both if omitted."
    )


class V2OutputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: Parameters | None = None
    outputs: list[V2OutputTensor]


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]
    labels: list[str] = Field(
        description="attentext's addition: the label of each column of `scores`."
    )


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2ModelReady(BaseModel):
    name: str
    ready: bool


class V2Error(BaseModel):
    error: str
