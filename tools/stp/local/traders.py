"""Traders on the local platform: an account registered, a user created and granted it, and a
ready access token, as an admin would set them up on AWS (`stp api`, `stp up`, the tests).

>>> trader = add_trader(cloud, deployment, "desk-a", "alice")  # doctest: +SKIP
>>> trader.token  # an access token with trading/read and trading/trade  # doctest: +SKIP
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from stp.local.emulator import LocalCloud
from stp.local.models import Deployment
from stp.local.user_pool import ClientCredentials, LocalUserPool
from trading.adapters.registry import DynamoAccountRegistry
from trading.service.access import SCOPE_ADMIN, SCOPE_READ, SCOPE_TRADE, AccountProfile
from trading.service.admin import create_account, grant_account

TRADER_SCOPES = (SCOPE_READ, SCOPE_TRADE)


@dataclass(frozen=True)
class Trader:
    """A user of the local API: name, ``sub``, password, account and access token."""

    username: str
    sub: str
    password: str
    account: str
    token: str


def registry_of(cloud: LocalCloud, deployment: Deployment) -> DynamoAccountRegistry:
    """The deployment's account registry (its portfolio table)."""
    client = boto3.client("dynamodb", region_name=cloud.region)
    return DynamoAccountRegistry(client, deployment.outputs["PortfolioTableName"])


def pool_of(cloud: LocalCloud, deployment: Deployment) -> LocalUserPool:
    """The deployed API's Cognito user pool (``LookupError`` when it has none)."""
    pool = cloud.user_pool(deployment)
    if pool is None:
        raise LookupError("the deployed API has no Cognito user pool")
    return pool


def add_trader(
    cloud: LocalCloud,
    deployment: Deployment,
    account: str,
    username: str,
    *,
    settings: Mapping[str, Any] | None = None,
    expires_in: int | None = None,
) -> Trader:
    """Create user ``username``, register ``account`` owned by it (or grant it the account
    when it exists already) and sign the user in: a token with the trading scopes."""
    pool = pool_of(cloud, deployment)
    password = "Aa1-" + secrets.token_urlsafe(18)
    sub = pool.create_user(username, password)
    registry = registry_of(cloud, deployment)
    if registry.profile(account) is None:
        create_account(account, owner=sub, settings=settings, registry=registry)
    else:
        grant_account(account, sub, registry=registry)
    token = pool.user_token(username, password, TRADER_SCOPES, expires_in=expires_in)
    return Trader(username, sub, password, account, token)


def admin_token(cloud: LocalCloud, deployment: Deployment) -> str:
    """An access token of the admin app client (client credentials, ``trading/admin``)."""
    pool = pool_of(cloud, deployment)
    client = pool.client_for("client_credentials", SCOPE_ADMIN)
    return pool.client_credentials_token(client.client_id, client.secret or "", client.scopes)


def add_bot(cloud: LocalCloud, deployment: Deployment, account: str) -> ClientCredentials:
    """The pool's client-credentials app client for trading (the template's ``BotClient``),
    granted ``account``: a script gets its tokens from the token endpoint with its id and
    secret (:mod:`stp.local.token_endpoint`), as on AWS."""
    pool = pool_of(cloud, deployment)
    bot = pool.client_for("client_credentials", SCOPE_TRADE)
    grant_account(account, bot.client_id, registry=registry_of(cloud, deployment))
    return bot


def account_profile(cloud: LocalCloud, deployment: Deployment, account: str) -> AccountProfile:
    """The registered account (``LookupError`` when there is none)."""
    profile = registry_of(cloud, deployment).profile(account)
    if profile is None:
        raise LookupError(f"no account {account}")
    return profile
