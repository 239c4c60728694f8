"""What handlers print goes to the function logs; what other threads print meanwhile does not."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from stp.local.lambda_runtime import FUNCTION_LOGS, _capture_output


def test_only_the_handler_thread_is_captured_and_the_streams_are_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    FUNCTION_LOGS.clear()
    inside, printed = threading.Event(), threading.Event()

    def handler() -> None:
        with _capture_output():
            print("from the handler")
            print("a warning", file=sys.stderr)
            inside.set()
            printed.wait(5)

    worker = threading.Thread(target=handler)
    worker.start()
    inside.wait(5)
    print("the CLI's result")  # the main thread, while the handler still runs
    printed.set()
    worker.join(5)

    assert [line for _, line in FUNCTION_LOGS.lines] == ["from the handler", "a warning"]
    assert terminal.getvalue() == "the CLI's result\n"
    assert sys.stdout is terminal and sys.stderr is terminal
    FUNCTION_LOGS.clear()
