"""The strategy base classes: one per form a strategy may take.

- :class:`SignalStrategy` (vectorised): ``signals(bars)`` returns one int8 per bar of one
  symbol, ``BUY`` (+1), ``SELL`` (−1) or 0; the engine turns them into orders.
- :class:`TargetStrategy` (vectorised): ``targets(bars)`` returns one float per bar of one
  symbol: the position to hold from that bar on, as a weight of equity or a quantity; NaN
  keeps what is held.
- :class:`PortfolioStrategy` (vectorised, multi-asset): ``weights(universe)`` sees every
  symbol of the run at once and returns target weights per symbol and bar; orders are netted
  per symbol against what is held.
- :class:`EventStrategy` (event-driven): ``on_bar(ctx)`` sees each bar with the account's
  position, cash and open orders and places or cancels orders of every type
  (:class:`~trading.sdk.context.BarContext`): for path-dependent logic.

Every form declares ``name``, ``description`` and ``params`` (a tuple of :class:`Param`) once;
an instance holds validated values in :attr:`Strategy.values`. A value computed for bar t may
use bars up to t only (``stp check-strategy`` verifies it); orders fill on a later bar.

Importing this module loads no numeric library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from trading.sdk.errors import StrategyConfigError
from trading.sdk.params import EXIT_PARAMS, Param

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trading.core.bars import BarSeries, FloatArray, SignalArray
    from trading.sdk.context import BarContext

BUY = 1
SELL = -1


class Strategy(ABC):
    """What every strategy form shares: a name, declared parameters and their values.

    Every strategy also accepts the optional :data:`EXIT_PARAMS`; they do not change what it
    computes, they are carried by its entry orders (see :attr:`exit_values`).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    # Which form this is ("signals", ...): how the engine drives it.
    form: ClassVar[str]

    def __init__(self, **values: object) -> None:
        known = {p.name: p for p in (*self.params, *EXIT_PARAMS)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            allowed = ", ".join(known)
            raise StrategyConfigError(
                f"unknown parameter(s) for {self.name}: {', '.join(unknown)} (allowed: {allowed})"
            )
        self.values: dict[str, float] = {
            p.name: p.parse(values[p.name]) if p.name in values else p.default for p in self.params
        }
        # Exits only when given: a strategy's parameters read as before without them.
        self.values.update(
            {p.name: p.parse(values[p.name]) for p in EXIT_PARAMS if p.name in values}
        )
        if "trailing_stop" in self.values and "trailing_atr" in self.values:
            raise StrategyConfigError("give trailing_stop or trailing_atr, not both")
        self.check()

    def __getitem__(self, name: str) -> float:
        """A parameter's value: ``self["fast"]``."""
        return self.values[name]

    @property
    def exit_values(self) -> dict[str, float]:
        """The exit parameters given (name → fraction)."""
        return {p.name: self.values[p.name] for p in EXIT_PARAMS if p.name in self.values}

    def check(self) -> None:  # noqa: B027 - optional hook, most strategies have no such rule
        """Cross-parameter rules; raise :class:`StrategyConfigError` when broken."""

    @property
    def warmup(self) -> int:
        """Bars needed before the first possible signal (a live account keeps ten times as
        many bars of history, at least 250). Override when an indicator needs more."""
        return 1

    def describe(self) -> dict[str, Any]:
        """Name and effective parameters, JSON-compatible."""
        return {"name": self.name, "params": dict(self.values)}


class SignalStrategy(Strategy):
    """Vectorised, one symbol at a time: ``signals(bars)`` → one int8 per bar.

    ``BUY`` opens a long (closing a short first in long/short mode), ``SELL`` closes a long
    (and opens a short in long/short mode), 0 does nothing; sizing, costs and exits are the
    run's settings. The fastest form, and the one parameter sweeps run::

        class Breakout(SignalStrategy):
            name = "breakout"
            params = (Param("window", int, 20, 2, 500, "bars in the channel"),)

            def signals(self, bars):
                ...
    """

    form: ClassVar[str] = "signals"

    @abstractmethod
    def signals(self, series: BarSeries) -> SignalArray:
        """One signal per bar of ``series`` (numpy int8: BUY, SELL or 0)."""


WEIGHT = "weight"
QUANTITY = "quantity"


class TargetStrategy(Strategy):
    """Vectorised, one symbol at a time: ``targets(bars)`` → one float per bar, the position
    to hold from that bar on. ``unit`` says what the number is: ``"weight"`` (default), a
    fraction of the account's equity (negative: short, long/short mode only; long-only runs
    treat it as 0), or ``"quantity"``, units of the symbol. NaN keeps what is held; a number
    trades the difference to it (one market order, sized at the bar's close and never above
    what the cash pays at the fill). Return NaN where nothing changes to trade only then::

        class HalfIn(TargetStrategy):
            name = "half_in"

            def targets(self, bars):
                return np.where(bars.close > sma(bars.close, 50), 0.5, 0.0)
    """

    form: ClassVar[str] = "targets"
    unit: ClassVar[str] = WEIGHT

    @abstractmethod
    def targets(self, series: BarSeries) -> FloatArray:
        """One target per bar of ``series`` (float64; NaN: keep what is held)."""


class PortfolioStrategy(Strategy):
    """Vectorised, every symbol at once: ``weights(universe)`` → per symbol, one target
    weight per bar of that symbol (NaN: keep). At each timestamp the weights given become
    one netted order per symbol: sells first, then buys from the proceeds (see
    :func:`trading.sdk.universe.aligned_closes` to rank symbols on one timeline)."""

    form: ClassVar[str] = "portfolio"

    @abstractmethod
    def weights(self, universe: Mapping[str, BarSeries]) -> Mapping[str, FloatArray]:
        """Target weights of equity per symbol, each array as long as its bars."""


class EventStrategy(Strategy):
    """Event-driven: ``on_bar(ctx)`` is called on the close of every bar of every symbol,
    after the broker worked the bar; ``ctx`` shows the bar, the history up to it, the
    position, cash, equity and open orders, and places or cancels orders (market, limit,
    stop, stop-limit, with attached exits) that fill on a later bar::

        class ScaleOut(EventStrategy):
            name = "scale_out"

            def on_bar(self, ctx):
                if not ctx.position and ctx.close > ctx.bars.close[-20:].max():
                    ctx.buy(100)
    """

    form: ClassVar[str] = "events"

    @abstractmethod
    def on_bar(self, ctx: BarContext) -> None:
        """Decide on the close of ``ctx.bar``."""


FORMS = ("signals", "targets", "portfolio", "events")
"""Every form, as :attr:`Strategy.form` names it."""
