"""One local AWS endpoint over HTTP for the whole emulation (what `stp up` serves).

Every AWS client that takes an endpoint URL (the AWS CLI, boto3, the SDKs, Terraform) talks to
it: requests are told apart as AWS's own front door does, by the service their signature
names. Lambda's Invoke runs the deployed handler in this process (`stp.local.lambda_server`);
everything else is moto's server, over the same state the in-process runtime uses, so an
object put through the endpoint starts the workflow through the deployed rule. The
runtime's own pages live under ``/_stp/`` (no bucket name can start with ``_``):
``/_stp/health`` and whatever `Pages` the host adds.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from stp.local.lambda_server import answer_invoke, is_invoke

SERVICES = (
    "s3",
    "dynamodb",
    "stepfunctions",
    "sns",
    "sqs",
    "lambda",
    "cloudformation",
    "logs",
    "events",
)
"""The services `stp up` stands for (moto serves more; these are the ones the platform uses)."""
PAGES_PREFIX = "/_stp/"
HEALTH_PATH = "/_stp/health"
# moto's own control plane (reset, seed, dashboard) is not AWS: a stray reset would wipe
# the user's state, so the endpoint does not serve it.
_MOTO_API = "/moto-api"

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class PageAnswer:
    """An answer of one of the runtime's own pages."""

    status: int
    content_type: str
    body: bytes


Pages = Callable[[str, str], PageAnswer | None]
"""``pages(path, query)``: the answer for a ``/_stp/...`` path, or None when unknown."""


class AwsEndpoint:
    """Serves the emulation on an already listening socket, in background threads.

    >>> endpoint = AwsEndpoint(listening, account_id=ACCOUNT, region=REGION)
    >>> with endpoint:  # doctest: +SKIP
    ...     boto3.client("s3", endpoint_url=endpoint.url).list_buckets()
    """

    def __init__(
        self,
        listening: socket.socket,
        *,
        account_id: str,
        region: str,
        function_environment: Mapping[str, str] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        pages: Pages | None = None,
        public_url: str | None = None,
    ) -> None:
        app = _EndpointApp(
            account_id=account_id,
            region=region,
            function_environment=dict(function_environment or {}),
            health=health or (lambda: {}),
            pages=pages,
        )
        host, port = listening.getsockname()[:2]
        self._server = make_server(
            str(host),
            int(port),
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=listening.fileno(),
        )
        # werkzeug serves a duplicate of the descriptor; this one is no longer needed.
        listening.close()
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.url = public_url or f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stp-up-endpoint", daemon=True
        )

    def start(self) -> AwsEndpoint:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> AwsEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _EndpointApp:
    """The WSGI application: the runtime's pages, Lambda's Invoke, then moto."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        function_environment: dict[str, str],
        health: Callable[[], dict[str, Any]],
        pages: Pages | None,
    ) -> None:
        self._account_id = account_id
        self._region = region
        self._environment = function_environment
        self._health = health
        self._pages = pages
        self._started = time.monotonic()
        self._moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET"))
        if path.startswith(PAGES_PREFIX):
            return self._page(path, str(environ.get("QUERY_STRING", "")), start_response)
        if path.startswith(_MOTO_API):
            return _reply(start_response, 404, "application/json", b'{"message": "Not Found"}')
        if is_invoke(method, path):
            return self._invoke(environ, path, start_response)
        response: Iterable[bytes] = self._moto(environ, start_response)
        return response

    def _page(self, path: str, query: str, start_response: StartResponse) -> Iterable[bytes]:
        if path == HEALTH_PATH:
            body = {
                "status": "running",
                "services": list(SERVICES),
                "uptime_seconds": round(time.monotonic() - self._started, 1),
                **self._health(),
            }
            return _reply(start_response, 200, "application/json", json.dumps(body).encode())
        answer = self._pages(path, query) if self._pages else None
        if answer is None:
            return _reply(start_response, 404, "text/plain; charset=utf-8", b"no such page\n")
        return _reply(start_response, answer.status, answer.content_type, answer.body)

    def _invoke(
        self, environ: dict[str, Any], path: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        status, answer_headers, payload = answer_invoke(
            path,
            str(environ.get("QUERY_STRING", "")),
            headers,
            body,
            account_id=self._account_id,
            region=self._region,
            environment=self._environment,
        )
        return _reply(start_response, status, "application/json", payload, answer_headers)


def _reply(
    start_response: StartResponse,
    status: int,
    content_type: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> list[bytes]:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(headers or {}).items(),
        ],
    )
    return [body]


def url_of(listening_address: tuple[Any, ...], host: str) -> str:
    """The URL clients use for a socket bound to ``host`` (a wildcard address: this
    machine's name, since clients elsewhere cannot use the wildcard)."""
    port = listening_address[1]
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def request_log_level(verbose: bool) -> None:
    """Show each request the endpoint serves (``--verbose``), or only warnings."""
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)


__all__ = [
    "HEALTH_PATH",
    "SERVICES",
    "AwsEndpoint",
    "PageAnswer",
    "Pages",
    "request_log_level",
    "url_of",
]
