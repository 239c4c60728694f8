"""Counts AWS requests per service and operation, through a botocore event hook.

The hook is a built-in handler of every botocore session created after this module is
imported, and it runs before moto's stubber answers, so it sees each HTTP attempt (what AWS
bills) with its signature. Requests signed with the emulation's own credentials are not
counted: moto's Step Functions interpreter signs its service calls with the access key
``ak``, and the local runtime's bookkeeping (deploy, routing, watching) uses
`INTERNAL_ACCESS_KEY`. What remains is what handlers and the user's commands ask of AWS.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS, REGISTER_FIRST

INTERNAL_ACCESS_KEY = "stp-local-internal"
# The access key moto.stepfunctions.parser.asl.utils.boto_client signs task requests with.
STEP_FUNCTIONS_ACCESS_KEY = "ak"
_UNCOUNTED_KEYS = frozenset({INTERNAL_ACCESS_KEY, STEP_FUNCTIONS_ACCESS_KEY})
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class RequestCounter:
    """A thread-safe Counter of (service, operation) -> requests, fed by botocore."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self.enabled = False

    def snapshot(self) -> Counter[tuple[str, str]]:
        """A copy of the counts so far."""
        with self._lock:
            return Counter(self._counts)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()

    def __call__(self, event_name: str, request: Any, **kwargs: Any) -> None:
        """botocore ``before-send.<service>.<Operation>`` handler; returns None so the request
        proceeds to the next handler (moto's stubber, or the network)."""
        if not self.enabled:
            return
        if emulation_request(request):
            return
        # before-send.<service id>.<Operation>
        _, service, operation = [*event_name.split(".", 2), "", ""][:3]
        with self._lock:
            self._counts[(service, operation)] += 1


def emulation_request(request: Any) -> bool:
    """True for a request of the emulation itself (moto's interpreter, the runtime's
    bookkeeping), false for one a handler or a user command made."""
    return _access_key(request) in _UNCOUNTED_KEYS


def _access_key(request: Any) -> str | None:
    """The access key id a signed request names in its Authorization header."""
    authorization = request.headers.get("Authorization", "")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("utf-8", "replace")
    match = _CREDENTIAL.search(str(authorization))
    return match.group(1) if match else None


# One process-wide counter: botocore's built-in handlers are process-wide too.
REQUEST_COUNTER = RequestCounter()
if not any(spec[1] is REQUEST_COUNTER for spec in BUILTIN_HANDLERS):
    BUILTIN_HANDLERS.append(("before-send", REQUEST_COUNTER, REGISTER_FIRST))
