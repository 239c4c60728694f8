"""What an event-driven strategy sees and does on one bar: :class:`BarContext`.

Orders go through the paper broker that serves every run (same risk checks, same fill
rules): an order placed on bar t fills on a later bar of its symbol (at the next open for a
market order; see docs/execution.md), or is rejected with a reason the order carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading.core.execution import AttachedExits
from trading.core.model import Bar, Order, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from trading.core.bars import BarSeries
    from trading.core.config import RunConfig
    from trading.core.execution import PaperBroker


class BarContext:
    """One bar of one symbol, the account as it stands on its close, and the order desk.

    Read: :attr:`bar` (and :attr:`close`...), :attr:`bars` (the history up to and including
    this bar, numpy arrays), :attr:`position`, :attr:`cash`, :attr:`equity`,
    :attr:`open_orders`, :attr:`state` (a dict kept per symbol for the run).
    Act: :meth:`buy`, :meth:`sell`, :meth:`close_position`, :meth:`cancel`.
    """

    __slots__ = ("_broker", "_config", "_series", "bar", "bar_index", "number", "state")

    def __init__(
        self,
        broker: PaperBroker,
        config: RunConfig,
        series: BarSeries,
        bar: Bar,
        bar_index: int,
        number: int,
        state: dict[str, Any],
    ) -> None:
        self._broker = broker
        self._config = config
        self._series = series
        self.bar = bar
        self.bar_index = bar_index
        self.number = number
        self.state = state

    # -- the bar -------------------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        """The symbol of this bar."""
        return self.bar.symbol

    @property
    def ts(self) -> int:
        """This bar's timestamp (epoch nanoseconds, UTC)."""
        return self.bar.ts

    @property
    def open(self) -> float:
        """This bar's open."""
        return self.bar.open

    @property
    def high(self) -> float:
        """This bar's high."""
        return self.bar.high

    @property
    def low(self) -> float:
        """This bar's low."""
        return self.bar.low

    @property
    def close(self) -> float:
        """This bar's close (the price the strategy decides on)."""
        return self.bar.close

    @property
    def bars(self) -> BarSeries:
        """The symbol's bars up to and including this one (never a later one)."""
        return self._series.slice(0, self.bar_index + 1)

    # -- the account ---------------------------------------------------------------------------

    @property
    def position(self) -> float:
        """Signed quantity held in this symbol (0 when flat)."""
        return self._broker.portfolio.position(self.bar.symbol)

    def position_of(self, symbol: str) -> float:
        """Signed quantity held in ``symbol``."""
        return self._broker.portfolio.position(symbol)

    @property
    def cash(self) -> float:
        """The account's cash."""
        return self._broker.portfolio.account.cash

    @property
    def equity(self) -> float:
        """Cash plus every position at its latest close."""
        return self._broker.portfolio.equity()

    @property
    def open_orders(self) -> list[Order]:
        """This symbol's open orders (attached exits included), oldest first."""
        return self._broker.open_orders_for(self.bar.symbol)

    # -- orders --------------------------------------------------------------------------------

    def buy(
        self,
        quantity: float | None = None,
        *,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        day: bool = False,
        reduce_only: bool = False,
    ) -> Order:
        """Place a buy of this symbol: see :meth:`order`."""
        return self.order(
            Side.BUY,
            quantity,
            fraction=fraction,
            limit=limit,
            stop=stop,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing_stop=trailing_stop,
            day=day,
            reduce_only=reduce_only,
        )

    def sell(
        self,
        quantity: float | None = None,
        *,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        day: bool = False,
        reduce_only: bool = False,
    ) -> Order:
        """Place a sell of this symbol (beyond the position: a short, long/short mode only):
        see :meth:`order`."""
        return self.order(
            Side.SELL,
            quantity,
            fraction=fraction,
            limit=limit,
            stop=stop,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing_stop=trailing_stop,
            day=day,
            reduce_only=reduce_only,
        )

    def order(
        self,
        side: Side,
        quantity: float | None = None,
        *,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        day: bool = False,
        reduce_only: bool = False,
    ) -> Order:
        """Place an order of this symbol, sized by ``quantity`` or ``fraction`` (of the cash
        when it fills). Its type follows the prices given: none, market; ``limit``, limit;
        ``stop``, stop; both, stop-limit. ``stop_loss``, ``take_profit`` and
        ``trailing_stop`` (fractions of the fill price) attach exits to the position it
        opens; without them an entry carries the run's exit parameters, if any. ``day``:
        expires after its first eligible bar; ``reduce_only``: never fills more than the
        position it reduces (cancelled once there is none). The order comes back open,
        filled (trade on close) or rejected with ``reject_reason`` and ``reject_message``."""
        if limit is not None and stop is not None:
            kind = OrderType.STOP_LIMIT
        elif limit is not None:
            kind = OrderType.LIMIT
        elif stop is not None:
            kind = OrderType.STOP
        else:
            kind = OrderType.MARKET
        given = (stop_loss, take_profit, trailing_stop)
        exits = (
            AttachedExits(
                stop_loss_pct=stop_loss, take_profit_pct=take_profit, trailing_pct=trailing_stop
            )
            if any(v is not None for v in given)
            else None
            if reduce_only
            else self._config.exits
        )
        return self._broker.submit(
            self.bar.symbol,
            side,
            self.bar,
            self.number,
            quantity=quantity,
            cash_fraction=fraction,
            order_type=kind,
            limit_price=limit,
            stop_price=stop,
            time_in_force=TimeInForce.DAY if day else TimeInForce.GTC,
            exits=exits,
            reduce_only=reduce_only,
        )

    def close_position(self) -> Order | None:
        """A market order closing this symbol's position (None when flat); it never
        reverses the position, even if an exit closes it first."""
        held = self.position
        if not held:
            return None
        side = Side.SELL if held > 0 else Side.BUY
        return self.order(side, abs(held), reduce_only=True)

    def cancel(self, order: Order | str) -> Order:
        """Cancel an open order (or its id); raises ``OrderNotFoundError`` when none is."""
        return self._broker.cancel(order if isinstance(order, str) else order.order_id)
