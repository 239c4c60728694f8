"""How the reports show numbers, times and settings to people: one place for every format.

Plain text out (escape it with :func:`html_text` before putting it in a page)::

    format_metric("max_drawdown", -0.1234)  # '-12.34%'
    format_metric("longest_drawdown_seconds", 86_400 * 3)  # '3 d'
    metric_label("max_drawdown")  # 'Max drawdown'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from html import escape
from numbers import Integral, Real

from trading.core.model import NANOS_PER_SECOND, ts_to_iso

MISSING = "—"

# Metrics that are fractions and read as percentages; every other number is shown as is.
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "annual_return",
        "annualized_return",
        "volatility",
        "annual_volatility",
        "annualized_volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
        "best_trade",
        "worst_trade",
        "avg_trade_return",
        "best_trade_return",
        "worst_trade_return",
        "buy_and_hold_return",
        "benchmark_return",
        "risk_free_rate",
        "average_exposure",
        "max_exposure",
    }
)
# Key suffixes with a unit of their own: epoch-nanosecond timestamps and durations in seconds.
TIMESTAMP_SUFFIX = "_ts"
SECONDS_SUFFIX = "_seconds"
METRIC_LABELS = {
    "cagr": "CAGR",
    "sqn": "SQN",
    "stop_first_trades": "Trades decided by stop-loss-first",
    "start_ts": "Start",
    "end_ts": "End",
    "pnl": "P&L",
    "total_pnl": "Total P&L",
    "exposure": "Time in market",
    "longest_drawdown_seconds": "Longest drawdown",
    "longest_drawdown_bars": "Longest drawdown (bars)",
    "longest_drawdown_recovered": "Longest drawdown recovered",
    "slippage_bps": "Slippage",
    "cash_fraction": "Cash per entry",
    "commission_minimum": "Minimum commission",
}
# Settings that are fractions (shown as percentages) or basis points.
PERCENT_SETTINGS = frozenset({"commission", "cash_fraction", "volume_limit"})
BPS_SETTINGS = frozenset({"slippage_bps"})

_MIDNIGHT = "T00:00:00Z"
_DAY_NANOS = 86_400 * NANOS_PER_SECOND


def format_metric(name: str, value: object) -> str:
    """Display text of one metric: a percentage for :data:`PERCENT_METRICS`, ``—`` for None.

    ``*_ts`` integers read as times and ``*_seconds`` numbers as durations.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        if name.endswith(TIMESTAMP_SUFFIX):
            return when_text(int(value))
        return f"{int(value):,}"
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return MISSING
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        if name.endswith(SECONDS_SUFFIX):
            return duration_text(number)
        if name in PERCENT_METRICS:
            return f"{number * 100:,.2f}%"
        return number_text(number)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def metric_label(name: str) -> str:
    """Human label of a metric key: ``max_drawdown`` → ``Max drawdown``."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    return name.replace("_", " ").capitalize()


def html_text(value: object) -> str:
    """Escaped text for element content and quoted attribute values."""
    return escape(str(value), quote=True)


def number_text(value: float) -> str:
    """A plain number: two decimals from 100 up, three below, three significant digits tiny."""
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if value == 0 or abs(value) >= 0.01:
        return f"{value:.3f}"
    return f"{value:.3g}"


def money_text(value: float) -> str:
    """An amount of money: thousands separators and two decimals (``—`` when not finite)."""
    if not math.isfinite(value):
        return MISSING
    return f"{value:,.2f}"


def sign_class(value: object) -> str:
    """The CSS class attribute colouring a gain (``pos``) or a loss (``neg``); none for 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return ""
    number = float(value)
    if number > 0 and math.isfinite(number):
        return ' class="pos"'
    if number < 0 and math.isfinite(number):
        return ' class="neg"'
    return ""


def negative_class(value: object) -> str:
    """Flag only negative metrics: a positive volatility or trade count is not "good"."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return ""
    return ' class="neg"' if float(value) < 0 else ""


def setting_text(value: object, name: str = "") -> str:
    """A setting value: rates as percentages (commission 0.001 → ``0.10%``), basis points
    with their unit, whole numbers with thousands separators (cash), others as given."""
    number = isinstance(value, Real) and not isinstance(value, bool)
    if number and name in PERCENT_SETTINGS:
        return f"{float(value) * 100:.4g}%"  # type: ignore[arg-type]
    if number and name in BPS_SETTINGS:
        return f"{float(value):g} bps"  # type: ignore[arg-type]
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, Integral) and not isinstance(value, bool) and abs(int(value)) >= 1000:
        return f"{int(value):,}"
    return plain_text(value)


def plain_text(value: object) -> str:
    """Short text of a setting value: strings as they are, numbers without a trailing .0."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value)}"
    if isinstance(value, Real):
        return f"{value}"
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return ", ".join(plain_text(v) for v in value)
    return json.dumps(value, sort_keys=True, default=str)


def duration_text(seconds: float) -> str:
    """A duration for people: ``12 d 3 h``, ``3 h 20 min``, ``45 s``."""
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days:,} d {hours} h" if hours else f"{days:,} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def when_text(ts: int) -> str:
    """A timestamp for people: the date alone at midnight UTC, otherwise date and time."""
    text = ts_to_iso(ts)
    if text.endswith(_MIDNIGHT):
        return text[: -len(_MIDNIGHT)]
    return text.replace("T", " ").removesuffix("Z")


def moment_text(value: object) -> str:
    """A period bound from the report's data section: ISO text, or epoch nanoseconds."""
    if value is None or value == "":
        return ""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return when_text(int(value))
    text = str(value)
    return text.removesuffix(_MIDNIGHT) if text.endswith(_MIDNIGHT) else text


def axis_time(ts: int, span: int) -> str:
    """Tick label: the date over a span of days or more, the time of day within a day."""
    text = ts_to_iso(ts)
    if span >= 3 * _DAY_NANOS:
        return text[:10]
    if span >= _DAY_NANOS:
        return f"{text[5:10]} {text[11:16]}"
    return text[11:19]
