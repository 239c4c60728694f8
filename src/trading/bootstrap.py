"""Wiring: the one place that reads the environment and builds boto3 clients and repositories.

Built lazily on the first request and then kept for the life of the process (a warm Lambda
reuses its clients and their connections). The names come from the template through the
environment; nothing else in the code reads them.

>>> platform = get_platform()  # doctest: +SKIP
>>> platform.runs.start(...)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trading.adapters.accounts import DynamoAccountRepository
from trading.adapters.links import S3Links
from trading.adapters.orders import DynamoOrderReader
from trading.adapters.quotes import DynamoQuoteStore
from trading.adapters.registry import DynamoAccountRegistry
from trading.adapters.runs import DynamoRunRepository
from trading.adapters.s3_store import S3ObjectStore
from trading.adapters.secrets import BrokerCredentials, read_broker_credentials
from trading.adapters.sweeps import DynamoSweepRepository
from trading.adapters.workflow import S3ObjectCatalog, StepFunctionsWorkflow, map_run_counts

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

# botocore retries throttling and 5xx itself first (standard mode: exponential backoff with
# jitter); what is left becomes TransientStoreError and the workflow retries the step.
CLIENT_ATTEMPTS = 3  # per request, the first attempt included
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 20


class ConfigurationError(RuntimeError):
    """A required environment variable is missing: the function is deployed wrongly."""


@dataclass(frozen=True, slots=True)
class PlatformEnvironment:
    """The resource names a function receives from the template."""

    market_data_bucket: str
    reports_bucket: str
    runs_table: str
    portfolio_table: str
    quotes_table: str
    alert_topic_arn: str
    dax_endpoint: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PlatformEnvironment:
        """Read the variables; raises ``ConfigurationError`` naming every missing one."""
        required = {
            "market_data_bucket": "MARKET_DATA_BUCKET",
            "reports_bucket": "REPORTS_BUCKET",
            "runs_table": "RUNS_TABLE",
            "portfolio_table": "PORTFOLIO_TABLE",
            "quotes_table": "QUOTES_TABLE",
        }
        missing = [name for name in required.values() if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            **{field: environ[name] for field, name in required.items()},
            alert_topic_arn=environ.get("ALERT_TOPIC_ARN", ""),
            dax_endpoint=environ.get("DAX_ENDPOINT", ""),
        )


@dataclass(frozen=True, slots=True)
class Platform:
    """Everything a handler needs: the environment and the adapters built on it."""

    environment: PlatformEnvironment
    objects: S3ObjectStore
    runs: DynamoRunRepository
    sweeps: DynamoSweepRepository
    accounts: DynamoAccountRepository
    quotes: DynamoQuoteStore
    registry: DynamoAccountRegistry
    s3: S3Client
    dynamodb: DynamoDBClient
    # The hot read paths (quotes, positions): the DAX cluster when DAX_ENDPOINT names one
    # (EnableDax), else the same client as ``dynamodb``. Eventually consistent reads only:
    # DAX passes strongly consistent reads and transactions through to DynamoDB anyway.
    dynamodb_reads: DynamoDBClient


def client_config() -> Config:
    """The botocore configuration of every client: retries, timeouts, keep-alive."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": CLIENT_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        tcp_keepalive=True,
    )


def build_platform(environ: Mapping[str, str]) -> Platform:
    """Build the clients and adapters for ``environ`` (no caching; see :func:`get_platform`)."""
    import boto3

    environment = PlatformEnvironment.from_environ(environ)
    config = client_config()
    session = boto3.session.Session()
    s3: S3Client = session.client("s3", config=config)
    dynamodb: DynamoDBClient = session.client("dynamodb", config=config)
    hot_reads = read_client(session, dynamodb, environment.dax_endpoint)
    return Platform(
        environment=environment,
        objects=S3ObjectStore(s3),
        runs=DynamoRunRepository(dynamodb, environment.runs_table),
        sweeps=DynamoSweepRepository(dynamodb, environment.runs_table),
        accounts=DynamoAccountRepository(
            dynamodb,
            environment.portfolio_table,
            quotes_table=environment.quotes_table,
            runs_table=environment.runs_table,
            hot_reads=hot_reads,
        ),
        quotes=DynamoQuoteStore(dynamodb, environment.quotes_table, hot_reads=hot_reads),
        registry=DynamoAccountRegistry(dynamodb, environment.portfolio_table),
        s3=s3,
        dynamodb=dynamodb,
        dynamodb_reads=hot_reads,
    )


def read_client(session: Any, dynamodb: DynamoDBClient, dax_endpoint: str) -> DynamoDBClient:
    """A DAX client (same interface as the DynamoDB client) for ``dax_endpoint``, or
    ``dynamodb`` itself when there is no cluster. amazondax loads only when DAX is on."""
    if not dax_endpoint:
        return dynamodb
    from amazondax import AmazonDaxClient

    client: DynamoDBClient = AmazonDaxClient(
        session, region_name=session.region_name, endpoint_url=dax_endpoint
    )
    return client


@dataclass(frozen=True, slots=True)
class ApiPlatform:
    """What the API function needs besides the platform: the workflow it starts (the state
    machine from ``STATE_MACHINE_ARN``), a check that a run's object exists, the order lists
    and presigned links. Built only by the API, so the workflow's functions never pay for a
    Step Functions client."""

    platform: Platform
    state_machine_arn: str
    workflow: StepFunctionsWorkflow
    # The research workflow (``RESEARCH_STATE_MACHINE_ARN``; empty: the API starts no sweep).
    research_state_machine_arn: str
    research: StepFunctionsWorkflow | None

    def sweep_progress(self, sweep_id: str) -> dict[str, int] | None:
        """The item counts of the sweep's map run (None before it starts, or no research)."""
        if not self.research_state_machine_arn:
            return None
        return map_run_counts(self.stepfunctions, self.research_state_machine_arn, sweep_id)

    sources: S3ObjectCatalog
    stepfunctions: SFNClient
    orders: DynamoOrderReader
    links: S3Links
    registry: DynamoAccountRegistry


def build_api_platform(platform: Platform, environ: Mapping[str, str]) -> ApiPlatform:
    """Build the API's adapters on ``platform`` (its S3 client is shared); no caching."""
    import boto3

    state_machine_arn = environ.get("STATE_MACHINE_ARN", "")
    if not state_machine_arn:
        raise ConfigurationError("missing environment variable(s): STATE_MACHINE_ARN")
    stepfunctions: SFNClient = boto3.session.Session().client(
        "stepfunctions", config=client_config()
    )
    research_arn = environ.get("RESEARCH_STATE_MACHINE_ARN", "")
    return ApiPlatform(
        platform=platform,
        state_machine_arn=state_machine_arn,
        workflow=StepFunctionsWorkflow(stepfunctions, state_machine_arn),
        research_state_machine_arn=research_arn,
        research=StepFunctionsWorkflow(stepfunctions, research_arn) if research_arn else None,
        sources=S3ObjectCatalog(platform.s3),
        stepfunctions=stepfunctions,
        orders=DynamoOrderReader(platform.dynamodb, platform.environment.portfolio_table),
        links=S3Links(platform.s3),
        registry=platform.registry,
    )


_platform: Platform | None = None
_api_platform: ApiPlatform | None = None
_built_for: tuple[str, ...] = ()
_lock = threading.Lock()
# What the adapters are built from. On Lambda these never change within a process; a host
# that runs several deployments in one process (the local runtime) gets a fresh platform
# when they do, never clients pointing at another deployment's tables.
_WIRING_VARIABLES = (
    "MARKET_DATA_BUCKET",
    "REPORTS_BUCKET",
    "RUNS_TABLE",
    "PORTFOLIO_TABLE",
    "QUOTES_TABLE",
    "ALERT_TOPIC_ARN",
    "DAX_ENDPOINT",
    "STATE_MACHINE_ARN",
    "RESEARCH_STATE_MACHINE_ARN",
    "AWS_REGION",
)


def _wiring() -> tuple[str, ...]:
    return tuple(os.environ.get(name, "") for name in _WIRING_VARIABLES)


def get_platform() -> Platform:
    """The process's platform, built from ``os.environ`` on first use and kept."""
    global _platform, _api_platform, _built_for
    wiring = _wiring()
    if _platform is None or wiring != _built_for:
        with _lock:
            if _platform is None or wiring != _built_for:
                _platform = build_platform(os.environ)
                _api_platform = None
                _built_for = wiring
    return _platform


def get_api_platform() -> ApiPlatform:
    """The API function's adapters, built from ``os.environ`` on first use and kept."""
    global _api_platform
    platform = get_platform()
    if _api_platform is None:
        with _lock:
            if _api_platform is None:
                _api_platform = build_api_platform(platform, os.environ)
    return _api_platform


_broker_credentials: BrokerCredentials | None = None


def get_broker_credentials() -> BrokerCredentials:
    """The broker credentials of ``BROKER_SECRET_ARN``, read once per process (cold start).

    Only a broker that needs credentials calls this; the paper broker does not. Only
    ExecuteTrades has the variable and may read exactly that secret.
    """
    global _broker_credentials
    if _broker_credentials is None:
        secret_arn = os.environ.get("BROKER_SECRET_ARN", "")
        if not secret_arn:
            raise ConfigurationError("missing environment variable(s): BROKER_SECRET_ARN")
        import boto3
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        client = boto3.session.Session().client("secretsmanager", config=client_config())
        with _lock:
            if _broker_credentials is None:
                _broker_credentials = read_broker_credentials(
                    secret_arn, SecretsProvider(boto3_client=client)
                )
    return _broker_credentials


def service_name() -> str | None:
    """This function's Powertools service name, read now (not cached: see the handlers)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or None


def reset_platform() -> None:
    """Forget the built platform, so the next request builds it again (tests, redeploys)."""
    global _platform, _api_platform, _built_for, _broker_credentials
    with _lock:
        _platform = None
        _api_platform = None
        _built_for = ()
        _broker_credentials = None
