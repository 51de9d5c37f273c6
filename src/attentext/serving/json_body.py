"""Request bodies parsed as JSON with each key of an object at most once.

`json.loads` keeps the last of two equal keys: `{"texts": ["a"], "texts": ["b", "c"]}` classified
two texts, and `{"inputs": "a", "inputs": ["b", "c"]}` two on the Hugging Face route, without a
word. What another reader of the same body takes (a proxy or a filter in front of the server
that keeps the first, as many do) is then not what the model was given; text-embeddings-inference
(serde) refuses such a body. A repeated key is a 400 `invalid_json` naming it, in the protocol's
shape, as any other body that is not JSON (`errors.validation_message`).

`JsonRoute` is the route class of every router that reads a body: its handler gets a
`JsonRequest`, whose `json()` FastAPI calls to parse the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from attentext.errors import shown


class RepeatedKey(ValueError):
    """An object of the body names a key twice."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`' object_pairs_hook: the object, or RepeatedKey naming the first key seen
    twice."""
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(f"the key '{shown(key, 60)}' appears twice in one object")
            seen.add(key)
    return found


def loads(body: bytes) -> Any:
    """The body parsed as JSON; json.JSONDecodeError where an object repeats a key (FastAPI
    answers that error as a body that is not JSON, with its message)."""
    try:
        return json.loads(body, object_pairs_hook=unique_keys)
    except RepeatedKey as error:
        raise json.JSONDecodeError(str(error), body.decode("utf-8", "replace"), 0) from None


class JsonRequest(Request):
    """A request whose JSON body is parsed by `loads` (each key of an object once)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """An APIRoute whose handler reads the body as a `JsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_strictly(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return parse_strictly
