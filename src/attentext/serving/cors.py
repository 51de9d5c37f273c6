"""Cross-origin requests (CORS), opt-in: `attentext serve --cors-allow-origin ORIGIN`.

Without it a browser lets only the server's own pages (the try-it page) call it, and a
preflight `OPTIONS` is a 405. With it Starlette's CORSMiddleware answers the preflights of the
origins given (or of any, `*`, as text-embeddings-inference's `--cors-allow-origin`) and adds
`Access-Control-Allow-Origin` to every answer, the server's errors included, so that a page can
read why it was refused. What a page may send: GET, HEAD and POST, with the headers the
protocols use (JSON, a compressed body, Triton's binary tensors); what it may read beside the
body: Retry-After and Triton's header of the JSON part's length.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from attentext.serving.errors import error_response
from attentext.serving.tensors import HEADER

METHODS = ("GET", "HEAD", "POST")
REQUEST_HEADERS = ("Content-Type", "Content-Encoding", HEADER)
EXPOSED_HEADERS = ("Retry-After", HEADER)
PREFLIGHT_CACHE_S = 600  # how long a browser may reuse a preflight's answer


class Cors(CORSMiddleware):
    """Starlette's CORSMiddleware for `origins`, its refused preflight (a text/plain
    "Disallowed CORS origin") answered as every other error of the server: JSON, same status."""

    def __init__(self, app, origins: tuple[str, ...]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_CACHE_S,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = response.body.decode().removeprefix("Disallowed CORS ")
        asked = {
            "origin": f"the origin {request_headers['origin'][:100]!r}",
            "method": f"the method {request_headers['access-control-request-method'][:20]!r}",
            "headers": "a header in Access-Control-Request-Headers",
        }
        what = ", ".join(asked.get(part, part) for part in refused.split(", "))
        cors = {k: v for k, v in response.headers.items() if k.startswith("access-control-")}
        return error_response(
            response.status_code,
            "cors_refused",
            f"this server does not allow {what} from a browser page; allowed: origins given "
            f"to --cors-allow-origin, methods {', '.join(METHODS)}, headers "
            f"{', '.join(REQUEST_HEADERS)}",
            {**cors, "Vary": response.headers.get("vary", "Origin")},
        )
