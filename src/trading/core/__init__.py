"""The trading core: pure Python (plus numpy for the vectorised paths), no AWS imports.

Order path — imports no numeric library, so placing one order cold-starts fast:
``model`` (bars, orders, fills, trades, account), ``risk`` (pre-trade checks), ``portfolio``
(accounting), ``execution`` (the broker port and the paper broker: order life cycle, fill
rules, costs, attached exits, sizing).

Batch paths (numpy): ``bars`` (columnar series), ``marketdata`` (parsing and validation),
``indicators``, ``strategies``, ``backtest`` (the engine), ``metrics``, ``pipeline`` (signals →
engine → metrics); ``settings`` resolves a run's settings. Showing results to people is
``trading.reporting``'s job, beside the core.
"""
