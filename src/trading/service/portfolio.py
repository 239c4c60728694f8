"""The API's account views: positions and the portfolio (cash, equity, exposure, P&L).

Read from the account's engine state alone (one item): positions are marked at the last
price the account saw (its last fill or processed bar), the same marks its equity curve uses.

>>> portfolio_view(AccountState("paper", None, 0))["equity"]
100000.0
"""

from __future__ import annotations

from typing import Any

from trading.service.orders import ACCOUNT_CONFIG
from trading.service.pages import Page, decode_token, encode_token
from trading.service.ports import AccountState

_TOKEN_KEYS = ("symbol",)


def _account(state: AccountState) -> dict[str, Any]:
    """The saved account (cash, positions...), or a new account's."""
    if state.state is None:
        cash = ACCOUNT_CONFIG.initial_cash
        return {
            "cash": cash,
            "initial_cash": cash,
            "positions": {},
            "realized_pnl": 0.0,
            "total_commission": 0.0,
        }
    account: dict[str, Any] = state.state["broker"]["account"]
    return account


def _exit_view(order: dict[str, Any]) -> dict[str, Any]:
    """An attached exit of a position, as the API lists it."""
    return {
        "order_id": str(order["order_id"]),
        "exit_kind": str(order["exit_kind"]),
        "type": str(order["order_type"]),
        "side": str(order["side"]),
        "quantity": float(order["quantity"]) - float(order.get("filled_quantity") or 0),
        "stop_price": None if order.get("stop_price") is None else float(order["stop_price"]),
        "limit_price": None if order.get("limit_price") is None else float(order["limit_price"]),
        "parent_id": order.get("parent_id"),
    }


def _exits_by_symbol(state: AccountState) -> dict[str, list[dict[str, Any]]]:
    """The live exit orders of each symbol's position, in the order the broker keeps them."""
    exits: dict[str, list[dict[str, Any]]] = {}
    open_orders = (state.state or {}).get("broker", {}).get("open_orders", [])
    for order in open_orders:
        if order.get("exit_kind"):
            exits.setdefault(str(order["symbol"]), []).append(_exit_view(order))
    return exits


def _position_view(held: dict[str, Any], exits: list[dict[str, Any]]) -> dict[str, Any]:
    quantity = float(held["quantity"])
    last = float(held.get("last_price") or 0.0)
    cost = float(held.get("average_cost") or 0.0)
    return {
        "symbol": str(held["symbol"]),
        "quantity": quantity,
        "average_cost": cost,
        "last_price": last,
        "market_value": quantity * last,
        "unrealized_pnl": quantity * (last - cost),
        "exits": exits,
    }


def _open_positions(state: AccountState) -> list[dict[str, Any]]:
    """Non-flat positions, by symbol."""
    positions = _account(state)["positions"]
    exits = _exits_by_symbol(state)
    return [
        _position_view(positions[symbol], exits.get(symbol, []))
        for symbol in sorted(positions)
        if float(positions[symbol]["quantity"]) != 0
    ]


def positions_page(state: AccountState, *, limit: int, next_token: str | None) -> Page[Any]:
    """One page of the open positions, by symbol."""
    held = _open_positions(state)
    if next_token is not None:
        after = decode_token(next_token, _TOKEN_KEYS)["symbol"]
        held = [position for position in held if position["symbol"] > after]
    page, rest = held[:limit], held[limit:]
    token = encode_token({"symbol": page[-1]["symbol"]}) if rest else None
    return Page(page, token)


def portfolio_view(state: AccountState) -> dict[str, Any]:
    """Cash, equity, exposure and P&L of the account."""
    account = _account(state)
    held = _open_positions(state)
    cash = float(account["cash"])
    long = sum(p["market_value"] for p in held if p["quantity"] > 0)
    short = -sum(p["market_value"] for p in held if p["quantity"] < 0)
    equity = cash + long - short
    open_orders = len(state.state["broker"]["open_orders"]) if state.state else 0
    return {
        "account": state.account,
        "cash": cash,
        "equity": equity,
        "initial_cash": float(account["initial_cash"]),
        "exposure": {
            "long": long,
            "short": short,
            "gross": long + short,
            "net": long - short,
            "gross_fraction": (long + short) / equity if equity > 0 else None,
        },
        "realized_pnl": float(account["realized_pnl"]),
        "unrealized_pnl": sum(p["unrealized_pnl"] for p in held),
        "total_commission": float(account["total_commission"]),
        "positions": len(held),
        "open_orders": open_orders,
        "version": state.version,
    }
