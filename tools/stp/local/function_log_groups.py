"""What an invocation printed, written to CloudWatch Logs as Lambda writes it.

Each invocation gets a log stream in ``/aws/lambda/<function name>`` (created when the
template did not create the group, as Lambda does) with Lambda's ``START``, the handler's
lines, an ``[ERROR]`` line for an unhandled exception, ``END`` and ``REPORT``, so
``aws logs filter-log-events`` through `stp up`'s endpoint reads them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from moto.logs.models import logs_backends


def log_group_name(function_name: str) -> str:
    """Lambda's default log group of a function."""
    return f"/aws/lambda/{function_name}"


def write_invocation(
    function: Any,
    *,
    region: str,
    request_id: str,
    stream: str,
    lines: Sequence[str],
    started: float,
    duration: float,
    error: dict[str, Any] | None,
) -> None:
    """Put one invocation's log events (``started``: wall-clock seconds) in its stream."""
    backend = logs_backends[function.account_id][region]
    group = log_group_name(function.function_name)
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    backend.create_log_stream(group, stream)
    version = str(function.version)
    begin = int(started * 1000)
    end = max(begin, int(time.time() * 1000))
    milliseconds = duration * 1000
    messages = [f"START RequestId: {request_id} Version: {version}"]
    messages.extend(lines)
    if error is not None:
        messages.append(f"[ERROR] {error.get('errorType')}: {error.get('errorMessage')}")
    messages.append(f"END RequestId: {request_id}")
    messages.append(
        f"REPORT RequestId: {request_id}\tDuration: {milliseconds:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(milliseconds))} ms\t"
        f"Memory Size: {function.memory_size} MB"
    )
    events = [
        {"timestamp": begin if index == 0 else end, "message": message}
        for index, message in enumerate(messages)
    ]
    backend.put_log_events(group, stream, events)
