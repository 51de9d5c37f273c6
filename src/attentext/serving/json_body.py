"""Request bodies parsed as JSON with each key of an object at most once.

`json.loads` keeps the last of two equal keys: `{"texts": ["a"], "texts": ["b", "c"]}` classified
two texts, and `{"inputs": "a", "inputs": ["b", "c"]}` two on the Hugging Face route, without a
word. What another reader of the same body takes (a proxy or a filter in front of the server
that keeps the first, as many do) is then not what the model was given; text-embeddings-inference
(serde) refuses such a body. A repeated key is a 400 `invalid_json` naming it, in the protocol's
shape, as any other body that is not JSON (`errors.validation_message`); so are NaN and Infinity
and a body in UTF-16 or UTF-32, which `json.loads` reads and JSON (RFC 8259) is not.

A body is parsed with Python's cyclic garbage collector held off (`collection_paused`): every
array or object parsed is a new container, and their count starts collections that go over all
of them again, so 1 MB of `[[],[],...]` held the event loop 0.6 s (0.04 s without them). JSON
makes no reference cycles, so there is nothing for the collector to find in a parse.

`JsonRoute` is the route class of every router that reads a body: its handler gets a
`JsonRequest`, whose `json()` FastAPI calls to parse the body.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from attentext.data.json_keys import first_repeated_key
from attentext.errors import shown
from attentext.serving.errors import TEI, protocol_of


class NotJson(ValueError):
    """What Python's json module reads but JSON (RFC 8259) is not."""


class RepeatedKey(NotJson):
    """An object of the body names a key twice."""


# The encodings `json.detect_encoding` tells apart that are UTF-8 (a byte order mark is ignored,
# as RFC 8259 lets a parser do).
UTF8 = ("utf-8", "utf-8-sig")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`' object_pairs_hook: the object, or RepeatedKey naming the first key seen
    twice (the check the data readers share, `data.json_keys`)."""
    key = first_repeated_key(pairs)
    if key is not None:
        raise RepeatedKey(f"the key '{shown(key, 60)}' appears twice in one object")
    return dict(pairs)


def not_a_json_constant(name: str) -> Any:
    """`json.loads`' parse_constant: NaN, Infinity and -Infinity are Python's extensions.
    Taken, a v2 parameter or an HF option of NaN was answered 200, where TEI's serde and any
    strict reader before the server refuse the body."""
    raise NotJson(f"{name} is no JSON value: JSON has no NaN or infinity")


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the block runs (and on again after, where it
    was on): for a parse, which makes many containers and no cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def loads(body: bytes) -> Any:
    """The body parsed as JSON (RFC 8259): UTF-8, each key of an object once, no NaN or
    Infinity. Anything else is a json.JSONDecodeError, which FastAPI answers as a body that is
    not JSON, with its message. `json.loads` read a UTF-16 or UTF-32 body too, which a proxy or
    filter reading the body as JSON (UTF-8) sees as other bytes than the model gets."""
    encoding = json.detect_encoding(body)
    if encoding not in UTF8:
        raise json.JSONDecodeError(
            f"{encoding.upper()}, not UTF-8; send it encoded as UTF-8", "", 0
        )
    try:
        with collection_paused():
            return json.loads(
                body, object_pairs_hook=unique_keys, parse_constant=not_a_json_constant
            )
    except NotJson as error:
        raise json.JSONDecodeError(str(error), body.decode("utf-8", "replace"), 0) from None


# The values (array items, object members) a body of `max_texts` texts needs, at most: TEI's
# batch [[text], ...] takes 2 a text; v2's shape, outputs and parameters, HF's options, a few.
VALUES_PER_TEXT = 4
VALUES_BESIDE = 64


class TooManyValues(HTTPException):
    """A body holding more values than any request the server takes (an HTTPException: FastAPI
    passes it on from reading the body, where it answers any other error as a 400)."""

    error_type = "too_many_texts"


def values_over(value: Any, budget: int) -> int:
    """How many values `value`'s arrays and objects hold, counted until past `budget` (so a
    huge array costs one step)."""
    count, stack = 0, [value]
    while stack and count <= budget:
        item = stack.pop()
        if isinstance(item, list):
            count += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
    return count


def check_values(value: Any, max_texts: int, path: str) -> None:
    """Refuse a body of more values than a request of `max_texts` texts holds, before pydantic
    reads it: pydantic makes an error per value of a wrong type (or unknown key), then FastAPI
    one more: 900 KB of `{"texts": [0,0,...]}` held the event loop 5.5 s for its 422 (any route;
    a few such requests a second stopped every other answer, /healthz too). 413 on TEI's
    route, as TEI answers a batch too large; 422 elsewhere, as too many texts."""
    budget = VALUES_PER_TEXT * max_texts + VALUES_BESIDE
    if values_over(value, budget) > budget:
        raise TooManyValues(
            413 if protocol_of(path) == TEI else 422,
            f"the request body holds more than {budget:,} values (array items and object "
            f"members); this server takes at most {max_texts} texts per request: split them "
            "over several requests",
        )


class JsonRequest(Request):
    """A request whose JSON body is parsed by `loads` (each key of an object once), and holds
    no more values than the server's requests take (`check_values`)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = loads(await self.body())
            settings = getattr(getattr(self.app.state, "service", None), "settings", None)
            if settings is not None:
                check_values(value, settings.max_texts, self.url.path)
            self._json = value
        return self._json


class JsonRoute(APIRoute):
    """An APIRoute whose handler reads the body as a `JsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_strictly(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return parse_strictly
