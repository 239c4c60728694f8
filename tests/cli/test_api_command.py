"""`stp api` as a user runs it: it serves until stopped; bad flags are one-line usage errors."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
from pathlib import Path

import pytest

from stp.api import api_command
from stp.cli import main
from tests.local.test_api_server import KEY, call

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_command_serves_until_stopped_and_bad_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = threading.Event()
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            api_command(
                ROOT, host="127.0.0.1", port=port, api_key=KEY, data=None, throttle=True, stop=stop
            )
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = call(f"http://127.0.0.1:{port}/health")
                break
            except urllib.error.URLError:
                assert thread.is_alive(), "stp api ended before serving"
                assert time.monotonic() < deadline, "stp api did not start serving"
                time.sleep(0.1)
        assert status == 200
    finally:
        stop.set()
        thread.join(30)
    assert outcome == [0]
    assert f"http://127.0.0.1:{port}" in capsys.readouterr().out

    for argv, message in [
        (["api", "--port", "70000"], "--port 70000: not a TCP port"),
        (["api", "--api-key", "short"], "at least 20 characters"),
        (["api", "--data", "missing.csv"], "--data missing.csv: no such file"),
    ]:
        assert main(["--project", str(ROOT), *argv]) == 2
        assert message in capsys.readouterr().err
