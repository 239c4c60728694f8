"""Injected AWS faults: make the next N requests of one operation fail as AWS would.

A botocore ``before-send`` hook (like the request counter) answers matching requests with the
error response the service sends — so the code under test takes its real error path: botocore's
own retries, the adapters' mapping to platform errors, the state machine's Retry and Catch.
Only requests of handlers and user commands are affected, never the emulation's own.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.handlers import BUILTIN_HANDLERS

from stp.local.request_counter import emulation_request

UNSERVED_URL = "https://fault-injected.invalid/"


@dataclass
class _Fault:
    service: str
    operation: str
    code: str
    status: int
    remaining: int


class _RawBody:
    """The minimal raw-response object botocore reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class FaultInjector:
    """Thread-safe list of planned faults, consumed request by request."""

    def __init__(self) -> None:
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.injected = 0

    def add(self, service: str, operation: str, code: str, *, times: int, status: int) -> None:
        """Fail the next ``times`` requests of ``service``/``operation`` with ``code``."""
        with self._lock:
            self._faults.append(_Fault(service, operation, code, status, times))

    def clear(self) -> None:
        """Forget every planned fault."""
        with self._lock:
            self._faults.clear()
            self.injected = 0

    def __call__(self, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        """botocore ``before-send`` handler: an error response, or None to proceed."""
        if not self._faults or emulation_request(request):
            return None
        _, service, operation = [*event_name.split(".", 2), "", ""][:3]
        with self._lock:
            for fault in self._faults:
                if fault.remaining and (fault.service, fault.operation) == (service, operation):
                    fault.remaining -= 1
                    self.injected += 1
                    response = _error_response(request, fault)
                    # Every before-send handler runs; an address moto does not serve keeps the
                    # emulator from also carrying the request out.
                    request.url = UNSERVED_URL
                    return response
        return None


def _error_response(request: Any, fault: _Fault) -> AWSResponse:
    """An error response in the service's protocol (JSON for DynamoDB, XML for S3 and SNS)."""
    message = f"injected fault: {fault.code}"
    if fault.service in {"dynamodb", "sfn", "lambda"}:
        body = json.dumps({"__type": fault.code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": fault.code}
    else:
        body = (f"<Error><Code>{fault.code}</Code><Message>{message}</Message></Error>").encode()
        headers = {"Content-Type": "application/xml"}
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(request.url, fault.status, http_headers, _RawBody(body))


# One process-wide injector, registered like the request counter.
FAULTS = FaultInjector()
if not any(spec[1] is FAULTS for spec in BUILTIN_HANDLERS):
    BUILTIN_HANDLERS.insert(0, ("before-send", FAULTS))
