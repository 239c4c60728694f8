"""``stp up``: the whole platform as one local AWS endpoint, until Ctrl-C or SIGTERM.

The template is deployed once into the emulation; one port (``--port``, default 4566) then
serves S3, DynamoDB, Step Functions, SNS, SQS, Lambda, CloudFormation, CloudWatch Logs and
EventBridge to any AWS client, with the wiring `stp run` has (an object put under ``raw/``
starts the workflow through the deployed rule; Lambda tasks run the real handlers and log to
CloudWatch Logs), and ``--api-port`` serves the REST API as `stp api` does. Functions get the
endpoint as their S3 endpoint, so the presigned URLs the API returns point at it.

``--state-dir`` keeps the emulated state between runs: restored at start, saved at exit
(written to a temporary file, then renamed over the previous snapshot, so a crash leaves the
last snapshot whole). Exit status: 0 after a clean stop, 1 when the ``--data`` workflow
failed, 2 on bad input (a port taken, a missing file).
"""

from __future__ import annotations

import errno
import os
import secrets
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stp.api import (
    ADMIN_TOKEN_VARIABLE,
    API_KEY_VARIABLE,
    BOT_ID_VARIABLE,
    BOT_SECRET_VARIABLE,
    DEFAULT_ACCOUNT,
    DEFAULT_USER,
    TOKEN_URL_VARIABLE,
    TOKEN_VARIABLE,
    check_trader_flags,
    token_lines,
)
from stp.cli import EXIT_FAILED, UsageError

DEFAULT_PORT = 4566
DEFAULT_API_PORT = 3000
DRAIN_SECONDS = 30.0
"""How long a stop waits for running executions before saving the state."""
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_SKIPPED_OUTPUT = "stp-local-skipped:"


@dataclass(frozen=True)
class UpOptions:
    """What ``stp up`` was asked for (checked by `check_options`)."""

    host: str
    port: int
    api_port: int
    state_dir: Path | None
    data: Path | None
    mock_config: Path | None
    api_key: str | None
    throttle: bool = True
    verbose: bool = False
    env_file: Path | None = None
    account: str = DEFAULT_ACCOUNT
    user: str = DEFAULT_USER


def up_command(
    project: Path,
    options: UpOptions,
    *,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve until ``stop`` is set (Ctrl-C and SIGTERM set it); see the module."""
    log = out or sys.stdout
    started = time.perf_counter()
    check_options(options)
    key = options.api_key or os.environ.get(API_KEY_VARIABLE) or secrets.token_urlsafe(24)
    if len(key) < 20:
        # API Gateway's own minimum for imported key values.
        raise UsageError("--api-key: at least 20 characters, as API Gateway requires")
    # The ports first: a taken one is reported before anything slow starts.
    endpoint_socket = _listen("--port", options.host, options.port)
    try:
        api_socket = _listen("--api-port", options.host, options.api_port)
    except UsageError:
        endpoint_socket.close()
        raise
    try:
        config = _checked_inputs(options)
        stop = stop or threading.Event()
        with _stopped_by_signals(stop):
            return _serve(
                project, options, config, key, endpoint_socket, api_socket, stop, log, started
            )
    finally:
        endpoint_socket.close()
        api_socket.close()


def _checked_inputs(options: UpOptions) -> Any:
    """The mock configuration (or None), once it and the snapshot are known to be readable."""
    from stp.local.mock_config import MockConfigError, load_mock_config
    from stp.local.snapshot import SnapshotError, check_snapshot

    try:
        config = load_mock_config(options.mock_config) if options.mock_config else None
    except MockConfigError as error:
        raise UsageError(f"--mock-config {error}") from None
    if options.state_dir is not None:
        try:
            check_snapshot(options.state_dir)
        except SnapshotError as error:
            raise UsageError(f"--state-dir {error}") from None
    return config


def check_options(options: UpOptions) -> None:
    """Refuse bad flags before anything starts (one line each, exit 2)."""
    check_trader_flags(options.account, options.user)
    for flag, port in (("--port", options.port), ("--api-port", options.api_port)):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} {port}: not a TCP port (0-65535)")
    if options.port == options.api_port != 0:
        raise UsageError(f"--port and --api-port are both {options.port}: they need two ports")
    if options.data is not None and not options.data.is_file():
        raise UsageError(f"--data {options.data}: no such file")
    if options.env_file is not None and not options.env_file.parent.is_dir():
        raise UsageError(f"--env-file {options.env_file}: no folder {options.env_file.parent}")
    if options.mock_config is not None and not options.mock_config.is_file():
        raise UsageError(f"--mock-config {options.mock_config}: no such file")
    if (
        options.state_dir is not None
        and options.state_dir.exists()
        and not options.state_dir.is_dir()
    ):
        raise UsageError(f"--state-dir {options.state_dir}: not a directory")


def _serve(
    project: Path,
    options: UpOptions,
    config: Any,
    key: str,
    endpoint_socket: Any,
    api_socket: Any,
    stop: threading.Event,
    log: TextIO,
    started: float,
) -> int:
    from stp.local import LocalCloud
    from stp.local.api_server import ApiServer
    from stp.local.aws_clients import internal_client
    from stp.local.endpoint import AwsEndpoint, request_log_level, url_of
    from stp.local.execution_view import execution_pages
    from stp.local.snapshot import restore_state, save_state
    from stp.local.token_endpoint import TOKEN_PATH, TokenEndpoint
    from stp.local.traders import add_bot, add_trader, admin_token, pool_of

    request_log_level(options.verbose)
    endpoint_url = url_of(endpoint_socket.getsockname(), options.host)
    api_url = url_of(api_socket.getsockname(), options.host)
    token_url = api_url + TOKEN_PATH  # the user pool's token endpoint, beside the API
    # The API's presigned links are signed for the endpoint, so `curl -T` and a browser reach it.
    function_environment = {"AWS_ENDPOINT_URL_S3": endpoint_url}
    with LocalCloud(mock_config=config, function_environment=function_environment) as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        restored = restore_state(cloud, options.state_dir) if options.state_dir else None
        endpoint = AwsEndpoint(
            endpoint_socket,
            account_id=cloud.account_id,
            region=cloud.region,
            function_environment=function_environment,
            health=lambda: _health(cloud, deployment),
            pages=execution_pages(internal_client("stepfunctions", cloud.region)),
            public_url=endpoint_url,
        ).start()
        gateway = cloud.api_gateway(deployment, api_keys=[key], throttle=options.throttle)
        trader = add_trader(cloud, deployment, options.account, options.user)
        admin = admin_token(cloud, deployment)
        bot = add_bot(cloud, deployment, options.account)
        token_endpoint = TokenEndpoint(pool_of(cloud, deployment))
        api = ApiServer(gateway, listening=api_socket, token_endpoint=token_endpoint).start()
        try:
            if options.data is not None:
                bucket = deployment.outputs["MarketDataBucketName"]
                key_name = f"raw/{options.account}/{options.data.name}"
                for arn in cloud.upload(bucket, key_name, options.data.read_bytes()):
                    outcome = cloud.wait(arn)
                    if outcome.status != "SUCCEEDED":
                        print(
                            f"stp: the --data workflow {outcome.status}: {outcome.error}",
                            file=sys.stderr,
                        )
                        return EXIT_FAILED
            ready = time.perf_counter() - started
            _banner(
                log,
                options,
                deployment,
                endpoint_url,
                api_url,
                key,
                config,
                restored,
                ready,
                cloud.region,
                token_lines(trader, admin, bot, token_url),
                {
                    TOKEN_VARIABLE: trader.token,
                    ADMIN_TOKEN_VARIABLE: admin,
                    TOKEN_URL_VARIABLE: token_url,
                    BOT_ID_VARIABLE: bot.client_id,
                    BOT_SECRET_VARIABLE: bot.secret or "",
                },
            )
            while not stop.wait(0.5):
                pass
            print("stp up: stopping (no new requests)", file=log, flush=True)
        finally:
            api.stop()
            endpoint.stop()
        unfinished = _drain(cloud, deployment, DRAIN_SECONDS)
        if unfinished:
            print(
                f"stp up: {unfinished} executions still running are not saved as finished", file=log
            )
        if options.state_dir is not None:
            summary = save_state(cloud, options.state_dir)
            print(
                f"stp up: state saved to {summary.path} ({summary.describe()})",
                file=log,
                flush=True,
            )
    print("stp up: stopped", file=log, flush=True)
    return 0


def _listen(flag: str, host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; a taken port is a usage error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(128)
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"{flag} {port}: {host}:{port} is already in use (another stp up or LocalStack?);"
                f" choose another with {flag}"
            ) from None
        raise UsageError(
            f"{flag} {port}: cannot listen on {host}: {error.strerror or error}"
        ) from None
    return listening


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    saved = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _drain(cloud: Any, deployment: Any, seconds: float) -> int:
    """Wait up to ``seconds`` for running executions; how many still run."""
    from stp.local.aws_clients import internal_client

    stepfunctions = internal_client("stepfunctions", cloud.region)
    deadline = time.monotonic() + seconds
    while True:
        running = sum(
            len(
                stepfunctions.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
                    "executions"
                ]
            )
            for arn in deployment.state_machines.values()
        )
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def _health(cloud: Any, deployment: Any) -> dict[str, Any]:
    from stp.local.aws_clients import internal_client

    stepfunctions = internal_client("stepfunctions", cloud.region)
    statuses: dict[str, int] = {}
    for arn in deployment.state_machines.values():
        for page in stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for execution in page["executions"]:
                statuses[execution["status"]] = statuses.get(execution["status"], 0) + 1
    return {"stack": deployment.stack_name, "region": cloud.region, "executions": statuses}


def environment_variables(
    deployment: Any, endpoint_url: str, api_url: str, key: str, region: str
) -> dict[str, str]:
    """The variables a shell exports to use the local platform: AWS's own, then one per
    output of the root stack (``MarketDataBucketName`` → ``STP_MARKET_DATA_BUCKET_NAME``)."""
    variables = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        **DUMMY_CREDENTIALS,
    }
    for name, value in sorted(deployment.outputs.items()):
        if "." in name or not value or value.startswith(_SKIPPED_OUTPUT):
            continue  # nested stacks' outputs; resources the emulation skipped
        variables["STP_" + _snake(name)] = value
    # The stage URL the template reports is API Gateway's; locally the API is here.
    variables["STP_API_URL"] = api_url
    variables[API_KEY_VARIABLE] = key
    return variables


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append("_")
        out.append(char.upper())
    return "".join(out)


def _banner(
    log: TextIO,
    options: UpOptions,
    deployment: Any,
    endpoint_url: str,
    api_url: str,
    key: str,
    config: Any,
    restored: Any,
    ready: float,
    region: str,
    trader_lines: list[str],
    tokens: dict[str, str],
) -> None:
    from stp.local.endpoint import HEALTH_PATH, SERVICES
    from stp.local.execution_view import EXECUTIONS_PATH

    print(f"stp up: {deployment.stack_name} is up in {ready:.1f} s", file=log)
    print(f"  AWS endpoint  {endpoint_url}  ({', '.join(SERVICES)})", file=log)
    print(f"  REST API      {api_url}  (headers x-api-key and Authorization)", file=log)
    for line in trader_lines:
        if "export " not in line:
            print(line, file=log)
    print(f"  executions    {endpoint_url}{EXECUTIONS_PATH}  (graph and history of each)", file=log)
    if restored is not None:
        print(f"  state         restored from {restored.path} ({restored.describe()})", file=log)
    if options.state_dir is not None:
        print(f"  state         saved to {options.state_dir} when stopped", file=log)
    if config is not None:
        for machine, cases in config.test_cases.items():
            print(f"  mock config   {machine}: {', '.join(cases)} (start <arn>#<case>)", file=log)
    print("to use any AWS tool on it, export:", file=log)
    variables = {**environment_variables(deployment, endpoint_url, api_url, key, region), **tokens}
    exports = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    for line in exports:
        print(line, file=log)
    if options.env_file is not None:
        # Whole or absent: a script waiting for the file never sources half of it.
        temporary = options.env_file.with_name(f".{options.env_file.name}.tmp")
        temporary.write_text("\n".join(exports) + "\n")
        temporary.replace(options.env_file)
        print(f"  (also in {options.env_file}: `source {options.env_file}`)", file=log)
    print(f"health: curl -s {endpoint_url}{HEALTH_PATH}", file=log)
    print("Ctrl-C stops it", file=log, flush=True)
