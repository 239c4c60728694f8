"""The API as the benchmarks call it over HTTP: with the API key and a trader's access token,
as a client of the deployed API does (every route but ``/health`` needs both)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stp.local import Deployment, LocalCloud
from stp.local.api_server import ApiServer
from stp.local.traders import add_trader

# What `stp api` prints for the shell: the access token of the user it created.
TOKEN_LINE = re.compile(r"export STP_TOKEN=(\S+)")


@dataclass(frozen=True)
class ApiClient:
    """Where the API is served, its API key and a trader's access token."""

    url: str
    key: str
    token: str | None = None
    # Seconds to wait for an answer: a long run slows moto's tables, and with them the server.
    timeout: float = 60

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``method path`` (a JSON ``body`` if any): the status and the decoded JSON body."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("x-api-key", self.key)
        request.add_header("Content-Type", "application/json")
        if self.token is not None:
            request.add_header("Authorization", self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@contextmanager
def served_api(
    cloud: LocalCloud, deployment: Deployment, key: str, account: str = "bench"
) -> Iterator[ApiClient]:
    """The deployment's API served on loopback (no throttle), and a client signed in as the
    owner of ``account`` (registered for it)."""
    gateway = cloud.api_gateway(deployment, api_keys=[key], throttle=False)
    trader = add_trader(cloud, deployment, account, "bencher")
    with ApiServer(gateway) as server:
        yield ApiClient(server.url, key, trader.token)
