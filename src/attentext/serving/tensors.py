"""Triton's binary tensor data extension of the Open Inference Protocol, which tritonclient
uses by default: a body is the JSON request followed by raw tensor bytes, its header
`Inference-Header-Content-Length` giving the JSON part's length, and each tensor in the binary
part says its size in `parameters.binary_data_size`. A BYTES tensor there is its elements one
after another, each a 4-byte little-endian length and then its bytes.

`BinaryTensorRoute` splits such a body before FastAPI reads it, so the route's JSON body is
validated (and documented in the OpenAPI schema) like any other; the binary part waits in the
request's scope (`binary_part`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response

from attentext.serving.errors import ApiError, echo
from attentext.serving.json_body import JsonRoute

HEADER = "Inference-Header-Content-Length"
BINARY_KEY = "attentext.binary_part"
_LENGTH = struct.Struct("<I")


def split_body(declared: str | None, body: bytes) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a body; without the header all of it is JSON."""
    if declared is None:
        return body, b""
    if not declared.isdigit() or int(declared) > len(body):
        raise ApiError(
            400,
            "bad_request",
            f"{HEADER}: {echo(declared)} is not the byte count of the body's JSON part "
            f"(0 to {len(body):,})",
        )
    return body[: int(declared)], body[int(declared) :]


def decode_bytes_tensor(raw: bytes, limit: int) -> list[bytes]:
    """The elements of a BYTES tensor in the binary layout; ValueError if it is cut short or
    holds more than `limit` elements (the server's texts per request: no need to read on)."""
    items, offset = [], 0
    while offset < len(raw):
        if offset + _LENGTH.size > len(raw):
            raise ValueError(f"element {len(items)} has no complete 4-byte length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + size > len(raw):
            raise ValueError(f"element {len(items)} says {size:,} bytes; fewer are left")
        items.append(raw[offset : offset + size])
        offset += size
        if len(items) > limit:
            raise ValueError(f"more than {limit} elements")
    return items


def encode_bytes_tensor(items: list[str]) -> bytes:
    """Texts in the BYTES binary layout."""
    encoded = [item.encode("utf-8") for item in items]
    return b"".join(_LENGTH.pack(len(item)) + item for item in encoded)


def _json_headers(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """The request's headers for its JSON part: JSON content, its length."""
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
    return [*kept, (b"content-type", b"application/json"), (b"content-length", b"%d" % length)]


def _one_value(request: Request) -> str | None:
    """The request's HEADER; two different values are a 400. (The first was used, where a
    proxy or a filter before the server may take the last, and so read another JSON part.)"""
    values = request.headers.getlist(HEADER)
    if len(set(values)) > 1:
        raise ApiError(
            400,
            "bad_request",
            f"{HEADER} is given twice ({echo(', '.join(values))}); send it once, the byte count "
            "of the body's JSON part",
        )
    return values[0] if values else None


class BinaryTensorRoute(JsonRoute):
    """A JsonRoute whose POST bodies may carry binary tensor data after the JSON.

    The body is always read as JSON (tritonclient sends no Content-Type), the binary part, if
    any, is put in the scope under BINARY_KEY for the route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def split_then_handle(request: Request) -> Response:
            if request.method != "POST":
                return await handler(request)
            json_part, binary = split_body(_one_value(request), await request.body())
            scope = {
                **request.scope,
                "headers": _json_headers(request.scope["headers"], len(json_part)),
                BINARY_KEY: binary,
            }

            replayed = False

            async def receive() -> dict[str, Any]:
                nonlocal replayed
                if replayed:  # the body was read already: what comes next is the disconnect
                    return await request.receive()
                replayed = True
                return {"type": "http.request", "body": json_part, "more_body": False}

            return await handler(Request(scope, receive))

        return split_then_handle
