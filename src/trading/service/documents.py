"""The JSON documents the steps hand each other through S3: signals, ledger and equity.

Each is compact (arrays, not objects per bar) and plain JSON, and each encoder has its decoder
beside it, so the writer and the reader of a document cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from trading.core.bars import BarSeries, BoolArray, FloatArray, IntArray, SignalArray
from trading.core.model import ExitKind, Fill, Order, Trade

_TRADE_FIELDS = (
    "symbol",
    "direction",
    "quantity",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "entry_bar",
    "exit_bar",
    "pnl",
    "commission",
    "is_open",
)
_OPTIONAL_TRADE_FIELDS = ("exit_kind", "stop_first")  # absent from ledgers of older runs


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_signals(
    series: Mapping[str, BarSeries], signals: Mapping[str, SignalArray], strategy: Mapping[str, Any]
) -> tuple[bytes, int]:
    """``signals.json`` and the number of non-zero signals in it.

    Per symbol: its bar count and the list of ``[bar index, signal]`` where signal != 0.
    """
    sparse: dict[str, list[list[int]]] = {}
    count = 0
    for symbol, values in signals.items():
        where = np.flatnonzero(values)
        sparse[symbol] = [[i, int(values[i])] for i in where.tolist()]
        count += len(sparse[symbol])
    document = {
        "strategy": dict(strategy),
        "bars": {symbol: len(bars) for symbol, bars in series.items()},
        "signals": sparse,
    }
    return _json_bytes(document), count


def decode_signals(body: bytes, series: Mapping[str, BarSeries]) -> dict[str, SignalArray]:
    """Dense signal arrays (one int8 per bar of ``series``) from ``signals.json``.

    Raises ``ValueError`` when the document does not match the bars.
    """
    document = json.loads(body)
    sparse: Mapping[str, Sequence[Sequence[int]]] = document["signals"]
    dense: dict[str, SignalArray] = {}
    for symbol, bars in series.items():
        values = np.zeros(len(bars), dtype=np.int8)
        pairs = sparse.get(symbol, [])
        if pairs:
            where = np.array([p[0] for p in pairs], dtype=np.int64)
            if where.max() >= len(bars) or where.min() < 0:
                raise ValueError(f"{symbol}: a signal points past its {len(bars)} bars")
            values[where] = np.array([p[1] for p in pairs], dtype=np.int8)
        dense[symbol] = values
    return dense


def encode_jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line."""
    return b"".join(_json_bytes(dict(row)) + b"\n" for row in rows)


def encode_orders(orders: Sequence[Order]) -> bytes:
    """``orders.jsonl``: every order of the run, in submission order."""
    return encode_jsonl(order.to_dict() for order in orders)


def encode_fills(fills: Sequence[Fill]) -> bytes:
    """``fills.jsonl``: every fill of the run, in time order."""
    return encode_jsonl(fill.to_dict() for fill in fills)


def encode_trades(closed: Sequence[Trade], still_open: Sequence[Trade]) -> bytes:
    """``trades.json``: the closed round trips and the ones still open (marked to market)."""
    return _json_bytes(
        {
            "closed": [trade.to_dict() for trade in closed],
            "open": [trade.to_dict() for trade in still_open],
        }
    )


def decode_trades(body: bytes) -> list[Trade]:
    """Every trade of ``trades.json``: closed ones first, then open ones (flagged)."""
    document = json.loads(body)
    rows = list(document.get("closed", [])) + list(document.get("open", []))
    trades = []
    for row in rows:
        trade = Trade(
            **{name: row[name] for name in _TRADE_FIELDS},
            **{name: row[name] for name in _OPTIONAL_TRADE_FIELDS if name in row},
        )
        if trade.exit_kind is not None:
            trade.exit_kind = ExitKind(trade.exit_kind)
        trades.append(trade)
    return trades


def encode_equity(
    ts: IntArray, equity: FloatArray, in_market: BoolArray, exposure: FloatArray | None = None
) -> bytes:
    """``equity.json``: parallel arrays ``ts`` (epoch ns), ``equity``, ``in_market`` (0/1)
    and, when given, ``exposure`` (gross market value over equity)."""
    document: dict[str, Any] = {
        "ts": ts.tolist(),
        "equity": equity.tolist(),
        "in_market": in_market.astype(np.int8).tolist(),
    }
    if exposure is not None:
        document["exposure"] = exposure.tolist()
    return _json_bytes(document)


def decode_exposure(body: bytes) -> FloatArray | None:
    """The ``exposure`` array of ``equity.json``; None in a ledger written without it."""
    values = json.loads(body).get("exposure")
    return None if values is None else np.asarray(values, dtype=np.float64)


def decode_equity(body: bytes) -> tuple[IntArray, FloatArray, BoolArray]:
    """``(ts, equity, in_market)`` arrays from ``equity.json``."""
    document = json.loads(body)
    ts = np.asarray(document["ts"], dtype=np.int64)
    equity = np.asarray(document["equity"], dtype=np.float64)
    in_market = np.asarray(document["in_market"], dtype=np.int8).astype(bool)
    if not ts.shape == equity.shape == in_market.shape:
        raise ValueError("equity.json: ts, equity and in_market differ in length")
    return ts, equity, in_market
