"""``stp executions list|show``: Step Functions executions as the console shows them.

A client of any Step Functions endpoint: `stp up`'s (``AWS_ENDPOINT_URL``, or
``--endpoint-url``) or AWS itself. ``show`` prints each state with its status, duration,
retries, error and cause, and writes the execution's page (the graph coloured by outcome,
the event history) to ``--html`` (default ``out/executions/<name>.html``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stp.cli import EXIT_FAILED, UsageError

CAUSE_WIDTH = 70


def executions_command(
    action: str,
    *,
    execution: str | None,
    state_machine: str | None,
    endpoint_url: str | None,
    html: Path | None,
    as_json: bool,
) -> int:
    """List executions, or show one; 1 when the endpoint cannot be reached."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from stp.local.execution_view import list_executions

    # An endpoint that is not there is said at once, not after minutes of retries.
    config = Config(connect_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    try:
        client = boto3.client("stepfunctions", endpoint_url=endpoint_url, config=config)
        if action == "list":
            rows = list_executions(client, state_machine)
            _print_list(rows, as_json)
            return 0
        arn = _resolve(client, str(execution), state_machine)
        return _show(client, arn, html)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}:
            raise UsageError(error.response["Error"].get("Message", code)) from None
        print(f"stp: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (NoRegionError, NoCredentialsError) as error:
        raise UsageError(f"{error} (`source` the exports `stp up` printed)") from None
    except BotoCoreError as error:
        where = endpoint_url or "the Step Functions endpoint"
        print(f"stp: cannot reach {where}: {error} (is `stp up` running?)", file=sys.stderr)
        return EXIT_FAILED


def _resolve(client: Any, execution: str, state_machine: str | None) -> str:
    """An execution ARN from an ARN or an execution name (a run id)."""
    if execution.startswith("arn:"):
        return execution
    from stp.local.execution_view import list_executions

    matches = [row for row in list_executions(client, state_machine) if row["name"] == execution]
    if not matches:
        raise UsageError(f"no execution named {execution!r}")
    return str(matches[0]["executionArn"])


def _show(client: Any, arn: str, html: Path | None) -> int:
    from stp.local.execution_view import execution_page, read_execution

    view = read_execution(client, arn)
    description = view.description
    started, stopped = description.get("startDate"), description.get("stopDate")
    took = f", {(stopped - started).total_seconds():.2f} s" if started and stopped else ""
    machine = str(description["stateMachineArn"]).rsplit(":", 1)[-1]
    print(f"execution {view.name} {description['status']} ({machine}{took})")
    print(f"  {'state':<22}{'status':<11}{'duration':>10}{'retries':>9}  error: cause")
    for state in sorted(view.states, key=lambda record: record.entered):
        failure = f"  {state.error}: {_clip(state.cause)}" if state.error else ""
        print(
            f"  {state.name:<22}{state.status:<11}{state.duration:>9.2f}s{state.retries:>9}"
            f"{failure}"
        )
    if description.get("error"):
        print(f"  execution error {description['error']}: {_clip(description.get('cause'))}")
    path = html or Path("out") / "executions" / f"{view.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(execution_page(view))
    print(f"page: {path}")
    return 0


def _print_list(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    print(f"  {'name':<38}{'status':<11}{'started (UTC)':<21}{'duration':>10}  state machine")
    for row in rows:
        started, stopped = row.get("startDate"), row.get("stopDate")
        took = f"{(stopped - started).total_seconds():.2f}s" if started and stopped else "-"
        when = started.strftime("%Y-%m-%d %H:%M:%S") if started else ""
        machine = str(row["stateMachineArn"]).rsplit(":", 1)[-1]
        print(f"  {row['name']:<38}{row['status']:<11}{when:<21}{took:>10}  {machine}")
    print(f"{len(rows)} executions")


def _clip(text: str | None) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= CAUSE_WIDTH else flat[: CAUSE_WIDTH - 1] + "…"
