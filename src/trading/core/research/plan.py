"""A sweep's work items: parameter sets x symbols x windows, one JSON object each.

An item is ``{"item": n, "params": {...}, "symbols": [...] | null, "window": {...} | null}``:
``symbols`` null trades every symbol of the data as one portfolio (as ``stp run`` does);
``window`` is a walk-forward fold's in-sample or out-of-sample period (epoch ns, inclusive).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from trading.core.bars import IntArray
from trading.core.research.request import MAX_ITEMS, SweepRequest, WalkForward

IN_SAMPLE = "in"
OUT_OF_SAMPLE = "out"


class PlanError(ValueError):
    """The sweep cannot be planned on this data (too many items, too few bars...)."""


def plan_items(
    request: SweepRequest, *, timeline: IntArray | None, data_symbols: Sequence[str]
) -> list[dict[str, Any]]:
    """Every work item of ``request``; ``timeline`` (the data's bar times, sorted) is needed
    by walk-forward, ``data_symbols`` by universe. Raises :class:`PlanError` above
    :data:`MAX_ITEMS` or when a window would hold no bar."""
    sets = request.parameter_sets()
    if request.mode == "universe":
        chosen = list(request.symbols) or sorted(data_symbols)
        symbol_groups: list[list[str] | None] = [[symbol] for symbol in chosen]
    else:
        symbol_groups = [list(request.symbols)] if request.symbols else [None]
    windows: list[dict[str, Any] | None] = [None]
    if request.walk_forward is not None:
        if timeline is None:
            raise PlanError("walk-forward needs the data's bar times")
        windows = list(walk_forward_windows(timeline, request.walk_forward))
    count = len(sets) * len(symbol_groups) * len(windows)
    if count > MAX_ITEMS:
        raise PlanError(
            f"the sweep has {count:,} work items ({len(sets):,} parameter sets x "
            f"{len(symbol_groups):,} symbol groups x {len(windows):,} windows), more than the "
            f"cap of {MAX_ITEMS:,}: narrow the grid or lower samples"
        )
    items: list[dict[str, Any]] = []
    for window in windows:
        for symbols in symbol_groups:
            for params in sets:
                items.append(
                    {"item": len(items), "params": params, "symbols": symbols, "window": window}
                )
    return items


def walk_forward_windows(timeline: IntArray, spec: WalkForward) -> list[dict[str, Any]]:
    """Two windows per fold (in-sample, then out-of-sample), by bar positions on
    ``timeline``: out-of-sample parts of equal length follow each other to the last bar;
    each in-sample part is the ``in_sample`` share of its fold (rolling) or everything before
    its out-of-sample part (anchored)."""
    bars = int(np.asarray(timeline).shape[0])
    ratio = spec.in_sample / (1.0 - spec.in_sample)
    out_length = int(bars / (spec.folds + ratio))
    in_length = bars - spec.folds * out_length
    if out_length < 2 or in_length < 2:
        raise PlanError(
            f"walk-forward: {bars:,} bars are too few for {spec.folds} folds "
            f"(each out-of-sample part would have {out_length} bars)"
        )
    windows = []
    for fold in range(spec.folds):
        out_start = in_length + fold * out_length
        out_end = out_start + out_length - 1 if fold < spec.folds - 1 else bars - 1
        in_start = 0 if spec.anchored else fold * out_length
        for phase, first, last in (
            (IN_SAMPLE, in_start, out_start - 1),
            (OUT_OF_SAMPLE, out_start, out_end),
        ):
            windows.append(
                {
                    "fold": fold,
                    "phase": phase,
                    "start_ts": int(timeline[first]),
                    "end_ts": int(timeline[last]),
                }
            )
    return windows


def items_jsonl(items: Sequence[dict[str, Any]]) -> bytes:
    """The items as JSON Lines (what the Distributed Map's ItemReader reads)."""
    return "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items).encode()
