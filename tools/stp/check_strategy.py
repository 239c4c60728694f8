"""``stp check-strategy``: the look-ahead check of a strategy on a market data file.

Exit 0 when no decision changed once later bars were known, 1 naming the first bar that did,
2 on bad input (unknown strategy or parameter, unreadable data)."""

from __future__ import annotations

from pathlib import Path

from stp.cli import EXIT_FAILED, UsageError
from trading.core.config import Mode, RunConfig
from trading.core.marketdata import MarketDataError, parse_market_data
from trading.core.marketdata.selection import SelectionError, select_bars
from trading.sdk import StrategyConfigError, StrategyRuntimeError, create_strategy
from trading.sdk.lookahead import check_lookahead
from trading.sdk.params import parse_param_pairs

DEFAULT_DATA = Path("data/stocks.csv")


def check_strategy_command(
    project: Path,
    name: str,
    *,
    data: Path | None,
    params: list[str],
    symbols: list[str],
    cuts: int,
    long_short: bool,
) -> int:
    """Run the check and print its outcome on one line."""
    path = data if data is not None else project / DEFAULT_DATA
    if not path.is_file():
        shown = data if data is not None else DEFAULT_DATA
        raise UsageError(f"--data {shown}: no such file")
    if cuts < 1:
        raise UsageError(f"--cuts must be at least 1, got {cuts}")
    try:
        strategy = create_strategy(name, parse_param_pairs(params))
    except StrategyConfigError as error:
        raise UsageError(str(error)) from None
    try:
        with path.open("rb") as body:
            parsed = parse_market_data(body, name=path.name)
        series = select_bars(parsed.series, symbols=tuple(symbols), first=None, last=None)
    except (MarketDataError, SelectionError) as error:
        raise UsageError(f"{path}: {error}") from None
    if not series:
        raise UsageError(f"{path}: no valid bar")
    config = RunConfig(mode=Mode.LONG_SHORT if long_short else Mode.LONG_ONLY)
    try:
        report = check_lookahead(strategy, series, cuts=cuts, config=config)
    except StrategyRuntimeError as error:
        print(f"stp: {error}")
        return EXIT_FAILED
    if report.finding is not None:
        print(report.finding.message())
        return EXIT_FAILED
    print(
        f"no look-ahead in {strategy.name}: its decisions on {report.bars:,} bars of "
        f"{len(series)} symbol(s) stay the same on {report.cuts} truncated histories"
    )
    return 0
