"""Broker credentials from emulated Secrets Manager (moto), through Powertools' cached provider:
read once per process, never shown, errors without values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from moto import mock_aws

from trading import bootstrap
from trading.adapters.secrets import (
    BrokerCredentials,
    BrokerCredentialsError,
    read_broker_credentials,
)
from trading.bootstrap import ConfigurationError, get_broker_credentials

REGION = "us-east-1"
VALUE = {"key_id": "AKBROKER", "secret": "s3cr3t-value-never-shown"}


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    parameters.clear_caches()
    bootstrap.reset_platform()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    parameters.clear_caches()
    bootstrap.reset_platform()


def _secret(client: Any, value: Any) -> str:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = client.create_secret(Name="broker", KmsKeyId=key, SecretString=text)["ARN"]
    return arn


def _counting(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda **kwargs: calls.append(kwargs["model"].name),
    )
    return calls


def test_the_adapter_reads_the_credentials_and_caches_them(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, VALUE)
    calls = _counting(secretsmanager)
    provider = SecretsProvider(boto3_client=secretsmanager)
    first = read_broker_credentials(arn, provider)
    second = read_broker_credentials(arn, provider)
    assert first == second == BrokerCredentials(key_id="AKBROKER", secret=VALUE["secret"])
    assert calls == ["GetSecretValue"]  # the second read came from Powertools' cache


def test_the_secret_is_never_in_a_repr_or_a_log(
    secretsmanager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arn = _secret(secretsmanager, VALUE)
    # The platform's loggers at their most verbose (botocore's own DEBUG output, off unless a
    # user turns it on, would show response bodies of any service).
    for name in ("trading", "handlers", "aws_lambda_powertools"):
        caplog.set_level(logging.DEBUG, logger=name)
    credentials = read_broker_credentials(arn, SecretsProvider(boto3_client=secretsmanager))
    assert VALUE["secret"] not in repr(credentials) and VALUE["secret"] not in str(credentials)
    assert "AKBROKER" in repr(credentials)
    assert VALUE["secret"] not in caplog.text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"key_id": "AKBROKER"}, "lacks secret"),
        ("not json at all", "is not JSON"),
        (["a", "list"], "is not a JSON object"),
    ],
)
def test_a_malformed_secret_is_an_error_naming_no_value(
    secretsmanager: Any, value: Any, message: str
) -> None:
    arn = _secret(secretsmanager, value)
    with pytest.raises(BrokerCredentialsError, match=message) as raised:
        read_broker_credentials(arn, SecretsProvider(boto3_client=secretsmanager))
    assert "AKBROKER" not in str(raised.value) and "not json" not in str(raised.value)


def test_a_missing_secret_is_an_error(secretsmanager: Any) -> None:
    with pytest.raises(BrokerCredentialsError, match="cannot read secret"):
        read_broker_credentials(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent",
            SecretsProvider(boto3_client=secretsmanager),
        )


def test_the_function_reads_the_secret_once_per_process(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = _secret(secretsmanager, VALUE)
    monkeypatch.setenv("BROKER_SECRET_ARN", arn)
    first = get_broker_credentials()
    # Gone from Secrets Manager: a warm process keeps what its cold start read.
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert get_broker_credentials() is first
    bootstrap.reset_platform()
    parameters.clear_caches()
    with pytest.raises(BrokerCredentialsError):
        get_broker_credentials()  # a new process reads it again


def test_without_the_secret_arn_the_function_is_deployed_wrongly(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BROKER_SECRET_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="BROKER_SECRET_ARN"):
        get_broker_credentials()
