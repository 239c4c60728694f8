"""`stp up`, `stp executions` and `stp test-workflow` refuse bad input with one line (exit 2)
before anything starts; an endpoint that is not there is exit 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stp.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_bad_flags_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "state.zip").write_bytes(b"not a zip")
    bad_config = tmp_path / "MockConfigFile.json"
    bad_config.write_text('{"StateMachines": {}, "MockedResponses": {"R": {"1": {"Return": 1}}}}')
    free = ["--port", "0", "--api-port", "0"]
    cases = [
        (["up", "--port", "70000"], "--port 70000: not a TCP port"),
        (["up", "--port", "4999", "--api-port", "4999"], "they need two ports"),
        (["up", *free, "--data", "missing.csv"], "--data missing.csv: no such file"),
        (["up", *free, "--mock-config", "missing.json"], "--mock-config missing.json: no such"),
        (["up", *free, "--mock-config", str(bad_config)], "invocations must be numbered from 0"),
        (["up", *free, "--state-dir", str(broken)], "not a snapshot stp up wrote"),
        (["up", *free, "--api-key", "short"], "at least 20 characters"),
        (["executions", "show"], "name the execution"),
        (["test-workflow", "--case", "NoSuchCase"], "defines no such test case"),
    ]
    for argv, message in cases:
        assert main(["--project", str(ROOT), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--project", str(ROOT), "up", "--port", "0", "--api-port", str(port)]) == 2
    assert f"--api-port {port}: 127.0.0.1:{port} is already in use" in capsys.readouterr().err


def test_an_endpoint_that_is_not_there_is_said_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    assert main(["executions", "list", "--endpoint-url", endpoint]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach {endpoint}" in err and "is `stp up` running?" in err
