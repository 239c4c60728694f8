"""The use cases of the workflow's steps: plain Python over ports, no AWS imports.

``ingest`` (ProcessMarketData), ``execution`` (ExecuteTrades), ``analysis``
(AnalyzePerformance); ``ports`` declares what they need from storage (implemented by
``trading.adapters`` and, in tests, by in-memory fakes); ``requests`` parses the workflow's
payloads; ``documents`` encodes the objects the steps hand each other; ``keys`` names them.

Import the use case you need (``from trading.service.ingest import process_market_data``):
each pulls in only the core modules it uses, which keeps a function's cold start short.
"""
