"""Columnar bar series: one symbol's OHLCV as numpy arrays, the input of the batch paths."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading.core.model import Bar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
# One signal per bar: +1 buy, -1 sell, 0 nothing (see trading.core.strategies).
SignalArray = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class BarSeries:
    """Validated bars of one symbol; timestamps (epoch ns, UTC) strictly increase."""

    symbol: str
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def bar(self, index: int) -> Bar:
        """The bar at ``index`` as a plain :class:`Bar` (Python floats)."""
        return Bar(
            self.symbol,
            int(self.ts[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def bars(self) -> Iterator[Bar]:
        """Every bar in order, as plain :class:`Bar` objects."""
        for values in zip(
            self.ts.tolist(),
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            strict=True,
        ):
            yield Bar(self.symbol, *values)

    def slice(self, start: int, stop: int) -> BarSeries:
        """Bars ``start`` (inclusive) to ``stop`` (exclusive)."""
        return BarSeries(
            self.symbol,
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    @classmethod
    def concat(cls, parts: Sequence[BarSeries]) -> BarSeries:
        """Join consecutive pieces of one symbol's series."""
        if not parts:
            raise ValueError("concat needs at least one series")
        return cls(
            parts[0].symbol,
            np.concatenate([p.ts for p in parts]),
            np.concatenate([p.open for p in parts]),
            np.concatenate([p.high for p in parts]),
            np.concatenate([p.low for p in parts]),
            np.concatenate([p.close for p in parts]),
            np.concatenate([p.volume for p in parts]),
        )
