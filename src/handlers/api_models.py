"""The API's request and response models (pydantic): the contract ``openapi.json`` shows.

Powertools validates each request against these before the route runs; a violation is a
400 naming the field (see ``handlers.api``). Field names are the trader's: ``side``,
``limit_price``, ``time_in_force``. New order types extend :data:`OrderTypeName` and add their
optional fields (``stop_price``...) to :class:`PlaceOrder`; nothing else changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from trading.core.settings import SETTING_HELP
from trading.core.symbols import SYMBOL_PATTERN, is_symbol
from trading.service.access import MAX_ALLOWED_SYMBOLS, AccountSettings

ACCOUNT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
PRINCIPAL_PATTERN = r"^[A-Za-z0-9_.@:+-]{1,128}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_QUANTITY = 1_000_000_000
MAX_PRICE = 1e12
MIN_PRICE = 1e-6
"""Prices below are refused (DynamoDB numbers stop at 1e-130; no instrument trades there)."""

MIN_QUANTITY = 1e-9
"""Smaller quantities are refused (no lot step is that fine; DynamoDB numbers have a floor)."""

OrderTypeName = Literal["market", "limit", "stop", "stop_limit"]
"""Order types the API accepts (the core's ``OrderType`` values)."""
PRICED_TYPES = frozenset({"limit", "stop_limit"})
"""Types that need ``limit_price``."""
STOP_TYPES = frozenset({"stop", "stop_limit"})
"""Types that need ``stop_price``."""
OrderStatusName = Literal["new", "partially_filled", "filled", "cancelled", "rejected"]

Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, examples=["AAPL"])]
Price = Annotated[float, Field(ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False, strict=True)]
# A fraction of the fill price; its range is the core's (a 400 naming the field).
Fraction = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False, strict=True)]


class Strict(BaseModel):
    """A request body: unknown fields are refused (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """Every error: a stable code, a message for people and details (``field``...)."""

    code: str = Field(examples=["INVALID_REQUEST"])
    message: str
    details: dict[str, Any]


class Health(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]
    service: str
    version: str


class PlaceOrder(Strict):
    """``POST /orders``: an order of the trading account."""

    symbol: Symbol
    side: Literal["buy", "sell"]
    # Strict: JSON true or "5" is not a quantity (pydantic's lax mode would take them).
    quantity: float = Field(
        ge=MIN_QUANTITY,
        le=MAX_QUANTITY,
        strict=True,
        allow_inf_nan=False,
        description="A multiple of the symbol's quantity step (whole shares by default).",
    )
    type: OrderTypeName = "market"
    limit_price: Price | None = Field(
        default=None,
        validate_default=True,
        description="Required for limit and stop_limit orders only.",
    )
    stop_price: Price | None = Field(
        default=None,
        validate_default=True,
        description="Required for stop and stop_limit orders only: the price that triggers.",
    )
    time_in_force: Literal["day", "gtc"] = "gtc"
    client_order_id: str | None = Field(
        default=None,
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="Idempotency key: the same id and body return the original order.",
    )
    stop_loss: Price | None = Field(
        default=None, description="Attached stop-loss price (below a buy's entry, above a sell's)."
    )
    take_profit: Price | None = Field(
        default=None,
        description="Attached take-profit price (above a buy's entry, below a sell's).",
    )
    stop_loss_pct: Fraction | None = Field(
        default=None, description="Attached stop-loss as a fraction of the fill price, in (0, 1)."
    )
    take_profit_pct: Fraction | None = Field(
        default=None, description="Attached take-profit as a fraction of the fill price, above 0."
    )
    trailing_pct: Fraction | None = Field(
        default=None, description="Attached trailing stop: distance from the best price, in (0, 1)."
    )

    @field_validator("limit_price")
    @classmethod
    def _priced_types_only(cls, value: float | None, info: ValidationInfo) -> float | None:
        return _needed_by(value, info, PRICED_TYPES, "limit_price")

    @field_validator("stop_price")
    @classmethod
    def _stop_types_only(cls, value: float | None, info: ValidationInfo) -> float | None:
        return _needed_by(value, info, STOP_TYPES, "stop_price")


def _needed_by(
    value: float | None, info: ValidationInfo, types: frozenset[str], name: str
) -> float | None:
    """``name`` is required by the order ``types`` and refused by the others."""
    order_type = info.data.get("type")
    if order_type in types and value is None:
        raise ValueError(f"a {order_type} order needs a {name}")
    if order_type is not None and order_type not in types and value is not None:
        raise ValueError(f"a {order_type} order takes no {name}")
    return value


class AmendOrder(Strict):
    """``PATCH /orders/{order_id}``: the new quantity, limit or stop price of an open order."""

    quantity: float | None = Field(
        default=None, ge=MIN_QUANTITY, le=MAX_QUANTITY, strict=True, allow_inf_nan=False
    )
    limit_price: Price | None = None
    stop_price: Price | None = None


class Order(BaseModel):
    """An order and its life cycle."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: Literal["buy", "sell"]
    type: str
    quantity: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: str
    status: OrderStatusName
    filled_quantity: float
    average_fill_price: float
    stop_loss: float | None
    take_profit: float | None
    stop_loss_pct: float | None
    take_profit_pct: float | None
    trailing_pct: float | None
    parent_id: str | None = Field(description="The entry an attached exit belongs to.")
    exit_kind: str | None = Field(
        description="stop_loss, take_profit or trailing_stop (an attached exit); margin_call "
        "or ruin (the account's own closing order)."
    )
    reject_reason: str | None
    reject_message: str | None
    created_at: str = Field(description="Time of the bar the order was created on (UTC).")
    run_id: str | None = Field(description="The run that placed or last changed it.")


class OrderPage(BaseModel):
    """A page of orders; pass ``next_token`` back for the next one."""

    orders: list[Order]
    next_token: str | None


class AttachedExit(BaseModel):
    """A live exit order of a position (one-cancels-other with its siblings)."""

    order_id: str
    exit_kind: str
    type: str
    side: Literal["buy", "sell"]
    quantity: float
    stop_price: float | None
    limit_price: float | None
    parent_id: str | None


class Position(BaseModel):
    """A non-flat position, marked at the last price the account saw, with its live exits."""

    symbol: str
    quantity: float
    average_cost: float
    last_price: float
    market_value: float
    unrealized_pnl: float
    exits: list[AttachedExit]


class PositionPage(BaseModel):
    """A page of positions, by symbol."""

    positions: list[Position]
    next_token: str | None


class Exposure(BaseModel):
    """Market value held long and short, gross and net, and gross as a fraction of equity."""

    long: float
    short: float
    gross: float
    net: float
    gross_fraction: float | None


class Portfolio(BaseModel):
    """Cash, equity, exposure and P&L of the trading account."""

    account: str
    cash: float
    equity: float
    initial_cash: float
    exposure: Exposure
    realized_pnl: float
    unrealized_pnl: float
    total_commission: float
    positions: int
    open_orders: int
    version: int


class Quote(BaseModel):
    """The latest bar of a symbol and the run that processed it."""

    symbol: str
    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    run_id: str


class MarketDataBatch(Strict):
    """``POST /market-data``: bars validated like an uploaded file's rows
    (``symbol``, ``timestamp`` ISO 8601, ``open``, ``high``, ``low``, ``close``, ``volume``)."""

    bars: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    run_id: str | None = Field(default=None, pattern=ID_PATTERN)
    config: dict[str, Any] | None = Field(default=None, description="Run settings.")

    @field_validator("bars")
    @classmethod
    def _symbols_obey_the_rule(cls, bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # JSON strings are exact: no padding is trimmed here (a CSV cell's padding is).
        for index, bar in enumerate(bars):
            symbol = bar.get("symbol")
            if isinstance(symbol, str) and not is_symbol(symbol):
                raise ValueError(
                    f"bars[{index}].symbol {symbol[:40]!r} is not a symbol "
                    "(1-32 of A-Z a-z 0-9 . _ ^ = -, starting with a letter or digit)"
                )
        return bars


class UploadRequest(Strict):
    """``POST /market-data/uploads``: a file to upload, and its run settings."""

    file_name: str = Field(min_length=1, max_length=100, examples=["bars.csv"])
    config: dict[str, Any] | None = None


class UploadTarget(BaseModel):
    """PUT the file to ``upload_url`` with ``headers`` before ``expires_in`` seconds."""

    key: str
    upload_url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_in: int


class StartRun(Strict):
    """``POST /runs``: a run of the workflow on an object under ``raw/``."""

    key: str = Field(min_length=1, max_length=1024, examples=["raw/stocks.csv"])
    bucket: str | None = Field(default=None, min_length=1, max_length=63)
    config: dict[str, Any] | None = None
    run_id: str | None = Field(default=None, pattern=ID_PATTERN)


class StartedRun(BaseModel):
    """A started run: its id, execution and status."""

    run_id: str
    execution_arn: str
    status: str


class RunSummary(BaseModel):
    """A run as ``GET /runs`` lists it."""

    run_id: str
    status: str | None
    source: str | None
    created_at: str | None
    updated_at: str | None
    headline: dict[str, Any] | None


class RunPage(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunSummary]
    next_token: str | None


class RunStep(BaseModel):
    """One finished step of a run."""

    name: str
    started_at: str | None
    ended_at: str | None
    duration_ms: int | None
    summary: dict[str, Any]


class Run(BaseModel):
    """A run's status, settings, headline metrics and step history."""

    run_id: str
    status: str | None
    source: str | None
    settings: dict[str, Any] | None
    created_at: str | None
    updated_at: str | None
    error: str | None
    cause: str | None
    headline: dict[str, Any] | None
    warnings: list[str] = Field(
        description="What a reader must know: bars a live account's run skipped, and why."
    )
    committed: dict[str, Any] | None = Field(
        description="Set once the run's trades were committed to its live account (account, "
        "version, at): a FAILED run with it has its trades applied."
    )
    steps: list[RunStep]


class Report(BaseModel):
    """A run's JSON report and a short-lived link to its HTML report."""

    run_id: str
    report: dict[str, Any]
    html_url: str
    expires_in: int


def _account_setting(name: str) -> Any:
    """A cost or margin setting of an account: the run setting's default and meaning."""
    return Field(
        default=getattr(AccountSettings(), name),
        allow_inf_nan=False,
        strict=True,
        description=SETTING_HELP[name].replace("%%", "%"),
    )


class AccountSettingsBody(Strict):
    """An account's own settings (absent: the defaults)."""

    cash: float = Field(default=100_000.0, gt=0, le=MAX_PRICE, allow_inf_nan=False)
    mode: Literal["long-only", "long-short"] = "long-only"
    allowed_symbols: list[Symbol] | None = Field(default=None, max_length=MAX_ALLOWED_SYMBOLS)
    max_position: int | None = Field(default=None, gt=0, le=MAX_QUANTITY)
    max_order_notional: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # Costs and margin: their ranges are the run settings' (a 400 naming the field).
    commission: float = _account_setting("commission")
    commission_minimum: float = _account_setting("commission_minimum")
    slippage_bps: float = _account_setting("slippage_bps")
    leverage: float = _account_setting("leverage")
    short_margin: float = _account_setting("short_margin")
    maintenance_margin: float = _account_setting("maintenance_margin")


class CreateAccount(Strict):
    """``POST /admin/accounts``: a new account, its owner (granted it) and its settings."""

    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN, examples=["desk-a"])
    owner: str = Field(pattern=PRINCIPAL_PATTERN, description="The owner's sub or client id.")
    settings: AccountSettingsBody | None = None


class Grant(Strict):
    """``POST /admin/accounts/{account_id}/grants``: who may use the account."""

    principal: str = Field(
        pattern=PRINCIPAL_PATTERN, description="A user's sub or a machine client's id."
    )


class GrantView(BaseModel):
    """A grant: the account and the principal that may use it."""

    account_id: str
    principal: str


class KillSwitch(Strict):
    """``PUT /admin/accounts/{account_id}/kill-switch``: halt or resume trading."""

    halted: bool = Field(strict=True)


class AccountView(BaseModel):
    """An account: id, owner, settings, kill switch."""

    account_id: str
    owner: str
    settings: dict[str, Any]
    halted: bool
    created_at: str


class StartSweep(Strict):
    """``POST /sweeps``: a parameter sweep of the research workflow on an object under
    ``raw/<account>/``."""

    key: str = Field(min_length=1, max_length=1024, examples=["raw/desk-a/stocks.csv"])
    bucket: str | None = Field(default=None, min_length=1, max_length=63)
    request: dict[str, Any] = Field(
        examples=[{"strategy": "sma_cross", "grid": {"fast": "5:50:5", "slow": "20:200:10"}}],
        description="The sweep: strategy, grid or ranges, mode, objective, batch size... "
        "(README: Research at scale)",
    )
    sweep_id: str | None = Field(default=None, pattern=ID_PATTERN)


class StartedSweep(BaseModel):
    """A started sweep: its id, execution and status."""

    sweep_id: str
    execution_arn: str
    status: str


class SweepProgress(BaseModel):
    """The sweep's work items: all of them, and those finished so far."""

    total: int
    succeeded: int
    failed: int


class Sweep(BaseModel):
    """A sweep's status, request, progress from its map run, and best result (so far while
    it runs; the leaderboard's first once ranked)."""

    sweep_id: str
    status: str | None
    request: dict[str, Any] | None
    created_at: str | None
    updated_at: str | None
    error: str | None
    cause: str | None
    progress: SweepProgress
    best: dict[str, Any] | None
    walk_forward_efficiency: float | None


class SweepResults(BaseModel):
    """A page of a sweep's leaderboard, best first."""

    sweep_id: str
    objective: str
    total: int
    results: list[dict[str, Any]]
    next_token: str | None
