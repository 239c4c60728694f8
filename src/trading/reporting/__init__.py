"""Reporting: a run's results shown to people, kept apart from the core that computes them.

``html_report`` renders the self-contained HTML page from the JSON report, the equity curve
and the trades; ``charts`` draws its SVG charts; ``formatting`` is how every number, time and
setting reads. Nothing here computes a figure the JSON report does not hold.
"""

from trading.reporting.html_report import render_html_report

__all__ = ["render_html_report"]
