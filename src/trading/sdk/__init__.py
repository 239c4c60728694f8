"""The strategy SDK: write a strategy, declare its parameters, and the platform runs it.

The public surface (everything else is internal)::

    from trading.sdk import BUY, SELL, Param, SignalStrategy

    class Breakout(SignalStrategy):
        name = "breakout"
        description = "buy a new high, sell a new low"
        params = (Param("window", int, 20, 2, 500, "bars in the channel"),)

        def signals(self, bars):
            ...  # numpy arrays in, one int8 per bar out

Four forms (see :mod:`trading.sdk.base`): :class:`SignalStrategy` and :class:`TargetStrategy`
(vectorised, one symbol), :class:`PortfolioStrategy` (vectorised, every symbol: target
weights), :class:`EventStrategy` (``on_bar`` with a :class:`BarContext`). The engine runs
them: ``trading.core.pipeline.run_backtest`` (any form), ``trading.sdk.drive.run_strategy``
(the bar-by-bar forms), ``trading.sdk.lookahead.check_lookahead``.

Put the file in your project's ``strategies/`` folder: ``stp strategies`` lists it,
``stp run --strategy breakout`` runs it, ``sam build`` ships it. See docs/strategies.md.
Importing this package loads no numeric library.
"""

from trading.sdk.base import (
    BUY,
    FORMS,
    QUANTITY,
    SELL,
    WEIGHT,
    EventStrategy,
    PortfolioStrategy,
    SignalStrategy,
    Strategy,
    TargetStrategy,
)
from trading.sdk.context import BarContext
from trading.sdk.errors import StrategyConfigError, StrategyLoadError, StrategyRuntimeError
from trading.sdk.params import EXIT_PARAMS, Param, parse_param_pairs
from trading.sdk.registry import (
    ENTRY_POINT_GROUP,
    STRATEGY_PATH_ENV,
    LoadFailure,
    StrategyEntry,
    available_strategies,
    create_signal_strategy,
    create_strategy,
    describe_strategies,
    load_failures,
    strategy_class,
)

__all__ = [
    "BUY",
    "ENTRY_POINT_GROUP",
    "EXIT_PARAMS",
    "FORMS",
    "QUANTITY",
    "SELL",
    "STRATEGY_PATH_ENV",
    "WEIGHT",
    "BarContext",
    "EventStrategy",
    "LoadFailure",
    "Param",
    "PortfolioStrategy",
    "SignalStrategy",
    "Strategy",
    "StrategyConfigError",
    "StrategyEntry",
    "StrategyLoadError",
    "StrategyRuntimeError",
    "TargetStrategy",
    "available_strategies",
    "create_signal_strategy",
    "create_strategy",
    "describe_strategies",
    "load_failures",
    "parse_param_pairs",
    "strategy_class",
]
