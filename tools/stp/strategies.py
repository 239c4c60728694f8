"""``stp strategies``: every strategy the platform can run (built-in, the project's
``strategies/`` folder, module paths' packages, entry points) with its parameters."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from trading.sdk import EXIT_PARAMS, Param, StrategyEntry
from trading.sdk.registry import BUILT_IN_SOURCE, available_strategies, describe_strategies

EXIT_FAILED = 1


def param_line(param: Param, *, default: bool = True) -> str:
    """One parameter as the listings show it: name, description, type, default and range."""
    shown = f"{param.kind.__name__}, {param.default:g}; " if default else ""
    return f"    {param.name:<14}{param.description} ({shown}{param.minimum:g}..{param.maximum:g})"


def strategy_lines(entries: Iterable[StrategyEntry]) -> list[str]:
    """Each strategy (name, form, description, where it is from) and its parameters."""
    lines: list[str] = []
    for entry in entries:
        where = "" if entry.source == BUILT_IN_SOURCE else f" [{entry.source}]"
        lines.append(f"  {entry.name} ({entry.cls.form}): {entry.cls.description}{where}")
        lines.extend(param_line(param) for param in entry.cls.params)
    return lines


def exit_lines() -> list[str]:
    """The exit parameters any strategy takes."""
    return [
        "exit parameters, any strategy (absent: no such exit):",
        *(param_line(param, default=False) for param in EXIT_PARAMS),
    ]


def strategies_command(*, as_json: bool) -> int:
    """Print the strategies (text or JSON); exit 1 when a user file failed to load."""
    if as_json:
        document = describe_strategies()
        print(json.dumps(document, indent=2))
        return EXIT_FAILED if document["failures"] else 0
    entries = available_strategies()
    built_in = [e for e in entries if e.source == BUILT_IN_SOURCE]
    user = [e for e in entries if e.source != BUILT_IN_SOURCE]
    lines = ["built-in strategies (--param NAME=VALUE; type, default; range):"]
    lines += strategy_lines(built_in)
    lines.append("user strategies:" if user else "user strategies: none (see docs/strategies.md)")
    lines += strategy_lines(user)
    lines += exit_lines()
    print("\n".join(lines))
    failures = describe_strategies()["failures"]
    for failure in failures:
        print(f"stp: {failure['source']} failed to load: {failure['message']}", file=sys.stderr)
    return EXIT_FAILED if failures else 0
