"""``stp api``: serve the deployed API on 127.0.0.1, as API Gateway would, without Docker or AWS.

The template is deployed to the embedded emulation; HTTP requests become API Gateway proxy
events for the same API function, with the API key and the usage plan's throttle checked
first. ``--data`` uploads a market data file first, as a user would (the workflow it starts
runs to its end before the server answers), so the symbols have quotes.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from stp.cli import EXIT_FAILED, UsageError

API_KEY_VARIABLE = "STP_API_KEY"


def api_command(
    project: Path,
    *,
    host: str,
    port: int,
    api_key: str | None,
    data: Path | None,
    throttle: bool,
    stop: threading.Event | None = None,
) -> int:
    """Serve until interrupted (or ``stop`` is set); 1 when the ``--data`` workflow failed."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: not a TCP port (0-65535)")
    if data is not None and not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    key = api_key or os.environ.get(API_KEY_VARIABLE) or secrets.token_urlsafe(24)
    if len(key) < 20:
        # API Gateway's own minimum for imported key values.
        raise UsageError("--api-key: at least 20 characters, as API Gateway requires")
    from stp.local import LocalCloud
    from stp.local.api_server import ApiServer

    with LocalCloud() as cloud:
        deployment = cloud.deploy(project / "template.yaml", code_root=project / "src")
        if data is not None:
            bucket = deployment.outputs["MarketDataBucketName"]
            for arn in cloud.upload(bucket, f"raw/{data.name}", data.read_bytes()):
                outcome = cloud.wait(arn)
                if outcome.status != "SUCCEEDED":
                    print(f"stp: the --data workflow {outcome.status}: {outcome.error}")
                    return EXIT_FAILED
        gateway = cloud.api_gateway(deployment, api_keys=[key], throttle=throttle)
        try:
            server = ApiServer(gateway, host=host, port=port)
        except OSError as error:
            raise UsageError(f"--port {port}: {error.strerror or error}") from None
        with server:
            print(f"serving stage {gateway.stage!r} of the API on {server.url}", flush=True)
            print(f"  API key (header x-api-key): {key}", flush=True)
            print(f"  try: curl -H 'x-api-key: {key}' {server.url}/health", flush=True)
            print("  Ctrl-C stops it", flush=True)
            (stop or threading.Event()).wait()
    return 0
