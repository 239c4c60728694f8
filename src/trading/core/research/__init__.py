"""Research at scale: sweep requests, their work items, batched backtests and leaderboards.

Pure Python over the trading core (no AWS): the Plan, Backtest and Aggregate functions of the
research workflow, and `stp sweep`, call these.
"""
