"""Objectives a sweep ranks by: the metric, and whether higher or lower is better.

A result without the metric (undefined: no trades, flat equity) or with fewer trades than the
sweep's ``min_trades`` ranks after every result that has it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Objective name -> (metric key of the performance report, higher is better).
OBJECTIVES: dict[str, tuple[str, bool]] = {
    "sharpe": ("sharpe", True),
    "sortino": ("sortino", True),
    "calmar": ("calmar", True),
    "total_return": ("total_return", True),
    "cagr": ("cagr", True),
    # Drawdowns are <= 0: the shallowest (closest to zero) is best.
    "max_drawdown": ("max_drawdown", True),
    "profit_factor": ("profit_factor", True),
    "sqn": ("sqn", True),
    "trades": ("trades", True),
}


def score(metrics: Mapping[str, Any], objective: str, min_trades: int = 0) -> float | None:
    """The value ``metrics`` is ranked by (higher ranks first); None: not eligible."""
    key, higher_is_better = OBJECTIVES[objective]
    value = metrics.get(key)
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if int(metrics.get("trades") or 0) < min_trades:
        return None
    return float(value) if higher_is_better else -float(value)


def rank_key(result: Mapping[str, Any]) -> tuple[int, float, int]:
    """Sort key of a scored result: eligible first, best score first, then item order."""
    value = result.get("score")
    return (0, -value, int(result["item"])) if value is not None else (1, 0.0, int(result["item"]))
