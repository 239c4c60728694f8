"""Portfolio accounting: cash, positions with average cost, realised P&L and round-trip trades.

Identity kept at every step: ``equity = cash + Σ quantity × mark`` and
``equity = initial_cash + realized_pnl + Σ unrealized_pnl − total_commission``.
"""

from __future__ import annotations

from typing import Any

from trading.core.lots import without_dust
from trading.core.model import Account, ExitKind, Fill, Position, Side, Trade

# Enum members as module constants: reading one from its class goes through a descriptor
# (about 45 ns on CPython 3.11), a module global costs a few; these are read for every
# order and fill of a backtest.
_BUY = Side.BUY


class Portfolio:
    """Applies fills to an :class:`Account` and records the round trips they close.

    With ``trade_rows`` the round trips are recorded there as tuples of the :class:`Trade`
    fields in declaration order instead of objects (the columnar path: no object per trade).
    """

    __slots__ = ("account", "trade_rows", "trades")

    def __init__(self, account: Account, trade_rows: list[tuple[Any, ...]] | None = None) -> None:
        self.account = account
        self.trades: list[Trade] = []
        self.trade_rows = trade_rows

    @classmethod
    def with_cash(cls, cash: float) -> Portfolio:
        """A fresh portfolio holding only ``cash``."""
        return cls(Account(cash=cash, initial_cash=cash))

    def position(self, symbol: str) -> float:
        """Signed quantity held in ``symbol`` (0 when flat)."""
        held = self.account.positions.get(symbol)
        return held.quantity if held is not None else 0

    def mark(self, symbol: str, price: float) -> None:
        """Record the latest price of ``symbol`` for unrealised P&L."""
        held = self.account.positions.get(symbol)
        if held is not None:
            held.last_price = price

    def equity(self) -> float:
        """Cash plus every position marked at its last price."""
        return self.account.cash + sum(
            p.quantity * p.last_price for p in self.account.positions.values()
        )

    def apply(self, fill: Fill, bar_index: int) -> None:
        """Book ``fill`` (executed on the symbol's bar number ``bar_index``)."""
        self.book(
            fill.symbol,
            fill.side is _BUY,
            fill.quantity,
            fill.price,
            fill.commission,
            fill.ts,
            bar_index,
            fill.exit_kind,
            fill.stop_first,
        )

    def book(
        self,
        symbol: str,
        buy: bool,
        quantity: float,
        price: float,
        commission: float,
        ts: int,
        bar_index: int,
        exit_kind: ExitKind | None = None,
        stop_first: bool = False,
    ) -> None:
        """Book a fill given by its values (see :meth:`apply`)."""
        account = self.account
        signed = quantity if buy else -quantity
        account.cash -= signed * price + commission
        account.total_commission += commission
        held = account.positions.get(symbol)
        if held is None:
            held = Position(symbol)
            account.positions[symbol] = held
        held.last_price = price
        position = held.quantity
        if position == 0:  # _open() of a flat position, inlined: every entry of a backtest
            held.entry_ts = ts
            held.entry_bar = bar_index
            held.entry_commission = 0.0 + commission
            held.average_cost = price
            quantity = position + signed
            held.quantity = quantity if quantity.__class__ is int else without_dust(quantity)
            return
        if (position > 0) == buy:
            _open(held, signed, price, ts, bar_index, commission)
            return
        size = abs(signed)
        held_size = abs(position)
        closing = size if size <= held_size else held_size  # min(): the first on a tie
        exit_commission = commission * closing / size
        # The round trip the fill closes (as much of the position as it covers).
        direction = 1 if position > 0 else -1
        entry_share = held.entry_commission * closing / held_size
        gross = direction * closing * (price - held.average_cost)
        account.realized_pnl += gross
        row = (
            symbol,
            "long" if direction > 0 else "short",
            closing,
            held.entry_ts,
            held.average_cost,
            ts,
            price,
            held.entry_bar,
            bar_index,
            gross - entry_share - exit_commission,
            entry_share + exit_commission,
            False,
            exit_kind,
            stop_first,
        )
        if self.trade_rows is None:
            self.trades.append(Trade(*row))
        else:
            self.trade_rows.append(row)
        held.entry_commission -= entry_share
        left = position - direction * closing
        held.quantity = left if left.__class__ is int else without_dust(left)
        if held.quantity == 0:
            held.average_cost = 0.0
            held.entry_commission = 0.0
        rest = size - closing
        if rest:
            _open(held, rest if buy else -rest, price, ts, bar_index, commission - exit_commission)

    def open_trades(self, last_ts: dict[str, int], last_bar: dict[str, int]) -> list[Trade]:
        """Open positions as round trips marked to their last price (not booked)."""
        marked: list[Trade] = []
        for held in self.account.positions.values():
            if held.quantity == 0:
                continue
            direction = 1 if held.quantity > 0 else -1
            size = abs(held.quantity)
            gross = direction * size * (held.last_price - held.average_cost)
            marked.append(
                Trade(
                    symbol=held.symbol,
                    direction="long" if direction > 0 else "short",
                    quantity=size,
                    entry_ts=held.entry_ts,
                    entry_price=held.average_cost,
                    exit_ts=last_ts.get(held.symbol, held.entry_ts),
                    exit_price=held.last_price,
                    entry_bar=held.entry_bar,
                    exit_bar=last_bar.get(held.symbol, held.entry_bar),
                    pnl=gross - held.entry_commission,
                    commission=held.entry_commission,
                    is_open=True,
                )
            )
        return marked


def _open(
    held: Position, signed: float, price: float, ts: int, bar_index: int, commission: float
) -> None:
    if held.quantity == 0:
        held.entry_ts = ts
        held.entry_bar = bar_index
        held.entry_commission = 0.0
        held.average_cost = price
    else:
        size = abs(held.quantity)
        held.average_cost = (size * held.average_cost + abs(signed) * price) / (size + abs(signed))
    quantity = held.quantity + signed
    held.quantity = quantity if quantity.__class__ is int else without_dust(quantity)
    held.entry_commission += commission
