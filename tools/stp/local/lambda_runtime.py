"""Runs a deployed function's handler in this process, as the Lambda Python runtime would.

The function is looked up in the emulated Lambda service (its deployed handler string,
environment, timeout and memory) and its code folder is read from the deployed code zip, so
nothing here is a second list of functions. The handler's exception becomes the error
document Lambda returns (``errorType`` = exception class name), which Retry and Catch match.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends

from stp.local.function_log_groups import invocation_messages, write_invocation
from stp.local.models import FunctionInfo
from stp.local.packaging import source_folder

# One invocation at a time: handlers read os.environ, which is process-wide, and Step
# Functions may run several executions (or Parallel/Map branches) concurrently.
_ENVIRONMENT_LOCK = threading.Lock()


class FunctionLogs(io.TextIOBase):
    """Where handlers' standard output goes: CloudWatch Logs' place, one list per process.

    Handler modules are imported during an invocation, so the log handlers they create (e.g.
    Powertools' logger) keep writing here, never into the user's terminal. Lines are tagged
    with the function that was running; invocations also record their durations.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []
        self.invocations: list[tuple[str, float, str | None]] = []
        self.current = "-"
        self._partial = ""

    def write(self, text: str) -> int:
        """Collect complete lines under the running function's name."""
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        self.lines.extend((self.current, line) for line in complete if line)
        return len(text)

    def clear(self) -> None:
        """Forget what was collected (a new LocalCloud starts empty)."""
        self.lines.clear()
        self.invocations.clear()
        self._partial = ""


FUNCTION_LOGS = FunctionLogs()


class _RoutedStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while handlers run: what a handler's thread writes goes
    to the function logs (as Lambda sends both streams to CloudWatch Logs); every other
    thread (the CLI printing a result while a workflow runs in the background) writes to the
    real stream. Swapping ``sys.stdout`` itself would capture every thread's output."""

    def __init__(self, original: Any) -> None:
        super().__init__()
        self.original = original

    def write(self, text: str) -> int:
        """Route ``text`` by the writing thread."""
        if threading.get_ident() in _HANDLER_THREADS:
            return FUNCTION_LOGS.write(text)
        written: int = self.original.write(text)
        return written

    def flush(self) -> None:
        """Flush the real stream (the function logs keep no buffer to flush)."""
        self.original.flush()

    def isatty(self) -> bool:
        """As the real stream."""
        return bool(self.original.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """As the real stream."""
        return str(getattr(self.original, "encoding", "utf-8"))


_HANDLER_THREADS: set[int] = set()
_STREAMS_LOCK = threading.Lock()


@contextmanager
def _capture_output() -> Iterator[None]:
    """Send this thread's stdout and stderr to the function logs until the block ends.

    The routing streams are installed while any handler runs and removed after the last one,
    so nothing stays replaced once the emulation is idle.
    """
    me = threading.get_ident()
    with _STREAMS_LOCK:
        if not _HANDLER_THREADS:
            sys.stdout = _RoutedStream(sys.stdout)
            sys.stderr = _RoutedStream(sys.stderr)
        _HANDLER_THREADS.add(me)
    try:
        yield
    finally:
        with _STREAMS_LOCK:
            _HANDLER_THREADS.discard(me)
            if not _HANDLER_THREADS:
                for name in ("stdout", "stderr"):
                    stream = getattr(sys, name)
                    if isinstance(stream, _RoutedStream):
                        setattr(sys, name, stream.original)


class FunctionNotFoundError(LookupError):
    """No deployed function answers to the name, ARN or qualifier."""


class HandlerUnavailableError(RuntimeError):
    """The function exists, but its code cannot be run here (package type, missing folder)."""


@dataclass(frozen=True)
class HandlerOutcome:
    """A finished invocation: the return value, or the error document of Lambda."""

    payload: Any
    error: dict[str, Any] | None
    duration: float


class LambdaContext:
    """The ``context`` argument of a Python handler, with the attributes Lambda sets."""

    def __init__(self, function: LambdaFunction, request_id: str, deadline: float) -> None:
        self.function_name: str = function.function_name
        self.function_version: str = str(function.version)
        self.invoked_function_arn: str = function.function_arn
        self.memory_limit_in_mb: int = int(function.memory_size)
        self.aws_request_id: str = request_id
        self.log_group_name: str = f"/aws/lambda/{function.function_name}"
        self.log_stream_name: str = (
            f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]{uuid.uuid4().hex}"
        )
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def find_function(name_or_arn: str, account_id: str, region: str) -> LambdaFunction:
    """The deployed function named by a name, ``name:qualifier``, or (partial) ARN."""
    backend = lambda_backends[account_id][region]
    name, qualifier = name_or_arn, None
    if not name_or_arn.startswith("arn:") and ":" in name_or_arn:
        name, qualifier = name_or_arn.split(":", 1)
    try:
        return backend.get_function(name, qualifier)
    except Exception as error:  # moto raises its own ResourceNotFound classes
        raise FunctionNotFoundError(f"Function not found: {name_or_arn}") from error


def function_info(function: LambdaFunction) -> FunctionInfo:
    """The public view of a deployed function's configuration."""
    return FunctionInfo(
        name=function.function_name,
        arn=function.function_arn,
        handler=str(function.handler),
        environment={key: str(value) for key, value in function.environment_vars.items()},
    )


def run_handler(
    function: LambdaFunction,
    event: Any,
    region: str,
    environment: Mapping[str, str] | None = None,
) -> HandlerOutcome:
    """Call the function's handler with ``event`` and a fresh context; ``environment``
    holds variables the host adds to every function's (the function's own win).

    Waits (up to the function's timeout) for other invocations to finish, since the
    environment is process-wide; a wait that long is answered as Lambda's throttle would be.
    """
    timeout = float(function.timeout)
    if not _ENVIRONMENT_LOCK.acquire(timeout=timeout):
        raise TimeoutError(f"{function.function_name}: another invocation held the runtime")
    try:
        FUNCTION_LOGS.current = function.function_name
        first_line = len(FUNCTION_LOGS.lines)
        started_wall = time.time()
        with _function_environment(function, region, environment or {}), _capture_output():
            handler = _load_handler(function)
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            context = LambdaContext(function, request_id, started + timeout)
            try:
                payload = handler(event, context)
                error = None
            except Exception as exception:  # the runtime reports every handler failure
                payload, error = None, _error_document(exception, request_id)
            duration = time.monotonic() - started
        if error is None and duration > timeout:
            # A handler cannot be stopped mid-way in-process; it is judged once it returns.
            message = f"Task timed out after {timeout:.2f} seconds"
            payload, error = None, {"errorType": "Sandbox.Timedout", "errorMessage": message}
        error_type = error["errorType"] if error is not None else None
        FUNCTION_LOGS.invocations.append((function.function_name, duration, error_type))
        printed = [line for _, line in FUNCTION_LOGS.lines[first_line:]]
        messages = invocation_messages(function, request_id, printed, duration, error)
        # The local log keeps what CloudWatch Logs keeps: Lambda's START/END/REPORT lines too.
        FUNCTION_LOGS.lines[first_line:] = [(function.function_name, line) for line in messages]
        write_invocation(
            function,
            region=region,
            stream=context.log_stream_name,
            messages=messages,
            started=started_wall,
        )
    finally:
        _ENVIRONMENT_LOCK.release()
    return HandlerOutcome(payload, error, duration)


def unload_code(folders: set[Path], keep: set[str] | frozenset[str] = frozenset()) -> None:
    """Forget the modules imported from ``folders`` so the next invocation is a cold start.

    Modules named in ``keep`` (the ones the host process had imported before the emulation
    started) stay: the host holds references to their classes, and a second copy of, say, an
    exception class would no longer match its ``except`` clauses.
    """
    resolved = {folder.resolve() for folder in folders}
    for name, module in list(sys.modules.items()):
        if name in keep:
            continue
        file = getattr(module, "__file__", None)
        if file and any(Path(file).resolve().is_relative_to(folder) for folder in resolved):
            del sys.modules[name]
            # A kept package still names the submodule as its attribute, and `from package
            # import submodule` reads that attribute before sys.modules: the next import
            # would get this stale copy (and its stale exception classes).
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name)
            if parent is not None and getattr(parent, child, None) is module:
                delattr(parent, child)
    for folder in resolved:
        while str(folder) in sys.path:
            sys.path.remove(str(folder))


def code_folder(function: LambdaFunction) -> Path:
    """Where the function's handler module lives, read from its deployed code zip."""
    folder = source_folder(function.code_bytes or b"")
    if folder is None or not folder.is_dir():
        raise HandlerUnavailableError(
            f"{function.function_name}: its code was not deployed by the local runtime"
        )
    return folder


def _load_handler(function: LambdaFunction) -> Callable[[Any, LambdaContext], Any]:
    """Import ``module.path.function`` from the function's code folder (cached, like a warm
    execution environment)."""
    if getattr(function, "package_type", "Zip") != "Zip" or not function.handler:
        raise HandlerUnavailableError(f"{function.function_name}: only zip functions run here")
    folder = str(code_folder(function))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name, _, attribute = str(function.handler).rpartition(".")
    module = importlib.import_module(module_name)
    handler: Callable[[Any, LambdaContext], Any] = getattr(module, attribute)
    return handler


def _error_document(error: BaseException, request_id: str) -> dict[str, Any]:
    """The body Lambda's Python runtime returns for an unhandled exception."""
    # The first frame is run_handler's own call of the handler; Lambda shows the handler's.
    handler_traceback = error.__traceback__.tb_next if error.__traceback__ else None
    frames = traceback.extract_tb(handler_traceback)
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


@contextmanager
def _function_environment(
    function: LambdaFunction, region: str, host: Mapping[str, str]
) -> Iterator[None]:
    """Apply the function's configured variables and Lambda's reserved ones, then restore."""
    variables: dict[str, str] = {
        **host,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
        "_HANDLER": str(function.handler),
        # As under `sam local`: Powertools and the X-Ray SDK stay quiet without a daemon.
        "AWS_SAM_LOCAL": "true",
    }
    variables.update({key: str(value) for key, value in function.environment_vars.items()})
    folder = source_folder(function.code_bytes or b"")
    if folder is not None:
        variables["LAMBDA_TASK_ROOT"] = str(folder)
    with _patched_environ(variables):
        yield


@contextmanager
def _patched_environ(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
