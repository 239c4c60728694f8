"""The strategy SDK's errors: a bad configuration, a strategy that cannot load, one that raised.

Each message is one line naming the strategy (and, for user code, the file and line), so a
run's FAILED cause and the CLI's error say what to fix.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class StrategyConfigError(ValueError):
    """Unknown strategy, unknown parameter or a parameter out of range."""


class StrategyLoadError(StrategyConfigError):
    """A user strategy's module failed to import (syntax error, missing name...)."""


class StrategyRuntimeError(RuntimeError):
    """A strategy raised while it computed signals or handled a bar."""


def where_raised(error: BaseException, prefer: str | None = None) -> str:
    """``file line N`` of the frame that raised ``error``: the deepest frame in ``prefer``
    (a strategy's source file) when there is one, else the deepest frame; for a
    ``SyntaxError``, its own file and line."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_short(error.filename)} line {error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown location"
    chosen = frames[-1]
    if prefer is not None:
        own = [f for f in frames if Path(f.filename) == Path(prefer)]
        if own:
            chosen = own[-1]
    return f"{_short(chosen.filename)} line {chosen.lineno}"


def describe_error(error: BaseException) -> str:
    """``Kind: message`` on one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _short(filename: str) -> str:
    """A path relative to the working folder when it is inside it (what a user typed)."""
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
