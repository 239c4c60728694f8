"""Calling a strategy's code: what it returns is checked, what it raises is named.

A strategy is user code: an exception or a malformed result becomes one
:class:`StrategyRuntimeError` line naming the strategy, the file and line that raised, so a
run fails with a cause the user can act on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from trading.sdk.base import SignalStrategy, Strategy
from trading.sdk.errors import StrategyRuntimeError, describe_error, where_raised

if TYPE_CHECKING:
    from trading.core.bars import BarSeries, SignalArray

T = TypeVar("T")


def guarded(strategy: Strategy, what: str, call: Callable[[], T]) -> T:
    """``call()``; an exception from it becomes a :class:`StrategyRuntimeError` naming the
    strategy, ``what`` it was doing and where it raised (preferring the strategy's file)."""
    try:
        return call()
    except StrategyRuntimeError:
        raise
    except Exception as error:
        raise failure(strategy, what, error) from error


def failure(strategy: Strategy, what: str, error: Exception) -> StrategyRuntimeError:
    """The :class:`StrategyRuntimeError` of ``error``, raised by ``strategy`` in ``what``."""
    if isinstance(error, StrategyRuntimeError):
        return error
    where = where_raised(error, source_file(strategy))
    return StrategyRuntimeError(
        f"strategy {strategy.name} raised in {what} at {where}: {describe_error(error)}"
    )


def source_file(strategy: Strategy) -> str | None:
    """The file that defines ``strategy``'s class (None for one defined interactively)."""
    try:
        return inspect.getsourcefile(type(strategy))
    except TypeError:
        return None


def compute_signals(
    strategy: SignalStrategy, series: Mapping[str, BarSeries]
) -> dict[str, SignalArray]:
    """The strategy's signals for every symbol of ``series``, checked: one int8 per bar,
    each BUY, SELL or 0."""
    import numpy as np

    out: dict[str, SignalArray] = {}
    for symbol, bars in series.items():
        raw = guarded(strategy, f"signals({symbol})", partial(strategy.signals, bars))
        values = np.asarray(raw)
        if values.shape != (len(bars),):
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned signals of shape {values.shape} for "
                f"{len(bars)} bars of {symbol}"
            )
        if values.dtype != np.int8:
            if not np.isin(values, (-1, 0, 1)).all():
                raise StrategyRuntimeError(
                    f"strategy {strategy.name} returned signals other than 1, -1 and 0 for {symbol}"
                )
            values = values.astype(np.int8)
        elif values.size and (values.min() < -1 or values.max() > 1):
            raise StrategyRuntimeError(
                f"strategy {strategy.name} returned signals other than 1, -1 and 0 for {symbol}"
            )
        out[symbol] = values
    return out
