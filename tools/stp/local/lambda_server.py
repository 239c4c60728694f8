"""A local Lambda Invoke API (the one `sam local start-lambda` serves) in a daemon thread.

Step Functions' Lambda tasks, ``boto3.client("lambda").invoke`` in handlers and `stp invoke`
reach it through ``AWS_ENDPOINT_URL_LAMBDA``. It answers like Lambda: 200 with the handler's
result; 200 with ``X-Amz-Function-Error: Unhandled`` and the error document when the handler
raised; 202 for ``Event`` invocations (run in the background); 404 for an unknown function.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from moto.awslambda.models import LambdaFunction

from stp.local.lambda_runtime import (
    FunctionNotFoundError,
    HandlerUnavailableError,
    find_function,
    run_handler,
)

INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
_LOG = logging.getLogger(__name__)


class InvokeServer:
    """The Invoke API on 127.0.0.1 and an ephemeral port, for one account and region.

    >>> with InvokeServer("123456789012", "us-east-1") as server:  # doctest: +SKIP
    ...     os.environ["AWS_ENDPOINT_URL_LAMBDA"] = server.endpoint
    """

    def __init__(
        self, account_id: str, region: str, environment: Mapping[str, str] | None = None
    ) -> None:
        self.account_id = account_id
        self.region = region
        # Variables every function runs with, beside its own (e.g. `stp up`'s S3 endpoint).
        self.environment = dict(environment or {})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _InvokeHandler)
        self._server.daemon_threads = True
        self._server.invoke_server = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stp-local-lambda", daemon=True
        )

    @property
    def endpoint(self) -> str:
        """The base URL clients use as their Lambda endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InvokeServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> InvokeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def is_invoke(method: str, path: str) -> bool:
    """True for a request of the Invoke API (``POST .../functions/{name}/invocations``)."""
    return (
        method == "POST" and path.startswith(INVOKE_PATH_PREFIX) and path.endswith("/invocations")
    )


def answer_invoke(
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    account_id: str,
    region: str,
    environment: Mapping[str, str],
) -> tuple[int, dict[str, str], bytes]:
    """Lambda's answer to one Invoke request: status, headers and body."""
    # Clients URL-encode the name, which may be a full ARN with colons.
    name = unquote(path[len(INVOKE_PATH_PREFIX) : -len("/invocations")])
    qualifier = parse_qs(query).get("Qualifier", [None])[0]
    if qualifier and not name.startswith("arn:"):
        name = f"{name}:{qualifier}"
    try:
        function = find_function(name, account_id, region)
    except FunctionNotFoundError as error:
        return _error(404, "ResourceNotFoundException", str(error))
    try:
        event = json.loads(body) if body.strip() else {}
    except ValueError:
        return _error(400, "InvalidRequestContentException", "Could not parse payload")
    invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return 204, {}, b""
    if invocation_type == "Event":
        threading.Thread(
            target=_run_quietly, args=(function, event, region, environment), daemon=True
        ).start()
        return 202, {}, b""
    try:
        outcome = run_handler(function, event, region, environment)
    except TimeoutError as error:
        return _error(429, "TooManyRequestsException", str(error))
    except (HandlerUnavailableError, ImportError, AttributeError) as error:
        # The runtime cannot even load the handler: Lambda's Runtime.ImportModuleError.
        message = f"Unable to import module '{function.handler}': {error}"
        document = {"errorType": "Runtime.ImportModuleError", "errorMessage": message}
        return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(document).encode()
    answer_headers = {"X-Amz-Executed-Version": str(function.version)}
    if outcome.error is not None:
        answer_headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, answer_headers, json.dumps(outcome.error).encode()
    try:
        payload = json.dumps(outcome.payload).encode()
    except (TypeError, ValueError) as error:
        document = {"errorType": "Runtime.MarshalError", "errorMessage": str(error)}
        answer_headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, answer_headers, json.dumps(document).encode()
    return 200, answer_headers, payload


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return status, {"X-Amzn-ErrorType": code}, body


class _InvokeHandler(BaseHTTPRequestHandler):
    """``POST /2015-03-31/functions/{name}/invocations``."""

    server_version = "stp-local-lambda"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        owner: InvokeServer = self.server.invoke_server  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not is_invoke("POST", url.path):
            self._reply(*_error(404, "UnknownOperationException", f"no such operation: {url.path}"))
            return
        self._reply(
            *answer_invoke(
                url.path,
                url.query,
                {name: value for name, value in self.headers.items()},
                body,
                account_id=owner.account_id,
                region=owner.region,
                environment=owner.environment,
            )
        )

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Amzn-RequestId", self.headers.get("amz-sdk-invocation-id", ""))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("invoke server: " + format, *args)


def _run_quietly(
    function: LambdaFunction, event: Any, region: str, environment: Mapping[str, str]
) -> None:
    """An ``Event`` invocation: its outcome goes to the log, as it would to CloudWatch."""
    try:
        outcome = run_handler(function, event, region, environment)
    except Exception:
        _LOG.exception("asynchronous invocation of %s failed", function.function_name)
        return
    if outcome.error is not None:
        _LOG.warning("asynchronous invocation of %s: %s", function.function_name, outcome.error)
