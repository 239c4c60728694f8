"""The payloads the workflow passes between steps, parsed and checked.

Each step's event is JSON built by the state machine; a field that is missing or of the wrong
type raises :class:`~trading.errors.InvalidEventError` naming the field (``input.key``), so a
malformed start fails the run at once instead of deep inside a step.

>>> IngestRequest.from_event({"run_id": "r1", "input": {"bucket": "b", "key": "raw/a.csv"}}).key
'raw/a.csv'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trading.errors import InvalidEventError


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        kind = "missing" if value is None else f"not an object ({type(value).__name__})"
        raise InvalidEventError(f"event field {path} is {kind}")
    return value


def _text(container: Mapping[str, Any], name: str, path: str) -> str:
    value = container.get(name)
    where = f"{path}.{name}" if path else name
    if value is None:
        raise InvalidEventError(f"event field {where} is missing")
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"event field {where} must be a non-empty string")
    return value


def _count(container: Mapping[str, Any], name: str, path: str) -> int:
    value = container.get(name)
    if value is None:
        raise InvalidEventError(f"event field {path}.{name} is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidEventError(f"event field {path}.{name} must be a non-negative integer")
    return value


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """ProcessMarketData's event: ``{"run_id", "input": {"bucket", "key", "source"?,
    "config"?}}``."""

    run_id: str
    bucket: str
    key: str
    source: str | None
    config: Mapping[str, Any] | None

    @classmethod
    def from_event(cls, event: object) -> IngestRequest:
        """Parse and check the event; raises ``InvalidEventError`` naming a bad field."""
        body = _mapping(event, "event")
        run_id = _text(body, "run_id", "")
        start = _mapping(body.get("input"), "input")
        config = start.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise InvalidEventError("event field input.config must be an object")
        source = start.get("source")
        return cls(
            run_id=run_id,
            bucket=_text(start, "bucket", "input"),
            key=_text(start, "key", "input"),
            source=str(source) if source is not None else None,
            config=config,
        )


@dataclass(frozen=True, slots=True)
class MarketDataRef:
    """ProcessMarketData's output: where the run's curated bars and signals are."""

    run_id: str
    bucket: str
    curated_key: str
    rejected_key: str | None
    signals_key: str
    signal_count: int
    bars_accepted: int
    bars_rejected: int
    symbols: tuple[str, ...]
    config: Mapping[str, Any]
    # Kept rows whose float noise was repaired (and where they are listed), and accepted
    # bars outside the run's symbols or period.
    repaired_key: str | None = None
    bars_repaired: int = 0
    bars_excluded: int = 0
    # The corporate actions applied to the bars and skipped (JSON), None: none were given.
    adjustments_key: str | None = None
    # A live account's run: bars dropped as at or before the account's clock, the object
    # keeping its symbols' recent bars, when its turn was queued (its arrival) and, per
    # symbol, the last bar the account had processed when the run read it.
    bars_stale: int = 0
    history_key: str | None = None
    turn: str | None = None
    after: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, value: object, path: str = "market_data") -> MarketDataRef:
        """Parse ``$.market_data``; raises ``InvalidEventError`` naming a bad field."""
        data = _mapping(value, path)
        symbols = data.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise InvalidEventError(f"event field {path}.symbols must be a list of strings")
        for name in ("rejected_key", "repaired_key", "adjustments_key", "history_key", "turn"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidEventError(f"event field {path}.{name} must be a string or null")
        counts = {
            name: _count(data, name, path) if name in data else 0
            for name in ("bars_repaired", "bars_excluded", "bars_stale")
        }
        after = data.get("after") or {}
        if not isinstance(after, Mapping) or not all(
            isinstance(ts, int) and not isinstance(ts, bool) for ts in after.values()
        ):
            raise InvalidEventError(f"event field {path}.after must map symbols to timestamps")
        return cls(
            run_id=_text(data, "run_id", path),
            bucket=_text(data, "bucket", path),
            curated_key=_text(data, "curated_key", path),
            rejected_key=data.get("rejected_key"),
            signals_key=_text(data, "signals_key", path),
            signal_count=_count(data, "signal_count", path),
            bars_accepted=_count(data, "bars_accepted", path),
            bars_rejected=_count(data, "bars_rejected", path),
            symbols=tuple(symbols),
            config=_mapping(data.get("config"), f"{path}.config"),
            repaired_key=data.get("repaired_key"),
            adjustments_key=data.get("adjustments_key"),
            history_key=data.get("history_key"),
            turn=data.get("turn"),
            after={str(symbol): int(ts) for symbol, ts in after.items()},
            **counts,
        )

    def to_payload(self) -> dict[str, Any]:
        """The step's output in the workflow state (``$.market_data``): keys and counts, never
        bars; the inverse of :meth:`from_payload`."""
        return {
            "run_id": self.run_id,
            "bucket": self.bucket,
            "curated_key": self.curated_key,
            "rejected_key": self.rejected_key,
            "signals_key": self.signals_key,
            "signal_count": self.signal_count,
            "bars_accepted": self.bars_accepted,
            "bars_rejected": self.bars_rejected,
            "symbols": list(self.symbols),
            "config": dict(self.config),
            "repaired_key": self.repaired_key,
            "bars_repaired": self.bars_repaired,
            "bars_excluded": self.bars_excluded,
            "adjustments_key": self.adjustments_key,
            **self._live_fields(),
        }

    def _live_fields(self) -> dict[str, Any]:
        """The fields only a live account's run has (absent for a backtest)."""
        if self.turn is None:
            return {}
        return {
            "bars_stale": self.bars_stale,
            "history_key": self.history_key,
            "turn": self.turn,
            "after": dict(self.after),
        }


@dataclass(frozen=True, slots=True)
class ExecutionRef:
    """ExecuteTrades' output, as far as the analysis needs it: where the ledger is."""

    run_id: str
    account: str | None
    equity_key: str
    trades_key: str
    # The execution path that ran and why the broker's did (None: the summary predates them).
    execution_path: str | None = None
    execution_path_reason: str | None = None
    # The run's margin calls (count, first close) and the account's ruin (None: not ruined).
    margin_calls: int = 0
    first_margin_call: str | None = None
    ruin: dict[str, Any] | None = None

    @classmethod
    def from_payload(cls, value: object, path: str = "execution") -> ExecutionRef:
        """Parse ``$.execution``; raises ``InvalidEventError`` naming a bad field."""
        data = _mapping(value, path)
        account = data.get("account")
        ran = data.get("execution_path")
        reason = data.get("execution_path_reason")
        calls = data.get("margin_calls")
        first_call = data.get("first_margin_call")
        ruin = data.get("ruin")
        return cls(
            run_id=_text(data, "run_id", path),
            account=account if isinstance(account, str) else None,
            equity_key=_text(data, "equity_key", path),
            trades_key=_text(data, "trades_key", path),
            execution_path=ran if isinstance(ran, str) else None,
            execution_path_reason=reason if isinstance(reason, str) else None,
            margin_calls=calls if isinstance(calls, int) and not isinstance(calls, bool) else 0,
            first_margin_call=first_call if isinstance(first_call, str) else None,
            ruin=dict(ruin) if isinstance(ruin, Mapping) else None,
        )


def run_id_of(event: object) -> str:
    """The ``run_id`` of any step's event; raises ``InvalidEventError`` when absent."""
    return _text(_mapping(event, "event"), "run_id", "")
