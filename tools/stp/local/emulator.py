"""`LocalCloud`: emulated AWS in this process, with a local Lambda runtime and triggers."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from stp.local import mock_config
from stp.local.api_gateway import LocalApiGateway, routes_of
from stp.local.aws_clients import internal_client
from stp.local.deploy import deploy_template
from stp.local.executions import execution_history, wait_for_execution, watch_execution
from stp.local.faults import FAULTS
from stp.local.gateway_config import GatewayConfig, gateway_config
from stp.local.lambda_runtime import FUNCTION_LOGS, code_folder, find_function, unload_code
from stp.local.lambda_server import InvokeServer
from stp.local.mock_config import MockConfig
from stp.local.models import Deployment, ExecutionOutcome, InvocationResult, StateProgress
from stp.local.moto_patches import patch_moto
from stp.local.request_counter import REQUEST_COUNTER
from stp.local.triggers import started_executions
from stp.local.user_pool import LocalUserPool

# moto's ASL interpreter logs every failure it evaluates (caught ones included) at ERROR with
# its internal state; `watch` and `wait` report the same failures readably.
_INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"

# Clients in this process (handlers', the CLI's) sign with these, so no real credentials are
# ever read or needed.
_DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class LocalCloud:
    """AWS in one process: moto (Step Functions executing ASL), a Lambda Invoke API running
    the handlers in-process, and S3 upload events routed through the deployed rules.

    >>> with LocalCloud() as cloud:  # doctest: +SKIP
    ...     deployment = cloud.deploy(Path("template.yaml"))
    ...     [arn] = cloud.upload(deployment.outputs["DataBucketName"], "incoming/a.json", b"{}")
    ...     outcome = cloud.wait(arn)
    """

    def __init__(
        self,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        *,
        mock_config: MockConfig | None = None,
        function_environment: Mapping[str, str] | None = None,
    ) -> None:
        """``mock_config``: Step Functions Local's test cases (`stp.local.mock_config`);
        ``function_environment``: variables every function runs with, beside its own."""
        self.region = region
        self.account_id = account_id
        self.mock_config = mock_config
        self.function_environment = dict(function_environment or {})
        self._mock: Any = None
        self._server: InvokeServer | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._code_folders: set[Path] = set()
        self._modules_before: set[str] = set()
        self._deployments: list[Deployment] = []
        self._user_pools: dict[str, LocalUserPool | None] = {}
        self._saved_log_level = logging.NOTSET

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self._modules_before = set(sys.modules)
        patch_moto()
        self._server = InvokeServer(self.account_id, self.region, self.function_environment).start()
        self._set_environ(
            {
                **_DUMMY_CREDENTIALS,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ENDPOINT_URL_LAMBDA": self._server.endpoint,
                # moto's account for resources it creates through its backends.
                "MOTO_ACCOUNT_ID": self.account_id,
            }
        )
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                # Lambda calls leave moto for the local Invoke server.
                "core": {"passthrough": {"services": ["lambda"], "urls": []}},
            }
        )
        self._mock.start()
        interpreter_logger = logging.getLogger(_INTERPRETER_LOGGER)
        self._saved_log_level = interpreter_logger.level
        interpreter_logger.setLevel(logging.CRITICAL)
        REQUEST_COUNTER.reset()
        REQUEST_COUNTER.enabled = True
        FAULTS.clear()
        FUNCTION_LOGS.clear()
        mock_config.activate(self.mock_config)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._mock is not None and (exc_type is None or issubclass(exc_type, Exception)):
            # A workflow a command started (an API call's run) still runs in a thread: let it
            # end before the emulation goes, or it would run its handlers against nothing.
            self._drain_executions()
        REQUEST_COUNTER.enabled = False
        FAULTS.clear()
        mock_config.activate(None)
        logging.getLogger(_INTERPRETER_LOGGER).setLevel(self._saved_log_level)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        # The next LocalCloud starts cold: handler modules (and their cached clients) go.
        unload_code(self._code_folders, keep=self._modules_before)
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ.clear()

    # --- deploy and use -------------------------------------------------------------------

    def deploy(
        self,
        template: Path,
        *,
        stack_name: str = "stp-local",
        parameters: Mapping[str, str] | None = None,
        code_root: Path | None = None,
    ) -> Deployment:
        """Create ``template`` (a SAM or CloudFormation template) as ``stack_name``."""
        self._require_started()
        deployment = deploy_template(
            template,
            stack_name=stack_name,
            parameters=dict(parameters or {}),
            code_root=code_root,
            region=self.region,
            account_id=self.account_id,
        )
        for function in deployment.functions.values():
            self._code_folders.add(
                code_folder(find_function(function.arn, self.account_id, self.region))
            )
        for logical_id, arn in deployment.state_machines.items():
            # A mock configuration may name a state machine by its logical id.
            mock_config.add_alias(arn, logical_id.rsplit("/", 1)[-1])
        self._deployments.append(deployment)
        return deployment

    def upload(
        self, bucket: str, key: str, body: bytes, metadata: Mapping[str, str] | None = None
    ) -> list[str]:
        """Put an object as a user would; S3's EventBridge event goes to the deployed rules.

        Returns the ARNs of the executions the event started (none when the bucket does not
        send events to EventBridge, or no rule matches).
        """
        self._require_started()
        s3 = boto3.client("s3", region_name=self.region)
        with started_executions() as started:
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata or {}))
        return started

    def seed_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Put an object without S3's event (data a test or a restore puts in place)."""
        self._require_started()
        backend = s3_backends[self.account_id][get_partition(self.region)]
        created = backend.put_object(bucket, key, body, disable_notification=True)
        headers = {f"x-amz-meta-{name}": value for name, value in (metadata or {}).items()}
        if content_type:
            headers["Content-Type"] = content_type
        created.set_metadata(headers)

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """Invoke a function (logical id of a deployment, name or ARN) through the Invoke API."""
        self._require_started()
        name = self._function_name(function)
        client = boto3.client("lambda", region_name=self.region)
        response = client.invoke(
            FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
        raw = response["Payload"].read()
        payload = json.loads(raw) if raw else None
        return InvocationResult(
            status_code=response["StatusCode"],
            payload=payload,
            function_error=response.get("FunctionError"),
            executed_version=response.get("ExecutedVersion"),
        )

    def watch(self, execution_arn: str, poll_seconds: float = 0.05) -> Iterator[StateProgress]:
        """Yield each state's progress record as it finishes, until the execution ends."""
        self._require_started()
        return watch_execution(
            internal_client("stepfunctions", self.region), execution_arn, poll_seconds
        )

    def wait(self, execution_arn: str, timeout: float = 300) -> ExecutionOutcome:
        """Block until the execution ends; its output, or the failed state, error and cause."""
        self._require_started()
        return wait_for_execution(
            internal_client("stepfunctions", self.region), execution_arn, timeout
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's full event history, as ``GetExecutionHistory`` returns it."""
        self._require_started()
        return execution_history(internal_client("stepfunctions", self.region), execution_arn)

    def read_object(self, bucket: str, key: str) -> bytes:
        """An object's bytes (a user's GetObject)."""
        self._require_started()
        s3 = boto3.client("s3", region_name=self.region)
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    # --- the API ----------------------------------------------------------------------------

    def api_gateway(
        self, deployment: Deployment, *, api_keys: Iterable[str], throttle: bool = True
    ) -> LocalApiGateway:
        """The deployment's REST API as API Gateway would serve it, accepting ``api_keys``.

        Routes come from the API the template created; the usage plan's throttle (unless
        ``throttle`` is False) and the gateway responses from the deployed templates.
        """
        self._require_started()
        apigateway = internal_client("apigateway", self.region)
        deployed = set(deployment.resources.values())
        apis = [api for api in apigateway.get_rest_apis()["items"] if api["id"] in deployed]
        if not apis:
            raise LookupError(f"stack {deployment.stack_name} has no REST API")
        api_id = apis[0]["id"]
        resources = apigateway.get_resources(restApiId=api_id, embed=["methods"], limit=500)
        config = (
            gateway_config(deployment.template, deployment.parameters)
            if deployment.template
            else GatewayConfig()
        )
        lambda_client = internal_client("lambda", self.region)

        def invoke(function_arn: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
            response = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event))
            raw = response["Payload"].read()
            payload = json.loads(raw) if raw else None
            return (None, payload) if response.get("FunctionError") else (payload, None)

        pool = self.user_pool(deployment, config)
        return LocalApiGateway(
            api_id=api_id,
            stage=config.stage,
            routes=routes_of(resources["items"]),
            invoke=invoke,
            api_keys=set(api_keys),
            config=config,
            throttle=throttle,
            account_id=self.account_id,
            authorizer=pool.authorizer() if pool is not None else None,
        )

    def user_pool(
        self, deployment: Deployment, config: GatewayConfig | None = None
    ) -> LocalUserPool | None:
        """The deployment's Cognito user pool (created on first use from the template's
        definition, which moto's CloudFormation skips), or None when the API has none."""
        self._require_started()
        if deployment.stack_name in self._user_pools:
            return self._user_pools[deployment.stack_name]
        if config is None:
            config = (
                gateway_config(deployment.template, deployment.parameters)
                if deployment.template
                else GatewayConfig()
            )
        pool = None
        if config.user_pool is not None:
            named = replace(config.user_pool, name=f"{deployment.stack_name}-users")
            pool = LocalUserPool.create(named, self.region, self.account_id)
        self._user_pools[deployment.stack_name] = pool
        return pool

    # --- request counting -----------------------------------------------------------------

    def request_counts(self) -> Counter[tuple[str, str]]:
        """AWS requests made by handlers and user commands since the last reset, per
        (service, operation); the emulation's own calls are not counted."""
        return REQUEST_COUNTER.snapshot()

    def reset_request_counts(self) -> None:
        """Start counting requests from zero."""
        REQUEST_COUNTER.reset()

    # --- function logs -------------------------------------------------------------------

    def function_logs(self) -> list[tuple[str, str]]:
        """(function name, line) of everything handlers printed, as CloudWatch Logs keeps it."""
        return list(FUNCTION_LOGS.lines)

    def invocations(self) -> list[tuple[str, float, str | None]]:
        """(function name, handler seconds, error type or None) of every invocation."""
        return list(FUNCTION_LOGS.invocations)

    # --- injected faults ------------------------------------------------------------------

    def inject_fault(
        self, service: str, operation: str, code: str, *, times: int = 1, status: int = 400
    ) -> None:
        """Answer the next ``times`` requests of ``service``/``operation`` (botocore names,
        e.g. ``dynamodb``/``TransactWriteItems``) made by handlers or commands with the error
        ``code``, as AWS would; the emulation's own requests are never affected."""
        FAULTS.add(service, operation, code, times=times, status=status)

    def faults_injected(self) -> int:
        """How many requests an injected fault answered since the cloud started."""
        return FAULTS.injected

    # --- helpers --------------------------------------------------------------------------

    def _drain_executions(self, timeout: float = 300) -> None:
        """Wait for every running execution of every state machine to end."""
        client = internal_client("stepfunctions", self.region)
        for machine in client.list_state_machines().get("stateMachines", []):
            running = client.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            ).get("executions", [])
            for execution in running:
                wait_for_execution(client, execution["executionArn"], timeout)

    def _function_name(self, function: str) -> str:
        for deployment in reversed(self._deployments):
            if function in deployment.functions:
                return deployment.functions[function].name
        return function

    def _set_environ(self, variables: Mapping[str, str]) -> None:
        for key, value in variables.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _require_started(self) -> None:
        if self._mock is None:
            raise RuntimeError("use LocalCloud as a context manager: `with LocalCloud() as cloud`")
