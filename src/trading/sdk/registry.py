"""Where strategies are found: the built-ins, the user's ``strategies/`` folder, a module path
and installed packages' entry points; one lookup for every caller.

- Built-in: :data:`trading.sdk.builtin.BUILT_IN`.
- Folders: every ``*.py`` file (not starting with ``_``) of each folder in the environment
  variable ``STP_STRATEGIES`` (``os.pathsep``-separated); unset, ``/opt/python``, where
  Lambda unpacks the template's strategies layer (``sam build`` packages the project's
  ``strategies/`` folder there). ``stp`` sets it to that same folder of the project.
- A module path as the strategy name: ``package.module:ClassName``, or ``package.module``
  when that module defines exactly one strategy.
- Entry points of the group ``trading.strategies`` (``name = "package.module:ClassName"``).

A strategy class is a concrete subclass of :class:`~trading.sdk.base.Strategy` defined in the
module, named by its ``name``. Lookups of a built-in name never touch the file system; the
rest is scanned once per process (per value of ``STP_STRATEGIES``) and kept::

    create_strategy("sma_cross", {"fast": 5})        # a built-in
    strategy_class("my_breakout")                    # from strategies/my_breakout.py
    describe_strategies()                            # every one, with its parameters
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from trading.sdk.base import SignalStrategy, Strategy
from trading.sdk.builtin import BUILT_IN
from trading.sdk.errors import StrategyConfigError, StrategyLoadError, describe_error, where_raised
from trading.sdk.params import EXIT_PARAMS

STRATEGY_PATH_ENV = "STP_STRATEGIES"
"""Folders of user strategy files (``os.pathsep``-separated)."""
ENTRY_POINT_GROUP = "trading.strategies"
"""The entry-point group installed packages register strategies under."""
BUILT_IN_SOURCE = "built-in"
LAMBDA_LAYER_FOLDER = "/opt/python"
"""Where Lambda unpacks a Python layer: the strategies layer's files, on Lambda."""

_BUILT_IN: dict[str, type[Strategy]] = {cls.name: cls for cls in BUILT_IN}


@dataclass(frozen=True, slots=True)
class StrategyEntry:
    """A strategy class and where it came from (``built-in``, a file, a module, a package)."""

    name: str
    cls: type[Strategy]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """Name, form, description, source and parameter declarations, JSON-compatible."""
        return {
            "name": self.name,
            "form": self.cls.form,
            "description": self.cls.description,
            "source": self.source,
            "params": [p.to_dict() for p in self.cls.params],
        }


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A file or package whose strategies could not be loaded, and why (one line)."""

    source: str
    message: str


@dataclass(slots=True)
class _UserStrategies:
    entries: dict[str, StrategyEntry] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)


_scanned: dict[tuple[str, ...], _UserStrategies] = {}


def strategy_dirs() -> tuple[Path, ...]:
    """The folders of user strategy files: ``STP_STRATEGIES``, else the Lambda layer's."""
    raw = os.environ.get(STRATEGY_PATH_ENV)
    if raw is None:
        return (Path(LAMBDA_LAYER_FOLDER),)
    return tuple(Path(part) for part in raw.split(os.pathsep) if part.strip())


def strategy_class(name: str) -> type[Strategy]:
    """The class of the strategy called ``name`` (see the module docstring for where it is
    looked for); :class:`StrategyConfigError` naming the choices when there is none, and
    :class:`StrategyLoadError` naming the file and line when its module failed to import."""
    found = _BUILT_IN.get(name)
    if found is not None:
        return found
    if ":" in name:
        return _from_module_path(name)
    user = _user_strategies()
    if name in user.entries:
        return user.entries[name].cls
    own = [f for f in user.failures if Path(f.source).stem == name]
    if own:
        raise StrategyLoadError(f"strategy {name!r} could not be loaded: {own[0].message}")
    if "." in name:
        return _from_module_path(name)
    available = ", ".join(sorted({*_BUILT_IN, *user.entries}))
    hint = "".join(f"; {f.source} failed to load: {f.message}" for f in user.failures[:1])
    raise StrategyConfigError(f"unknown strategy {name!r} (available: {available}){hint}")


def create_strategy(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """Build the strategy called ``name`` from raw parameter values (validated)."""
    return strategy_class(name)(**dict(params or {}))


def create_signal_strategy(name: str, params: Mapping[str, object] | None = None) -> SignalStrategy:
    """:func:`create_strategy` for a caller that needs signals; a strategy of another form is
    a :class:`StrategyConfigError` naming its form."""
    strategy = create_strategy(name, params)
    if not isinstance(strategy, SignalStrategy):
        raise StrategyConfigError(
            f"strategy {name!r} is a {strategy.form} strategy: it computes no signals"
        )
    return strategy


def available_strategies() -> list[StrategyEntry]:
    """Every strategy that loads: built-ins first, then user ones by name."""
    user = _user_strategies()
    built_in = [StrategyEntry(name, cls, BUILT_IN_SOURCE) for name, cls in _BUILT_IN.items()]
    return [*built_in, *(user.entries[name] for name in sorted(user.entries))]


def load_failures() -> list[LoadFailure]:
    """The user files and packages that failed to load (their strategies are missing)."""
    return list(_user_strategies().failures)


def describe_strategies() -> dict[str, Any]:
    """Every strategy with its parameters, the exit parameters any strategy takes and the
    load failures, JSON-compatible (``stp strategies --json``; the research plan reads it)."""
    return {
        "strategies": [entry.to_dict() for entry in available_strategies()],
        "exit_params": [p.to_dict() for p in EXIT_PARAMS],
        "failures": [{"source": f.source, "message": f.message} for f in load_failures()],
    }


def forget_user_strategies() -> None:
    """Scan the folders and entry points again on the next lookup (after files changed)."""
    _scanned.clear()


def strategies_in(module: ModuleType) -> list[type[Strategy]]:
    """The concrete strategy classes ``module`` defines (not the ones it imports)."""
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Strategy)
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
        and isinstance(getattr(value, "name", None), str)
    ]


def _user_strategies() -> _UserStrategies:
    dirs = tuple(str(d) for d in strategy_dirs())
    found = _scanned.get(dirs)
    if found is None:
        found = _UserStrategies()
        for folder in dirs:
            _scan_folder(Path(folder), found)
        _scan_entry_points(found)
        _scanned[dirs] = found
    return found


def _add(found: _UserStrategies, cls: type[Strategy], source: str) -> None:
    taken = _BUILT_IN.get(cls.name) or found.entries.get(cls.name)
    if taken is not None:
        where = BUILT_IN_SOURCE if cls.name in _BUILT_IN else found.entries[cls.name].source
        found.failures.append(LoadFailure(source, f"strategy name {cls.name!r} is taken ({where})"))
        return
    found.entries[cls.name] = StrategyEntry(cls.name, cls, source)


def _scan_folder(folder: Path, found: _UserStrategies) -> None:
    if not folder.is_dir():
        return
    installed = _installed_files(folder)
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # a strategy file may import its sibling helpers
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_") or path.name in installed:
            continue
        source = _display(path)
        try:
            module = _import_file(path)
        except Exception as error:  # any import failure is reported, not raised
            found.failures.append(
                LoadFailure(source, f"{where_raised(error, str(path))}: {describe_error(error)}")
            )
            continue
        for cls in strategies_in(module):
            _add(found, cls, source)


def _installed_files(folder: Path) -> set[str]:
    """Top-level module files that pip installed into ``folder`` (a layer's dependencies
    sit beside the strategy files): never scanned as strategies."""
    names: set[str] = set()
    if not any(folder.glob("*.dist-info")):
        return names
    for dist in metadata.distributions(path=[str(folder)]):
        names.update(str(f) for f in dist.files or () if "/" not in str(f))
    return names


def _import_file(path: Path) -> ModuleType:
    name = f"stp_user_strategies.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _scan_entry_points(found: _UserStrategies) -> None:
    for point in _entry_points():
        source = f"entry point {point.name} ({point.value})"
        try:
            loaded = point.load()
        except Exception as error:  # reported, not raised
            found.failures.append(LoadFailure(source, _failure_line(error)))
            continue
        classes = strategies_in(loaded) if isinstance(loaded, ModuleType) else [loaded]
        for cls in classes:
            if inspect.isclass(cls) and issubclass(cls, Strategy):
                _add(found, cls, source)
            else:
                found.failures.append(LoadFailure(source, "does not name a Strategy class"))


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _from_module_path(name: str) -> type[Strategy]:
    module_name, _, class_name = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise StrategyConfigError(
                f"unknown strategy {name!r}: no module named {error.name!r}"
            ) from None
        raise StrategyLoadError(
            f"strategy {name!r} could not be loaded: {_failure_line(error)}"
        ) from None
    except Exception as error:  # a user module's own failure, named
        raise StrategyLoadError(
            f"strategy {name!r} could not be loaded: {_failure_line(error)}"
        ) from None
    classes = strategies_in(module)
    if class_name:
        chosen = [c for c in classes if c.__name__ == class_name]
        if not chosen:
            raise StrategyConfigError(
                f"unknown strategy {name!r}: {module_name} defines no strategy class {class_name!r}"
            )
        return chosen[0]
    if len(classes) != 1:
        names = ", ".join(c.__name__ for c in classes) or "none"
        raise StrategyConfigError(
            f"strategy {name!r}: name the class as {module_name}:ClassName "
            f"(strategy classes there: {names})"
        )
    return classes[0]


def _failure_line(error: BaseException) -> str:
    return f"{where_raised(error)}: {describe_error(error)}"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
