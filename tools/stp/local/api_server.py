"""The local API gateway over HTTP on 127.0.0.1, in a daemon thread (what `stp api` serves),
with the user pool's token endpoint at ``/oauth2/token`` beside it (on AWS the pool's own
domain serves it; the API has no such path, so one server serves both locally)."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from stp.local.api_gateway import HttpRequest, LocalApiGateway
from stp.local.token_endpoint import TOKEN_PATH, TokenEndpoint

_LOG = logging.getLogger(__name__)


class ApiServer:
    """Serves ``gateway`` on ``host:port`` (port 0: any free port), and ``token_endpoint``
    (when given) at ``/oauth2/token``.

    >>> with ApiServer(gateway) as server:  # doctest: +SKIP
    ...     urllib.request.urlopen(f"{server.url}/health")
    """

    def __init__(
        self,
        gateway: LocalApiGateway,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        listening: socket.socket | None = None,
        token_endpoint: TokenEndpoint | None = None,
    ) -> None:
        """``listening``: a socket already bound and listening (then host and port are its)."""
        self.gateway = gateway
        if listening is None:
            self._server = _Server((host, port), _GatewayHandler)
        else:
            self._server = _Server(listening.getsockname()[:2], _GatewayHandler, False)
            self._server.socket.close()
            self._server.socket = listening
            self._server.server_address = listening.getsockname()
        self._server.daemon_threads = True
        self._server.gateway = gateway  # type: ignore[attr-defined]
        self._server.token_endpoint = token_endpoint  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stp-local-api", daemon=True
        )

    @property
    def token_url(self) -> str:
        """Where the token endpoint answers (``TOKEN_URL``: the API stack's output on AWS)."""
        return f"{self.url}{TOKEN_PATH}"

    @property
    def url(self) -> str:
        """Base URL of the stage (routes hang off it, as under `sam local start-api`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 resets bursts of concurrent clients.
    request_queue_size = 128


class _GatewayHandler(BaseHTTPRequestHandler):
    """Every method of every path goes to the gateway."""

    server_version = "stp-local-api"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        gateway: LocalApiGateway = self.server.gateway  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = HttpRequest(
            method=self.command,
            path=url.path or "/",
            query=url.query,
            headers=tuple(self.headers.items()),
            body=body,
            source_ip=str(self.client_address[0]),
        )
        token_endpoint: TokenEndpoint | None = self.server.token_endpoint  # type: ignore[attr-defined]
        if token_endpoint is not None and request.path == TOKEN_PATH:
            response = token_endpoint.handle(request)
        else:
            response = gateway.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches method M to ``do_M``; every method, TRACE included, goes to
        # the gateway, which answers methods the API lacks as API Gateway does.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.info("api: " + format, *args)
