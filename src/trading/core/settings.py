"""Run settings: which strategy with which parameters, cash, costs and mode, resolved from
layers of named values (an upload's metadata, then an explicit configuration from the API or
the CLI) and validated. Missing values take the documented defaults.

How the layers are carried (S3 user metadata keys) is the service layer's business
(:mod:`trading.service.metadata`); here a setting is only its name and its value."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits, ExecutionConfig
from trading.core.execution.margin import (
    DEFAULT_LEVERAGE,
    DEFAULT_MAINTENANCE_MARGIN,
    DEFAULT_SHORT_MARGIN,
    MarginRules,
    MarginRulesError,
)
from trading.core.lots import LotSize
from trading.core.model import MAX_YEAR, MIN_YEAR, NANOS_PER_SECOND, SUPPORTED_DATES
from trading.sdk.base import Strategy
from trading.sdk.errors import StrategyConfigError
from trading.sdk.params import parse_param_pairs
from trading.sdk.registry import create_strategy

DEFAULT_STRATEGY = "sma_cross"
# Exit parameters that are fractions of the fill price (trailing_atr is a multiple of ATR).
EXIT_FRACTIONS = ("stop_loss", "take_profit", "trailing_stop")
ENGINE_PARAMS = (*EXIT_FRACTIONS, "trailing_atr", "atr_period")
"""The strategy parameters :meth:`RunSettings.run_config` reads (the engine's exits); the
others concern the strategy's signals alone."""


class RunSettingsError(ValueError):
    """A run setting is missing, unknown or out of range; the message names it, and
    ``setting`` is its name when the error is one setting's (None: several, or unknown)."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything that decides a run's result, JSON-compatible via :meth:`to_dict`."""

    strategy: str = DEFAULT_STRATEGY
    params: dict[str, float] = field(default_factory=dict)
    cash: float = 100_000.0
    commission: float = 0.0
    commission_minimum: float = 0.0
    slippage_bps: float = 0.0
    mode: Mode = Mode.LONG_ONLY
    cash_fraction: float = 1.0
    trade_on_close: bool = False
    volume_limit: float | None = None
    # A signal in the direction already held: "keep" the position, or "reopen" it (close and
    # open again, as backtesting.py's exclusive_orders does, paying commission on both).
    repeat_signal: str = "keep"
    # Quantity step and minimum order size of every symbol of the run (1, 0: whole shares).
    quantity_step: float = 1.0
    min_quantity: float = 0.0
    # Buying power and margin (trading.core.execution.margin): the gross-exposure limit as a
    # multiple of equity, and a short's initial and maintenance margin (Reg T 150 % / 130 %).
    leverage: float = DEFAULT_LEVERAGE
    short_margin: float = DEFAULT_SHORT_MARGIN
    maintenance_margin: float = DEFAULT_MAINTENANCE_MARGIN
    # None: a backtest with its own fresh account; a name: a live paper account kept across runs.
    account: str | None = None
    # The symbols a run trades: a file without a symbol column is named by it (one symbol);
    # a file with one keeps only these symbols' bars ("AAPL" or "AAPL,MSFT"). None: all, and a
    # file without a symbol column takes its file name without the extension.
    symbol: str | None = None
    # The period a run trades, ISO 8601 dates or datetimes, both inclusive (a date-only end
    # includes that whole day); None: from the first bar / to the last one.
    start: str | None = None
    end: str | None = None
    # Splits and cash dividends applied to the bars at ingestion: the key of a corporate
    # actions CSV in the market data bucket (``stp run --corporate-actions`` uploads it).
    corporate_actions: str | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols of :attr:`symbol` (empty: every symbol of the file)."""
        return tuple(self.symbol.split(",")) if self.symbol else ()

    def period(self) -> tuple[int | None, int | None]:
        """:attr:`start` and :attr:`end` as epoch nanoseconds (UTC), both inclusive."""
        first = None if self.start is None else moment_ns(self.start)[0]
        if self.end is None:
            return first, None
        last, date_only = moment_ns(self.end)
        return first, last + (_DAY_NANOS - 1 if date_only else 0)

    def build_strategy(self) -> Strategy:
        """The configured strategy instance (any form: see :mod:`trading.sdk`)."""
        return create_strategy(self.strategy, self.params)

    def exits(self) -> AttachedExits | None:
        """The exits every entry attaches, from the strategy parameters ``stop_loss``,
        ``take_profit`` and ``trailing_stop`` (fractions of the fill price); None without."""
        given = {name: float(self.params[name]) for name in EXIT_FRACTIONS if name in self.params}
        if not given:
            return None
        return AttachedExits(
            stop_loss_pct=given.get("stop_loss"),
            take_profit_pct=given.get("take_profit"),
            trailing_pct=given.get("trailing_stop"),
        )

    def margin(self) -> MarginRules:
        """The buying-power and margin rules of these settings."""
        return MarginRules(self.leverage, self.short_margin, self.maintenance_margin)

    def run_config(self, id_prefix: str = "O") -> RunConfig:
        """The engine configuration of these settings."""
        trailing_atr = self.params.get("trailing_atr")
        return RunConfig(
            exits=self.exits(),
            trailing_atr=None if trailing_atr is None else float(trailing_atr),
            atr_period=int(self.params.get("atr_period", 14)),
            reopen_on_repeat=self.repeat_signal == "reopen",
            margin=self.margin(),
            initial_cash=self.cash,
            mode=self.mode,
            cash_fraction=self.cash_fraction,
            execution=ExecutionConfig(
                commission_rate=self.commission,
                commission_minimum=self.commission_minimum,
                slippage_bps=self.slippage_bps,
                trade_on_close=self.trade_on_close,
                volume_limit=self.volume_limit,
                default_lot=LotSize(self.quantity_step, self.min_quantity),
            ),
            id_prefix=id_prefix,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (what the workflow carries and the report states)."""
        return {
            "strategy": self.strategy,
            "params": dict(self.params),
            "cash": self.cash,
            "commission": self.commission,
            "commission_minimum": self.commission_minimum,
            "slippage_bps": self.slippage_bps,
            "mode": self.mode.value,
            "cash_fraction": self.cash_fraction,
            "trade_on_close": self.trade_on_close,
            "volume_limit": self.volume_limit,
            "repeat_signal": self.repeat_signal,
            "quantity_step": self.quantity_step,
            "min_quantity": self.min_quantity,
            "leverage": self.leverage,
            "short_margin": self.short_margin,
            "maintenance_margin": self.maintenance_margin,
            "account": self.account,
            "symbol": self.symbol,
            "start": self.start,
            "end": self.end,
            "corporate_actions": self.corporate_actions,
        }


SETTING_HELP: dict[str, str] = {
    "strategy": "the strategy: sma_cross (default), rsi_reversion, buy_and_hold or one of "
    "yours (`stp strategies` lists them)",
    "params": "strategy and exit parameters, fast=10,slow=30 or a JSON object",
    "cash": "initial cash of a backtest account (default 100000)",
    "commission": "commission, a rate of notional (0.001 = 0.1 %%; default 0)",
    "commission_minimum": "fixed minimum commission per fill (default 0)",
    "slippage_bps": "slippage of market fills, in basis points (default 0)",
    "mode": "long-only (default) or long-short",
    "cash_fraction": "fraction of the buying power an entry uses (default 1; e.g. 0.25 for "
    "four symbols)",
    "trade_on_close": "fill market orders at the signal bar's close (default: next open)",
    "volume_limit": "largest fraction of a bar's volume one fill may take (default: no limit)",
    "repeat_signal": "a signal in the direction already held: keep the position (default) or "
    "reopen it (close and open again, as backtesting.py's exclusive_orders)",
    "quantity_step": "quantity step of every symbol, sizing rounds down to it (default 1)",
    "min_quantity": "minimum order quantity of every symbol (default 0)",
    "leverage": "gross-exposure limit, a multiple of equity: entries stop at leverage x "
    "equity (default 1: no borrowing; backtesting.py's margin is 1 / leverage)",
    "short_margin": "initial margin of a short, a multiple of its value (default 1.5: Reg T "
    "150 %%, the proceeds plus 50 %% in equity)",
    "maintenance_margin": "maintenance margin at every close, a multiple of the positions' "
    "value (default 1.3: Reg T 130 %%); below it a margin call closes every position at the "
    "next open (1: calls off, only ruin at equity <= 0)",
    "account": "a live paper account kept across runs (default: a fresh backtest account)",
    "symbol": "symbols to trade, AAPL or AAPL,MSFT (default all); names a file without a "
    "symbol column",
    "start": "first date (or datetime) to trade, ISO 8601, inclusive (default: first bar)",
    "end": "last date (or datetime) to trade, ISO 8601, inclusive (default: last bar)",
    "corporate_actions": "splits and cash dividends to back-adjust the bars with: a "
    "date,symbol,action,value CSV (stp run: a local file; an upload: its key in the market "
    "data bucket; default: none, bars as uploaded)",
}
"""One line per setting: what it means. The CLI's flags and help read it (``%%`` is ``%``)."""


_NUMBERS = {
    "cash": (0.0, 1e15, False),
    "commission": (0.0, 0.1, True),
    "commission_minimum": (0.0, 1e6, True),
    "slippage_bps": (0.0, 1_000.0, True),
    "cash_fraction": (0.0, 1.0, False),
    "quantity_step": (0.0, 1e6, False),
    "min_quantity": (0.0, 1e9, True),
    "leverage": (0.0, 100.0, False),
    "short_margin": (1.0, 2.0, True),
    "maintenance_margin": (1.0, 2.0, True),
}


def resolve_settings(*layers: Mapping[str, Any] | None) -> RunSettings:
    """Settings from ``layers`` of ``{setting name: value}``, later layers winning; validated.

    Values may be text (as metadata carries them): ``params`` is ``fast=10,slow=30`` or a JSON
    object, numbers and flags parse from their text. An unknown setting name is an error, so a
    typo never runs silently::

        resolve_settings({"strategy": "rsi_reversion", "cash": "5000"}, {"cash": 7_000})
    """
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer or {})
    known = set(RunSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise RunSettingsError(
            f"unknown run setting(s): {', '.join(unknown)} (allowed: {', '.join(sorted(known))})"
        )
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        try:
            changes[name] = _value(name, raw)
        except RunSettingsError as error:
            raise RunSettingsError(str(error), name) from None
    settings = replace(RunSettings(), **changes)
    try:
        settings.margin()
    except MarginRulesError as error:
        # Named after the margin setting the layers gave last (the one that broke the rule).
        given = [name for name in MARGIN_SETTINGS if name in values]
        raise RunSettingsError(str(error), given[-1] if given else None) from None
    if settings.corporate_actions is not None and settings.account is not None:
        raise RunSettingsError(
            "corporate_actions back-adjust a backtest's bars and cannot be used with a live "
            f"account ({settings.account}): its positions would need the same split",
            "corporate_actions",
        )
    first, last = settings.period()
    if first is not None and last is not None and first > last:
        raise RunSettingsError(f"start {settings.start} is after end {settings.end}", "start")
    try:
        strategy = settings.build_strategy()
    except StrategyConfigError as error:
        raise RunSettingsError(str(error)) from None
    return replace(settings, params=dict(strategy.values))


def _value(name: str, raw: Any) -> Any:
    """The value of setting ``name`` given as ``raw`` (text or typed), by its rule."""
    if raw is None and name in _OPTIONAL:
        return None
    if name == "strategy":
        return str(raw).strip()
    if name == "params":
        return _params(raw)
    if name == "mode":
        return _mode(raw)
    if name == "trade_on_close":
        return _flag(raw)
    if name == "repeat_signal":
        return _choice(name, raw, REPEAT_SIGNALS)
    if name == "account":
        return _account(raw)
    if name == "symbol":
        return _symbols(raw)
    if name in {"start", "end"}:
        return _moment(name, raw)
    if name == "corporate_actions":
        return _object_key(name, raw)
    if name == "volume_limit":
        return _number(name, raw, 0.0, 1.0, False)
    low, high, inclusive_low = _NUMBERS[name]
    return _number(name, raw, low, high, inclusive_low)


COST_SETTINGS = ("commission", "commission_minimum", "slippage_bps")
"""The settings of what a fill costs (:class:`~trading.core.execution.ExecutionConfig`)."""
MARGIN_SETTINGS = ("leverage", "short_margin", "maintenance_margin")
"""The settings of buying power and margin (:class:`MarginRules`)."""

_OPTIONAL = frozenset({"account", "volume_limit", "symbol", "start", "end", "corporate_actions"})
"""Settings whose ``None`` means "not set" (the default applies)."""
MAX_KEY_CHARS = 1024


def _object_key(name: str, raw: Any) -> str:
    """An S3 object key: 1-1024 characters, relative, no empty, ``.`` or ``..`` segment."""
    text = str(raw).strip()
    parts = text.split("/")
    if (
        not text
        or len(text.encode("utf-8")) > MAX_KEY_CHARS
        or any(part in {"", ".", ".."} for part in parts)
        or not text.isprintable()
    ):
        raise RunSettingsError(
            f"{name} must be an object key such as corporate-actions/actions.csv (1-1024 "
            f"printable characters, no empty, '.' or '..' part), got {raw!r}"
        )
    return text


def _params(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    text = str(raw).strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise RunSettingsError(f"params is not valid JSON: {error.msg}") from None
        if not isinstance(parsed, dict):
            raise RunSettingsError("params must be a JSON object")
        return parsed
    try:
        return dict(parse_param_pairs([p for p in text.replace(";", ",").split(",") if p]))
    except StrategyConfigError as error:
        raise RunSettingsError(str(error)) from None


def _mode(raw: Any) -> Mode:
    try:
        return Mode(str(raw).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in Mode)
        raise RunSettingsError(f"mode must be one of {allowed}, got {raw!r}") from None


REPEAT_SIGNALS = ("keep", "reopen")


def _choice(name: str, raw: Any, allowed: tuple[str, ...]) -> str:
    text = str(raw).strip().lower()
    if text not in allowed:
        raise RunSettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return text


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise RunSettingsError(f"trade_on_close must be true or false, got {raw!r}")


def _account(raw: Any) -> str:
    text = str(raw).strip()
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_." for c in text):
        raise RunSettingsError(
            f"account must be 1-64 letters, digits, '-', '_' or '.', got {raw!r}"
        )
    return text


def _symbols(raw: Any) -> str:
    """One symbol or a comma-separated list, each 1-32 letters, digits or -_.:/^=."""
    parts = list(raw) if isinstance(raw, list | tuple) else str(raw).split(",")
    names = list(dict.fromkeys(str(part).strip() for part in parts))
    for name in names:
        if not name or len(name) > 32 or not all(c.isalnum() or c in "-_.:/^=" for c in name):
            raise RunSettingsError(
                "symbol must be symbols of 1-32 letters, digits or -_.:/^=, separated by "
                f"commas, got {raw!r}"
            )
    return ",".join(names)


_DAY_NANOS = 86_400 * NANOS_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment_ns(text: str) -> tuple[int, bool]:
    """An ISO 8601 date or datetime (UTC unless it has an offset) as epoch nanoseconds, and
    whether it was a date alone. Raises ``ValueError`` when it is not one."""
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    nanos = (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000
    return nanos, len(text.strip()) == len("2020-01-02")


def _moment(name: str, raw: Any) -> str:
    text = str(raw).strip()
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise RunSettingsError(
            f"{name} must be an ISO 8601 date or datetime (2020-01-02, 2020-01-02T14:30Z), "
            f"got {raw!r}"
        ) from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise RunSettingsError(f"{name} {text} is outside the supported dates, {SUPPORTED_DATES}")
    return text


def _number(name: str, raw: Any, low: float, high: float, inclusive_low: bool) -> float:
    if isinstance(raw, bool):
        raise RunSettingsError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        raise RunSettingsError(f"{name} must be a number, got {raw!r}") from None
    above_low = value >= low if inclusive_low else value > low
    if not math.isfinite(value) or not above_low or value > high:
        bound = "[" if inclusive_low else "("
        raise RunSettingsError(f"{name} must be in {bound}{low:g}, {high:g}], got {raw!r}")
    return value
