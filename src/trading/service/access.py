"""Who is calling, and which accounts it may use: callers, scopes, account profiles, grants.

A caller is what API Gateway's Cognito authorizer verified: the token's subject (a person's
user id, or a machine client's id under the client-credentials flow) and its OAuth scopes.
Scopes say what kind of request it may make (``trading/read``, ``trading/trade``,
``trading/admin``); grants say on which accounts. An account is registered by an admin with
an owner and its settings (:class:`AccountProfile`); a grant lets one principal use it.

Every request acts on one of the caller's accounts: the one named by the ``X-Account-Id``
header, or the caller's only account. An account the caller holds no grant on is answered
exactly as one that does not exist (404): nothing leaks whether it exists.

>>> caller = Caller.from_claims({"sub": "u-1", "scope": "trading/read trading/trade"})
>>> caller.may(SCOPE_TRADE), caller.may(SCOPE_ADMIN)
(True, False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from trading.core.config import Mode, RunConfig
from trading.core.execution.margin import (
    DEFAULT_LEVERAGE,
    DEFAULT_MAINTENANCE_MARGIN,
    DEFAULT_SHORT_MARGIN,
)
from trading.core.risk import RiskLimits
from trading.core.settings import (
    COST_SETTINGS,
    MARGIN_SETTINGS,
    RunSettings,
    RunSettingsError,
    resolve_settings,
)
from trading.core.symbols import is_symbol
from trading.service.errors import ConflictError, InvalidRequestError, NotFoundError, RequestError

SCOPE_PREFIX = "trading/"
"""The resource server's identifier: every scope of the API is ``trading/<name>``."""
SCOPE_READ = "trading/read"
SCOPE_TRADE = "trading/trade"
SCOPE_ADMIN = "trading/admin"
SCOPES = (SCOPE_READ, SCOPE_TRADE, SCOPE_ADMIN)
ACCOUNT_HEADER = "X-Account-Id"
"""The request header naming the account a request acts on (optional with one account)."""
ACCOUNT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""An account id: lower-case, so one account is one S3 prefix and one key whatever the case."""
PRINCIPAL_PATTERN = re.compile(r"[A-Za-z0-9_.@:+-]{1,128}")
"""A user's ``sub`` (a UUID), a machine client's id, or a user name."""
MAX_ALLOWED_SYMBOLS = 500


class UnauthenticatedError(RequestError):
    """The request carries no verified caller (API Gateway's authorizer should stop it)."""

    code: ClassVar[str] = "UNAUTHENTICATED"


class ForbiddenError(RequestError):
    """The caller's token lacks the scope the route needs."""

    code: ClassVar[str] = "FORBIDDEN"

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message)
        self.scope = scope

    def details(self) -> dict[str, Any]:
        """The scope the route needs."""
        return {"scope": self.scope}


class AccountNotFoundError(NotFoundError):
    """No account of this id that the caller may use (it may not exist at all)."""

    code: ClassVar[str] = "ACCOUNT_NOT_FOUND"


class AccountRequiredError(InvalidRequestError):
    """The caller uses several accounts (or none) and named none."""

    code: ClassVar[str] = "ACCOUNT_REQUIRED"


class AccountExistsError(ConflictError):
    """An account of this id is registered already."""

    code: ClassVar[str] = "ACCOUNT_EXISTS"


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: its principal (token subject), its scopes, and a display name."""

    principal: str
    scopes: frozenset[str]
    name: str = ""

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        """The caller API Gateway's Cognito authorizer passed (``requestContext.authorizer.
        claims``: every value a string, ``scope`` space-separated). Raises
        :class:`UnauthenticatedError` when there is no subject."""
        principal = str(claims.get("sub") or "")
        if not PRINCIPAL_PATTERN.fullmatch(principal):
            raise UnauthenticatedError("the request carries no verified caller")
        scopes = frozenset(str(claims.get("scope") or "").split())
        name = str(claims.get("username") or claims.get("client_id") or principal)
        return cls(principal, scopes, name)

    def may(self, scope: str) -> bool:
        """True when the token carries ``scope``."""
        return scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise :class:`ForbiddenError` unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise ForbiddenError(f"this request needs the {scope} scope", scope)


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """An account's own settings, set by an admin: opening cash, mode, risk limits, what a
    fill costs (commission rate and minimum, slippage) and its buying power and margin
    (leverage, short and maintenance margin).

    They are the account's, not a request's: orders placed through the API are checked
    against them (buying power included), and the account's live runs open it with this
    cash, trade in this mode and fill at these costs. The costs and margin follow the run
    settings' own rules (:func:`trading.core.settings.resolve_settings`, the same ranges as
    ``stp run --commission ... --leverage ...``).
    """

    cash: float = 100_000.0
    mode: str = Mode.LONG_ONLY.value
    allowed_symbols: tuple[str, ...] | None = None
    max_position: int | None = None
    max_order_notional: float | None = None
    commission: float = 0.0
    commission_minimum: float = 0.0
    slippage_bps: float = 0.0
    leverage: float = DEFAULT_LEVERAGE
    short_margin: float = DEFAULT_SHORT_MARGIN
    maintenance_margin: float = DEFAULT_MAINTENANCE_MARGIN

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountSettings:
        """Settings from JSON; raises ``InvalidRequestError`` naming the bad field."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidRequestError(f"unknown setting(s): {', '.join(unknown)}", unknown[0])
        settings = cls(**{k: v for k, v in data.items() if v is not None})
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ``InvalidRequestError`` naming the first bad setting."""
        if not _positive(self.cash):
            raise InvalidRequestError("cash must be a positive number", "settings.cash")
        if self.mode not in {mode.value for mode in Mode}:
            modes = ", ".join(mode.value for mode in Mode)
            raise InvalidRequestError(f"mode must be one of {modes}", "settings.mode")
        if self.allowed_symbols is not None:
            symbols = self.allowed_symbols
            if (
                isinstance(symbols, str)
                or not isinstance(symbols, Sequence)
                or len(symbols) > MAX_ALLOWED_SYMBOLS
                or not all(isinstance(s, str) and is_symbol(s) for s in symbols)
            ):
                raise InvalidRequestError(
                    f"allowed_symbols must be a list of at most {MAX_ALLOWED_SYMBOLS} symbols",
                    "settings.allowed_symbols",
                )
        if self.max_position is not None and (
            isinstance(self.max_position, bool)
            or not isinstance(self.max_position, int)
            or self.max_position <= 0
        ):
            raise InvalidRequestError(
                "max_position must be a positive whole number", "settings.max_position"
            )
        if self.max_order_notional is not None and not _positive(self.max_order_notional):
            raise InvalidRequestError(
                "max_order_notional must be a positive number", "settings.max_order_notional"
            )
        self._check_costs_and_margin()

    def _check_costs_and_margin(self) -> None:
        """The run settings' rules (ranges, and margins that fit the leverage), on numbers."""
        values = self.costs_and_margin()
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidRequestError(f"{name} must be a number", f"settings.{name}")
        try:
            # Only those set away from the defaults: an error names the one an admin gave.
            resolve_settings(self.own_costs_and_margin())
        except RunSettingsError as error:
            raise InvalidRequestError(str(error), f"settings.{error.setting}") from None

    def costs_and_margin(self) -> dict[str, Any]:
        """What a fill costs and the margin rules, as run settings (``commission``...)."""
        return {name: getattr(self, name) for name in (*COST_SETTINGS, *MARGIN_SETTINGS)}

    def own_costs_and_margin(self) -> dict[str, Any]:
        """Those of :meth:`costs_and_margin` an admin set away from the defaults."""
        return {
            name: value
            for name, value in self.costs_and_margin().items()
            if value != _DEFAULTS[name]
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what ``GET /account`` shows)."""
        return {
            "cash": self.cash,
            "mode": self.mode,
            "allowed_symbols": list(self.allowed_symbols) if self.allowed_symbols else None,
            "max_position": self.max_position,
            "max_order_notional": self.max_order_notional,
            **self.costs_and_margin(),
        }


_DEFAULTS = AccountSettings().costs_and_margin()


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """A registered account: id, owner (a principal), settings, kill switch, creation time."""

    account_id: str
    owner: str
    settings: AccountSettings = field(default_factory=AccountSettings)
    halted: bool = False
    created_at: str = ""

    def run_config(self) -> RunConfig:
        """The core's config for orders of this account: cash, mode, costs and margin as a
        run of it has them (:meth:`RunSettings.run_config`), its limits and kill switch."""
        allowed = self.settings.allowed_symbols
        limits = RiskLimits(
            max_position=self.settings.max_position,
            max_order_notional=self.settings.max_order_notional,
            allowed_symbols=frozenset(allowed) if allowed is not None else None,
            halted=self.halted,
        )
        settings = RunSettings(
            cash=self.settings.cash,
            mode=Mode(self.settings.mode),
            **self.settings.costs_and_margin(),
        )
        return replace(settings.run_config(), limits=limits)

    def run_settings(self) -> dict[str, Any]:
        """The run settings a run of this account takes from the account, not the request:
        its id, opening cash, mode, costs and margin."""
        return {
            "account": self.account_id,
            "cash": self.settings.cash,
            "mode": self.settings.mode,
            **self.settings.costs_and_margin(),
        }

    def backtest_config(self, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A backtest's settings (``POST /runs``): the costs and margin an admin set on the
        account, under the request's own ``config`` (a backtest may try others); None when
        neither sets anything."""
        own = self.settings.own_costs_and_margin()
        if config is None and not own:
            return None
        return {**own, **(config or {})}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "account_id": self.account_id,
            "owner": self.owner,
            "settings": self.settings.to_dict(),
            "halted": self.halted,
            "created_at": self.created_at,
        }

    def halt(self, halted: bool) -> AccountProfile:
        """This profile with the kill switch ``halted``."""
        return replace(self, halted=halted)


ACCOUNT_SETTINGS = tuple(AccountProfile("a", "o").run_settings())
"""Run settings an account fixes; a request's ``config`` may not set them."""


class AccountProfiles(Protocol):
    """Reads registered accounts (what a workflow step needs of the registry)."""

    def profile(self, account_id: str) -> AccountProfile | None:
        """The account's profile, or None when it is not registered."""
        ...


class AccountRegistry(AccountProfiles, Protocol):
    """Registered accounts and the grants that let principals use them."""

    def create(self, profile: AccountProfile) -> None:
        """Register ``profile`` and grant its owner; raises :class:`AccountExistsError`."""
        ...

    def grant(self, account_id: str, principal: str, at: str) -> None:
        """Let ``principal`` use the account (idempotent)."""
        ...

    def accounts_of(self, principal: str) -> tuple[str, ...]:
        """The accounts ``principal`` holds a grant on, sorted."""
        ...

    def set_halted(self, account_id: str, halted: bool) -> AccountProfile:
        """Turn the account's kill switch on or off; raises :class:`AccountNotFoundError`."""
        ...


def route_scope(path: str, method: str) -> str:
    """The scope a route needs: ``admin`` under ``/admin``, ``read`` to GET, else ``trade``.
    The API function, its OpenAPI document and (by a test) the gateway's methods all use it.

    >>> route_scope("/orders", "DELETE"), route_scope("/admin/accounts", "POST")
    ('trading/trade', 'trading/admin')
    """
    if path == "/admin" or path.startswith("/admin/"):
        return SCOPE_ADMIN
    return SCOPE_READ if method.upper() in {"GET", "HEAD"} else SCOPE_TRADE


def check_account_id(account_id: str, field_name: str = "account_id") -> str:
    """``account_id`` when it is a valid account id, else ``InvalidRequestError``."""
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise InvalidRequestError(
            f"{field_name} must be 1-64 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit",
            field_name,
        )
    return account_id


def account_of_caller(
    caller: Caller, requested: str | None, registry: AccountRegistry
) -> AccountProfile:
    """The account a request acts on: ``requested`` (the ``X-Account-Id`` header) when the
    caller holds a grant on it, else the caller's only account.

    Raises :class:`AccountNotFoundError` for an account the caller may not use (whether it
    exists or not) and :class:`AccountRequiredError` when the caller uses several accounts
    and named none.
    """
    accounts = registry.accounts_of(caller.principal)
    if requested is not None:
        account_id = requested.strip()
        if account_id not in accounts:
            raise AccountNotFoundError(f"no account {account_id!r}")
    elif len(accounts) == 1:
        account_id = accounts[0]
    elif not accounts:
        raise AccountNotFoundError("this caller has no account: ask an admin to grant one")
    else:
        raise AccountRequiredError(
            f"name the account in the {ACCOUNT_HEADER} header: one of {', '.join(accounts)}",
            ACCOUNT_HEADER,
        )
    profile = registry.profile(account_id)
    if profile is None:  # a grant outliving its account: the same answer as no grant
        raise AccountNotFoundError(f"no account {account_id!r}")
    return profile


def visible(owner: str | None, accounts: Collection[str]) -> bool:
    """True when a resource owned by account ``owner`` may be shown to a caller using
    ``accounts`` (a resource of no account is the operator's: never shown through the API)."""
    return owner is not None and owner in accounts
