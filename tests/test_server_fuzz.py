"""Fuzzing the HTTP service from its own OpenAPI schema: no input gives a 5xx.

schemathesis reads /openapi.json of an app serving two real runs (the seed transformer and the
TF-IDF baseline) and calls each operation in-process (ASGI) with requests generated from the
schema: valid ones (positive) and, for the operations that take a body, invalid ones (negative).
Every answer must be under 500; the 4xx bodies are checked elsewhere (`test_serving.py`,
`test_bad_inputs.py`, `test_protocols.py`). A random model name (or version) is a 404: for the
operations that name a model in their path, half the cases name a served one (and its version
1), so that the bodies reach the model. The example budget keeps the file around a minute.

The cases come from `operation.as_strategy()` under hypothesis' own `@given`: schemathesis'
`from_fixture` loader does not run under pytest 9 (it sets `node._nodeid`, which pytest removed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

import attentext
from attentext.serving import create_app

MAX_EXAMPLES = 100  # per operation and mode
OPERATIONS = [
    ("POST", "/v1/predict"),
    ("POST", "/v1/explain"),
    ("GET", "/v1/models"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # the protocols beside /v1: Hugging Face inference, TEI, Open Inference Protocol v2
    ("POST", "/models/{name}"),
    ("POST", "/"),
    ("POST", "/predict"),
    ("GET", "/health"),
    ("GET", "/info"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
]
CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE) for method, path in OPERATIONS if method == "POST"
]


@pytest.fixture(scope="module")
def api_schema(run_dir, ag_news_dir, tmp_path_factory):
    tfidf = attentext.train("tfidf-logreg", ag_news_dir, tmp_path_factory.mktemp("fuzz") / "tfidf")
    app = create_app([run_dir, Path(tfidf.run_dir)])  # the server's default limits
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def naming_a_served_model(case: schemathesis.Case) -> schemathesis.Case:
    """The case naming a served model (and, in a versioned path, its version 1)."""
    served = {"name": "seed"} | ({"version": "1"} if "{version}" in case.path else {})
    case.path_parameters = {**(case.path_parameters or {}), **served}
    return case


def with_texts(case: schemathesis.Case, texts: list[str]) -> schemathesis.Case:
    """A v2 case whose one input is a BYTES tensor of `texts` (random data of the schema's
    `list[Any]` is almost never one), its outputs and parameters as generated."""
    body = dict(case.body) if isinstance(case.body, dict) else {}
    body["inputs"] = [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]
    case.body = body
    return naming_a_served_model(case)


def test_every_operation_of_the_schema_is_fuzzed(api_schema):
    found = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    CASES,
    ids=[f"{method} {path}-{mode}" for method, path, mode in CASES],
)
def test_no_request_gives_a_server_error(api_schema, method, path, mode):
    operation = api_schema[path][method]
    statuses: Counter[int] = Counter()
    cases = operation.as_strategy(generation_mode=mode)
    if "{name}" in path:
        cases = st.one_of(cases, cases.map(naming_a_served_model))
    if path.endswith("/infer") and mode == GenerationMode.POSITIVE:
        texts = st.lists(st.text(max_size=50), min_size=1, max_size=5)
        cases = st.one_of(cases, st.builds(with_texts, cases, texts))

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure here is a bug, not bad luck
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        statuses[response.status_code] += 1

    fuzz()
    print(f"{method} {path} {mode}: {sum(statuses.values())} calls, statuses {dict(statuses)}")
    assert statuses and max(statuses) < 500
