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


def invocation_messages(
    function: Any,
    request_id: str,
    lines: Sequence[str],
    duration: float,
    error: dict[str, Any] | None,
) -> list[str]:
    """Lambda's log lines of one invocation: ``START``, what the handler printed, ``[ERROR]``
    for an unhandled exception, ``END`` and ``REPORT``."""
    milliseconds = duration * 1000
    messages = [f"START RequestId: {request_id} Version: {function.version}"]
    messages.extend(lines)
    if error is not None:
        messages.append(f"[ERROR] {error.get('errorType')}: {error.get('errorMessage')}")
    messages.append(f"END RequestId: {request_id}")
    messages.append(
        f"REPORT RequestId: {request_id}\tDuration: {milliseconds:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(milliseconds))} ms\t"
        f"Memory Size: {function.memory_size} MB"
    )
    return messages


def write_invocation(
    function: Any,
    *,
    region: str,
    stream: str,
    messages: Sequence[str],
    started: float,
) -> None:
    """Put one invocation's log lines (:func:`invocation_messages`) in its stream;
    ``started`` is the invocation's wall-clock start in seconds."""
    backend = logs_backends[function.account_id][region]
    group = log_group_name(function.function_name)
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    backend.create_log_stream(group, stream)
    begin = int(started * 1000)
    end = max(begin, int(time.time() * 1000))
    events = [
        {"timestamp": begin if index == 0 else end, "message": message}
        for index, message in enumerate(messages)
    ]
    backend.put_log_events(group, stream, events)
