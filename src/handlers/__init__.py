"""The Lambda entry points: one thin module per function of template.yaml.

Each parses its event, calls one use case of ``trading.service`` with the adapters wired by
``trading.bootstrap``, emits its metrics and shapes the output. ``observability`` holds the
shared Powertools logger, tracer and metrics.
"""
