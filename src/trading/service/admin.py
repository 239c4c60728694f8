"""Admin use cases, apart from trading ones: register an account, grant a principal, and the
kill switch. Only callers with the ``trading/admin`` scope reach them (checked by API Gateway
and again by the API function).

>>> create_account("desk-a", owner="u-1", settings={"cash": 50_000}, registry=registry,
...                clock=clock)  # doctest: +SKIP
AccountProfile(account_id='desk-a', owner='u-1', ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trading.service.access import (
    PRINCIPAL_PATTERN,
    AccountNotFoundError,
    AccountProfile,
    AccountRegistry,
    AccountSettings,
    check_account_id,
)
from trading.service.errors import InvalidRequestError
from trading.service.steps import Clock, iso, utc_now


def check_principal(principal: str, field_name: str) -> str:
    """``principal`` when it is a user id, user name or client id; else a 400."""
    if not PRINCIPAL_PATTERN.fullmatch(principal):
        raise InvalidRequestError(
            f"{field_name} must be a user's sub or a machine client's id (1-128 characters)",
            field_name,
        )
    return principal


def create_account(
    account_id: str,
    *,
    owner: str,
    settings: Mapping[str, Any] | None,
    registry: AccountRegistry,
    clock: Clock = utc_now,
) -> AccountProfile:
    """Register ``account_id`` owned by ``owner`` (who is granted it) with ``settings``.

    Raises ``InvalidRequestError`` naming a bad field and ``AccountExistsError`` when the id
    is taken.
    """
    profile = AccountProfile(
        account_id=check_account_id(account_id),
        owner=check_principal(owner, "owner"),
        settings=AccountSettings.from_dict(settings or {}),
        created_at=iso(clock()),
    )
    registry.create(profile)
    return profile


def account_profile(account_id: str, *, registry: AccountRegistry) -> AccountProfile:
    """The registered account, or :class:`AccountNotFoundError`."""
    profile = registry.profile(check_account_id(account_id))
    if profile is None:
        raise AccountNotFoundError(f"no account {account_id!r}")
    return profile


def grant_account(
    account_id: str, principal: str, *, registry: AccountRegistry, clock: Clock = utc_now
) -> dict[str, str]:
    """Let ``principal`` use ``account_id`` (idempotent); ``AccountNotFoundError`` if none."""
    check_account_id(account_id)
    registry.grant(account_id, check_principal(principal, "principal"), iso(clock()))
    return {"account_id": account_id, "principal": principal}


def set_kill_switch(account_id: str, halted: bool, *, registry: AccountRegistry) -> AccountProfile:
    """Halt (or resume) trading in ``account_id``: orders and live runs of the account are
    refused while it is on. ``AccountNotFoundError`` if there is no such account."""
    return registry.set_halted(check_account_id(account_id), halted)
