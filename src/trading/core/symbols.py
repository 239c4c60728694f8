"""The one symbol rule of the platform: what a symbol may be, wherever it comes in.

A symbol starts with a letter or digit and continues with up to 31 letters, digits or
``. _ ^ = -`` (``AAPL``, ``BRK.B``, ``^GSPC``, ``EURUSD=X``): ASCII only, no spaces, no
commas, nothing a spreadsheet would run as a formula. The API's models, the market data
validator (files and ``POST /market-data`` bars) and the path of ``GET /quotes/{symbol}`` all
read it from here.

>>> is_symbol("BRK.B"), is_symbol("ÄAPL"), is_symbol("A,B"), is_symbol("=HYPERLINK(1)")
(True, False, False, False)
"""

from __future__ import annotations

import re

MAX_SYMBOL_CHARS = 32
SYMBOL_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._^=-]{{0,{MAX_SYMBOL_CHARS - 1}}}$"
"""The rule as a JSON Schema / OpenAPI pattern."""
_SYMBOL = re.compile(SYMBOL_PATTERN.removeprefix("^").removesuffix("$"))


def is_symbol(text: str) -> bool:
    """True when ``text`` is a symbol under the platform's one rule (exactly, no padding)."""
    return _SYMBOL.fullmatch(text) is not None
