"""The trading core: pure Python (plus numpy for the vectorised paths), no AWS imports.

Modules on the order path (``model``, ``portfolio``, ``risk``, ``broker``) import no numeric
library so that placing a single order cold-starts fast; the batch modules (``marketdata``,
``indicators``, ``strategies``, ``backtest``, ``metrics``) use numpy.
"""
