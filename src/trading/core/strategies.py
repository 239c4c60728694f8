"""The strategies the engine runs, as the core has always named them: a view of the strategy
SDK (:mod:`trading.sdk`), which holds the base classes, the built-ins and the registry.

A signal array holds one int8 per bar: +1 = buy (go long), −1 = sell (exit long / go short),
0 = nothing. A signal on bar t uses only bars up to t; orders it causes fill on a later bar.

Importing this module loads no numeric library: validating a run's strategy and parameters
(the API does it on every request) stays cheap; numpy is loaded when signals are computed.
"""

from __future__ import annotations

from collections.abc import Mapping

from trading.sdk.base import BUY, SELL, SignalStrategy
from trading.sdk.builtin import BUILT_IN, BuyAndHold, RsiReversion, SmaCross
from trading.sdk.errors import StrategyConfigError
from trading.sdk.params import EXIT_PARAMS, Param, parse_param_pairs
from trading.sdk.registry import create_signal_strategy

Strategy = SignalStrategy
"""The signal form, under its older name."""

STRATEGIES: dict[str, type[SignalStrategy]] = {
    cls.name: cls for cls in BUILT_IN if issubclass(cls, SignalStrategy)
}
"""The built-in signal strategies by name (user strategies: :mod:`trading.sdk.registry`)."""


def create_strategy(name: str, params: Mapping[str, object] | None = None) -> SignalStrategy:
    """Build a signal strategy (built-in or user) from its name and raw parameter values."""
    return create_signal_strategy(name, params)


__all__ = [
    "BUY",
    "EXIT_PARAMS",
    "SELL",
    "STRATEGIES",
    "BuyAndHold",
    "Param",
    "RsiReversion",
    "SmaCross",
    "Strategy",
    "StrategyConfigError",
    "create_strategy",
    "parse_param_pairs",
]
