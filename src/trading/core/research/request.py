"""A sweep request: which strategy, which parameter sets, which symbols and windows, how to
rank, and how wide the fan-out runs; checked once, at the edge, into a typed `SweepRequest`.

>>> request = parse_sweep_request({"strategy": "sma_cross",
...                                "grid": {"fast": "5:15:5", "slow": [30, 60]}})
>>> request.mode, len(request.parameter_sets())
('grid', 6)
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trading.core.research.objectives import OBJECTIVES
from trading.core.settings import SETTING_HELP, RunSettingsError, resolve_settings
from trading.sdk.base import SignalStrategy
from trading.sdk.errors import StrategyConfigError
from trading.sdk.params import Param
from trading.sdk.registry import create_signal_strategy, strategy_class

MODES = ("grid", "random", "walk-forward", "universe")
MAX_ITEMS = 100_000
"""Work items one sweep may fan out to (parameter sets x symbols x windows)."""
MAX_BATCH_SIZE = 300  # a batch returns ~700 bytes an item: 300 stay under 256 KB
MAX_CONCURRENCY = 10_000  # Step Functions' ceiling for a Distributed Map
MAX_FOLDS = 50
# Settings a sweep takes from the run settings: all but what the sweep decides itself (the
# strategy and its parameters), a live account (a sweep is research) and corporate actions.
RUN_SETTING_KEYS = tuple(
    name
    for name in SETTING_HELP
    if name not in {"strategy", "params", "account", "corporate_actions"}
)


class SweepRequestError(ValueError):
    """The sweep request is invalid; the message names the field and what is wrong."""


@dataclass(frozen=True, slots=True)
class WalkForward:
    """``folds`` windows, each optimised on its first ``in_sample`` fraction, anchored (the
    in-sample part grows from the first bar) or rolling (it slides)."""

    folds: int
    in_sample: float
    anchored: bool


@dataclass(frozen=True, slots=True)
class SweepRequest:
    """A validated sweep: everything Plan needs to expand it into work items."""

    strategy: str
    mode: str
    grid: dict[str, tuple[float, ...]]
    ranges: dict[str, tuple[float, float]]
    samples: int
    seed: int
    fixed: dict[str, float]
    objective: str
    min_trades: int
    walk_forward: WalkForward | None
    symbols: tuple[str, ...]
    settings: dict[str, Any]
    batch_size: int
    max_concurrency: int
    tolerated_failure_percentage: float
    top: int = 20
    extra: dict[str, Any] = field(default_factory=dict)

    def parameter_sets(self) -> list[dict[str, float]]:
        """Every parameter set to try, in a stable order (random: drawn with the seed)."""
        if self.mode == "random":
            sets = _random_sets(self.strategy, self.ranges, self.samples, self.seed)
        elif self.grid:
            names = sorted(self.grid)
            sets = [
                dict(zip(names, values, strict=True))
                for values in itertools.product(*(self.grid[name] for name in names))
            ]
        else:
            sets = [{}]
        valid = []
        for values in sets:
            merged = {**self.fixed, **values}
            if _acceptable(self.strategy, merged):
                valid.append(merged)
        return valid

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what Plan writes beside the items and Aggregate reads)."""
        return {
            "strategy": self.strategy,
            "mode": self.mode,
            "grid": {name: list(values) for name, values in self.grid.items()},
            "ranges": {name: list(bounds) for name, bounds in self.ranges.items()},
            "samples": self.samples,
            "seed": self.seed,
            "params": dict(self.fixed),
            "objective": self.objective,
            "min_trades": self.min_trades,
            "walk_forward": None
            if self.walk_forward is None
            else {
                "folds": self.walk_forward.folds,
                "in_sample": self.walk_forward.in_sample,
                "anchored": self.walk_forward.anchored,
            },
            "symbols": list(self.symbols),
            "settings": dict(self.settings),
            "batch_size": self.batch_size,
            "max_concurrency": self.max_concurrency,
            "tolerated_failure_percentage": self.tolerated_failure_percentage,
            "top": self.top,
        }


def strategy_params(name: str) -> dict[str, Param]:
    """The declared parameters of strategy ``name``, built-in or the user's (the strategy
    SDK's registry: a ``strategies/`` folder, a module path, an entry point)."""
    try:
        cls = strategy_class(name)
    except StrategyConfigError as error:  # unknown, or its module failed to import
        raise SweepRequestError(f"strategy: {error}") from None
    if not issubclass(cls, SignalStrategy):
        raise SweepRequestError(
            f"strategy: {name!r} is a {cls.form} strategy: sweeps run signal strategies"
        )
    return {param.name: param for param in cls.params}


def build_strategy(name: str, params: Mapping[str, float]) -> SignalStrategy:
    """The registered strategy ``name`` with ``params``."""
    return create_signal_strategy(name, dict(params))


def parse_sweep_request(raw: Any) -> SweepRequest:
    """Check ``raw`` (a JSON object) and return the typed request; raises
    :class:`SweepRequestError` naming the first thing wrong."""
    if not isinstance(raw, Mapping):
        raise SweepRequestError("the sweep request must be a JSON object")
    known = {
        "strategy",
        "mode",
        "grid",
        "ranges",
        "samples",
        "seed",
        "params",
        "objective",
        "min_trades",
        "walk_forward",
        "symbols",
        "settings",
        "batch_size",
        "max_concurrency",
        "tolerated_failure_percentage",
        "top",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SweepRequestError(
            f"unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    strategy = raw.get("strategy")
    if not isinstance(strategy, str):
        raise SweepRequestError("strategy: give the name of a strategy")
    params = strategy_params(strategy)
    walk_forward = _walk_forward(raw.get("walk_forward"))
    mode = raw.get("mode") or (
        "walk-forward" if walk_forward else "random" if raw.get("ranges") else "grid"
    )
    if mode not in MODES:
        raise SweepRequestError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "walk-forward" and walk_forward is None:
        walk_forward = WalkForward(folds=5, in_sample=0.7, anchored=False)
    grid = {name: _grid_values(name, spec, params) for name, spec in _object(raw, "grid").items()}
    ranges = {name: _range(name, spec, params) for name, spec in _object(raw, "ranges").items()}
    if mode == "random" and not ranges:
        raise SweepRequestError("ranges: random search needs at least one parameter range")
    fixed = {
        name: _value(name, value, params, "params")
        for name, value in _object(raw, "params").items()
    }
    overlap = sorted(set(fixed) & (set(grid) | set(ranges)))
    if overlap:
        raise SweepRequestError(f"params: {', '.join(overlap)} is also swept")
    objective = raw.get("objective", "sharpe")
    if objective not in OBJECTIVES:
        raise SweepRequestError(
            f"objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
        )
    settings = _settings(raw.get("settings"))
    symbols = raw.get("symbols") or []
    if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
        raise SweepRequestError("symbols: give a list of symbol names")
    request = SweepRequest(
        strategy=strategy,
        mode=mode,
        grid=grid,
        ranges=ranges,
        samples=_integer(raw, "samples", 100, 1, MAX_ITEMS),
        seed=_integer(raw, "seed", 0, 0, 2**32 - 1),
        fixed=fixed,
        objective=objective,
        min_trades=_integer(raw, "min_trades", 0, 0, 1_000_000),
        walk_forward=walk_forward if mode == "walk-forward" else None,
        symbols=tuple(symbols),
        settings=settings,
        batch_size=_integer(raw, "batch_size", 10, 1, MAX_BATCH_SIZE),
        max_concurrency=_integer(raw, "max_concurrency", 40, 1, MAX_CONCURRENCY),
        tolerated_failure_percentage=_number(raw, "tolerated_failure_percentage", 0.0, 0.0, 100.0),
        top=_integer(raw, "top", 20, 1, 1_000),
    )
    if not request.parameter_sets():
        raise SweepRequestError(
            f"grid: no parameter set is valid for {strategy}, e.g. {_rule_broken(request)}"
        )
    return request


def _object(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, Mapping):
        raise SweepRequestError(f"{name}: must be an object of parameter name -> values")
    return dict(value)


def _known(name: str, params: Mapping[str, Param], where: str) -> Param:
    param = params.get(name)
    if param is None:
        allowed = ", ".join(params) or "none"
        raise SweepRequestError(f"{where}: unknown parameter {name!r} (allowed: {allowed})")
    return param


def _value(name: str, raw: Any, params: Mapping[str, Param], where: str) -> float:
    param = _known(name, params, where)
    try:
        return param.parse(int(raw) if isinstance(raw, float) and raw.is_integer() else raw)
    except StrategyConfigError as error:
        raise SweepRequestError(f"{where}: {error}") from None


def _grid_values(name: str, spec: Any, params: Mapping[str, Param]) -> tuple[float, ...]:
    """``[v1, v2, ...]`` or ``"start:stop:step"`` (stop included), every value in range."""
    where = f"grid {name}"
    _known(name, params, "grid")
    if isinstance(spec, str):
        parts = spec.split(":")
        try:
            start, stop, step = (float(part) for part in parts)
        except ValueError:
            raise SweepRequestError(
                f"{where}: write start:stop:step (e.g. 5:50:5), got {spec!r}"
            ) from None
        if step <= 0 or stop < start or not all(map(math.isfinite, (start, stop, step))):
            raise SweepRequestError(
                f"{where}: needs start <= stop and a positive step, got {spec!r}"
            )
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_ITEMS:
            raise SweepRequestError(f"{where}: {count:,} values is more than {MAX_ITEMS:,}")
        spec = [round(start + index * step, 10) for index in range(count)]
    if not isinstance(spec, list) or not spec:
        raise SweepRequestError(f"{where}: give a list of values or start:stop:step")
    values = tuple(dict.fromkeys(_value(name, value, params, where) for value in spec))
    return values


def _range(name: str, spec: Any, params: Mapping[str, Param]) -> tuple[float, float]:
    where = f"ranges {name}"
    if isinstance(spec, str):
        spec = spec.split(":")
    if not isinstance(spec, list | tuple) or len(spec) != 2:
        raise SweepRequestError(f"{where}: give [low, high] or low:high")
    low, high = (_value(name, value, params, where) for value in spec)
    if high < low:
        raise SweepRequestError(f"{where}: low {low:g} is above high {high:g}")
    return low, high


def _walk_forward(raw: Any) -> WalkForward | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SweepRequestError("walk_forward: give {folds, in_sample, anchored}")
    folds = _integer(raw, "folds", 5, 1, MAX_FOLDS, prefix="walk_forward ")
    in_sample = _number(raw, "in_sample", 0.7, 0.0, 1.0, prefix="walk_forward ")
    if not 0 < in_sample < 1:
        raise SweepRequestError(f"walk_forward in_sample: must be between 0 and 1, got {in_sample}")
    anchored = raw.get("anchored", False)
    if not isinstance(anchored, bool):
        raise SweepRequestError("walk_forward anchored: must be true or false")
    return WalkForward(folds=folds, in_sample=in_sample, anchored=anchored)


def _settings(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SweepRequestError("settings: must be an object of run settings")
    unknown = sorted(set(raw) - set(RUN_SETTING_KEYS))
    if unknown:
        raise SweepRequestError(
            f"settings: unknown or not sweepable: {', '.join(unknown)} "
            f"(allowed: {', '.join(RUN_SETTING_KEYS)})"
        )
    try:
        resolve_settings(dict(raw))
    except RunSettingsError as error:
        raise SweepRequestError(f"settings: {error}") from None
    return dict(raw)


def _integer(
    raw: Mapping[str, Any], name: str, default: int, low: int, high: int, prefix: str = ""
) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SweepRequestError(
            f"{prefix}{name}: must be an integer from {low:,} to {high:,}, got {value!r}"
        )
    return value


def _number(
    raw: Mapping[str, Any], name: str, default: float, low: float, high: float, prefix: str = ""
) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SweepRequestError(
            f"{prefix}{name}: must be a number from {low:g} to {high:g}, got {value!r}"
        )
    return float(value)


def _random_sets(
    strategy: str, ranges: Mapping[str, tuple[float, float]], samples: int, seed: int
) -> list[dict[str, float]]:
    """``samples`` parameter sets drawn uniformly in ``ranges`` (integers for int parameters),
    the same for the same seed; duplicates dropped."""
    params = strategy_params(strategy)
    generator = random.Random(seed)
    names = sorted(ranges)
    drawn: dict[tuple[float, ...], dict[str, float]] = {}
    for _ in range(samples):
        values: dict[str, float] = {}
        for name in names:
            low, high = ranges[name]
            if params[name].kind is int:
                values[name] = generator.randint(int(low), int(high))
            else:
                values[name] = generator.uniform(low, high)
        drawn.setdefault(tuple(values[name] for name in names), values)
    return list(drawn.values())


def _rule_broken(request: SweepRequest) -> str:
    """What the strategy says of the first parameter set (none passes its rules)."""
    first = {**request.fixed, **{name: values[0] for name, values in request.grid.items()}}
    try:
        build_strategy(request.strategy, first)
    except StrategyConfigError as error:
        return str(error)
    return "no set passes its rules"


def _acceptable(strategy: str, params: Mapping[str, float]) -> bool:
    """Whether the strategy takes ``params`` together (cross-parameter rules)."""
    try:
        build_strategy(strategy, params)
    except StrategyConfigError:
        return False
    return True


def normalised(params: Mapping[str, float], declared: Sequence[Param]) -> dict[str, float | int]:
    """``params`` with integer parameters as ints (how they read in a leaderboard)."""
    kinds = {param.name: param.kind for param in declared}
    return {
        name: int(value) if kinds.get(name) is int else float(value)
        for name, value in params.items()
    }
