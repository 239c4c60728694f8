"""``stp api``: serve the deployed API on 127.0.0.1, as API Gateway would, without Docker or AWS.

The template is deployed to the embedded emulation; HTTP requests become API Gateway proxy
events for the same API function, with the access token (the Cognito authorizer), the API key
and the usage plan's throttle checked first. An account is registered, a user created and
granted it, and a ready access token printed, as an admin would on AWS. ``--data`` uploads a
market data file into the account's folder first, as a user would (the workflow it starts
runs to its end before the server answers), so the symbols have quotes in that account.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any

from stp.cli import EXIT_FAILED, UsageError

API_KEY_VARIABLE = "STP_API_KEY"
TOKEN_VARIABLE = "STP_TOKEN"
ADMIN_TOKEN_VARIABLE = "STP_ADMIN_TOKEN"
TOKEN_URL_VARIABLE = "STP_TOKEN_URL"
BOT_ID_VARIABLE = "STP_BOT_CLIENT_ID"
BOT_SECRET_VARIABLE = "STP_BOT_CLIENT_SECRET"
DEFAULT_ACCOUNT = "paper"
DEFAULT_USER = "trader"


def api_command(
    project: Path,
    *,
    host: str,
    port: int,
    api_key: str | None,
    data: Path | None,
    throttle: bool,
    stop: threading.Event | None = None,
    account: str = DEFAULT_ACCOUNT,
    user: str = DEFAULT_USER,
) -> int:
    """Serve until interrupted (or ``stop`` is set); 1 when the ``--data`` workflow failed."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: not a TCP port (0-65535)")
    check_trader_flags(account, user)
    if data is not None and not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    key = api_key or os.environ.get(API_KEY_VARIABLE) or secrets.token_urlsafe(24)
    if len(key) < 20:
        # API Gateway's own minimum for imported key values.
        raise UsageError("--api-key: at least 20 characters, as API Gateway requires")
    from stp.local import LocalCloud
    from stp.local.api_server import ApiServer
    from stp.local.token_endpoint import TokenEndpoint
    from stp.local.traders import add_bot, add_trader, admin_token, pool_of

    with LocalCloud() as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        gateway = cloud.api_gateway(deployment, api_keys=[key], throttle=throttle)
        trader = add_trader(cloud, deployment, account, user)
        admin = admin_token(cloud, deployment)
        bot = add_bot(cloud, deployment, account)
        token_endpoint = TokenEndpoint(pool_of(cloud, deployment))
        if data is not None:
            bucket = deployment.outputs["MarketDataBucketName"]
            upload_key = f"raw/{account}/{data.name}"
            for arn in cloud.upload(bucket, upload_key, data.read_bytes()):
                outcome = cloud.wait(arn)
                if outcome.status != "SUCCEEDED":
                    print(f"stp: the --data workflow {outcome.status}: {outcome.error}")
                    return EXIT_FAILED
        try:
            server = ApiServer(gateway, host=host, port=port, token_endpoint=token_endpoint)
        except OSError as error:
            raise UsageError(f"--port {port}: {error.strerror or error}") from None
        with server:
            print(f"serving stage {gateway.stage!r} of the API on {server.url}", flush=True)
            print(f"  API key (header x-api-key): {key}", flush=True)
            for line in token_lines(trader, admin, bot, server.token_url):
                print(line, flush=True)
            print(
                f"  try: curl -H 'x-api-key: {key}' -H \"Authorization: ${TOKEN_VARIABLE}\" "
                f"{server.url}/account",
                flush=True,
            )
            print("  Ctrl-C stops it", flush=True)
            (stop or threading.Event()).wait()
    return 0


def check_trader_flags(account: str, user: str) -> None:
    """One-line usage errors for a bad ``--account`` or ``--user``."""
    from trading.service.access import ACCOUNT_ID_PATTERN

    if not ACCOUNT_ID_PATTERN.fullmatch(account):
        raise UsageError(
            f"--account {account}: 1-64 lower-case letters, digits, '-' or '_' "
            "(starting with a letter or digit)"
        )
    if not user or len(user) > 128 or not user.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"--user {user}: 1-128 letters, digits, '-' or '_'")


def token_lines(trader: Any, admin: str, bot: Any, token_url: str) -> list[str]:
    """What `stp api` and `stp up` print about the user, its account, the tokens and the
    token endpoint (with the bot client granted the account)."""
    return [
        f"  account {trader.account!r}, user {trader.username!r} (sub {trader.sub}), "
        f"password {trader.password}",
        "  access token (header Authorization; trading/read trading/trade, 60 minutes):",
        f"    export {TOKEN_VARIABLE}={trader.token}",
        "  admin token (client credentials, trading/admin):",
        f"    export {ADMIN_TOKEN_VARIABLE}={admin}",
        f"  token endpoint {token_url} (client credentials; the bot client, granted "
        f"{trader.account!r}):",
        f"    export {TOKEN_URL_VARIABLE}={token_url} {BOT_ID_VARIABLE}={bot.client_id} "
        f"{BOT_SECRET_VARIABLE}={bot.secret}",
        f'    curl -s -u "${BOT_ID_VARIABLE}:${BOT_SECRET_VARIABLE}" '
        f"-d grant_type=client_credentials -d 'scope=trading/read trading/trade' "
        f'"${TOKEN_URL_VARIABLE}"',
    ]
