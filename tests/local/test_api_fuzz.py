"""Property-based fuzzing of the API with schemathesis, against the committed ``openapi.json``,
over HTTP on the local server (`stp api`'s gateway, the deployed API function behind it).

Every operation gets generated requests, valid and invalid, authenticated as a trader of one
account holding every scope (read, trade, admin), so each route is reached; no response may
be a 5xx, and every response must match the contract: a documented status code, content type
and schema.
Bounded in examples per operation and derandomized under CI, like the rest of the suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stp.local import LocalCloud
from stp.local.api_server import ApiServer
from stp.local.traders import add_trader
from trading.service.access import SCOPE_READ, SCOPES

ROOT = Path(__file__).resolve().parents[2]
KEY = "fuzz-test-key-0123456789"
EXAMPLES = int(os.environ.get("STP_FUZZ_EXAMPLES", "30"))

schema = schemathesis.openapi.from_path(ROOT / "openapi.json")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, str]]:
    """The served API's URL and an access token with every scope."""
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        gateway = cloud.api_gateway(deployment, api_keys=[KEY], throttle=False)
        trader = add_trader(cloud, deployment, "fuzz", "fuzzer")
        pool = cloud.user_pool(deployment)
        assert pool is not None
        client = pool.client_for("code", SCOPE_READ)
        token = pool.sign(client, subject=trader.sub, username="fuzzer", scopes=SCOPES)
        with ApiServer(gateway) as server:
            yield server.url, token


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_5xx_and_every_response_matches_the_contract(
    case: schemathesis.Case, api: tuple[str, str]
) -> None:
    url, token = api
    case.call_and_validate(
        base_url=url,
        headers={"x-api-key": KEY, "Authorization": token},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
