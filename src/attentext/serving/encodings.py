"""Request bodies sent compressed (`Content-Encoding: gzip` or `deflate`), decoded before the app
reads them, within the server's body limit.

tritonclient sends its inference requests so when asked (`request_compression_algorithm="gzip"`
or `"deflate"`), as do clients and proxies that compress uploads: the compressed bytes were read
as JSON and answered "not valid JSON (not UTF-8 from byte 1)", and a v2 request with binary
tensors "Inference-Header-Content-Length ... is not the byte count of the body's JSON part" (the
header counts the JSON before compression). A body is inflated at most to the body limit, so a
small compressed body cannot fill memory (a 1 MB gzip body of zeros holds 1 GB).
"""

from __future__ import annotations

import zlib

from attentext.errors import shown

# zlib's window bits for each coding: gzip's header and trailer, or zlib's (HTTP's "deflate");
# some clients send a raw deflate stream for "deflate", tried after the zlib one.
WINDOW_BITS = {
    "gzip": (16 + zlib.MAX_WBITS,),
    "x-gzip": (16 + zlib.MAX_WBITS,),
    "deflate": (zlib.MAX_WBITS, -zlib.MAX_WBITS),
}
ACCEPTED = "gzip, deflate"  # the Accept-Encoding a 415 answers with


class EncodingError(Exception):
    """A compressed body the server cannot take: status (400, 413, 415), error type, message."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def codings(header: bytes | None) -> list[str]:
    """The content codings of a Content-Encoding header, in the order they were applied
    (`identity`, which changes nothing, left out)."""
    if not header:
        return []
    names = [name.strip().lower() for name in header.decode("latin-1").split(",")]
    return [name for name in names if name and name != "identity"]


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """`data` inflated (every member of a gzip stream, as `gzip.decompress` reads them);
    EncodingError 413 past `limit` bytes, zlib.error or ValueError where it is damaged."""
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise EncodingError(
                413,
                "body_too_large",
                f"the request body is over {limit:,} bytes once decompressed; this server "
                f"accepts at most {limit:,} bytes",
            )
        if not inflater.eof:
            raise ValueError("the compressed data ends early")
        data = inflater.unused_data
        if not data:
            return bytes(out)
        if wbits <= zlib.MAX_WBITS:  # a zlib or raw stream has one member: the rest is garbage
            raise ValueError("data follows the end of the compressed stream")


def _decoded_once(body: bytes, coding: str, limit: int) -> bytes:
    """`body` with one content coding undone."""
    if coding not in WINDOW_BITS:
        raise EncodingError(
            415,
            "unsupported_media_type",
            f"Content-Encoding '{shown(coding, 40)}' is not supported; send the body as it is, or "
            f"compressed with {ACCEPTED}",
        )
    reason = ""
    for wbits in WINDOW_BITS[coding]:
        try:
            return _inflate(body, wbits, limit)
        except (zlib.error, ValueError) as error:
            reason = reason or str(error)
    raise EncodingError(
        400,
        "bad_request",
        f"the request body is not valid {coding} data ({reason}) though Content-Encoding says "
        "so; send it compressed whole, or without the header",
    )


def decoded(body: bytes, header: bytes | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone (the last coding applied first), at most
    `limit` bytes; an empty body stays empty."""
    for coding in reversed(codings(header)):
        if body:
            body = _decoded_once(body, coding, limit)
    return body
