"""How a signal becomes orders: the one rule both execution paths (the broker's and the
columnar one) follow, and the exits each entry carries."""

from __future__ import annotations

from dataclasses import replace

from trading.core.config import Mode, RunConfig
from trading.core.execution import AttachedExits
from trading.core.strategies import BUY

# One order a signal asks for: (buy, quantity, cash fraction, reduce-only, is the entry).
# Exactly one of quantity and cash fraction is set; an entry carries the run's exits.
OrderIntent = tuple[bool, float | None, float | None, bool, bool]


def signal_orders(signal: int, position: float, config: RunConfig) -> tuple[OrderIntent, ...]:
    """The orders ``signal`` (BUY or SELL) places while ``position`` is held: none when the
    position already points that way (unless ``config.reopen_on_repeat``: then it is closed
    and opened again); else a close of the position (reduce-only when exits may close it
    first, so the close never reverses it), then the entry, except for a sell in long-only
    mode.

    >>> signal_orders(-1, 10, RunConfig(mode=Mode.LONG_SHORT))  # a sell while long 10
    ((False, 10, None, False, False), (False, None, 1.0, False, True))
    """
    buy = signal == BUY
    held = (buy and position > 0) or (not buy and position < 0)
    if held and not config.reopen_on_repeat:
        return ()
    entry: OrderIntent = (
        (buy, config.quantity, None, False, True)
        if config.quantity is not None
        else (buy, None, config.cash_fraction, False, True)
    )
    if not position:
        return () if not buy and config.mode is Mode.LONG_ONLY else (entry,)
    reduce_only = config.exits is not None or config.trailing_atr is not None
    close: OrderIntent = (position < 0, abs(position), None, reduce_only, False)
    if not buy and config.mode is Mode.LONG_ONLY:
        return (close,)
    return close, entry


def entry_exits(config: RunConfig, atr: float | None) -> AttachedExits | None:
    """The exits an entry carries: the configured ones, plus a trailing stop at
    ``trailing_atr`` × ``atr`` (the ATR of the signal bar; none while it is undefined)."""
    if config.trailing_atr is None or atr is None:
        return config.exits
    distance = config.trailing_atr * atr
    if not distance > 0:  # NaN during the ATR's warm-up, or a flat market
        return config.exits
    return replace(config.exits or AttachedExits(), trailing_distance=distance)
