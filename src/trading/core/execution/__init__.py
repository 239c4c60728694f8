"""Execution: how orders become fills, in the shape of zipline's ``finance/``.

- ``broker``: the broker port and the paper broker (orders and their life cycle);
- ``order_rules``: validation of an order's prices and exits (shared with the API);
- ``fill_rules``: where an order fills against one bar, which exit of a position fills first;
- ``costs``: commission, slippage and the other execution options (plain data);
- ``exits``: attached stop-loss, take-profit and trailing stop;
- ``sizing``: what a fraction of the account buys.

Every module here is on the order path and imports no numeric library.
"""

from trading.core.execution.broker import BrokerPort, OrderNotFoundError, PaperBroker
from trading.core.execution.costs import ExecutionConfig
from trading.core.execution.exits import AttachedExits
from trading.core.execution.order_rules import OrderValidationError, validate_order

__all__ = [
    "AttachedExits",
    "BrokerPort",
    "ExecutionConfig",
    "OrderNotFoundError",
    "OrderValidationError",
    "PaperBroker",
    "validate_order",
]
