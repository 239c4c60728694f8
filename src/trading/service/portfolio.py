"""The API's account views: positions and the portfolio (cash, equity, exposure, P&L).

Read from the account aggregate: positions are marked at the last price the account saw (its
last fill or processed bar), the same marks its equity curve uses; a position lists the live
exit orders that close it.

>>> portfolio_view(TradingAccount.opened("paper", 100_000.0, "paper-"))["equity"]
100000.0
"""

from __future__ import annotations

from typing import Any

from trading.core.config import RunConfig
from trading.core.model import Order, Position
from trading.service.account import TradingAccount
from trading.service.orders import ACCOUNT_CONFIG, as_opened
from trading.service.pages import Page, decode_token, encode_token

_TOKEN_KEYS = ("symbol",)


def _exit_view(order: Order) -> dict[str, Any]:
    """An attached exit of a position, as the API lists it."""
    return {
        "order_id": order.order_id,
        "exit_kind": str(order.exit_kind),
        "type": str(order.order_type),
        "side": str(order.side),
        "quantity": float(order.quantity) - float(order.filled_quantity),
        "stop_price": None if order.stop_price is None else float(order.stop_price),
        "limit_price": None if order.limit_price is None else float(order.limit_price),
        "parent_id": order.parent_id,
    }


def _position_view(held: Position, exits: list[dict[str, Any]]) -> dict[str, Any]:
    quantity = float(held.quantity)
    last = float(held.last_price)
    cost = float(held.average_cost)
    return {
        "symbol": held.symbol,
        "quantity": quantity,
        "average_cost": cost,
        "last_price": last,
        "market_value": quantity * last,
        "unrealized_pnl": quantity * (last - cost),
        "exits": exits,
    }


def _open_positions(account: TradingAccount) -> list[dict[str, Any]]:
    """Non-flat positions by symbol, with the exits among the loaded open orders."""
    exits: dict[str, list[dict[str, Any]]] = {}
    for order in account.open_orders.values():
        if order.exit_kind is not None:
            exits.setdefault(order.symbol, []).append(_exit_view(order))
    positions = account.ledger.positions
    return [
        _position_view(positions[symbol], exits.get(symbol, []))
        for symbol in sorted(positions)
        if positions[symbol].quantity != 0
    ]


def positions_page(
    account: TradingAccount,
    *,
    limit: int,
    next_token: str | None,
    config: RunConfig = ACCOUNT_CONFIG,
) -> Page[Any]:
    """One page of the open positions, by symbol (the account read with its open orders; one
    never saved opens with ``config``'s cash)."""
    held = _open_positions(as_opened(account, config))
    if next_token is not None:
        after = decode_token(next_token, _TOKEN_KEYS)["symbol"]
        held = [position for position in held if position["symbol"] > after]
    page, rest = held[:limit], held[limit:]
    token = encode_token({"symbol": page[-1]["symbol"]}) if rest else None
    return Page(page, token)


def portfolio_view(account: TradingAccount, config: RunConfig = ACCOUNT_CONFIG) -> dict[str, Any]:
    """Cash, equity, exposure and P&L of the account (its root alone is enough; one never
    saved opens with ``config``'s cash)."""
    account = as_opened(account, config)
    ledger = account.ledger
    held = _open_positions(account)
    cash = float(ledger.cash)
    long = sum(p["market_value"] for p in held if p["quantity"] > 0)
    short = -sum(p["market_value"] for p in held if p["quantity"] < 0)
    equity = cash + long - short
    return {
        "account": account.account_id,
        "cash": cash,
        "equity": equity,
        "initial_cash": float(ledger.initial_cash),
        "exposure": {
            "long": long,
            "short": short,
            "gross": long + short,
            "net": long - short,
            "gross_fraction": (long + short) / equity if equity > 0 else None,
        },
        "realized_pnl": float(ledger.realized_pnl),
        "unrealized_pnl": sum(p["unrealized_pnl"] for p in held),
        "total_commission": float(ledger.total_commission),
        "positions": len(held),
        "open_orders": account.open_order_count,
        "version": account.version,
    }
